"""Start, find, stop and steer the sandbox process from the CLI, notebooks and tests.

One sandbox per lab workspace (LABKIT_HOME): `start` holds the workspace's sandbox lock, so two
starts at once give one sandbox. The state file the server writes names its pid together with the
process's start time and command line; a pid is signalled only after psutil shows that it is that
very process (same start time, same command line, this user's). Anything else in the state file
(no pid, 0, -1, "x", another program that now has the pid) is never signalled: the stale state
is reported in one line and removed.
"""

from __future__ import annotations

import http.client
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from labkit import workspace
from labkit.errors import LabError

START_LIMIT = 180.0  # seconds a start may take in all, while the process makes progress
STALL_LIMIT = 60.0  # seconds without progress (CPU time or log growth) before a start gives up
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL
TOKEN_HEADER = "X-Labkit-Control-Token"  # the control endpoint's credential (control.py)
SERVER_MODULE = "labkit.sandbox.server"
MIN_PORT, MAX_PORT = 1024, 65535
MAX_IAM_DELAY = 3600.0  # seconds; real IAM propagates in seconds
CREATE_TIME_SLACK = 1.0  # seconds: psutil derives start times from the boot time, which NTP may nudge

NOT_RUNNING = "No sandbox is running: start one with `labkit sandbox start`."
RESTARTED = ("The sandbox was restarted: its accounts are new and what the lab made before is gone; "
             "run setup again (`labkit setup` in a terminal).")

# The server's environment: nothing inherited but what Python needs to run. No AWS_* secrets or
# settings, no moto switches (MOTO_*, INITIAL_NO_AUTH_ACTION_COUNT), no PYTHONSTARTUP/INSPECT.
_KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")
_KEPT_PYTHON_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONNOUSERSITE", "PYTHONUSERBASE", "PYTHONSAFEPATH",
                    "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONUTF8", "PYTHONIOENCODING")


@dataclass(frozen=True)
class Sandbox:
    endpoint: str
    port: int
    pid: int
    token: str
    started: str  # ISO 8601 with microseconds: two starts never share it

    def control(self, path: str, **params: Any) -> dict:
        """POST /_labkit/<path>; the JSON object it answers, or a one-line LabError."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        url = f"{self.endpoint}/_labkit/{path}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, method="POST", headers={TOKEN_HEADER: self.token})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read(1_000_000)
        except urllib.error.HTTPError as exc:
            raise LabError(f"The sandbox refused '{path}': {_error_detail(exc)}") from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            raise LabError(diagnose(self.endpoint, f"{type(exc).__name__}: {exc}")) from None
        try:
            answer = json.loads(body)
        except (ValueError, RecursionError):
            answer = None
        if not isinstance(answer, dict):
            raise LabError(_not_the_sandbox(self, path))
        return answer


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(exc.read(100_000) or b"{}").get("error")
    except (ValueError, AttributeError, OSError, RecursionError):
        detail = None
    if not isinstance(detail, str) or not detail.strip():
        detail = f"HTTP {exc.code} {exc.reason}"
    return " ".join(detail.split())[:300]


def _not_the_sandbox(sandbox: Sandbox, path: str) -> str:
    return (f"The program at {sandbox.endpoint} answered '{path}' with something that is not the "
            f"sandbox's JSON: is another program using port {sandbox.port}? Run `labkit sandbox stop` "
            "and `labkit sandbox start`.")


# --- which process is the sandbox -------------------------------------------------------------------

def process_alive(pid: Any) -> bool:
    """Is `pid` a running process? Never true for a pid that is not a positive integer, nor for a
    zombie (one of ours is reaped on the way)."""
    if type(pid) is not int or pid <= 0:
        return False
    import psutil

    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # a child of ours that exited: reap it
        if done:
            return False
    except ChildProcessError:
        pass
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True


def _is_server_command(cmdline: Any, home: str) -> bool:
    """A command line `python -m labkit.sandbox.server ... --home HOME ...` for this workspace."""
    if not isinstance(cmdline, list) or not all(isinstance(part, str) for part in cmdline):
        return False
    return (SERVER_MODULE in cmdline and "--home" in cmdline
            and cmdline.index("--home") + 1 < len(cmdline) and cmdline[cmdline.index("--home") + 1] == home)


def _identify(state: dict):
    """(psutil.Process, "") when the state file names this workspace's live sandbox, else
    (None, why not) in words that complete "The state file ... ". Signals nothing."""
    import psutil

    pid = state.get("pid")
    if type(pid) is not int or pid <= 0:
        return None, f"names pid {pid!r}, which is not a process id" if "pid" in state else "names no pid"
    recorded = state.get("process")
    if (not isinstance(recorded, dict) or not isinstance(recorded.get("create_time"), int | float)
            or not _is_server_command(recorded.get("cmdline"), str(workspace.home()))):
        return None, f"does not show that pid {pid} is this workspace's sandbox"
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            same = (abs(process.create_time() - recorded["create_time"]) <= CREATE_TIME_SLACK
                    and process.cmdline() == recorded["cmdline"]
                    and process.uids().real == os.getuid())
            zombie = process.status() == psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None, f"names pid {pid}, which is no longer running"
    except psutil.AccessDenied:
        same, zombie = False, False
    if not same:
        return None, f"names pid {pid}, which is now another program, not this workspace's sandbox"
    if zombie or not process_alive(pid):
        return None, f"names pid {pid}, which is no longer running"
    return process, ""


def _read_state() -> dict | None:
    """The state file's JSON object; None if there is none. A link there is refused (LabError)."""
    text = workspace.read_private(workspace.state_file())
    if text is None:
        return None
    try:
        state = json.loads(text)
    except (ValueError, RecursionError):
        return {"unreadable": True}
    return state if isinstance(state, dict) else {"unreadable": True}


