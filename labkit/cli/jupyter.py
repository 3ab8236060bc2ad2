"""`labkit lab`: start the sandbox (unless the target is a real account) and open JupyterLab."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from labkit.errors import LabError

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def add_parser(sub) -> None:
    lab = sub.add_parser("lab", help="start the sandbox and JupyterLab with the notebooks")
    lab.add_argument("--port", type=int, default=8888, help="JupyterLab's port (default 8888)")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    lab.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if (env.get("LABKIT_TARGET") or "sandbox") == "sandbox":
        from labkit.sandbox import lifecycle

        running, _ = lifecycle.start()
        env.update(lifecycle.env_exports(running))  # terminals opened in JupyterLab use the sandbox
        print(f"Sandbox at {running.endpoint}; JupyterLab terminals are pointed at it.")
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    if not NOTEBOOKS.is_dir():
        raise LabError(f"The notebooks folder {NOTEBOOKS} is missing: run `labkit lab` from a clone of sts-labkit.")
    command = [sys.executable, "-m", "jupyter", "lab", "--ip=127.0.0.1", f"--port={args.port}",
               f"--ServerApp.root_dir={NOTEBOOKS}"]
    if args.no_browser or not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers and CI machines often run as root
    os.execvpe(command[0], command, env)
    return 0  # not reached
