"""`labkit sandbox start|stop|status|reset|clock` and `labkit env`."""

from __future__ import annotations

import argparse
import shlex
import sys

from labkit import workspace
from labkit.durations import describe_duration, parse_duration
from labkit.errors import LabError
from labkit.sandbox import lifecycle


def add_parser(sub) -> None:
    sandbox = sub.add_parser("sandbox", help="the local AWS sandbox")
    sandbox.set_defaults(func=lambda a: sandbox.print_help() or 2)
    actions = sandbox.add_subparsers(dest="action", metavar="ACTION", parser_class=type(sandbox))

    start = actions.add_parser("start", help="start the sandbox (does nothing if it is running)")
    start.add_argument("--port", type=int, default=None,
                       help="listen on this port, 1024-65535 (default: the last one if free, else a free one)")
    start.add_argument("--iam-delay", type=float, default=None, metavar="SECONDS",
                       help="simulate IAM propagation: refuse AssumeRole this long after IAM changes")
    start.add_argument("--throttle", type=float, default=None, metavar="SHARE",
                       help="answer this share of requests (0..1) with a throttling error")
    start.set_defaults(func=_start)
    actions.add_parser("stop", help="stop the sandbox").set_defaults(func=_stop)
    actions.add_parser("status", help="is it running, where, and what time it thinks it is").set_defaults(func=_status)
    actions.add_parser("reset", help="forget everything created in the sandbox").set_defaults(func=_reset)

    clock = actions.add_parser("clock", help="show or move the sandbox clock")
    clock.set_defaults(func=_clock_show)
    clock_actions = clock.add_subparsers(dest="clock_action", metavar="ACTION", parser_class=type(sandbox))
    advance = clock_actions.add_parser("advance", help="move the clock forward (901, 90s, 15m, 1h)")
    advance.add_argument("duration")
    advance.set_defaults(func=_clock_advance)
    clock_actions.add_parser("reset", help="back to real time").set_defaults(func=_clock_reset)

    env = sub.add_parser("env", help="print export lines that point the AWS CLI and boto3 at the sandbox")
    env.set_defaults(func=_env)


def _report_stale() -> None:
    """A state file that named no running sandbox: say so (one line) before going on."""
    _, stale = lifecycle.find()
    if stale:
        print(f"labkit: {stale}", file=sys.stderr)


def _start(args: argparse.Namespace) -> int:
    lifecycle.check_options(args.port, args.iam_delay, args.throttle)
    _report_stale()
    running, started = lifecycle.start(args.port, args.iam_delay, args.throttle)
    if started:
        print(f"Sandbox started at {running.endpoint} (pid {running.pid}).")
        print('Point your shell at it with:  eval "$(labkit env)"')
    else:
        print(f"A sandbox is already running at {running.endpoint} (pid {running.pid}); not starting another.")
    return 0


def _stop(args: argparse.Namespace) -> int:
    stopped = lifecycle.stop()
    print(f"Sandbox at {stopped.endpoint} (pid {stopped.pid}) stopped.")
    return 0


def _status(args: argparse.Namespace) -> int:
    _report_stale()
    info = lifecycle.status()
    if info is None:
        print("No sandbox is running. Start one with `labkit sandbox start`.")
        return 1
    clock = info["clock"]
    since = info["started"].split(".")[0].replace("+00:00", "") + "Z"
    print(f"Sandbox running at {info['endpoint']} (pid {info['pid']}, since {since}).")
    print(f"Sandbox clock: {clock['now']} ({_ahead(clock['offset'])}).")
    faults = info.get("faults") or {}
    if any(faults.values()):
        print(f"Faults: IAM delay {faults['iam_delay']} s, throttle {faults['throttle']:.0%} of requests.")
    return 0


def _reset(args: argparse.Namespace) -> int:
    lifecycle.reset()
    print("Sandbox reset: everything created in it is gone; the clock is back to real time.")
    return 0


def _ahead(offset: float) -> str:
    return "real time" if not offset else f"{describe_duration(int(offset))} ahead of real time"


def _clock_show(args: argparse.Namespace) -> int:
    clock = lifecycle.clock()
    print(f"{clock['now']} ({_ahead(clock['offset'])})")
    return 0


def _clock_advance(args: argparse.Namespace) -> int:
    try:
        seconds = parse_duration(args.duration)
    except ValueError:  # more digits than Python turns into a number
        raise LabError(f"'{args.duration[:20]}...' is not a duration the sandbox clock can move: "
                       "give e.g. 901, 90s, 15m or 1h.") from None
    clock = lifecycle.advance_clock(seconds)
    print(f"Sandbox clock moved forward {describe_duration(seconds)}: now {clock['now']} ({_ahead(clock['offset'])}).")
    return 0


def _clock_reset(args: argparse.Namespace) -> int:
    clock = lifecycle.reset_clock()
    print(f"Sandbox clock back to real time: {clock['now']}.")
    return 0


def _env(args: argparse.Namespace) -> int:
    """Export lines for the current target; a leftover AWS_PROFILE would override profile default."""
    print("unset AWS_PROFILE AWS_DEFAULT_PROFILE")
    if workspace.target_kind() == workspace.AWS:
        print("unset AWS_ENDPOINT_URL")
        exports = {"AWS_CONFIG_FILE": str(workspace.config_file()),
                   "AWS_SHARED_CREDENTIALS_FILE": str(workspace.credentials_file())}
    else:
        exports = lifecycle.env_exports(lifecycle.ensure_running())
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0
