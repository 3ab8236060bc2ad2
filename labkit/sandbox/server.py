"""The sandbox process: moto behind the gatekeeper, on 127.0.0.1 only.

Run by `labkit sandbox start` as `python -m labkit.sandbox.server`. It writes the state file
(endpoint, pid, control token; mode 0600) once it answers requests, and removes it on exit.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="labkit-sandbox")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--iam-delay", type=float, default=0.0)
    parser.add_argument("--throttle", type=float, default=0.0)
    args = parser.parse_args(argv)

    from werkzeug.serving import make_server

    from labkit import workspace
    from labkit.sandbox import accounts
    from labkit.sandbox.payload import RequestHandler  # read timeouts

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # request lines may carry tokens
    app, control = build_app({"iam_delay": args.iam_delay, "throttle": args.throttle})
    try:
        server = make_server("127.0.0.1", args.port, app, threaded=True, request_handler=RequestHandler)
        server.daemon_threads = True  # a stop does not wait for idle keep-alive connections
    except OSError as exc:
        print(f"labkit sandbox: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        return 3
    port = server.server_port
    endpoint = f"http://127.0.0.1:{port}"
    control.admin_keys = accounts.bootstrap()
    write_lab_files(endpoint, control.admin_keys)
    state = {
        "endpoint": endpoint,
        "port": port,
        "pid": os.getpid(),
        "token": secrets.token_urlsafe(32),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "faults": {"iam_delay": args.iam_delay, "throttle": args.throttle},
    }
    control.token = state["token"]
    state_file: Path = workspace.state_file()
    workspace.write_private(state_file, json.dumps(state, indent=2))

    def shutdown(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    logging.getLogger("labkit.sandbox").info("listening on %s (pid %s)", endpoint, os.getpid())
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        try:
            current = json.loads(state_file.read_text())
            if current.get("pid") == os.getpid():
                state_file.unlink()
        except (OSError, ValueError):
            pass
    return 0


if __name__ == "__main__":
    code = main()
    logging.shutdown()
    os._exit(code)  # skip tearing down moto's thousands of objects: a stop takes 0.1 s, not 2
