"""`labkit setup` and `labkit cleanup`: the walk-through's situation, made and removed from a terminal.

    labkit setup                 # IAM user (its key = profile default), role sts_role, policies
    labkit setup --yes           # on LABKIT_TARGET=aws: confirm the profile's account up front
    labkit cleanup --dry-run     # what the lab made, listed
    labkit cleanup               # ... and removed

Both are safe to re-run. Setup also writes a role profile, [profile sts-role] with `role_arn` and
`source_profile = default`, so the AWS CLI and boto3 can assume the role by themselves.
"""

from __future__ import annotations

import argparse
import configparser
import functools
import json
import re
import sys
from collections.abc import Callable

from labkit import workspace
from labkit.credentials import mask
from labkit.durations import describe_duration, parse_duration
from labkit.errors import LabError
from labkit.lab import Lab, Names, Step
from labkit.names import ROLE_PROFILE  # the profile the CLI and boto3 assume the role with

ROLE_PROFILE_DURATION = 900  # the walk-through's --duration-second
_NAME = re.compile(r"[\w+=,.@-]{1,64}")


def add_parser(sub) -> None:
    setup = sub.add_parser(
        "setup", help="create the walk-through's IAM user, role and policies (safe to re-run)",
        description="Prepare the walk-through in the current target (LABKIT_TARGET, default the "
        "sandbox): an IAM user whose access key becomes profile `default` in the lab's credentials "
        "file, a role it may assume (trust relationship + EC2 read), the user's sts:AssumeRole policy, "
        f"and a role profile [{ROLE_PROFILE}]. Then it prints the commands to type next.")
    setup.add_argument("--role-name", default=Names.role, metavar="NAME",
                       help=f"the role to create (default {Names.role}; on real AWS it gets the prefix labkit-)")
    setup.add_argument("--user-name", default=Names.user, metavar="NAME",
                       help=f"the IAM user to create (default {Names.user})")
    setup.add_argument("--max-session-duration", default="3600", metavar="SECONDS",
                       help="the role's MaxSessionDuration: 3600 (1h) to 43200 (12h); default 3600")
    setup.add_argument("--yes", action="store_true",
                       help="on a real AWS account: confirm the account of LABKIT_AWS_PROFILE without a prompt")
    setup.set_defaults(func=_one_line_failures("The setup", "(`labkit setup` is safe to re-run.)")(run_setup))

    cleanup = sub.add_parser(
        "cleanup", help="remove everything the lab created (safe to re-run)",
        description="Remove the lab's IAM users, roles, keys and policies (found by the lab's tag and "
        "name) and the lab-local profiles that used them.")
    cleanup.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    cleanup.add_argument("--all-learners", action="store_true",
                         help="an instructor's sweep: every learner's resources (LABKIT_NAME_SUFFIX ignored)")
    cleanup.add_argument("--yes", action="store_true",
                         help="on a real AWS account: remove without asking for the account ID")
    cleanup.add_argument("--role-name", default=None, metavar="NAME",
                         help="the role name given to `labkit setup` (default: the one it recorded)")
    cleanup.add_argument("--user-name", default=None, metavar="NAME",
                         help="the user name given to `labkit setup` (default: the one it recorded)")
    cleanup.set_defaults(func=_one_line_failures(
        "The cleanup", "What was removed stays removed; run `labkit cleanup` again to finish.")(run_cleanup))


# --- input checks (before anything is contacted) -------------------------------------------------

def _max_session_duration(text: str) -> int:
    try:
        seconds = parse_duration(text)
    except LabError:
        seconds = None
    if seconds is None or not 3600 <= seconds <= 43200:
        raise LabError(f"--max-session-duration {text} is out of range: a role's maximum session is "
                       "3600 to 43200 seconds (1 to 12 hours); give e.g. 3600, 1h or 12h.")
    return seconds


def _check_name(flag: str, name: str) -> str:
    if not _NAME.fullmatch(name):
        raise LabError(f"{flag} '{name}' is not a valid IAM name: use 1 to 64 letters, digits or "
                       "the characters + = , . @ - _ (no spaces).")
    return name


# --- failures: each one line that says what to do ---------------------------------------------------