def _sandbox_from(state: dict) -> Sandbox | None:
    try:
        sandbox = Sandbox(state["endpoint"], state["port"], state["pid"], state["token"], state["started"])
    except (KeyError, TypeError):
        return None
    fields_ok = (isinstance(sandbox.endpoint, str) and sandbox.endpoint.startswith("http://127.0.0.1:")
                 and type(sandbox.port) is int and isinstance(sandbox.token, str)
                 and isinstance(sandbox.started, str))
    return sandbox if fields_ok else None


def _examine(state: dict | None):
    """(sandbox, its psutil.Process, None) if `state` names this workspace's live sandbox; else
    (None, None, why) with why None when there is no state at all."""
    if state is None:
        return None, None, None
    if state.get("unreadable"):
        return None, None, "is not valid JSON"
    process, why = _identify(state)
    sandbox = _sandbox_from(state) if process is not None else None
    if sandbox is None:
        return None, None, why or "misses the endpoint, port or token"
    return sandbox, process, None


def find() -> tuple[Sandbox | None, str | None]:
    """(the running sandbox, None), or (None, a one-line report of the stale state file removed), or
    (None, None) when there is no state file."""
    state = _read_state()
    sandbox, _, why = _examine(state)
    if why is None:
        return sandbox, None
    _remove_state_if(state)
    return None, f"The state file {workspace.state_file()} {why}; it was removed and nothing was signalled."


def _remove_state_if(expected: dict) -> None:
    """Remove the state file if it still says what we read (a start may have replaced it since)."""
    with workspace.locked():
        if _read_state() == expected:
            workspace.remove_private(workspace.state_file())


def current() -> Sandbox | None:
    """The running sandbox, or None. A state file that does not name it is removed."""
    return find()[0]


# --- start ------------------------------------------------------------------------------------------

