"""The AWS calls in sight: where a lesson is about an AWS call, its notebook makes that call with
boto3 (a client from `.client("iam")`, `.client("sts")`, ...), not only through a `Lab` helper.

The notebooks are read, not run: each code cell is parsed with `ast`, clients are found by their
`X = ....client("service")` assignments, and each lesson's calls must be made on such a client.
What the learner writes in an exercise cell (the boto3.Session of 04, the switch-role URL of 06)
is read in the solved form of the notebook (labkit.exercises.solve_notebook, the one source of
the answers); as the learner gets it, every exercise cell is a blank skeleton.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import nbformat
import pytest

from labkit.exercises import solve_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = {p.name[:2]: p for p in sorted((ROOT / "notebooks").glob("*.ipynb"))}

# notebook -> the calls its lesson is about, as (service, boto3 method)
LESSON_CALLS = {
    "02": [("iam", "create_user"), ("iam", "create_access_key"), ("iam", "put_user_policy"),
           ("iam", "create_role"), ("iam", "put_role_policy")],
    "03": [("sts", "assume_role")],
    "05": [("ec2", "describe_instances")],
}
# Lab helpers that would make those calls out of sight, if a notebook used them instead
LAB_HELPERS = {
    "02": {"setup", "ensure_user", "ensure_access_key", "ensure_role", "ensure_role_policy",
           "ensure_user_policy", "set_trust_policy"},
    "03": {"assume_role", "try_assume_role"},
    "05": {"probe_ec2", "assume_role", "try_assume_role"},
    "06": {"assume_role"},
}
SWITCH_ROLE = "https://signin.aws.amazon.com/switchrole"


def code_of(nb) -> ast.Module:
    """All code cells of a notebook as one module (IPython `!` and `%` lines left out)."""
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for line in cell.source.splitlines():
            stripped = line.lstrip()
            if stripped.startswith(("!", "%")):  # a shell or magic line: keep its indentation
                line = line[: len(line) - len(stripped)] + "pass"
            lines.append(line)
        lines.append("")
    return ast.parse("\n".join(lines))


def clients(tree: ast.Module) -> dict[str, str]:
    """Variable name -> service, for every `X = anything.client("service")`."""
    found = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            call = node.value
            if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "client"
                    and call.args and isinstance(call.args[0], ast.Constant)):
                found[node.targets[0].id] = call.args[0].value
    return found


def calls(tree: ast.Module) -> list[tuple[str, str]]:
    """(receiver, method) for every call `receiver.method(...)`; a chained
    `....client("svc").method(...)` has receiver `client:svc`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver = node.func.value
            if isinstance(receiver, ast.Name):
                found.append((receiver.id, node.func.attr))
            elif (isinstance(receiver, ast.Call) and isinstance(receiver.func, ast.Attribute)
                  and receiver.func.attr == "client" and receiver.args
                  and isinstance(receiver.args[0], ast.Constant)):
                found.append((f"client:{receiver.args[0].value}", node.func.attr))
    return found


def boto3_calls(tree: ast.Module) -> set[tuple[str, str]]:
    """(service, method) for every call made on a boto3 client."""
    services = clients(tree)
    made = set()
    for receiver, method in calls(tree):
        if receiver.startswith("client:"):
            made.add((receiver.split(":", 1)[1], method))
        elif receiver in services:
            made.add((services[receiver], method))
    return made


