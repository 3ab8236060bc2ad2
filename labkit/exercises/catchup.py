"""Catching up: the target as a notebook expects it at its start, whatever came before.

    catch_up("03")          # in a notebook; `labkit catch-up 03` on the command line

Notebooks 01, 02 and 07 start from whatever there is (02 makes the user, key, role and policies
itself; 07 removes them). Notebooks 03 to 06 start from the walk-through's situation: the IAM
user and its key (profile default), the role (MaxSessionDuration 3600 s) that trusts the user
and may read EC2, and the user's sts:AssumeRole policy. `Lab.setup()` makes or repairs exactly
that, and finds what is already right, so catching up twice changes nothing the second time. In
a real account it changes nothing before the account was confirmed.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from labkit.errors import LabError

NOTEBOOKS = {
    "01": ("welcome", "the target only"),
    "02": ("policy and trust", "the target only: this notebook makes the user, key, role and policies itself"),
    "03": ("AssumeRole", "the user and its key, the role and both policies"),
    "04": ("export the credentials", "the user and its key, the role and both policies"),
    "05": ("EC2 before, during, after", "the user and its key, the role and both policies"),
    "06": ("switch role in the console", "the user and its key, the role and both policies"),
    "07": ("clean up", "the target only: this notebook removes what the lab made"),
}
SETUP = ("03", "04", "05", "06")
MAX_SESSION_DURATION = 3600  # what the lessons after 02 expect of the role


def notebook_number(notebook: str | int) -> str:
    """'03' from 3, '3', '03', '03-assume-role' or '03-assume-role.ipynb'."""
    text = str(notebook).strip()
    match = re.match(r"0?([1-9])(?:\b|[-_ .])", text + " ")
    number = f"0{match.group(1)}" if match else None
    if number not in NOTEBOOKS:
        raise LabError(f"'{notebook}' is not one of the lab's notebooks: give its number, 01 to 07 "
                       "(e.g. catch_up(\"03\") or `labkit catch-up 03`).")
    return number


def catch_up(notebook: str | int, lab=None, say: Callable[[str], None] = print) -> list:
    """Bring the target to the state notebook `notebook` expects at its start; say what was done.

    Returns the lab's steps (created / updated / found). Safe to run any number of times."""
    number = notebook_number(notebook)
    topic, needs = NOTEBOOKS[number]
    if lab is None:
        from labkit.lab import Lab
        from labkit.target import connect

        lab = Lab(connect(), progress=say)
    say(f"Catching up for notebook {number} ({topic}): {needs}.")
    if number not in SETUP:
        say(f"Nothing to do: {lab.target.describe()}.")
        return []
    steps = lab.setup(max_session_duration=MAX_SESSION_DURATION)
    for step in steps:
        say(str(step))
    changed = [s for s in steps if s.action != "found"]
    say(f"Done: {len(changed)} change(s); the target is as notebook {number} expects at its start."
        if changed else f"Nothing to change: the target already is as notebook {number} expects.")
    if lab.target.is_sandbox:
        _clock_note(say)
    return steps


def _clock_note(say: Callable[[str], None]) -> None:
    """Earlier notebooks may have moved the sandbox clock on: say so, and how to go back."""
    from labkit.durations import describe_duration
    from labkit.sandbox import lifecycle

    try:
        offset = float(lifecycle.clock().get("offset", 0))
    except (LabError, TypeError, ValueError):
        return
    if offset >= 1:
        say(f"The sandbox clock is {describe_duration(int(offset))} ahead of real time (an earlier step moved "
            "it on); `labkit sandbox clock reset` puts it back.")
