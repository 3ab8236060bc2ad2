"""`labkit lab`: JupyterLab on 127.0.0.1, opened on the learner's own copy of the lessons;
`labkit notebooks path|reset [NN ...]`: where that copy is, and starting lessons over.

`labkit lab` is a thin launcher: the lab itself (the sandbox started in the background, terminals
with `aws` and `labkit` and the lab's AWS settings, GET /labkit/status) is labkit's Jupyter server
extension (labkit/jupyter), which any `jupyter lab` in this environment loads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from labkit import lessons


def add_parser(sub) -> None:
    lab = sub.add_parser("lab", help="start the sandbox and JupyterLab with your copy of the notebooks")
    lab.add_argument("--port", type=int, default=8888, help="JupyterLab's port (default 8888)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    lab.set_defaults(func=run)

    notebooks = sub.add_parser(
        "notebooks", help="your copy of the lesson notebooks: where it is, start lessons over",
        description=f"`labkit lab` opens your own copy of the lessons ({lessons.COPY_VARIABLE}, default "
        "my-notebooks/ in the clone), made on first start and never overwritten.")
    actions = notebooks.add_subparsers(dest="action", metavar="ACTION")
    path = actions.add_parser("path", help="print the folder of your copy")
    path.set_defaults(func=run_path)
    reset = actions.add_parser(
        "reset", help="fresh copies of lessons (all, or those named); yours are kept in backups/",
        description="Replace lessons in your copy by the originals. A lesson you changed is moved to "
        "the backups/ folder of your copy first, so nothing is lost.")
    reset.add_argument("lessons", nargs="*", metavar="NN", help="lesson numbers, e.g. 02 05 (default: all)")
    reset.set_defaults(func=run_reset)
    notebooks.set_defaults(func=run_path)


def run_path(args: argparse.Namespace) -> int:
    print(lessons.copy_dir())
    return 0


def run_reset(args: argparse.Namespace) -> int:
    dest = lessons.copy_dir()
    for line in lessons.reset(args.lessons, dest):
        print(line)
    print(f"In {dest}.")
    return 0


def _lab_settings() -> Path:
    """JupyterLab settings overrides: no "get Jupyter news?" pop-up over the first lesson."""
    from labkit import workspace

    folder = workspace.home() / "lab-settings"
    folder.mkdir(exist_ok=True)
    overrides = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
    (folder / "overrides.json").write_text(json.dumps(overrides, indent=2))
    return folder


def run(args: argparse.Namespace) -> int:
    folder = lessons.copy_dir()
    made = [c for c in lessons.ensure_copy(folder) if c.action == "copied"]
    print(f"Your notebooks: {folder}" + (f" ({len(made)} files copied from the lessons just now)" if made else "")
          + "; `labkit notebooks reset NN` starts a lesson over.")
    bin_dir = str(Path(sys.executable).parent)
    env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
    env[lessons.COPY_VARIABLE] = str(folder)  # the extension, kernels and terminals name the same copy
    command = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", f"--port={args.port}",
               f"--ServerApp.root_dir={folder}", f"--LabApp.app_settings_dir={_lab_settings()}"]
    if args.no_browser or not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI machines often run as root
    print("JupyterLab opens on your notebooks; the sandbox starts beside it.")
    os.execvpe(command[0], command, env)
    return 0  # not reached
