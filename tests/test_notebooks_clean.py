"""The committed notebooks: no secrets, no saved widget state, outputs only where nbval checks.

`scripts/clean-notebooks.py` makes them so; these tests fail when a notebook was committed
without it (or when its checked outputs would reveal a credential).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CHECK = "NBVAL_CHECK_OUTPUT"

ACCESS_KEY = re.compile(r"(AKIA|ASIA)[A-Z0-9]{16}")
SECRET_40 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])")
LONG_TOKEN = re.compile(r"[A-Za-z0-9+/]{100,}")
OWN = ["01-welcome", "02-policy-and-trust", "04-export-credentials", "05-ec2-before-during-after",
       "06-switch-role-console", "07-cleanup"]


def _script():
    spec = importlib.util.spec_from_file_location("clean_notebooks", ROOT / "scripts" / "clean-notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _texts(cell) -> list[str]:
    texts = [cell.source]
    for output in cell.get("outputs", []):
        texts.append(output.get("text", ""))
        for key, value in output.get("data", {}).items():
            if not key.startswith("image/"):
                texts.append(value if isinstance(value, str) else json.dumps(value))
        texts.extend(output.get("traceback", []))
    return texts


def _random_secret(value: str) -> bool:
    return all(re.search(p, value) for p in (r"\d", r"[a-z]", r"[A-Z]"))


def test_the_lessons_are_there_in_order():
    names = [p.stem for p in NOTEBOOKS]
    assert [n for n in names if n in OWN] == OWN
    assert names == sorted(names)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_full_access_key_anywhere_in_the_file(path):
    assert ACCESS_KEY.findall(path.read_text()) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_secret_key_or_session_token_in_code_or_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for index, cell in enumerate(nb.cells):
        text = "\n".join(_texts(cell))
        secrets = [s for s in SECRET_40.findall(text) if _random_secret(s)]
        assert secrets == [], f"cell {index} holds a 40-character secret ending {secrets[0][-4:]}"
        assert LONG_TOKEN.findall(text) == [], f"cell {index} holds a token-like value"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_saved_widget_state(path):
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            assert not any(k.startswith("application/vnd.jupyter.widget") for k in output.get("data", {}))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_only_in_checked_cells_and_only_text(path):
    nb = nbformat.read(path, as_version=4)
    checked = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if not _script().is_checked(cell):
            assert cell.outputs == [], f"cell {index} is not checked by nbval but keeps its output"
            assert cell.execution_count is None, f"cell {index} keeps an execution count"
            continue
        checked += 1
        assert cell.execution_count == checked, f"cell {index}: checked cells are numbered 1, 2, ..."
        assert cell.outputs, f"cell {index} is checked by nbval but has no committed output to compare"
        for output in cell.outputs:
            assert output.output_type in ("stream", "execute_result", "display_data"), f"cell {index}"
            assert set(output.get("data", {})) <= {"text/plain"}, f"cell {index} shows more than text"
    assert checked >= 1, "a lesson notebook checks at least one outcome"


@pytest.mark.parametrize("name", OWN)
def test_each_lesson_runs_alone(name):
    """Every lesson connects in its first cell; 03-06 first bring the target to the state they
    expect (02 builds it itself, with the calls the lesson is about)."""
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    first = [c.source for c in nb.cells if c.cell_type == "code"][0]
    for line in ("from labkit.target import connect", "from labkit.lab import Lab", "target = connect()",
                 "lab = Lab(target)"):
        assert line in first
    if name in ("03-assume-role", "04-export-credentials", "05-ec2-before-during-after",
                "06-switch-role-console"):
        assert "lab.setup()" in first or "catch_up(" in first  # before anything else happens


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_the_clean_script_has_nothing_left_to_do(path):
    assert _script().main(["--check", str(path)]) == 0


def test_the_clean_script_strips_unchecked_outputs_and_refuses_secrets():
    script = _script()
    nb = nbformat.v4.new_notebook(metadata={"widgets": {"state": {}}})
    plain = nbformat.v4.new_code_cell("print('x')", execution_count=3,
                                      outputs=[nbformat.v4.new_output("stream", text="x\n")])
    checked = nbformat.v4.new_code_cell("print('y')", execution_count=4, metadata={"tags": ["nbval-check-output"]},
                                        outputs=[nbformat.v4.new_output("stream", text="y\n")])
    nb.cells = [plain, checked]
    assert script.clean(nb) == []
    assert "widgets" not in nb.metadata
    assert plain.outputs == [] and plain.execution_count is None
    assert checked.outputs[0].text == "y\n" and checked.execution_count == 1

    leaky = nbformat.v4.new_code_cell(f"# {CHECK}", outputs=[nbformat.v4.new_output(
        "stream", text="AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n")])
    nb.cells = [leaky]
    problems = script.clean(nb)
    assert len(problems) == 2 and all("full credential" in p for p in problems)
    assert "****MPLE" in problems[0] and "****EKEY" in problems[1]
