"""The lesson notebooks as tests (nbval): the kernel finds this environment's `aws` and `labkit`,
and the session ends with each notebook's run time."""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path

BUDGET = 120.0  # seconds for all notebooks together (the target on a quiet 2-core machine)

# `!aws ...` and credential_process (`labkit creds process`) in the notebooks must run the
# tools installed next to this Python, even when the venv is not activated.
_bin = str(Path(sys.executable).parent)
if _bin not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = _bin + os.pathsep + os.environ.get("PATH", "")

_times: dict[str, float] = defaultdict(float)
_failed: set[str] = set()


def pytest_runtest_logreport(report) -> None:
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _times[path] += report.duration  # setup (kernel start), call and teardown of every cell
        if report.failed:
            _failed.add(path)


def pytest_terminal_summary(terminalreporter) -> None:
    if not _times:
        return
    write = terminalreporter.write_line
    terminalreporter.section("notebook run times")
    for path in sorted(_times):
        mark = "  FAILED" if path in _failed else ""
        write(f"{_times[path]:7.1f} s  {Path(path).name}{mark}")
    total = sum(_times.values())
    write(f"{total:7.1f} s  all {len(_times)} notebooks (budget {BUDGET:.0f} s"
          + (")" if total <= BUDGET else ", OVER BUDGET)"))
