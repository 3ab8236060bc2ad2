"""`labkit lab`: start the sandbox (unless the target is a real account) and open JupyterLab."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from labkit.errors import LabError

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def add_parser(sub) -> None:
    lab = sub.add_parser("lab", help="start the sandbox and JupyterLab with the notebooks")
    lab.add_argument("--port", type=int, default=8888, help="JupyterLab's port (default 8888)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    lab.set_defaults(func=run)


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
    if not NOTEBOOKS.is_dir():
        raise LabError(f"The notebooks folder {NOTEBOOKS} is missing: run `labkit lab` from a clone of sts-labkit.")
    command = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", f"--port={args.port}",
               f"--ServerApp.root_dir={NOTEBOOKS}", f"--config={_jupyter_config(bin_dir)}",
               f"--LabApp.app_settings_dir={_lab_settings()}"]
    if args.no_browser or not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI machines often run as root
    os.execvpe(command[0], command, env)
    return 0  # not reached
