"""The learner's own copy of the notebooks, and where the Jupyter file browser shows it.

`ensure_learner_copy()` is the hook the server extension and `labkit lab` call. This is a minimal
version: the notebooks work (issue 9) brings labkit's own function for it (with a reset command);
when it lands, this module calls that instead and keeps `show_in()`.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from labkit import workspace

LINK_NAME = "sts-labkit"  # what a learner sees in their home folder on a hub or Binder


def notebooks_source() -> Path | None:
    """The lessons as committed: the notebooks/ folder of the clone labkit is installed from
    (`pip install -e`), else the copy a regular install puts in <prefix>/share/sts-labkit."""
    for source in (Path(__file__).resolve().parents[2] / "notebooks",
                   Path(sys.prefix) / "share" / "sts-labkit" / "notebooks"):
        if any(source.glob("*.ipynb")):
            return source
    return None


def ensure_learner_copy() -> Path:
    """LABKIT_HOME/notebooks, each lesson copied on first use; a file already there is never
    overwritten (it is the learner's work)."""
    copy = workspace.home() / "notebooks"
    copy.mkdir(exist_ok=True)
    source = notebooks_source()
    if source is not None:
        for lesson in sorted(source.glob("*.ipynb")):
            target = copy / lesson.name
            if not target.exists():
                shutil.copyfile(lesson, target)
    return copy


def _hidden_or_outside(path: Path, root: Path) -> bool:
    try:
        relative = path.resolve().relative_to(root.resolve())
    except ValueError:
        return True
    return any(part.startswith(".") for part in relative.parts)


def show_in(root: Path, copy: Path, name: str = LINK_NAME) -> Path | None:
    """Make `copy` reachable from Jupyter's file browser rooted at `root` (a hub's or Binder's
    home folder, where LABKIT_HOME is the hidden ~/.labkit): a link `root/name` to it.

    Nothing is done when the copy is already visible under `root`; an existing `root/name`
    that is not that link is left alone. Returns the link, or None when none is needed or made.
    """
    if not _hidden_or_outside(copy, root):
        return None
    link = root / name
    if link.is_symlink() and Path(os.readlink(link)) == copy:
        return link
    if link.exists() or link.is_symlink():
        return None
    link.symlink_to(copy, target_is_directory=True)
    return link
