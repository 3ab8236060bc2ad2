"""JupyterLab terminals with the lab's PATH and AWS settings.

A terminal runs `bash --rcfile LABKIT_HOME/terminal-bashrc -i`: the learner's own ~/.bashrc, then
the venv's bin folder first on PATH (so `aws` and `labkit` are the kit's) and `eval "$(labkit env)"`
(the sandbox's endpoint, or a real account's lab-local files). Not a login shell: /etc/profile
would reset PATH and lose the venv.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from labkit import workspace

RC = """\
# sts-labkit: JupyterLab terminals read this (bash --rcfile); the lab's server extension rewrites it.
[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"
export PATH="{bin_dir}:$PATH"
eval "$(labkit env)"
echo "sts-labkit: aws and labkit here use the lab's own AWS files{where}."
echo "Try: aws sts get-caller-identity --profile labkit-admin   (docs/terminal-walkthrough.md)"
"""


def bin_dir() -> str:
    """The folder of this Python's scripts: the venv's `aws`, `labkit`, `jupyter`."""
    return str(Path(sys.executable).parent)


def shell_command() -> list[str] | None:
    """The terminal command, with its rc file written; None where there is no bash."""
    bash = shutil.which("bash")
    if bash is None:
        return None
    where = " and the local sandbox" if workspace.target_kind() == workspace.SANDBOX else " and the real account"
    rc = workspace.home() / "terminal-bashrc"
    rc.write_text(RC.format(bin_dir=bin_dir(), where=where))
    return [bash, "--rcfile", str(rc), "-i"]