def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_options(port: Any = None, iam_delay: Any = None, throttle: Any = None) -> None:
    """Refuse start options the sandbox cannot hold, before anything starts."""
    if port is not None and (type(port) is not int or not MIN_PORT <= port <= MAX_PORT):
        raise LabError(f"--port {port} is not a port the sandbox can use: choose one from {MIN_PORT} "
                       f"to {MAX_PORT}, or leave --port out to pick a free one.")
    if iam_delay is not None and not (isinstance(iam_delay, int | float) and 0 <= iam_delay <= MAX_IAM_DELAY):
        raise LabError(f"--iam-delay {iam_delay} is not a delay the sandbox can hold: give seconds "
                       f"from 0 to {MAX_IAM_DELAY:.0f}, e.g. 3.")
    if throttle is not None and not (isinstance(throttle, int | float) and 0 <= throttle <= 1):
        raise LabError(f"--throttle {throttle} is not a share of requests: give a number from 0 to 1, "
                       "e.g. 0.1.")


def start(port: int | None = None, iam_delay: float | None = None,
          throttle: float | None = None) -> tuple[Sandbox, bool]:
    """Start the sandbox unless one is running. Returns (sandbox, started_now).

    Options left as None take the defaults (a free port, or the last one if free; no faults). Given
    options that differ from a running sandbox's are refused: stop it first."""
    check_options(port, iam_delay, throttle)
    with workspace.locked(workspace.SANDBOX_LOCK, timeout=START_LIMIT + 60,
                          waiting_for="a sandbox start or stop"):
        workspace.check_lab_files()
        running, _ = find()
        if running is not None:
            _check_same(running, port, iam_delay, throttle)
            return running, False
        workspace.secure()
        if port is not None and not _port_free(port):
            raise LabError(
                f"Port {port} on 127.0.0.1 is already in use: choose another with --port, "
                "or leave --port out to pick a free one."
            )
        return _spawn(port, iam_delay or 0.0, throttle or 0.0), True


def _check_same(running: Sandbox, port: int | None, iam_delay: float | None,
                throttle: float | None) -> None:
    asked = []
    if port is not None and port != running.port:
        asked.append(f"--port {port}")
    if iam_delay is not None or throttle is not None:
        faults = _faults_of(running)
        if iam_delay is not None and iam_delay != faults.get("iam_delay"):
            asked.append(f"--iam-delay {iam_delay:g}")
        if throttle is not None and throttle != faults.get("throttle"):
            asked.append(f"--throttle {throttle:g}")
    if asked:
        raise LabError(
            f"A sandbox is already running at {running.endpoint} (pid {running.pid}) and {' '.join(asked)} "
            "cannot be applied to it: stop it first (`labkit sandbox stop`), then start it with these options."
        )


def _faults_of(running: Sandbox) -> dict:
    faults = running.control("status").get("faults")
    return faults if isinstance(faults, dict) else {}


def _remembered_port() -> int | None:
    try:
        text = workspace.read_private(workspace.port_file())
        port = int((text or "").strip())
    except (LabError, ValueError):
        return None
    return port if MIN_PORT <= port <= MAX_PORT else None


def server_environment(home: str) -> dict[str, str]:
    """The clean environment the server process starts with."""
    env = {k: os.environ[k] for k in _KEPT_ENV + _KEPT_PYTHON_ENV if k in os.environ}
    env.setdefault("PATH", os.defpath)
    env["LABKIT_HOME"] = home
    return env


def _spawn(port: int | None, iam_delay: float, throttle: float) -> Sandbox:
    home = str(workspace.home())
    log = workspace.log_file()
    # -P: the server's own folder (cwd, the workspace) is not put on sys.path, so no file in
    # LABKIT_HOME can stand in for a module the server imports.
    command = [sys.executable, "-P", "-m", SERVER_MODULE, "--home", home,
               "--iam-delay", repr(float(iam_delay)), "--throttle", repr(float(throttle))]
    if port is not None:
        command += ["--port", str(port)]
    elif (last := _remembered_port()) is not None:
        command += ["--prefer-port", str(last)]  # open terminals and panels keep working
    log_fd = workspace.open_log()
    try:
        process = subprocess.Popen(command, stdout=log_fd, stderr=log_fd, stdin=subprocess.DEVNULL,
                                   env=server_environment(home), cwd=home, start_new_session=True)
    finally:
        os.close(log_fd)
    try:
        return _wait_until_ready(process, log)
    except BaseException:
        _end_child(process)
        raise


