"""`labkit lab`: start the sandbox (unless the target is a real account) and open JupyterLab on the
learner's own copy of the lessons; `labkit notebooks reset [NN ...]`: start lessons over."""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


TERMINAL_RC = """\
# sts-labkit: JupyterLab terminals read this (bash --rcfile); it is rewritten by `labkit lab`.
[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"
export PATH="{bin_dir}:$PATH"
eval "$(labkit env)"
echo "sts-labkit: aws and labkit here use the lab's own AWS files{where}."
echo "Try: aws sts get-caller-identity --profile labkit-admin   (docs/terminal-walkthrough.md)"
"""


def _jupyter_config(bin_dir: str) -> Path:
    """A Jupyter config for this lab: terminals start bash with the lab's PATH and AWS settings
    (a login shell would reset PATH from /etc/profile and lose the venv's `aws` and `labkit`)."""
    from labkit import workspace

    home = workspace.home()
    config: dict = {}
    bash = shutil.which("bash")
    if bash:
        where = " and the local sandbox" if workspace.target_kind() == workspace.SANDBOX else " and the real account"
        rc = home / "terminal-bashrc"
        rc.write_text(TERMINAL_RC.format(bin_dir=bin_dir, where=where))
        config = {"ServerApp": {"terminado_settings": {"shell_command": [bash, "--rcfile", str(rc), "-i"]}}}
    path = home / "jupyter_lab_config.json"
    path.write_text(json.dumps(config, indent=2))
    return path


def _lab_settings() -> Path:
    """JupyterLab settings overrides: no "get Jupyter news?" pop-up over the first lesson."""
    from labkit import workspace

    folder = workspace.home() / "lab-settings"
    folder.mkdir(exist_ok=True)
    overrides = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
    (folder / "overrides.json").write_text(json.dumps(overrides, indent=2))
    return folder


def run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    from labkit import workspace

    if workspace.target_kind() == workspace.SANDBOX:
        from labkit.sandbox import lifecycle

        running, _ = lifecycle.start()
        env.update(lifecycle.env_exports(running))  # terminals opened in JupyterLab use the sandbox
        print(f"Sandbox at {running.endpoint}; JupyterLab terminals are pointed at it.")
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    folder = lessons.copy_dir()
    made = [c for c in lessons.ensure_copy(folder) if c.action == "copied"]
    print(f"Your notebooks: {folder}" + (f" ({len(made)} files copied from notebooks/ just now)" if made else "")
          + "; `labkit notebooks reset NN` starts a lesson over.")
    command = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", f"--port={args.port}",
               f"--ServerApp.root_dir={folder}", f"--config={_jupyter_config(bin_dir)}",
               f"--LabApp.app_settings_dir={_lab_settings()}"]
    if args.no_browser or not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI machines often run as root
    os.execvpe(command[0], command, env)
    return 0  # not reached
