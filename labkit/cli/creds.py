"""`labkit creds`: turn `aws sts assume-role` output into shell lines, a profile, or JSON.

aws sts assume-role ... | labkit creds export                  # the walk-through's 3 exports
eval "$(aws sts assume-role ... | labkit creds export)"        # ... applied to this shell
aws sts assume-role ... | labkit creds export --profile lab    # also saved as [lab], 0600
labkit creds process --profile lab                             # credential_process JSON
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from labkit import credentials
from labkit.errors import LabError

_EPILOG = "Example: aws sts assume-role --role-arn ARN --role-session-name s | labkit creds export"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Add `creds` (with `export` and `process`) to the dispatcher's subparsers."""
    creds = subparsers.add_parser(
        "creds",
        help="turn AssumeRole output into shell exports, a profile, or credential_process JSON",
        description="Turn `aws sts assume-role` output into shell exports, a profile, "
        "or credential_process JSON.",
        epilog=_EPILOG,
    )
    creds.set_defaults(func=run, creds_command=None)
    commands = creds.add_subparsers(dest="creds_command", metavar="{export,process}")
    _add_export(commands)
    _add_process(commands)


def _add_export(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser(
        "export",
        help="print lines that set AWS_ACCESS_KEY_ID, ... from `aws sts assume-role` JSON on stdin",
        description="Read `aws sts assume-role` JSON on standard input and print the lines that "
        "set AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.",
        epilog=_EPILOG,
    )
    export.add_argument(
        "--format",
        dest="creds_format",
        default="bash",
        metavar="{" + ",".join(credentials.FORMATS) + "}",
        help="shell or file format to print (default: bash)",
    )
    export.add_argument(
        "--profile",
        dest="creds_profile",
        metavar="NAME",
        help="also save the credentials as [NAME] in the lab-local credentials file (mode 0600)",
    )


def _add_process(commands: argparse._SubParsersAction) -> None:
    process = commands.add_parser(
        "process",
        help="print credential_process JSON, from stdin JSON or a lab-local profile",
        description="Print the JSON a `credential_process` command prints: from "
        "`aws sts assume-role` JSON on standard input, or from --profile NAME in the "
        "lab-local credentials file.",
    )
    process.add_argument(
        "--profile",
        dest="creds_profile",
        metavar="NAME",
        help="read [NAME] from the lab-local credentials file instead of standard input",
    )


def run(args: argparse.Namespace) -> int:
    """Run `labkit creds ...`; 0 on success, 2 with one `labkit: ...` line on a learner error."""
    try:
        command = getattr(args, "creds_command", None)
        if command == "export":
            return _export(args)
        if command == "process":
            return _process(args)
        raise LabError("Say what to do: `labkit creds export` or `labkit creds process`.")
    except LabError as exc:
        _fail(str(exc))
        return 2
    except RecursionError:  # json nested thousands deep
        _fail("The input is nested too deeply to be `aws sts assume-role` output: pipe that "
              "command's output into `labkit creds export`, unchanged.")
        return 2


def _fail(message: str) -> None:
    print("labkit: " + " ".join(message.split()), file=sys.stderr)


def _read_stdin(stream: TextIO | None = None) -> credentials.TemporaryCredentials:
    """Credentials from the JSON piped in; never waits on a terminal."""
    stream = stream or sys.stdin
    if stream is None or stream.isatty():
        return credentials.TemporaryCredentials.from_json("")
    return credentials.TemporaryCredentials.from_json(stream.read())


def _export(args: argparse.Namespace) -> int:
    fmt = credentials.check_format(args.creds_format)
    profile = args.creds_profile
    if profile is not None:
        credentials.check_profile_name(profile)
    creds = _read_stdin()
    text = credentials.render(creds, fmt)
    if profile is not None:
        path = credentials.write_profile(creds, profile)
        print(
            f"labkit: saved profile [{profile}] in {path} (mode 0600); use it with "
            f"AWS_SHARED_CREDENTIALS_FILE={path} aws --profile {profile} ...",
            file=sys.stderr,
        )
    print(text)
    return 0


def _process(args: argparse.Namespace) -> int:
    profile = args.creds_profile
    if profile is not None:
        creds = credentials.read_profile(profile)
    else:
        creds = _read_stdin()
    print(credentials.credential_process_json(creds))
    return 0
