"""The learner's own copy of the lessons (labkit.lessons, `labkit notebooks`): made once, never
overwritten, reset on request with the learner's work kept; the repository's notebooks untouched."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from labkit import lessons
from labkit.errors import LabError

BIN = Path(sys.executable).parent
ORIGINALS = {p.name: p.read_bytes() for p in lessons.lessons()}


def test_the_copy_holds_the_lessons_and_the_walkthrough_but_no_test_plumbing(tmp_path):
    done = lessons.ensure_copy(tmp_path / "mine")
    names = sorted(str(p.relative_to(tmp_path / "mine")) for p in (tmp_path / "mine").rglob("*") if p.is_file())
    assert names == sorted([*ORIGINALS, "README.md", "docs/terminal-walkthrough.md"])
    assert {c.action for c in done} == {"copied"} and len(done) == len(ORIGINALS) + 1
    assert "labkit notebooks reset" in (tmp_path / "mine" / "README.md").read_text()


def test_a_second_start_keeps_the_learners_work_and_adds_what_is_missing(tmp_path):
    mine = tmp_path / "mine"
    lessons.ensure_copy(mine)
    (mine / "02-policy-and-trust.ipynb").write_text("my work")
    (mine / "05-ec2-before-during-after.ipynb").unlink()
    done = {c.name: c.action for c in lessons.ensure_copy(mine)}
    assert done["02-policy-and-trust.ipynb"] == "kept" and done["05-ec2-before-during-after.ipynb"] == "copied"
    assert (mine / "02-policy-and-trust.ipynb").read_text() == "my work"
    assert (mine / "05-ec2-before-during-after.ipynb").read_bytes() == ORIGINALS["05-ec2-before-during-after.ipynb"]


def test_reset_keeps_a_changed_lesson_in_backups_and_puts_the_original_back(tmp_path):
    mine = tmp_path / "mine"
    lessons.ensure_copy(mine)
    (mine / "03-assume-role.ipynb").write_text("my work")
    done = lessons.reset(["3"], mine, now=datetime(2026, 11, 28, 12, 0, 0))
    assert [str(c) for c in done] == [
        "  reset  03-assume-role.ipynb (yours is kept as backups/03-assume-role.20261128-120000.ipynb)"]
    assert (mine / "backups" / "03-assume-role.20261128-120000.ipynb").read_text() == "my work"
    assert (mine / "03-assume-role.ipynb").read_bytes() == ORIGINALS["03-assume-role.ipynb"]
    unchanged = lessons.reset(["03-assume-role"], mine)  # nothing of the learner's to keep
    assert [c.backup for c in unchanged] == [""]
    assert len(lessons.reset(None, mine)) == len(ORIGINALS)


def test_reset_of_a_lesson_that_does_not_exist_says_which_exist(tmp_path):
    with pytest.raises(LabError, match=r"There is no lesson '9': give its number \(01, 02, .*07\)"):
        lessons.reset(["9"], tmp_path)
    assert not (tmp_path / "backups").exists()


def test_labkit_notebooks_reset_on_the_command_line(tmp_path):
    env = {**os.environ, lessons.COPY_VARIABLE: str(tmp_path / "mine")}
    lessons.ensure_copy(tmp_path / "mine")
    (tmp_path / "mine" / "07-cleanup.ipynb").write_text("changed")
    run = subprocess.run([str(BIN / "labkit"), "notebooks", "reset", "07"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "reset  07-cleanup.ipynb (yours is kept as backups/07-cleanup." in run.stdout
    where = subprocess.run([str(BIN / "labkit"), "notebooks", "path"], env=env, capture_output=True,
                           text=True, timeout=60)
    assert where.stdout.strip() == str(tmp_path / "mine")
    bad = subprocess.run([str(BIN / "labkit"), "notebooks", "reset", "42"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("labkit: There is no lesson '42'")
    assert "Traceback" not in bad.stderr


def test_the_repositorys_notebooks_are_not_the_copy():
    assert lessons.copy_dir() != lessons.source_dir()
    assert "my-notebooks/" in (lessons.ROOT / ".gitignore").read_text().splitlines()


def test_where_the_copy_lives(monkeypatch, tmp_path):
    """my-notebooks/ in the clone for the clone's own lab; the workspace's notebooks/ for a learner on
    a hub or a workspace named by LABKIT_HOME; LABKIT_NOTEBOOKS above both."""
    for name in ("LABKIT_HOME", "JUPYTERHUB_USER", lessons.COPY_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert lessons.copy_dir() == lessons.ROOT / "my-notebooks"
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    assert lessons.copy_dir() == tmp_path / ".labkit" / "notebooks"
    monkeypatch.delenv("JUPYTERHUB_USER")
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "room"))
    assert lessons.copy_dir() == tmp_path / "room" / "notebooks"
    monkeypatch.setenv(lessons.COPY_VARIABLE, str(tmp_path / "elsewhere"))
    assert lessons.copy_dir() == tmp_path / "elsewhere"
