"""Which exercises a learner has passed, and when: LABKIT_HOME/progress.json.

    {"trust-policy": "2026-11-28T13:05:12Z", "user-policy": "2026-11-28T13:01:40Z"}

Exercise ID -> the first time its check passed (UTC). The file is mode 0600 and replaced
atomically; a notebook kernel and a terminal may record at the same moment, so every
read-modify-write holds an exclusive lock on LABKIT_HOME/progress.lock. `summary()` is what
`labkit progress --json` prints for an instructor collecting a room's progress; `checklist()`
is what notebook 01 shows.
"""

from __future__ import annotations

import contextlib
import getpass
import html
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from labkit import workspace
from labkit.errors import LabError
from labkit.exercises.registry import EXERCISES, entry

FILE = "progress.json"
LOCK = "progress.lock"


def path() -> Path:
    return workspace.home() / FILE


def _locked() -> contextlib.AbstractContextManager[None]:
    """The workspace's lock for progress (filelock: never follows a link planted in its place)."""
    return workspace.locked(LOCK, waiting_for="the progress file")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _read() -> tuple[dict[str, str], str | None]:
    """The recorded passes, and a sentence when the file had to be read around (else None)."""
    try:
        text = workspace.read_private(path())  # never through a link
        if text is None:
            return {}, None
        data = json.loads(text)
    except (OSError, ValueError, LabError) as exc:
        return {}, f"{path()} could not be read ({exc}); it starts again from nothing"
    if not isinstance(data, dict):
        return {}, f"{path()} does not hold an object; it starts again from nothing"
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}, None


def passed() -> dict[str, str]:
    """Exercise ID -> when it first passed (ISO 8601, UTC)."""
    return _read()[0]


def record(exercise_id: str, when: str | None = None) -> str:
    """Remember that `exercise_id` passed (only the first time counts); returns when it first did."""
    entry(exercise_id)
    with _locked():
        done, problem = _read()
        if exercise_id in done:
            return done[exercise_id]
        if problem:  # keep what could not be read, next to the new file
            with contextlib.suppress(OSError):
                os.replace(path(), path().with_name(FILE + ".unreadable"))
        done[exercise_id] = when or _now()
        workspace.write_private(path(), json.dumps(done, indent=1, sort_keys=True) + "\n")
        return done[exercise_id]


def forget(exercise_id: str | None = None) -> None:
    """Forget one exercise's pass, or all of them."""
    with _locked():
        done, _ = _read()
        if exercise_id is None:
            done = {}
        else:
            entry(exercise_id)
            done.pop(exercise_id, None)
        workspace.write_private(path(), json.dumps(done, indent=1, sort_keys=True) + "\n")


def learner() -> str:
    """Whose progress this is: the JupyterHub user, LABKIT_NAME_SUFFIX, or the login name."""
    for variable in ("JUPYTERHUB_USER", "LABKIT_NAME_SUFFIX"):
        if os.environ.get(variable, "").strip():
            return os.environ[variable].strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def summary() -> dict:
    """Everything `labkit progress --json` reports: who, how many, and each exercise."""
    done = passed()
    return {
        "learner": learner(),
        "passed": sum(1 for e in EXERCISES if e.id in done),
        "total": len(EXERCISES),
        "exercises": [{"id": e.id, "notebook": e.notebook, "title": e.title, "passed_at": done.get(e.id)}
                      for e in EXERCISES],
    }


def _when(stamp: str) -> str:
    return stamp.replace("T", " ").replace("Z", " UTC")


@dataclass
class Checklist:
    """Every exercise, with ✓ and when it passed; plain text and HTML."""

    done: dict[str, str]

    def lines(self) -> list[str]:
        count = sum(1 for e in EXERCISES if e.id in self.done)
        lines = [f"Exercises passed: {count} of {len(EXERCISES)}"]
        width = max(len(e.id) for e in EXERCISES)
        for e in EXERCISES:
            mark = "✓" if e.id in self.done else "·"
            when = f"  passed {_when(self.done[e.id])}" if e.id in self.done else ""
            lines.append(f"  {mark} {e.notebook}  {e.id:<{width}}  {e.title}{when}")
        return lines

    def __str__(self) -> str:
        return "\n".join(self.lines())

    __repr__ = __str__

    def _repr_html_(self) -> str:
        count = sum(1 for e in EXERCISES if e.id in self.done)
        rows = []
        for e in EXERCISES:
            ok = e.id in self.done
            mark = "<span style='color:#1a7f37'>✓</span>" if ok else "<span style='color:#8c959f'>·</span>"
            when = html.escape(_when(self.done[e.id])) if ok else "not yet"
            rows.append(f"<tr><td>{mark}</td><td>{e.notebook}</td><td><code>{html.escape(e.id)}</code></td>"
                        f"<td>{html.escape(e.title)}</td><td>{when}</td></tr>")
        return (f"<p><b>Exercises passed: {count} of {len(EXERCISES)}</b></p>"
                "<table><tr><th></th><th>Notebook</th><th>Exercise</th><th></th><th>Passed</th></tr>"
                + "".join(rows) + "</table>")


def checklist() -> Checklist:
    """The learner's progress, for notebook 01 (or any cell): `checklist()`."""
    return Checklist(passed())
