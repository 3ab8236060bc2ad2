"""Start, find, stop and steer the sandbox process from the CLI, notebooks and tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from labkit import workspace
from labkit.errors import LabError

START_TIMEOUT = 30.0
TOKEN_HEADER = "X-Labkit-Control-Token"  # the control endpoint's credential (control.py)


@dataclass(frozen=True)
class Sandbox:
    endpoint: str
    port: int
    pid: int
    token: str
    started: str

    def control(self, path: str, **params: Any) -> dict:
        query = "&".join(f"{k}={v}" for k, v in params.items() if v is not None)
        url = f"{self.endpoint}/_labkit/{path}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, method="POST", headers={TOKEN_HEADER: self.token})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
            raise LabError(f"The sandbox refused '{path}': {detail}") from None
        except OSError as exc:
            raise LabError(
                f"The sandbox at {self.endpoint} does not answer ({exc}). "
                "Run `labkit sandbox stop` and then `labkit sandbox start`."
            ) from None


def process_alive(pid: int) -> bool:
    """Is `pid` running? (A zombie waiting to be reaped is not.)"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is not alive
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        pass
    try:  # nor is anyone's zombie (Linux), waiting to be reaped
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _read_state() -> dict | None:
    path = workspace.state_file()
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        path.unlink(missing_ok=True)
        return None


def current() -> Sandbox | None:
    """The running sandbox, or None. A state file left by a dead process is removed."""
    state = _read_state()
    if state is None:
        return None
    if not process_alive(int(state.get("pid", 0))):
        workspace.state_file().unlink(missing_ok=True)
        return None
    return Sandbox(state["endpoint"], state["port"], state["pid"], state["token"], state["started"])


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start(port: int | None = None, iam_delay: float = 0.0, throttle: float = 0.0) -> tuple[Sandbox, bool]:
    """Start the sandbox unless one is running. Returns (sandbox, started_now)."""
    running = current()
    if running is not None:
        return running, False
    if port is not None and not (0 < port < 65536):
        raise LabError(f"Port {port} is not a TCP port: choose one from 1024 to 65535, or leave --port out.")
    if port and not _port_free(port):
        raise LabError(
            f"Port {port} on 127.0.0.1 is already in use: choose another with --port, "
            "or leave --port out to pick a free one."
        )
    if not 0.0 <= throttle <= 1.0:
        raise LabError(f"--throttle {throttle} is not a share of requests: give a number from 0 to 1, e.g. 0.1.")
    if iam_delay < 0:
        raise LabError(f"--iam-delay {iam_delay} is negative: give seconds, e.g. 3.")
    home = workspace.home()
    log = open(home / "sandbox.log", "ab")
    command = [sys.executable, "-m", "labkit.sandbox.server", "--port", str(port or 0),
               "--iam-delay", str(iam_delay), "--throttle", str(throttle)]
    env = {k: v for k, v in os.environ.items() if k != "MOTO_ACCOUNT_ID"}
    env["LABKIT_HOME"] = str(home)
    process = subprocess.Popen(
        command, stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=env, start_new_session=True
    )
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LabError(
                f"The sandbox stopped while starting (exit {process.returncode}); "
                f"see {home / 'sandbox.log'} for why."
            )
        state = _read_state()
        if state and state.get("pid") == process.pid:
            return current() or _fail(process), True
        time.sleep(0.05)
    process.terminate()
    raise LabError(f"The sandbox did not start within {START_TIMEOUT:.0f} s; see {home / 'sandbox.log'}.")


def _fail(process) -> Sandbox:
    raise LabError(f"The sandbox (pid {process.pid}) exited right after starting.")


def ensure_running() -> Sandbox:
    """The running sandbox, started on first use (what notebooks and `labkit env` call)."""
    return start()[0]


def stop() -> Sandbox:
    running = current()
    if running is None:
        raise LabError("No sandbox is running in this lab workspace, so there is nothing to stop.")
    os.kill(running.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process_alive(running.pid):
        time.sleep(0.05)
    if process_alive(running.pid):
        os.kill(running.pid, signal.SIGKILL)
    workspace.state_file().unlink(missing_ok=True)
    return running


def require_running() -> Sandbox:
    running = current()
    if running is None:
        raise LabError("No sandbox is running: start one with `labkit sandbox start`.")
    return running


def clock() -> dict:
    return require_running().control("clock")


def advance_clock(seconds: int) -> dict:
    return require_running().control("clock/advance", seconds=seconds)


def reset_clock() -> dict:
    return require_running().control("clock/reset")


def reset() -> dict:
    return require_running().control("reset")


def set_faults(iam_delay: float | None = None, throttle: float | None = None) -> dict:
    return require_running().control("faults", iam_delay=iam_delay, throttle=throttle)


def status() -> dict | None:
    running = current()
    if running is None:
        return None
    info = running.control("status")
    info.update({"endpoint": running.endpoint, "pid": running.pid, "started": running.started})
    return info


def env_exports(running: Sandbox | None = None) -> dict[str, str]:
    """The variables that point the AWS CLI and boto3 at the sandbox and the lab-local files."""
    running = running or require_running()
    return {
        "AWS_ENDPOINT_URL": running.endpoint,
        "AWS_CONFIG_FILE": str(workspace.config_file()),
        "AWS_SHARED_CREDENTIALS_FILE": str(workspace.credentials_file()),
        "AWS_DEFAULT_REGION": workspace.DEFAULT_REGION,
    }
