"""`labkit check`: the exercises' checks on the command line, for the terminal path and instructors.

    labkit check --list                       # the IDs, one a line, with what each one checks
    labkit check trust-policy trust.json      # the verdict; exit 0 correct, 1 not yet, 2 unusable
    aws sts assume-role --generate-cli-skeleton > params.json   # ... fill it in, then
    labkit check assume-role params.json
    labkit check exports - < exports.sh       # - reads standard input
"""

from __future__ import annotations

import argparse
import sys

from labkit.errors import LabError


def add_parser(sub) -> None:
    from labkit.exercises.registry import CLI_IDS

    check = sub.add_parser(
        "check", help="check an exercise's answer from a file (exit 0 correct, 1 not yet, 2 unusable)",
        description="Check the answer to one of the lab's exercises, as the notebooks' ex.check() does: "
        "the verdict says what is wrong and what to change. Exit status: 0 correct, 1 not yet, 2 the "
        "input could not be used.",
        epilog="Exercises: " + ", ".join(CLI_IDS) + ". Example: labkit check trust-policy trust.json")
    check.add_argument("--list", action="store_true", help="list the exercise IDs with what each one checks")
    check.add_argument("exercise", nargs="?", metavar="ID", help="the exercise, e.g. trust-policy")
    check.add_argument("file", nargs="?", metavar="FILE", help="the file with your answer, or - for standard input")
    check.set_defaults(func=run)


def _read(name: str) -> str:
    if name == "-":
        data = sys.stdin.buffer.read()
        where = "standard input"
    else:
        try:
            with open(name, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise LabError(f"cannot read {name}: {exc.strerror or exc}.") from None
        where = name
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise LabError(f"{where} is not UTF-8 text: save your answer as plain text.") from None


def run(args: argparse.Namespace) -> int:
    from labkit.exercises.registry import CLI_IDS, EXERCISES, entry, exercise

    if args.list:
        if args.exercise:
            raise LabError("--list takes no exercise ID: run `labkit check --list`, or `labkit check ID FILE`.")
        width = max(len(i) for i in CLI_IDS)
        for found in EXERCISES:
            if found.cli:
                print(f"{found.id:<{width}}  {found.description}")
        return 0
    if not args.exercise or not args.file:
        raise LabError("give the exercise and the file with your answer: `labkit check ID FILE` (FILE - reads "
                       "standard input); `labkit check --list` lists the IDs.")
    found = entry(args.exercise)
    if not found.cli:
        raise LabError(f"'{found.id}' is checked in notebook {found.notebook} only (its answer is a Python "
                       f"object); on the command line: {', '.join(CLI_IDS)}.")
    text = _read(args.file)
    ex = exercise(found.id)
    verdict = ex.verdict(text)
    if not verdict.usable:
        raise LabError(verdict.problem)
    ex.remember(verdict)
    print(verdict)
    return verdict.exit_code
