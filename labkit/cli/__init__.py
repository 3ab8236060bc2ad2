"""The `labkit` command. Each subcommand lives in a module named for it."""

from __future__ import annotations

import argparse
import os
import sys

from labkit.errors import LabError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one clear line and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"labkit: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    from labkit.cli import catchup, check, creds, jupyter, policy, progress, sandbox

    parser = _Parser(prog="labkit", description="Hands-on AWS STS lab kit.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sandbox.add_parser(sub)
    creds.add_parser(sub)
    jupyter.add_parser(sub)
    policy.add_parser(sub)
    try:
        from labkit.cli import lab
    except ImportError:  # pragma: no cover - while the lab commands are being written
        pass
    else:
        lab.add_parser(sub)
    check.add_parser(sub)  # the exercises: check, progress, catch-up
    progress.add_parser(sub)
    catchup.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except LabError as exc:
        sys.stderr.write(f"labkit: {_one_line(exc)}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `labkit setup | head -3`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as exc:  # a failure nobody foresaw: still one line (LABKIT_DEBUG=1: the traceback)
        if os.environ.get("LABKIT_DEBUG"):
            raise
        sys.stderr.write(f"labkit: {type(exc).__name__}: {_one_line(exc)[:300]} (this is a labkit "
                         "bug: please report it; LABKIT_DEBUG=1 shows where it happened)\n")
        return 1


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


if __name__ == "__main__":
    sys.exit(main())