def _one_line_failures(doing: str, again: str) -> Callable:
    """Run a command so that AWS refusals, a sandbox that went away, unreadable AWS files and an
    incomplete cleanup end in one LabError line. `doing` names the step ("The setup"); `again`
    says how to go on once it is fixed."""

    def wrap(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        @functools.wraps(command)
        def run(args: argparse.Namespace) -> int:
            from botocore.exceptions import BotoCoreError, ClientError

            from labkit.cleanup import CleanupIncomplete

            endpoint = _endpoint()
            try:
                return command(args)
            except CleanupIncomplete as exc:
                print("Not everything could be removed:")
                _print_steps(exc.steps)
                failed = sum(1 for s in exc.steps if s.action == "failed")
                raise LabError(f"{failed} of the lab's resources could not be removed (the 'failed' "
                               "lines above say why); everything else was removed. Fix what they say, "
                               "then run `labkit cleanup` again: it only touches what carries the "
                               "lab's tag.") from None
            except (BotoCoreError, ClientError) as exc:
                raise LabError(f"{_failure(exc, doing, endpoint)} {again}") from None

        return run

    return wrap


def _failure(exc: Exception, doing: str, endpoint: str | None) -> str:
    """What went wrong, in one sentence (or two) that says what to change."""
    from botocore.exceptions import ClientError, ConfigParseError, HTTPClientError
    from botocore.exceptions import ConnectionError as NoConnection

    if isinstance(exc, ConfigParseError):
        return (f"{exc}: fix that file, or move it aside and restart the sandbox (`labkit sandbox "
                "stop`, `labkit sandbox start`) to write it again.")
    if isinstance(exc, NoConnection | HTTPClientError):  # no connection, or it was cut
        if endpoint is None:
            return f"{doing} stopped: AWS could not be reached ({exc})."
        from labkit.sandbox import lifecycle

        return f"{doing} stopped. {lifecycle.diagnose(endpoint or None)}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), " ".join(str(error.get("Message", "")).split())
        retried = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
        tries = f", still after {retried} retries" if retried else ""
        return f"{doing} stopped: AWS answered {exc.operation_name} with {code} ({message}{tries})."
    return f"{doing} stopped: {' '.join(str(exc).split())}."


def _endpoint() -> str | None:
    """The sandbox the command will talk to: its endpoint, "" if none runs yet, None on a real account."""
    if workspace.target_kind() != workspace.SANDBOX:
        return None
    from labkit.sandbox import lifecycle

    running = lifecycle.current()
    return running.endpoint if running else ""


# --- target and confirmation ---------------------------------------------------------------------

def _connect():
    from labkit.target import connect

    if workspace.target_kind() == workspace.SANDBOX:
        from labkit.sandbox import lifecycle

        running, started = lifecycle.start()
        if started:
            print(f"Sandbox started at {running.endpoint} (pid {running.pid}).")
    return connect()


def _ask_account(target, doing: str, yes: bool) -> str:
    """On a real account: --yes, or the account ID typed at a terminal; never a silent default.

    `doing` completes "The lab will ... AWS account X". Returns the confirmation sentence.
    """
    account = target.account_id
    if yes:
        return target.confirm(account)
    if not sys.stdin or not sys.stdin.isatty():
        raise LabError(
            f"Nothing was changed: the lab will only {doing} AWS account {account} (profile "
            f"'{target.admin_profile}') once you confirm that account. Run the command again with "
            "--yes, or run it in a terminal and type the account ID when asked.")
    print(f"The lab will {doing} AWS account {account}, as {target.caller['Arn']}.")
    try:
        typed = input(f"Type the account ID ({account}) to confirm: ")
    except EOFError:
        raise LabError("No account ID was typed, so nothing was changed.") from None
    return target.confirm(typed)


# --- what setup records for cleanup ----------------------------------------------------------------

def _names_file():
    return workspace.home() / "lab-names.json"


def _recorded_names() -> dict:
    try:
        saved = json.loads(_names_file().read_text())
    except (OSError, ValueError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _role_profile_settings(lab: Lab) -> dict[str, str]:
    settings = {
        "role_arn": lab.role_arn,
        "source_profile": lab.names.profile,
        "role_session_name": lab.names.session,
        "duration_seconds": str(ROLE_PROFILE_DURATION),
        "region": lab.target.region,
    }
    if lab.target.endpoint:
        settings["endpoint_url"] = lab.target.endpoint
    return settings


def _config_profile(name: str) -> dict[str, str] | None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(workspace.config_file())
    section = f"profile {name}"
    return dict(parser[section]) if parser.has_section(section) else None


def ensure_role_profile(lab: Lab) -> Step:
    """[profile sts-role] in the lab-local config: role_arn + source_profile, so the CLI assumes it."""
    wanted = _role_profile_settings(lab)
    current = _config_profile(ROLE_PROFILE)
    if current == wanted:
        return Step("CLI profile", ROLE_PROFILE, "found")
    workspace.write_config_profile(ROLE_PROFILE, wanted)
    return Step("CLI profile", ROLE_PROFILE, "created" if current is None else "updated")


# --- labkit setup ------------------------------------------------------------------------------------

def _print_steps(steps: list[Step]) -> None:
    width = max(len(s.action) for s in steps)
    for step in steps:
        detail = f": {step.detail}" if step.detail else ""
        print(f"  {step.action:<{width}}  {step.what} {step.name}{detail}")


def run_setup(args: argparse.Namespace) -> int:
    seconds = _max_session_duration(args.max_session_duration)
    user = _check_name("--user-name", args.user_name)
    role = _check_name("--role-name", args.role_name)
    target = _connect()
    print(f"Target: {target.describe()}.")
    if not target.confirmed:
        print(_ask_account(target, "create an IAM user, a role and their policies in", args.yes))
    lab = Lab(target, Names.for_target(target, user=user, role=role))
    steps = lab.setup(max_session_duration=seconds)
    steps.append(ensure_role_profile(lab))
    workspace.write_private(_names_file(), json.dumps(
        {"user": lab.names.user, "role": lab.names.role, "account": lab.account_id}))
    _print_steps(steps)
    key = lab.user_credentials().access_key_id
    print(f"The user's access key {mask(key)} is profile [{lab.names.profile}] in "
          f"{workspace.credentials_file()} (mode 0600).")
    print(f"Role {lab.role_arn}: trusts {lab.user_arn}, may read EC2, "
          f"MaxSessionDuration {seconds} s ({describe_duration(seconds)}).")
    print()
    print(next_commands(lab))
    return 0


def next_commands(lab: Lab) -> str:
    """The walk-through's commands for this target, with the real account ID and role name."""
    sandbox = lab.target.is_sandbox
    lines = [f"Next, type the walk-through's commands (account {lab.account_id}):", ""]
    if sandbox:
        lines.append('  eval "$(labkit env)"')
    else:
        lines += [f"  export AWS_CONFIG_FILE={workspace.config_file()}",
                  f"  export AWS_SHARED_CREDENTIALS_FILE={workspace.credentials_file()}",
                  "  unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN"]
    lines += [
        "  aws ec2 describe-instances                 # refused: UnauthorizedOperation",
        "  aws sts assume-role \\",
        f"    --role-arn          {lab.role_arn} \\",
        f"    --role-session-name {lab.names.session} \\",
        "    --duration-second   900 \\",
        f"    --profile           {lab.names.profile}",
        '  export AWS_ACCESS_KEY_ID="..."             # the three values from its Credentials',
        '  export AWS_SECRET_ACCESS_KEY="..."',
        '  export AWS_SESSION_TOKEN="..."',
        "  aws ec2 describe-instances                 # allowed",
    ]
    if sandbox:
        lines.append("  labkit sandbox clock advance 15m           # the session's 900 s are over")
    else:
        lines.append("  sleep 900                                  # wait until the Expiration")
    lines += [
        "  aws ec2 describe-instances                 # refused: RequestExpired",
        "",
        "The same, with the output to expect: docs/terminal-walkthrough.md",
    ]
    return "\n".join(lines)


# --- labkit cleanup ----------------------------------------------------------------------------------

def run_cleanup(args: argparse.Namespace) -> int:
    recorded = _recorded_names()
    user = _check_name("--user-name", args.user_name or recorded.get("user") or Names.user)
    role = _check_name("--role-name", args.role_name or recorded.get("role") or Names.role)
    if workspace.target_kind() == workspace.SANDBOX:
        from labkit.sandbox import lifecycle

        if lifecycle.current() is None:
            print("No sandbox is running, so there is nothing to clean up: a stopped sandbox keeps "
                  "nothing the lab created.")
            return 0
    from labkit.target import connect

    target = connect()
    lab = Lab(target, Names.for_target(target, user=user, role=role))
    everyone = bool(getattr(args, "all_learners", False))
    planned = lab.cleanup(dry_run=True, everyone=everyone)  # the walk-through's profiles too
    if not planned:
        print(f"Nothing to clean up: the lab has no resources in account {lab.account_id}.")
        return 0
    if args.dry_run:
        print(f"Would remove from account {lab.account_id} ({target.describe()}):")
        _print_steps(planned)
        print("Nothing was removed (--dry-run).")
        return 0
    if not target.is_sandbox:
        print(f"The lab's resources in account {lab.account_id}:")
        _print_steps(planned)
        _ask_account(target, "remove the resources listed above from", args.yes)
    steps = lab.cleanup(dry_run=False, everyone=everyone)
    _names_file().unlink(missing_ok=True)
    print(f"Removed from account {lab.account_id}:")
    _print_steps(steps)
    return 0
