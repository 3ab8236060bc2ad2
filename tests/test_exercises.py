"""labkit.exercises as a learner meets it: every correct answer passes (also written other ways),
risky ones pass with a warning that names the risk, the API (check, hint, solution, use), progress,
catch-up and the solved form of a notebook. Against a private sandbox, set up once for the module.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from labkit.errors import LabError
from labkit.exercises import CLI_IDS, IDS, catch_up, checklist, exercise, solve_notebook
from labkit.exercises import progress as progress_module
from labkit.lab import Lab
from tests.aws_path import aws_workspace, private_sandbox, sandbox_workspace, snapshot

ACCOUNT, PARTNER = "123456789012", "210987654321"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/labkit-sts-user"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/sts_role"
PREDICTED = {"before": "UnauthorizedOperation", "during": "allowed", "after": "RequestExpired"}


@pytest.fixture(scope="module")
def private(request):
    return private_sandbox(request.config)


@pytest.fixture(scope="module")
def lab(private):
    with pytest.MonkeyPatch.context() as patch:
        target = sandbox_workspace(patch, private)
        lab = Lab(target, progress=[].append)
        lab.setup()
        yield lab


@pytest.fixture(scope="module")
def response(lab):
    """AssumeRole's response, as notebook 04's boto3 call returns it."""
    sts = lab.client("sts")
    return sts.assume_role(RoleArn=lab.role_arn, RoleSessionName="sts-session", DurationSeconds=900)


@pytest.fixture(scope="module")
def observed(lab, private):
    before = lab.probe_ec2()
    session = lab.assume_role(duration=900)
    during = lab.probe_ec2(session.credentials)
    private.advance(901)
    try:
        after = lab.probe_ec2(session.credentials)
    finally:
        private.sandbox.control("clock/reset")
    return {"before": before, "during": during, "after": after}


def extra_args(exercise_id: str, observed) -> tuple:
    return (observed,) if exercise_id == "predict-ec2" else ()


def policy(*statements, version="2012-10-17") -> dict:
    return {"Version": version, "Statement": list(statements)}


def lines(key: str, secret: str, token: str, quote: str = '"') -> str:
    return (f"export AWS_ACCESS_KEY_ID={quote}{key}{quote}\nexport AWS_SECRET_ACCESS_KEY={quote}{secret}{quote}\n"
            f"export AWS_SESSION_TOKEN={quote}{token}{quote}")


# --- the solutions: one source, and they pass -------------------------------------------------


@pytest.mark.parametrize("exercise_id", IDS)
def test_the_solution_code_passes_and_is_the_solution_value(exercise_id, lab, response, observed):
    ex = exercise(exercise_id, lab)
    namespace = {"lab": lab, "picker": SimpleNamespace(value=900), "response": response}
    exec(ex.solution_code(), namespace)
    value = namespace[ex.variable]
    verdict = ex.verdict(value, *extra_args(exercise_id, observed))
    assert verdict.passed and not verdict.warnings, verdict
    if exercise_id not in ("exports", "session"):  # those two are made from a new session each time
        assert value == ex.solution_value()
    assert ex.verdict(ex.solution_value(), *extra_args(exercise_id, observed)).passed
    assert set(ex.needs) <= {"lab", "picker", "response"}


def test_the_solutions_are_the_labs_own_documents(lab):
    from labkit import policies

    assert exercise("user-policy", lab).solution_value() == policies.assume_role_policy(lab.role_arn)
    assert exercise("trust-policy", lab).solution_value() == policies.trust_policy(lab.user_arn)


CORRECT = [
    ("user-policy", policy({"Effect": "Allow", "Action": "sts:assumerole", "Resource": ROLE_ARN})),
    ("user-policy", policy({"Effect": "Allow", "Action": "STS:AssumeRole", "Resource": [ROLE_ARN]})),
    ("user-policy", {"Version": "2012-10-17",
                     "Statement": {"Effect": "Allow", "Action": ["sts:AssumeRole"], "Resource": ROLE_ARN}}),
    ("user-policy", json.dumps(policy({"Sid": "AssumeTheLabRole", "Effect": "Allow", "Action": "sts:AssumeRole",
                                       "Resource": ROLE_ARN}), indent=2)),
    ("trust-policy", policy({"Effect": "Allow", "Principal": {"AWS": [USER_ARN]}, "Action": ["sts:AssumeRole"]})),
    ("trust-policy", policy({"Effect": "Allow", "Principal": {"AWS": USER_ARN}, "Action": "sts:assumerole"})),
    ("trust-policy", policy({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
                             "Condition": {"ArnEquals": {"aws:PrincipalArn": USER_ARN}}})),
    ("assume-role", {"RoleArn": ROLE_ARN, "RoleSessionName": "sts-session", "DurationSeconds": 3600}),
    ("assume-role", json.dumps({"RoleArn": ROLE_ARN, "RoleSessionName": "a_b=c,d.e@f-g", "DurationSeconds": 900})),
    ("switch-role-url", f"https://signin.aws.amazon.com/switchrole?account={ACCOUNT}&roleName=sts_role"),
    ("switch-role-url", "https://signin.aws.amazon.com/switchrole?roleName=sts_role&account=1234-5678-9012"
                        "&displayName=My+lab&color=99BCE3"),
    ("predict-ec2", {"before": "unauthorizedoperation", "during": "Allowed", "after": "RequestExpired"}),
]


@pytest.mark.parametrize("exercise_id, answer", CORRECT, ids=[f"{i}-{n}" for n, (i, _) in enumerate(CORRECT)])
def test_correct_answers_written_other_ways_pass(exercise_id, answer, lab, observed):
    verdict = exercise(exercise_id, lab).verdict(answer, *extra_args(exercise_id, observed))
    assert verdict.passed and not verdict.warnings, verdict
    assert str(verdict) == "✓ Correct."


def test_export_lines_written_other_ways_pass(lab, response):
    creds = response["Credentials"]
    key, secret, token = creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]
    ex = exercise("exports", lab)
    for text in (lines(key, secret, token), lines(key, secret, token, "'"), lines(key, secret, token, ""),
                 f"export AWS_ACCESS_KEY_ID={key} AWS_SECRET_ACCESS_KEY={secret} AWS_SESSION_TOKEN={token}\n",
                 "# from the AssumeRole response\n\n" + lines(key, secret, token) + "  # done\n",
                 lines(key, secret, token).splitlines()):
        verdict = ex.verdict(text)
        assert verdict.passed and not verdict.warnings, verdict


RISKY = [
    ("trust-policy", policy({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
     ('Principal "*"', "anyone, in any AWS account")),
    ("trust-policy", policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
     ('{"AWS": "*"}', "anyone")),
    ("trust-policy", policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                             "Action": "sts:AssumeRole"}), ("root", "the whole account 123456789012")),
    ("trust-policy", policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"}),
     ("the whole account",)),
    ("trust-policy", policy({"Effect": "Allow", "Principal": {"AWS": [USER_ARN, PARTNER]},
                             "Action": "sts:AssumeRole"}), (PARTNER, "another account")),
    ("trust-policy", policy({"Effect": "Allow", "Principal": {"AWS": [USER_ARN, f"arn:aws:iam::{ACCOUNT}:user/eve"]},
                             "Action": "sts:AssumeRole"}), ("user/eve", "also lets that principal")),
    ("trust-policy", policy({"Effect": "Allow", "Principal": {"AWS": USER_ARN}, "Action": "sts:*"}),
     ('"sts:*"', "sts:TagSession")),
    ("trust-policy", policy({"Effect": "Allow", "Principal": {"AWS": USER_ARN}, "Action": "sts:AssumeRole"},
                            version="2008-10-17"), ('"2008-10-17"', "old")),
    ("user-policy", policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}),
     ('Resource "*"', "any role, in any account")),
    ("user-policy", policy({"Effect": "Allow", "Action": "sts:AssumeRole",
                            "Resource": f"arn:aws:iam::{ACCOUNT}:role/*"}), ("role/*", f"any role of account {ACCOUNT}")),
    ("user-policy", policy({"Effect": "Allow", "Action": "sts:AssumeRole",
                            "Resource": [ROLE_ARN, f"arn:aws:iam::{ACCOUNT}:role/admin"]}),
     ("role/admin", "also lets the user assume that role")),
    ("user-policy", policy({"Effect": "Allow", "Action": "sts:*", "Resource": ROLE_ARN}), ('"sts:*"', "also allows")),
    ("user-policy", policy({"Effect": "Allow", "Action": "*", "Resource": ROLE_ARN}), ('Action "*"', "also allows")),
    ("user-policy", policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE_ARN},
                           {"Effect": "Allow", "Action": "ec2:DescribeInstances", "Resource": "*"}),
     ("Statement 2", '"ec2:DescribeInstances" is not needed')),
    ("assume-role", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "DurationSeconds": 900, "ExternalId": "x-1"},
     ("ExternalId", "not needed")),
    ("switch-role-url", f"https://signin.aws.amazon.com/switchrole?roleName=sts_role&account={ACCOUNT}&displayName=",
     ("displayName is empty",)),
]


@pytest.mark.parametrize("exercise_id, answer, says", RISKY, ids=[f"{i}-{n}" for n, (i, _, _) in enumerate(RISKY)])
def test_risky_answers_pass_with_a_warning_that_names_the_risk(exercise_id, answer, says, lab):
    verdict = exercise(exercise_id, lab).verdict(answer)
    text = str(verdict)
    assert verdict.passed and verdict.warnings, text
    assert text.startswith("✓ Correct, but: ")
    for words in says:
        assert words in text, f"{words!r} not in {text}"
    assert text.count("\n") <= 2


def test_the_legacy_token_variable_passes_with_a_warning(lab, response):
    creds = response["Credentials"]
    text = lines(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]).replace(
        "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
    verdict = exercise("exports", lab).verdict(text)
    assert verdict.passed and "AWS_SECURITY_TOKEN is the old name" in str(verdict)
    assert creds["SessionToken"] not in str(verdict)


# --- the API ------------------------------------------------------------------------------------


def test_exercise_ids_and_an_unknown_one():
    assert IDS == ("user-policy", "trust-policy", "assume-role", "exports", "session", "predict-ec2",
                   "switch-role-url")
    assert CLI_IDS == ("user-policy", "trust-policy", "assume-role", "exports", "switch-role-url")
    with pytest.raises(LabError, match="There is no exercise 'trust'.*trust-policy"):
        exercise("trust")
    ex = exercise("trust-policy", lab=object())
    assert (ex.id, ex.notebook, ex.variable) == ("trust-policy", "02", "trust_policy")
    assert "trust policy" in ex.title


def test_check_prints_returns_and_records(lab, capsys):
    progress_module.forget()
    ex = exercise("user-policy", lab)
    wrong = ex.check(policy({"Effect": "Allow", "Action": "sts:AssumeRoles", "Resource": ROLE_ARN}))
    out = capsys.readouterr().out
    assert out.startswith("✗ Not yet: ") and out.strip() == str(wrong)
    assert not wrong.passed and "user-policy" not in progress_module.passed()
    html = wrong._repr_html_()
    assert "✗ Not yet" in html and "&quot;sts:AssumeRoles&quot;" in html and "<script" not in html
    right = ex.check(ex.solution_value())
    assert right.passed and capsys.readouterr().out == "✓ Correct.\n"
    first = progress_module.passed()["user-policy"]
    assert ex.check(ex.solution_value()).passed
    assert progress_module.passed()["user-policy"] == first  # the first pass is what counts


def test_hint_solution_and_use(lab, capsys):
    ex = exercise("trust-policy", lab)
    ex.hint()
    ex.hint()
    ex.hint()
    hints = capsys.readouterr().out.splitlines()
    assert hints[0].startswith("Hint 1 of 2: ") and hints[1].startswith("Hint 2 of 2: ")
    assert hints[2] == hints[0]
    ex.solution()
    assert capsys.readouterr().out == ex.solution_code() + "\n"
    mine = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": USER_ARN},
                                                    "Action": "sts:AssumeRole"}]}
    assert ex.use(mine) is mine
    assert capsys.readouterr().out == "Using your trust_policy: it passes the check.\n"
    assert ex.use({"Version": "2012-10-17", "Statement": [{"Effect": ..., "Principal": {"AWS": ...}}]}) \
        == ex.solution_value()
    said = capsys.readouterr().out
    assert said.count("\n") == 1 and "Using the lab's solution for trust_policy" in said


def test_use_falls_back_to_a_working_session(lab, capsys):
    session = exercise("session", lab).use(None)
    assert "Using the lab's solution for session" in capsys.readouterr().out
    arn = lab.target.client("sts", session).get_caller_identity()["Arn"]
    assert arn.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/sts_role/")
    text = exercise("exports", lab).use("")
    assert exercise("exports", lab).verdict(text).passed


ODD = [None, ..., 0, 1.5, True, [], {}, "", " ", "null", "[]", "{}", b"\xff\xfe", object(), {"Statement": None},
       {"Version": "2012-10-17", "Statement": []}, {"Version": "2012-10-17", "Statement": [{}]},
       {"Version": "2012-10-17", "Statement": [None, 3]},
       {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": 5, "Resource": []}]},
       {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {}, "Action": "sts:AssumeRole"}]},
       {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": [None]},
                                                "Action": "sts:AssumeRole"}]},
       {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE_ARN,
                                                "Condition": {"Nonsense": {"a": "b"}}}]},
       {"RoleArn": 7, "RoleSessionName": None}, {"before": [], "during": {}, "after": 3},
       "export", "export =", "export A=", "https://", "https://signin.aws.amazon.com/switchrole?%zz",
       "\x00", "é" * 5000, {(1, 2): "x"}, [[[]]], {"a": {"b": {"c": ...}}}]


@pytest.mark.parametrize("exercise_id", IDS)
def test_odd_answers_get_a_verdict_never_a_traceback(exercise_id, lab):
    ex = exercise(exercise_id, lab)
    for answer in ODD:
        verdict = ex.verdict(answer)
        assert not verdict.passed, (answer, verdict)
        assert str(verdict).startswith("✗ Not yet: ") and str(verdict).count("\n") <= 2, (answer, verdict)
    if exercise_id == "predict-ec2":
        for observed in ("x", 3, {"later": "allowed"}, {"before": object()}):
            assert not ex.verdict(PREDICTED, observed).passed


def test_the_lab_being_unreachable_is_said_not_raised(lab):
    """A check that cannot reach the target says so (unusable input, exit 2 on the CLI)."""
    from labkit.target import Target

    gone = Lab(Target("sandbox", "labkit-admin", endpoint="http://127.0.0.1:9"), progress=[].append)
    verdict = exercise("trust-policy", gone).verdict(exercise("trust-policy", lab).solution_value())
    assert not verdict.passed and not verdict.usable
    assert verdict.problem.startswith("the lab cannot check this now") and "Traceback" not in verdict.problem


def test_predict_without_the_probes_probes_before_and_during_itself(lab):
    ex = exercise("predict-ec2", lab)
    verdict = ex.verdict(PREDICTED)
    assert not verdict.passed and "before and during match" in verdict.problem
    assert "ex.check(prediction, timeline)" in verdict.problem
    wrong = ex.verdict({**PREDICTED, "during": "UnauthorizedOperation"})
    assert "during: you predicted UnauthorizedOperation, EC2 answered allowed" in wrong.problem


def test_predict_compares_with_a_timeline(lab, private):
    from labkit.timeline import Timeline, clock_for

    timeline = Timeline(clock=clock_for(lab.target))
    timeline.record("as the user", lab.probe_ec2())
    session = lab.assume_role(duration=900)
    timeline.start(session)
    timeline.record("with the session", lab.probe_ec2(session.credentials))
    ex = exercise("predict-ec2", lab)
    early = ex.verdict(PREDICTED, timeline)
    assert not early.passed and "after can be compared only" in early.problem
    private.advance(901)
    try:
        timeline.record("after expiry", lab.probe_ec2(session.credentials))
    finally:
        private.sandbox.control("clock/reset")
    assert ex.verdict(PREDICTED, timeline).passed
    assert "after: you predicted allowed, EC2 answered RequestExpired" in ex.verdict(
        {**PREDICTED, "after": "allowed"}, timeline).problem


def test_the_role_maximum_is_read_from_the_target(lab, private):
    ex = exercise("assume-role", lab)
    params = {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "DurationSeconds": 7200}
    assert not ex.verdict(params).passed
    private.iam().update_role(RoleName="sts_role", MaxSessionDuration=7200)
    try:
        assert ex.verdict(params).passed
        assert "(7200 s)" in ex.verdict({**params, "DurationSeconds": 7201}).problem
    finally:
        private.iam().update_role(RoleName="sts_role", MaxSessionDuration=3600)


# --- progress -------------------------------------------------------------------------------------


def test_progress_file_is_private_and_keeps_the_first_pass(lab):
    progress_module.forget()
    assert progress_module.record("trust-policy", "2026-01-02T03:04:05Z") == "2026-01-02T03:04:05Z"
    assert progress_module.record("trust-policy") == "2026-01-02T03:04:05Z"
    path = progress_module.path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"trust-policy": "2026-01-02T03:04:05Z"}
    assert not [p for p in path.parent.iterdir() if p.name.startswith("progress.json.tmp")]
    with pytest.raises(LabError):
        progress_module.record("no-such-exercise")


def test_an_unreadable_progress_file_is_kept_aside(lab):
    path = progress_module.path()
    path.write_text("{not json")
    assert progress_module.passed() == {}
    progress_module.record("exports")
    assert list(progress_module.passed()) == ["exports"]
    assert path.with_name("progress.json.unreadable").read_text() == "{not json"


def test_concurrent_records_keep_every_exercise(lab, tmp_path):
    """Notebook kernels and terminals record at the same time: no pass is lost."""
    progress_module.forget()
    code = ("import sys\nfrom labkit.exercises import progress\n"
            "for _ in range(30):\n    progress.record(sys.argv[1]); progress.forget(sys.argv[1])\n"
            "progress.record(sys.argv[1])\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [subprocess.Popen([sys.executable, "-c", code, i], env=env) for i in IDS]
    assert [p.wait(timeout=120) for p in procs] == [0] * len(IDS)
    assert sorted(progress_module.passed()) == sorted(IDS)


def test_checklist_shows_every_exercise_with_when(lab):
    progress_module.forget()
    progress_module.record("trust-policy", "2026-11-28T13:05:12Z")
    shown = checklist()
    text = str(shown)
    assert text.splitlines()[0] == "Exercises passed: 1 of 7"
    assert len(text.splitlines()) == 1 + len(IDS)
    assert "✓ 02  trust-policy" in text and "passed 2026-11-28 13:05:12 UTC" in text
    assert "· 02  user-policy" in text
    html = shown._repr_html_()
    assert html.count("<tr>") == 1 + len(IDS) and "2026-11-28 13:05:12 UTC" in html and "not yet" in html
    summary = progress_module.summary()
    assert summary["passed"] == 1 and summary["total"] == 7 and summary["learner"]
    assert [e["passed_at"] for e in summary["exercises"] if e["id"] == "trust-policy"] == ["2026-11-28T13:05:12Z"]


# --- catch-up ----------------------------------------------------------------------------------------


def test_catch_up_repairs_then_finds(lab, private, capsys):
    iam = private.iam()
    iam.update_assume_role_policy(RoleName="sts_role", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
                                                 "Action": "sts:AssumeRole"}]}))
    iam.delete_user_policy(UserName="labkit-sts-user", PolicyName="labkit-assume-role")
    steps = catch_up("03", lab)
    out = capsys.readouterr().out
    assert out.startswith("Catching up for notebook 03 (AssumeRole)")
    assert {(s.what, s.action) for s in steps} >= {("IAM role", "updated"), ("user policy", "created")}
    assert "Done: 2 change(s)" in out
    assert lab.assume_role(duration=900).arn.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/sts_role/")
    before = snapshot(iam)
    again = catch_up("3", lab)
    assert [s.action for s in again] == ["found"] * 5
    assert "Nothing to change" in capsys.readouterr().out and snapshot(iam) == before


def test_catch_up_for_notebooks_that_start_from_anything(lab, capsys):
    assert catch_up("01-welcome.ipynb", lab) == [] and "Nothing to do" in capsys.readouterr().out
    assert catch_up(7, lab) == []
    for bad in ("8", "00", "x", "10", ""):
        with pytest.raises(LabError, match="is not one of the lab's notebooks"):
            catch_up(bad, lab)


def test_catch_up_says_how_far_the_sandbox_clock_is_ahead(lab, private, capsys):
    private.advance(3600)
    try:
        catch_up("05", lab)
    finally:
        private.sandbox.control("clock/reset")
    assert "The sandbox clock is 1 h ahead" in capsys.readouterr().out


# --- a real account ------------------------------------------------------------------------------------


def test_a_real_account_uses_the_labs_prefixed_names_and_asks_before_changing(private, tmp_path, monkeypatch):
    target = aws_workspace(monkeypatch, tmp_path / "home", private, private.admin_keys(), suffix="ana")
    ex = exercise("user-policy")  # the lab of this target, found by itself
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/labkit-sts_role-ana"
    assert ex.verdict(policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn})).passed
    wrong = ex.verdict(policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE_ARN}))
    assert '"sts_role"' in wrong.problem and role_arn in wrong.problem
    trust = exercise("trust-policy").verdict(policy({"Effect": "Allow", "Principal": {"AWS": USER_ARN},
                                                     "Action": "sts:AssumeRole"}))
    assert "labkit-sts-user-ana" in trust.problem

    iam = private.iam()
    before = snapshot(iam)
    with pytest.raises(LabError, match="has not been told it may create resources"):
        catch_up("03")
    assert snapshot(iam) == before
    target.confirm(ACCOUNT)
    lab = Lab(target, progress=[].append)
    assert [s.action for s in catch_up("03", lab)] == ["created"] * 5
    assert [s.action for s in catch_up("03", lab)] == ["found"] * 5
    assert exercise("assume-role", lab).verdict(
        {"RoleArn": role_arn, "RoleSessionName": "s1", "DurationSeconds": 3600}).passed
    lab.cleanup()


# --- the solved form of a notebook ------------------------------------------------------------------------


def _nb(*cells) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)}


def _code(source, exercise_id=None, tags=None) -> dict:
    metadata = {}
    if exercise_id:
        metadata = {"tags": ["exercise"], "labkit": {"exercise": exercise_id}}
    if tags is not None:
        metadata["tags"] = tags
    return {"cell_type": "code", "metadata": metadata, "source": source, "outputs": [], "execution_count": None}


def test_solve_notebook_replaces_exercise_cells_only():
    nb = _nb({"cell_type": "markdown", "metadata": {}, "source": "# Your turn"},
             _code(["from labkit.lab import Lab\n", "lab = Lab(target)"]),
             _code(['trust_policy = {"Statement": [{"Principal": ...}]}'], "trust-policy"),
             _code("exercise('trust-policy').check(trust_policy)"))
    nb["cells"][2]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "✗ Not yet"}]
    original = json.dumps(nb)
    solved = solve_notebook(nb)
    assert json.dumps(nb) == original  # the learner's form is untouched
    cell = solved["cells"][2]
    assert "".join(cell["source"]) == exercise("trust-policy", lab=object()).solution_code()
    assert isinstance(cell["source"], list) and cell["outputs"] == [] and cell["metadata"] == nb["cells"][2]["metadata"]
    assert [c["source"] for i, c in enumerate(solved["cells"]) if i != 2] == \
        [c["source"] for i, c in enumerate(nb["cells"]) if i != 2]


def test_solve_notebook_refuses_what_would_not_run():
    with pytest.raises(LabError, match="names the exercise 'trust'"):
        solve_notebook(_nb(_code("x = 1", "trust")))
    with pytest.raises(LabError, match='tagged "exercise" but its metadata names no exercise'):
        solve_notebook(_nb(_code("x = ...", tags=["exercise"])))
    with pytest.raises(LabError, match=r"Cell 1 \(trust-policy\): its solution reads lab"):
        solve_notebook(_nb(_code("trust_policy = ...", "trust-policy")))
    with pytest.raises(LabError, match="reads picker"):  # defined only after the exercise
        solve_notebook(_nb(_code("lab = 1"), _code("params = ...", "assume-role"), _code("picker = 2")))
    with pytest.raises(LabError, match="takes a notebook"):
        solve_notebook({"cells": None})
    ok = solve_notebook(_nb(_code("%matplotlib inline\n!aws sts get-caller-identity\nlab, picker = connect()"),
                            _code("params = ...", "assume-role")))
    assert "picker.value" in ok["cells"][1]["source"]


SKELETONS = {
    "user-policy": 'user_policy = {"Version": "2012-10-17", "Statement": [{"Effect": ..., "Action": ..., '
                   '"Resource": ...}]}',
    "trust-policy": 'trust_policy = {"Version": "2012-10-17", "Statement": [{"Effect": ..., '
                    '"Principal": {"AWS": ...}, "Action": ...}]}',
    "assume-role": 'assume_role_params = {"RoleArn": ..., "RoleSessionName": ..., "DurationSeconds": picker.value}',
    "exports": "exports = ...",
    "session": "session = ...",
    "predict-ec2": 'prediction = {"before": ..., "during": ..., "after": ...}',
    "switch-role-url": "switch_role_url = ...",
}


def _lesson() -> dict:
    """A notebook in miniature with all seven exercises, as the learner gets it (blanks)."""
    setup = ("import json\nfrom types import SimpleNamespace\nfrom labkit.exercises import exercise, catch_up\n"
             "from labkit.lab import Lab\nfrom labkit.target import connect\n"
             "from labkit.timeline import Timeline, clock_for\nfrom labkit.waiting import expire\n"
             "target = connect()\nlab = Lab(target)\ncatch_up('03')\npicker = SimpleNamespace(value=900)\n"
             "iam = target.client('iam')")
    cells = [_code(setup)]
    steps = {
        "user-policy": "iam.put_user_policy(UserName=lab.names.user, PolicyName=lab.names.user_policy, "
                       "PolicyDocument=json.dumps(ex.use(user_policy)))",
        "trust-policy": "iam.update_assume_role_policy(RoleName=lab.names.role, "
                        "PolicyDocument=json.dumps(ex.use(trust_policy)))",
        "assume-role": "response = lab.client('sts').assume_role(**ex.use(assume_role_params))",
        "exports": "print(len(ex.use(exports).splitlines()), 'lines')",
        "session": "print(target.client('sts', ex.use(session)).get_caller_identity()['Arn'].split('/')[1])",
        "predict-ec2": ("timeline = Timeline(clock=clock_for(target))\n"
                        "timeline.record('as the user', lab.probe_ec2())\n"
                        "s = lab.assume_role(900)\ntimeline.start(s)\n"
                        "timeline.record('with the session', lab.probe_ec2(s.credentials))\n"
                        "expire(lab, s)\ntimeline.record('after expiry', lab.probe_ec2(s.credentials))"),
        "switch-role-url": "print(ex.use(switch_role_url).split('?')[0])",
    }
    for exercise_id in IDS:
        cells.append(_code(SKELETONS[exercise_id], exercise_id))
        cells.append(_code(f"ex = exercise({exercise_id!r})"))
        if exercise_id == "predict-ec2":
            cells.append(_code(steps[exercise_id]))
            cells.append(_code("ex.check(prediction, timeline)"))
        else:
            cells.append(_code(f"ex.check({exercise(exercise_id, lab=object()).variable})"))
            cells.append(_code(steps[exercise_id]))
    return _nb(*cells)


def _run(nb: dict) -> list[list[dict]]:
    import nbclient
    import nbformat

    notebook = nbformat.from_dict(nb)
    nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    return [cell.outputs for cell in notebook.cells]


def _texts(outputs: list[dict]) -> list[str]:
    return [o.get("text") or o.get("data", {}).get("text/plain", "") for o in outputs]


def test_a_notebook_runs_as_the_learner_gets_it_and_solved(lab, private):
    """The learner's form: every check says "not yet" in words, use() lets the rest run, no error.
    The solved form (solve_notebook): every check passes. One source for both."""
    lesson = _lesson()
    try:
        learner = _run(lesson)
        solved = _run(solve_notebook(lesson))
    finally:
        private.sandbox.control("clock/reset")
    for outputs in (learner, solved):
        assert not [o for cell in outputs for o in cell if o["output_type"] == "error"]
    checks = [i for i, c in enumerate(lesson["cells"]) if "ex.check(" in c["source"]]
    assert len(checks) == len(IDS)
    for i in checks:
        said = _texts(learner[i])
        assert len(said) == 1 and said[0].startswith("✗ Not yet: "), said  # shown once, as text and HTML
        assert "text/html" in learner[i][0]["data"]
        assert _texts(solved[i]) == ["✓ Correct."], _texts(solved[i])
    uses = [i for i, c in enumerate(lesson["cells"]) if "ex.use(" in c["source"]]
    assert all(_texts(learner[i])[0].startswith("Using the lab's solution") for i in uses)
    assert all(_texts(solved[i])[0].startswith("Using your ") for i in uses)
    assert "sts_role" in "".join(_texts(learner[uses[4]]))