def _wait_until_ready(process: subprocess.Popen, log) -> Sandbox:
    """Wait while the new server is alive and making progress (CPU time or log growing), up to
    START_LIMIT seconds; it is ready once it has written the state file naming itself."""
    import psutil

    begun = time.monotonic()
    progress_at, mark = begun, None
    watched = psutil.Process(process.pid)
    while True:
        if process.poll() is not None:
            raise LabError(f"The sandbox stopped while starting (exit {process.returncode})"
                           f"{_last_words(log)}; see {log} for why.")
        state = _read_state()
        if state and state.get("pid") == process.pid:
            running = current()
            if running is None:
                raise LabError(f"The sandbox (pid {process.pid}) wrote a state file that does not "
                               f"name it properly; see {log}.")
            return running
        now = time.monotonic()
        try:
            cpu = watched.cpu_times()
            new_mark = (round(cpu.user + cpu.system, 2), _size(log))
        except psutil.Error:
            new_mark = mark
        if new_mark != mark:
            progress_at, mark = now, new_mark
        if now - progress_at > STALL_LIMIT:
            raise LabError(f"The sandbox (pid {process.pid}) made no progress for {STALL_LIMIT:.0f} s "
                           f"while starting, so it was stopped; see {log}, then try again.")
        if now - begun > START_LIMIT:
            raise LabError(f"The sandbox (pid {process.pid}) was still starting after {START_LIMIT:.0f} s "
                           "(the machine is very busy), so it was stopped: try `labkit sandbox start` "
                           f"again when fewer programs run; see {log}.")
        time.sleep(0.1)


