"""`labkit catch-up NN`: the target as notebook NN expects it at its start (safe to re-run).

    labkit catch-up 03        # the walk-through's user, key, role and policies, made or repaired
    labkit catch-up 03 --yes  # on a real account: confirm the profile's account without a prompt
"""

from __future__ import annotations

import argparse
import sys

from labkit.errors import LabError


def add_parser(sub) -> None:
    catch = sub.add_parser(
        "catch-up", help="bring the target to the state a notebook expects at its start (safe to re-run)",
        description="For a learner who skipped or is stuck: make or repair what notebook NN expects at its "
        "start (for 03-06: the IAM user and its key, the role and both policies), and say what was done.")
    catch.add_argument("notebook", metavar="NN", help="the notebook's number, 01 to 07")
    catch.add_argument("--yes", action="store_true",
                       help="on a real AWS account: confirm the account of LABKIT_AWS_PROFILE without a prompt")
    catch.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from labkit.exercises.catchup import SETUP, catch_up, notebook_number
    from labkit.lab import Lab
    from labkit.target import connect

    number = notebook_number(args.notebook)
    target = connect()
    if number in SETUP and not target.confirmed:
        _confirm(target, args.yes)
    catch_up(number, Lab(target))
    return 0


def _confirm(target, yes: bool) -> None:
    """A real account is changed only once its ID is confirmed: --yes, or typed at a terminal."""
    account = target.account_id
    if yes:
        print(target.confirm(account))
        return
    if not sys.stdin or not sys.stdin.isatty():
        raise LabError(f"Nothing was changed: the lab changes AWS account {account} (profile "
                       f"'{target.admin_profile}') only once you confirm it. Run again with --yes, or in a "
                       "terminal, and type the account ID when asked.")
    try:
        typed = input(f"The lab will create or repair its user, role and policies in AWS account {account}. "
                      f"Type the account ID ({account}) to confirm: ")
    except EOFError:
        raise LabError("No account ID was typed, so nothing was changed.") from None
    print(target.confirm(typed))
