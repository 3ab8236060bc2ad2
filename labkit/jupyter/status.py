"""What GET /labkit/status answers: the lab as this learner's server sees it.

Read by the notebooks' first cell and by instructors (through the hub, with a token that may
access the learners' servers). No secret is in it: no keys, no control token.
"""

from __future__ import annotations

import json
from typing import Any

import labkit
from labkit import workspace
from labkit.errors import LabError
from labkit.jupyter.starter import FAILED, RUNNING, STARTING, StartRecord


def progress() -> dict[str, Any] | None:
    """The learner's exercises: {"passed": n, "total": m, "exercises": [IDs passed]}.

    From labkit.exercises when it is installed (its `summary()`, what `labkit progress --json`
    prints); otherwise read from LABKIT_HOME/progress.json (exercise ID -> first passed time),
    with "total" None. None when that file cannot be read.
    """
    try:
        from labkit.exercises.progress import summary
    except ImportError:
        summary = None
    if summary is not None:
        found = summary()
        return {"passed": found["passed"], "total": found["total"],
                "exercises": [e["id"] for e in found["exercises"] if e.get("passed_at")]}
    try:
        passed = json.loads((workspace.home() / "progress.json").read_text())
    except FileNotFoundError:
        passed = {}
    except (OSError, ValueError):
        return None
    if not isinstance(passed, dict):
        return None
    return {"passed": len(passed), "total": None, "exercises": sorted(passed)}


def sandbox_status(record: StartRecord) -> dict[str, Any]:
    from labkit.sandbox import lifecycle

    info: dict[str, Any] = {"started_by_server": record.started_here, "start_seconds": record.seconds}
    if record.state == STARTING:  # until the start returns, even if its state file is written
        return {**info, "state": STARTING}
    try:
        found = lifecycle.status()
    except LabError as exc:  # running, but not answering
        return {**info, "state": "not answering", "error": str(exc)}
    if found is not None:
        return {**info, "state": RUNNING, "endpoint": found["endpoint"], "pid": found["pid"],
                "started": found["started"], "clock": found.get("clock")}
    if record.state == FAILED:
        return {**info, "state": FAILED, "error": record.error}
    return {**info, "state": "stopped",
            "hint": "Run `labkit sandbox start` in a terminal, or any notebook: it starts on first use."}


def lab_status(record: StartRecord, notebooks: str | None, problem: str | None = None) -> dict[str, Any]:
    """`problem`: why the lab is off in this server (its workspace could not be made), if it is."""
    target = workspace.target_kind()
    if problem:
        return {"labkit": labkit.__version__, "target": target, "home": None, "notebooks": None,
                "sandbox": {"state": FAILED, "error": problem}, "progress": None}
    return {
        "labkit": labkit.__version__,
        "target": target,
        "home": str(workspace.home()),
        "notebooks": notebooks,
        "sandbox": sandbox_status(record) if target == workspace.SANDBOX else {"state": "not used"},
        "progress": progress(),
    }