def _size(path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return -1


def _last_words(log) -> str:
    """': <the server's own last line>' when it explained itself in the log, else ''."""
    try:
        text = workspace.read_private(log) or ""
    except LabError:
        return ""
    lines = [line for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    return ": " + last.removeprefix("labkit sandbox: ") if last.startswith("labkit sandbox: ") else ""


def _end_child(process: subprocess.Popen) -> None:
    """Stop a server this call started (a Popen child of ours: its pid cannot have been reused)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def ensure_running() -> Sandbox:
    """The running sandbox, started on first use (what notebooks and `labkit env` call)."""
    return current() or start()[0]


# --- stop -------------------------------------------------------------------------------------------

def stop() -> Sandbox:
    """Stop this workspace's sandbox: SIGTERM, then SIGKILL after STOP_GRACE seconds, each only
    after psutil has shown the pid is that very process."""
    with workspace.locked(workspace.SANDBOX_LOCK, timeout=START_LIMIT + 60,
                          waiting_for="a sandbox start or stop"):
        state = _read_state()
        running, process, why = _examine(state)
        if running is None:
            if why is None:
                raise LabError("No sandbox is running in this lab workspace, so there is nothing to stop.")
            _remove_state_if(state)
            raise LabError(f"The state file {workspace.state_file()} {why}; it was removed and nothing "
                           "was signalled. No sandbox is running, so there is nothing to stop.")
        _signal(process, signal.SIGTERM)
        if not _gone(running.pid):
            _signal(process, signal.SIGKILL)
            _gone(running.pid)
        _remove_state_if(state)
        return running


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + STOP_GRACE
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _signal(process, sig: int) -> None:
    """psutil checks, right before sending, that the pid still is the process it identified."""
    import psutil

    try:
        process.send_signal(sig)
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        pass


# --- what the lab asks of a running sandbox -----------------------------------------------------------

def require_running() -> Sandbox:
    running, stale = find()
    if running is None:
        raise LabError(f"{stale} {NOT_RUNNING}" if stale else NOT_RUNNING)
    return running


def _checked_clock(answer: dict) -> dict:
    """The clock as the server reports it ({"now": ISO text, "offset": seconds}), checked."""
    now, offset = answer.get("now"), answer.get("offset")
    try:
        datetime.fromisoformat(str(now).replace("Z", "+00:00"))
        valid = isinstance(now, str) and isinstance(offset, int | float) and math.isfinite(offset)
    except ValueError:
        valid = False
    if not valid:
        raise LabError("The sandbox's clock answer is not what the lab expects (now, offset): "
                       "restart it with `labkit sandbox stop` and `labkit sandbox start`.")
    return {**answer, "now": now, "offset": offset}


def clock() -> dict:
    return _checked_clock(require_running().control("clock"))


def advance_clock(seconds: float) -> dict:
    if not (isinstance(seconds, int | float) and math.isfinite(seconds) and seconds >= 0):
        raise LabError(f"The sandbox clock moves forward by a finite number of seconds, not {seconds!r}.")
    return _checked_clock(require_running().control("clock/advance", seconds=seconds))


def reset_clock() -> dict:
    return _checked_clock(require_running().control("clock/reset"))


def reset() -> dict:
    return require_running().control("reset")


def set_faults(iam_delay: float | None = None, throttle: float | None = None) -> dict:
    check_options(None, iam_delay, throttle)
    return require_running().control("faults", iam_delay=iam_delay, throttle=throttle)


def status() -> dict | None:
    """What the running sandbox says about itself (clock, faults) with its endpoint, pid and start
    time; None if none runs. Each field is checked, so a caller may print it as it is."""
    running = current()
    if running is None:
        return None
    info = running.control("status")
    clock_info = info.get("clock")
    faults = info.get("faults")
    if not isinstance(clock_info, dict) or not isinstance(faults, dict) or not all(
            isinstance(faults.get(k), int | float) and math.isfinite(faults[k]) for k in ("iam_delay", "throttle")):
        raise LabError(_not_the_sandbox(running, "status"))
    info.update({"clock": _checked_clock(clock_info), "endpoint": running.endpoint, "pid": running.pid,
                 "started": running.started})
    return info


# --- a sandbox that went away or came back ------------------------------------------------------------

def since(started: str | None) -> str | None:
    """None if the sandbox that started at `started` (a Sandbox.started stamp) still runs; else the
    one-line message to show: NOT_RUNNING, or RESTARTED when another sandbox runs now."""
    running = current()
    if running is None:
        return NOT_RUNNING
    return None if started is not None and running.started == started else RESTARTED


def restarted_since(started: str | None) -> bool:
    """Was the sandbox stopped or (re)started since the one stamped `started`?"""
    return since(started) is not None


def diagnose(endpoint: str | None = None, detail: str = "") -> str:
    """One line for a call that got no answer from `endpoint`: stopped (with the command to start
    it), restarted elsewhere, or not answering (with what to do)."""
    try:
        running = current()
    except LabError as exc:
        return str(exc)
    if running is None:
        where = f" at {endpoint}" if endpoint else ""
        return (f"The sandbox{where} is no longer running: start it with `labkit sandbox start`; "
                "a new sandbox has new accounts, so run setup again.")
    if endpoint and running.endpoint != endpoint.rstrip("/"):
        return f"{RESTARTED} It now listens at {running.endpoint}."
    said = f" ({' '.join(detail.split())[:160]})" if detail else ""
    return (f"The sandbox at {running.endpoint} does not answer{said}: run `labkit sandbox stop` "
            "and then `labkit sandbox start`.")


def env_exports(running: Sandbox | None = None) -> dict[str, str]:
    """The variables that point the AWS CLI and boto3 at the sandbox and the lab-local files."""
    running = running or require_running()
    return {
        "AWS_ENDPOINT_URL": running.endpoint,
        "AWS_CONFIG_FILE": str(workspace.config_file()),
        "AWS_SHARED_CREDENTIALS_FILE": str(workspace.credentials_file()),
        "AWS_DEFAULT_REGION": workspace.DEFAULT_REGION,
    }