def problems(number: str, nb) -> list[str]:
    """What hides the lesson's call in this notebook (empty when the calls are in sight)."""
    tree = code_of(nb)
    made = boto3_calls(tree)
    found = []
    for service, method in LESSON_CALLS.get(number, []):
        if (service, method) not in made:
            found.append(f"{number}: no {service}.{method}(...) made with a boto3 client")
    used = {method for receiver, method in calls(tree) if receiver == "lab"}
    for helper in sorted(LAB_HELPERS.get(number, set()) & used):
        found.append(f"{number}: calls lab.{helper}(), a Lab helper for this lesson's call")
    if number == "04" and not any(
            isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "Session"
            and isinstance(n.func.value, ast.Name) and n.func.value.id == "boto3"
            and {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"}
            <= {k.arg for k in n.keywords} for n in ast.walk(tree)):
        found.append("04: no boto3.Session(aws_access_key_id=..., aws_secret_access_key=..., "
                     "aws_session_token=...) built from the credentials")
    if number == "06":
        strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        if not any(s.startswith(SWITCH_ROLE) for s in strings):
            found.append(f"06: the switch-role URL ({SWITCH_ROLE}?...) is not built in the notebook")
        if ("console", "switch_role_url") in calls(tree):
            found.append("06: the switch-role URL comes from console.switch_role_url()")
    return found


def solved(path: Path):
    return nbformat.reads(json.dumps(solve_notebook(json.loads(path.read_text()))), as_version=4)


@pytest.mark.parametrize("number", ["02", "03", "04", "05", "06"])
def test_the_lessons_call_is_made_in_the_notebook(number):
    assert problems(number, solved(NOTEBOOKS[number])) == []


@pytest.mark.parametrize("number", ["02", "03", "05"])
def test_the_calls_the_lesson_is_about_are_outside_the_exercise_cells(number):
    """02, 03 and 05 make their calls in the lesson's own cells: they are there as the learner gets it."""
    nb = nbformat.read(NOTEBOOKS[number], as_version=4)
    assert problems(number, nb) == []


@pytest.mark.parametrize("path", list(NOTEBOOKS.values()), ids=lambda p: p.name)
def test_exercise_cells_are_blank_as_the_learner_gets_them(path):
    """Each "your turn" cell holds a skeleton with `...` where the learner writes, never the answer."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        exercise = cell.get("metadata", {}).get("labkit", {}).get("exercise")
        if not exercise:
            continue
        assert "exercise" in cell.metadata.get("tags", []), exercise
        tree = ast.parse(cell.source)
        assert any(isinstance(n, ast.Constant) and n.value is Ellipsis for n in ast.walk(tree)), exercise
        assert not any(isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value not in (
            "2012-10-17", "Version", "Statement", "Effect", "Action", "Resource", "Principal",
            "RoleArn", "RoleSessionName", "DurationSeconds", "before", "during", "after")
            for n in ast.walk(tree)), f"{exercise}: the skeleton holds a value of the answer"
        assert cell.outputs == []


def _notebook(*sources: str):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def test_a_notebook_that_reaches_the_call_only_through_a_lab_helper_fails():
    hidden = _notebook("lab = Lab(connect())", "session = lab.assume_role(duration=900)", "print(session.arn)")
    assert problems("03", hidden) == ["03: no sts.assume_role(...) made with a boto3 client",
                                      "03: calls lab.assume_role(), a Lab helper for this lesson's call"]
    in_sight = _notebook('sts = target.user_session().client("sts")',
                         'r = sts.assume_role(RoleArn=A, RoleSessionName="s", DurationSeconds=picker.value)')
    assert problems("03", in_sight) == []
    chained = _notebook('user.client("ec2").describe_instances()', "!aws ec2 describe-instances")
    assert problems("05", chained) == []
    setup_only = _notebook("show(lab.setup())", 'iam = target.admin_session().client("iam")')
    assert len(problems("02", setup_only)) == 6  # five calls missing, and lab.setup() hides them


def test_the_session_and_the_switch_role_url_are_built_in_sight():
    assert problems("04", _notebook("session = target.session_from(response)")) == [
        "04: no boto3.Session(aws_access_key_id=..., aws_secret_access_key=..., aws_session_token=...) "
        "built from the credentials"]
    assert problems("06", _notebook("url = console.switch_role_url(account, role)")) == [
        f"06: the switch-role URL ({SWITCH_ROLE}?...) is not built in the notebook",
        "06: the switch-role URL comes from console.switch_role_url()"]
    built = _notebook(f'url = "{SWITCH_ROLE}?" + urlencode({{"roleName": r, "account": a}})')
    assert problems("06", built) == []
