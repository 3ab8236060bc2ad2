"""`labkit progress`: which exercises this learner has passed, and when (LABKIT_HOME/progress.json).

    labkit progress           # plain text, one exercise a line
    labkit progress --json    # the same as JSON, for an instructor collecting a room's progress
"""

from __future__ import annotations

import argparse
import json


def add_parser(sub) -> None:
    progress = sub.add_parser(
        "progress", help="show which exercises you have passed, and when",
        description="Show which of the lab's exercises have passed their check in this lab workspace "
        "(LABKIT_HOME), and when each first passed.")
    progress.add_argument("--json", action="store_true",
                          help="print JSON (learner, passed, total, exercises) for collecting a room's progress")
    progress.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from labkit.exercises import progress

    if args.json:
        print(json.dumps(progress.summary(), indent=2))
        return 0
    print(progress.checklist())
    print(f"(kept in {progress.path()})")
    return 0
