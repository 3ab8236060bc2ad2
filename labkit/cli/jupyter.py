"""`labkit lab`: JupyterLab on 127.0.0.1, opened on the learner's notebook copy.

A thin launcher: the lab itself (the sandbox started in the background, terminals with `aws` and
`labkit` and the lab's AWS settings, GET /labkit/status) is labkit's Jupyter server extension
(labkit/jupyter), which any `jupyter lab` in this environment loads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from labkit.errors import LabError


def add_parser(sub) -> None:
    lab = sub.add_parser("lab", help="start JupyterLab with the notebooks (and the sandbox)")
    lab.add_argument("--port", type=int, default=8888, help="JupyterLab's port (default 8888)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    lab.set_defaults(func=run)


def _lab_settings() -> Path:
    """JupyterLab settings overrides: no "get Jupyter news?" pop-up over the first lesson."""
    from labkit import workspace

    folder = workspace.home() / "lab-settings"
    folder.mkdir(exist_ok=True)
    overrides = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
    (folder / "overrides.json").write_text(json.dumps(overrides, indent=2))
    return folder


def run(args: argparse.Namespace) -> int:
    from labkit.jupyter.learner import ensure_learner_copy, notebooks_source

    if notebooks_source() is None:
        raise LabError("The lessons (the notebooks/ folder) are missing: run `labkit lab` from a clone of sts-labkit.")
    root = ensure_learner_copy()
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    command = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", f"--port={args.port}",
               f"--ServerApp.root_dir={root}", f"--LabApp.app_settings_dir={_lab_settings()}"]
    if args.no_browser or not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI machines often run as root
    print(f"JupyterLab on the lessons in {root}; the sandbox starts beside it.")
    os.execvpe(command[0], command, env)
    return 0  # not reached
