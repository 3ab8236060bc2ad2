"""The learner's own copy of the lessons: what `make lab` opens, so the repository's stay as committed.

    ensure_copy()            # my-notebooks/ beside notebooks/: made on first start, never overwritten
    reset(["02"])            # a fresh 02 (the learner's kept in my-notebooks/backups/); reset() = all

JupyterLab saves (and autosaves) into the notebooks it has open. Opening the repository's
notebooks would change what `make test` compares against; opening a copy keeps the lessons as
committed and the learner's work where the learner finds it. The copy holds the lessons, the
terminal walk-through, and a README that says how to start over; nothing of the tests.

LABKIT_NOTEBOOKS names another folder for the copy (JupyterHub or Binder: one per user).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from labkit.errors import LabError

ROOT = Path(__file__).resolve().parents[1]  # the clone, when labkit is installed from one (pip install -e)
SHARED = Path(sys.prefix) / "share" / "sts-labkit"  # where a regular install puts the lessons (pyproject)
DOCS = ("terminal-walkthrough.md",)  # what a learner needs beside the lessons, from docs/
COPY_VARIABLE = "LABKIT_NOTEBOOKS"
BACKUPS = "backups"

README = """\
# Your lab notebooks

These are your own copies of the sts-labkit lessons: change them, run them, save them. They were
copied from the repository's `notebooks/` the first time `make lab` started, and are never
overwritten by it.

Start with `01-welcome.ipynb`, then go in order. In a terminal (File > New > Terminal), the
AWS CLI and `labkit` already point at the lab: `docs/terminal-walkthrough.md` walks through the
same steps there.

To start a lesson over from the original, in a terminal:

    labkit notebooks reset 03        # one lesson (your copy is kept in backups/)
    labkit notebooks reset           # all of them
"""


@dataclass(frozen=True)
class Copied:
    """One file of the learner's copy and what happened to it."""

    name: str
    action: str  # "copied", "kept" (already there, left as it is), "reset"
    backup: str = ""

    def __str__(self) -> str:
        line = f"{self.action:>7}  {self.name}"
        return f"{line} (yours is kept as {self.backup})" if self.backup else line


def source_dir() -> Path:
    """The lessons as committed: the clone's notebooks/, else the copy a regular install puts in
    <prefix>/share/sts-labkit/notebooks (a hub's image, TLJH's user environment)."""
    for folder in (ROOT / "notebooks", SHARED / "notebooks"):
        if any(folder.glob("[0-9][0-9]-*.ipynb")):
            return folder
    return ROOT / "notebooks"


def copy_dir() -> Path:
    """Where the learner's copy lives: LABKIT_NOTEBOOKS if set; my-notebooks/ in the clone for
    the clone's own lab; else the workspace's notebooks/ (LABKIT_HOME/notebooks): one per learner
    on a hub (JUPYTERHUB_USER), one per workspace when LABKIT_HOME names one, and the only place
    a regular install can write."""
    configured = os.environ.get(COPY_VARIABLE, "").strip()
    if configured:
        return Path(configured).expanduser()
    own_workspace = os.environ.get("LABKIT_HOME") or os.environ.get("JUPYTERHUB_USER")
    if own_workspace or source_dir() != ROOT / "notebooks":
        from labkit import workspace

        return workspace.home() / "notebooks"
    return ROOT / "my-notebooks"


def lessons(source: Path | None = None) -> list[Path]:
    """The lesson notebooks, in order (01-..., 02-..., ...)."""
    source = source or source_dir()
    if not source.is_dir():
        raise LabError(f"The lessons folder {source} is missing: run the lab from a clone of sts-labkit.")
    return sorted(p for p in source.glob("[0-9][0-9]-*.ipynb") if p.is_file())


def _files(source: Path) -> list[tuple[Path, str]]:
    """(original, name in the copy) for every file the copy holds."""
    files = [(p, p.name) for p in lessons(source)]
    for name in DOCS:
        doc = next((d for d in (source.parent / "docs" / name, SHARED / "docs" / name) if d.is_file()), None)
        if doc is not None:
            files.append((doc, f"docs/{name}"))
    return files


def ensure_copy(dest: Path | None = None, source: Path | None = None) -> list[Copied]:
    """Make the learner's copy: every lesson (and doc) not there yet is copied; what is there is
    never touched. Safe to call at every start. Returns what it did, file by file."""
    dest = dest or copy_dir()
    source = source or source_dir()
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabError(f"Cannot make the notebooks folder {dest} ({exc.strerror}): set {COPY_VARIABLE} "
                       "to a folder you may write to.") from None
    done = []
    for original, name in _files(source):
        target = dest / name
        if target.exists():
            done.append(Copied(name, "kept"))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, target)
        done.append(Copied(name, "copied"))
    readme = dest / "README.md"
    if not readme.exists():
        readme.write_text(README)
    return done


def _select(wanted: list[str], source: Path) -> list[Path]:
    available = lessons(source)
    if not wanted:
        return available
    chosen = []
    for item in wanted:
        key = item.strip()
        if re.fullmatch(r"\d{1,2}", key):
            matches = [p for p in available if p.name[:2] == key.zfill(2)]
        else:
            matches = [p for p in available if key in (p.stem, p.name)]
        if not matches:
            names = ", ".join(p.name[:2] for p in available)
            raise LabError(f"There is no lesson '{item}': give its number ({names}), or nothing for all of them.")
        chosen += [p for p in matches if p not in chosen]
    return chosen


def reset(wanted: list[str] | None = None, dest: Path | None = None, source: Path | None = None,
          now: datetime | None = None) -> list[Copied]:
    """Put fresh copies of the chosen lessons (all when none is named) in the learner's folder.
    A learner's copy that differs from the original is moved to backups/ first, never lost."""
    dest = dest or copy_dir()
    source = source or source_dir()
    chosen = _select(list(wanted or []), source)
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M%S")
    done = []
    for original in chosen:
        target = dest / original.name
        backup = ""
        if target.exists() and target.read_bytes() != original.read_bytes():
            folder = dest / BACKUPS
            folder.mkdir(parents=True, exist_ok=True)
            kept = folder / f"{original.stem}.{stamp}{original.suffix}"
            shutil.move(target, kept)
            backup = f"{BACKUPS}/{kept.name}"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(original, target)
        done.append(Copied(original.name, "reset", backup))
    return done
