"""A notebook opened with no sandbox running starts one (and only one) in its lab workspace."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from labkit.sandbox import lifecycle

WELCOME = Path(__file__).resolve().parent.parent / "notebooks" / "01-welcome.ipynb"


def test_a_notebook_that_finds_no_sandbox_starts_one(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("LABKIT_HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    assert lifecycle.current() is None
    notebook = nbformat.read(WELCOME, as_version=4)
    try:
        NotebookClient(notebook, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(WELCOME.parent)}}).execute()
        running = lifecycle.current()
        assert running is not None, "the notebook did not start a sandbox"
        state = json.loads((home / "sandbox.json").read_text())
        assert state["pid"] == running.pid and running.endpoint.startswith("http://127.0.0.1:")
        assert oct((home / "aws-credentials").stat().st_mode & 0o777) == "0o600"
        printed = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
        assert "arn:aws:iam::123456789012:user/labkit-admin" in printed
    finally:
        if lifecycle.current() is not None:
            lifecycle.stop()
