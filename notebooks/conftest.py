"""The lesson notebooks as tests (nbval), twice: as the learner gets them (each exercise blank:
its check says "not yet" in words, `ex.use` lets the rest run) and solved (each exercise cell
replaced by its solution from labkit.exercises, the one source of both: every check passes).

The solved copies are written at collection time into a temporary folder under this one (so that
this file's hooks apply to them; pytest does not collect folders whose name starts with a dot)
and run after all the learner forms. The kernel finds this environment's `aws` and `labkit`, and the session ends with
each notebook's run time.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest

BUDGET = 120.0  # seconds for all notebooks, both forms (the target on a quiet 2-core machine)
HERE = Path(__file__).resolve().parent
SOLVED_PREFIX = "solved-"
NOT_YET, CORRECT = "✗ Not yet:", "✓ Correct"

# `!aws ...` and credential_process (`labkit creds process`) in the notebooks must run the
# tools installed next to this Python, even when the venv is not activated.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

_times: dict[str, float] = defaultdict(float)
_failed: set[str] = set()
_solved_dir: Path | None = None


def _lesson(path: Path) -> bool:
    return path.suffix == ".ipynb" and path.parent == HERE and path.name[:2].isdigit()


def _solved_copy(path: Path) -> Path:
    """The solved form of a lesson, written into this session's temporary folder."""
    global _solved_dir
    from labkit.exercises import solve_notebook

    if _solved_dir is None:
        _solved_dir = Path(tempfile.mkdtemp(prefix=".solved-", dir=HERE))
    solved = _solved_dir / f"{SOLVED_PREFIX}{path.name}"
    solved.write_text(json.dumps(solve_notebook(json.loads(path.read_text())), indent=1))
    return solved


def pytest_collect_file(file_path, parent):
    """Besides nbval's own collection of a lesson (the learner's form), its solved form."""
    opt = parent.config.option
    if (opt.nbval or opt.nbval_lax) and _lesson(Path(file_path)):
        from nbval.plugin import IPyNbFile

        solved = _solved_copy(Path(file_path))  # named without the temporary folder's random part
        return IPyNbFile.from_parent(parent, path=solved, nodeid=f"{parent.nodeid}/{solved.name}")
    return None


def _form_and_name(nodeid_path: str) -> tuple[str, str]:
    name = Path(nodeid_path).name
    if name.startswith(SOLVED_PREFIX):
        return "solved", name[len(SOLVED_PREFIX):]
    return "learner", name


class NotebookForms:
    """The hooks for both forms, as a plugin: a conftest's own hooks reach only the nodes under its
    folder that pytest collected, and the solved copies are collected from a folder it skips."""

    def pytest_collection_modifyitems(self, session, config, items):
        """All learner forms first (01..07), then all solved forms (01..07): each form a full run."""
        def solved(item) -> bool:
            return Path(str(item.fspath)).name.startswith(SOLVED_PREFIX)

        items[:] = [i for i in items if not solved(i)] + [i for i in items if solved(i)]

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        """An exercise's check must say "not yet" in words in the learner's form and pass when solved."""
        outcome = yield
        report = outcome.get_result()
        cell = getattr(item, "cell", None)
        if call.when != "call" or report.failed or cell is None or ".check(" not in cell.get("source", ""):
            return
        form, name = _form_and_name(str(item.fspath))
        shown = []
        for output in getattr(item, "test_outputs", None) or []:
            shown.append(output.get("text", ""))
            shown.append(str(output.get("data", {}).get("text/plain", "")))
        text = "\n".join(shown)
        wanted = NOT_YET if form == "learner" else CORRECT
        if wanted not in text:
            report.outcome = "failed"
            report.longrepr = (f"{name} ({form} form): the exercise check should say {wanted!r}, "
                               f"but it showed:\n{text or '(nothing)'}")

    def pytest_runtest_logreport(self, report) -> None:
        path = report.nodeid.split("::", 1)[0]
        if path.endswith(".ipynb"):
            _times[path] += report.duration  # setup (kernel start), call and teardown of every cell
            if report.failed:
                _failed.add(path)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if not _times:
            return
        write = terminalreporter.write_line
        terminalreporter.section("notebook run times")
        for form in ("learner", "solved"):
            for path in sorted(p for p in _times if _form_and_name(p)[0] == form):
                mark = "  FAILED" if path in _failed else ""
                write(f"{_times[path]:7.1f} s  {_form_and_name(path)[1]:<34} {form}{mark}")
        total = sum(_times.values())
        forms = len({_form_and_name(p)[0] for p in _times})
        write(f"{total:7.1f} s  all {len(_times)} notebook runs, {forms} form(s) (budget {BUDGET:.0f} s"
              + (")" if total <= BUDGET else ", OVER BUDGET)"))


def pytest_configure(config) -> None:
    if not config.pluginmanager.has_plugin("labkit-notebook-forms"):
        config.pluginmanager.register(NotebookForms(), "labkit-notebook-forms")


def pytest_unconfigure(config) -> None:
    if _solved_dir is not None:
        shutil.rmtree(_solved_dir, ignore_errors=True)
