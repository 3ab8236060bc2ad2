"""Every notebook, end to end, on the real-account code path (LABKIT_TARGET=aws with a named
profile whose only policy is labkit/data/minimum-permissions.json), against a private sandbox.

Outputs are not compared here (names and account differ from the sandbox lessons); every cell
must run without an error, and nothing the lab made may be left at the end. The after-expiry
wait is capped with LABKIT_MAX_WAIT=0, as an instructor would for a demo.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from labkit.cleanup import leftovers
from tests.aws_path import aws_workspace, private_sandbox

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def private(request):
    return private_sandbox(request.config)


def test_every_notebook_runs_on_the_aws_path(private, tmp_path, monkeypatch):
    target = aws_workspace(monkeypatch, tmp_path / "home", private, private.minimal_admin())
    monkeypatch.setenv("AWS_ENDPOINT_URL", private.endpoint)  # the notebooks' `!aws` cells
    monkeypatch.setenv("LABKIT_MAX_WAIT", "0")
    assert not target.is_sandbox
    target.confirm(ACCOUNT)  # what notebook 01 asks the learner to do once
    printed: dict[str, str] = {}
    for path in NOTEBOOKS:
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(notebook, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()  # raises CellExecutionError, naming the cell, on any error
        printed[path.name] = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
        assert "Traceback" not in printed[path.name], f"{path.name}: {printed[path.name][-2000:]}"
    # the lessons ran as the real-account names, and the wait was skipped with a come-back time
    assert f"arn:aws:sts::{ACCOUNT}:assumed-role/labkit-sts_role/sts-session" in printed["02-policy-and-trust.ipynb"]
    assert "Run this step again after" in printed["05-ec2-before-during-after.ipynb"]
    assert leftovers(target) == []  # notebook 07 cleaned up on the real-account path
