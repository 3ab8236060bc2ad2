"""The learner's own copy of the notebooks, and where the Jupyter file browser shows it.

`ensure_learner_copy()` is the hook the server extension calls (labkit.lessons makes the copy,
and `labkit notebooks reset` starts lessons over); `show_in()` links the copy into a file browser
rooted at a hub's or Binder's home folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from labkit import lessons

LINK_NAME = "sts-labkit"  # what a learner sees in their home folder on a hub or Binder


def notebooks_source() -> Path | None:
    """The lessons as committed (labkit.lessons.source_dir), or None when there are none."""
    folder = lessons.source_dir()
    return folder if any(folder.glob("*.ipynb")) else None


def ensure_learner_copy() -> Path:
    """The learner's copy (labkit.lessons.copy_dir): each lesson copied on first use; a file
    already there is never overwritten (it is the learner's work)."""
    folder = lessons.copy_dir()
    lessons.ensure_copy(folder)
    return folder


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
