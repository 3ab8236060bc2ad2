"""The sandbox process: moto behind the gatekeeper, on 127.0.0.1 only.

Run by `labkit sandbox start` as `python -m labkit.sandbox.server --home LABKIT_HOME`, with a
clean environment (lifecycle.server_environment). It claims its port first (the last one it used
when free), then loads moto, then writes the lab's admin profiles, the port it got, and the state
file (endpoint, pid with its start time and command line, control token; mode 0600), and removes
the state file on exit.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from labkit.sandbox.clock import CLOCK


def build_app(faults_settings: dict | None = None, warm: bool = True):
    """(gatekeeper WSGI app, control app). IAM, STS and EC2 load now (the accounts live there);
    every other service moto runs (S3, Lambda, ...) loads on its first request."""
    import moto.ec2.models  # noqa: F401  (load before patching the clock)
    import moto.iam.models  # noqa: F401
    import moto.sts.models  # noqa: F401

    from labkit.sandbox import moto_fixes
    from labkit.sandbox.control import ControlApp
    from labkit.sandbox.faults import Faults
    from labkit.sandbox.gatekeeper import Gatekeeper
    from labkit.sandbox.principals import SessionRegistry
    from labkit.sandbox.services import Backends

    moto_fixes.apply(CLOCK)
    sessions = SessionRegistry()
    faults = Faults(**(faults_settings or {}))
    control = ControlApp(CLOCK, sessions, faults)
    backends = Backends()
    gatekeeper = Gatekeeper(backends, CLOCK, sessions, faults, control)
    control.messages = gatekeeper.messages
    if warm:  # the services every lab calls, made ready while the server starts
        threading.Thread(target=backends.warm, args=(("sts", "iam", "ec2"),), daemon=True).start()
    return gatekeeper, control


def write_lab_files(endpoint: str, admin_keys) -> None:
    """Admin profiles in the lab-local credentials file; endpoint and region in the config."""
    from labkit import workspace

    for key in admin_keys.values():
        workspace.write_credentials_profile(key.profile, key.access_key_id, key.secret_access_key)
        workspace.write_config_profile(
            key.profile, {"region": workspace.DEFAULT_REGION, "output": "json", "endpoint_url": endpoint}
        )


def _bind(port: int, prefer_port: int | None):
    """The server on 127.0.0.1: on `port` (0 = any free one), else on `prefer_port` if it is free,
    else on any free port."""
    from werkzeug.serving import make_server

    from labkit.sandbox.payload import RequestHandler  # read timeouts

    if not port and prefer_port:
        try:
            return make_server("127.0.0.1", prefer_port, _not_ready, threaded=True,
                               request_handler=RequestHandler)
        except (OSError, OverflowError):  # taken meanwhile (or not a port): any free one will do
            pass
    return make_server("127.0.0.1", port, _not_ready, threaded=True, request_handler=RequestHandler)


def _not_ready(environ, start_response):  # replaced by the gatekeeper before serving begins
    start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"starting"]


def _options(argv: list[str] | None) -> argparse.Namespace:
    from labkit.sandbox.lifecycle import check_options

    parser = argparse.ArgumentParser(prog="labkit-sandbox")
    parser.add_argument("--home", required=True, help="the lab workspace (LABKIT_HOME)")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--prefer-port", type=int, default=None)
    parser.add_argument("--iam-delay", type=float, default=0.0)
    parser.add_argument("--throttle", type=float, default=0.0)
    args = parser.parse_args(argv)
    check_options(args.port, args.iam_delay, args.throttle)
    os.environ["LABKIT_HOME"] = args.home
    return args


def _identity() -> dict:
    """What proves, later, that a pid is this very process: its start time and command line."""
    import psutil

    me = psutil.Process()
    return {"create_time": me.create_time(), "cmdline": me.cmdline()}


def main(argv: list[str] | None = None) -> int:
    from labkit import workspace
    from labkit.errors import LabError
    from labkit.sandbox import accounts

    try:
        args = _options(argv)
    except LabError as exc:
        print(f"labkit sandbox: {exc}", file=sys.stderr)
        return 2

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # request lines may carry tokens
    try:
        server = _bind(args.port or 0, args.prefer_port)
        server.daemon_threads = True  # a stop does not wait for idle keep-alive connections
    except OSError as exc:
        print(f"labkit sandbox: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        return 3
    app, control = build_app({"iam_delay": args.iam_delay, "throttle": args.throttle})
    server.app = app
    port = server.server_port
    endpoint = f"http://127.0.0.1:{port}"
    control.admin_keys = accounts.bootstrap()
    state = {
        "endpoint": endpoint,
        "port": port,
        "pid": os.getpid(),
        "process": _identity(),
        "token": secrets.token_urlsafe(32),
        "started": datetime.now(UTC).isoformat(timespec="microseconds"),
        "faults": {"iam_delay": args.iam_delay, "throttle": args.throttle},
    }
    control.token = state["token"]
    state_file: Path = workspace.state_file()
    try:
        write_lab_files(endpoint, control.admin_keys)
        workspace.write_private(workspace.port_file(), f"{port}\n")
        workspace.write_private(state_file, json.dumps(state, indent=2))
    except LabError as exc:
        print(f"labkit sandbox: {exc}", file=sys.stderr)
        return 4

    def shutdown(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    logging.getLogger("labkit.sandbox").info("listening on %s (pid %s)", endpoint, os.getpid())
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        _forget_state(state_file)
    return 0


def _forget_state(state_file: Path) -> None:
    """Remove the state file if it still names this process (never through a link)."""
    from labkit import workspace
    from labkit.errors import LabError

    try:
        with workspace.locked(folder=state_file.parent):
            current = json.loads(workspace.read_private(state_file) or "{}")
            if isinstance(current, dict) and current.get("pid") == os.getpid():
                workspace.remove_private(state_file)
    except (LabError, ValueError):
        pass


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    os._exit(code)  # skip tearing down moto's thousands of objects: a stop takes 0.1 s, not 2
