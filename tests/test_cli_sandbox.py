"""`labkit sandbox ...` and `labkit env` as a learner sees them: real subprocesses, own LABKIT_HOMEs.

Every test works in a temporary LABKIT_HOME of its own, so the session's sandbox is never touched,
and stops any sandbox it starts.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def labkit(home: Path, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "HOME": str(home.parent),
           "LABKIT_HOME": str(home), "LANG": "C.UTF-8", **(extra_env or {})}
    return subprocess.run([str(BIN / "labkit"), *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, env=env, timeout=60)


def one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0, result
    assert result.stderr.startswith("labkit: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in result.stderr


def state(home: Path) -> dict:
    return json.loads((home / "sandbox.json").read_text())


def alive(pid: int) -> bool:
    from labkit.sandbox.lifecycle import process_alive

    return process_alive(pid)


@pytest.fixture
def home(tmp_path: Path):
    home = tmp_path / "labkit"
    yield home
    if (home / "sandbox.json").exists():  # a test that failed half-way: stop what it started
        try:
            os.kill(state(home)["pid"], signal.SIGKILL)
        except (OSError, ValueError, KeyError):
            pass


def test_start_is_idempotent_and_env_points_at_it(home: Path) -> None:
    first = labkit(home, "sandbox", "start")
    assert first.returncode == 0, first.stderr
    running = state(home)
    assert first.stdout.startswith(f"Sandbox started at {running['endpoint']} (pid {running['pid']}).")

    again = labkit(home, "sandbox", "start")
    assert again.returncode == 0
    assert again.stdout.strip() == (f"A sandbox is already running at {running['endpoint']} "
                                    f"(pid {running['pid']}); not starting another.")
    assert state(home)["pid"] == running["pid"]

    env = labkit(home, "env")
    assert env.returncode == 0 and env.stderr == ""
    assert env.stdout.splitlines() == [
        "unset AWS_PROFILE AWS_DEFAULT_PROFILE",
        f"export AWS_ENDPOINT_URL={running['endpoint']}",
        f"export AWS_CONFIG_FILE={home / 'aws-config'}",
        f"export AWS_SHARED_CREDENTIALS_FILE={home / 'aws-credentials'}",
        "export AWS_DEFAULT_REGION=us-east-1",
    ]
    evaluated = subprocess.run(["bash", "--noprofile", "--norc", "-c",
                                'eval "$(labkit env)" && echo "$AWS_ENDPOINT_URL"'],
                               capture_output=True, text=True, timeout=60,
                               env={"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "LABKIT_HOME": str(home)})
    assert evaluated.stdout.strip() == running["endpoint"]

    status = labkit(home, "sandbox", "status")
    assert status.returncode == 0
    assert status.stdout.startswith(f"Sandbox running at {running['endpoint']} (pid {running['pid']}")
    assert "(real time)" in status.stdout

    advanced = labkit(home, "sandbox", "clock", "advance", "15m")
    assert advanced.returncode == 0
    assert "moved forward 15 min" in advanced.stdout and "(15 min ahead of real time)" in advanced.stdout
    assert "(15 min ahead of real time)" in labkit(home, "sandbox", "clock").stdout

    one_line_error(labkit(home, "sandbox", "clock", "advance", "banana"),
                   "'banana' is not a duration", "15m")
    assert "(15 min ahead of real time)" in labkit(home, "sandbox", "clock").stdout  # unchanged

    stopped = labkit(home, "sandbox", "stop")
    assert stopped.returncode == 0
    assert stopped.stdout.strip() == f"Sandbox at {running['endpoint']} (pid {running['pid']}) stopped."
    assert not (home / "sandbox.json").exists()
    assert not alive(running["pid"])

    one_line_error(labkit(home, "sandbox", "stop"), "No sandbox is running", "nothing to stop")
    not_running = labkit(home, "sandbox", "status")
    assert not_running.returncode == 1
    assert not_running.stdout.strip() == "No sandbox is running. Start one with `labkit sandbox start`."


def test_stale_state_file_is_cleaned_up(home: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    home.mkdir(parents=True)
    (home / "sandbox.json").write_text(json.dumps({
        "endpoint": "http://127.0.0.1:9", "port": 9, "pid": dead.pid, "token": "x",
        "started": "2026-01-01T00:00:00+00:00"}))
    status = labkit(home, "sandbox", "status")
    assert status.returncode == 1
    assert status.stdout.startswith("No sandbox is running.")
    assert not (home / "sandbox.json").exists(), "a state file left by a dead process must go"

    (home / "sandbox.json").write_text(json.dumps({"pid": dead.pid}))
    one_line_error(labkit(home, "sandbox", "stop"), "nothing to stop")
    assert not (home / "sandbox.json").exists()

    (home / "sandbox.json").write_text("{not json")
    assert labkit(home, "sandbox", "status").returncode == 1
    assert not (home / "sandbox.json").exists()


def test_busy_port_is_one_clear_line(home: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        result = labkit(home, "sandbox", "start", "--port", str(port))
    one_line_error(result, f"Port {port} on 127.0.0.1 is already in use", "--port")
    assert result.returncode == 2
    assert time.monotonic() - started < 10
    assert not (home / "sandbox.json").exists()


@pytest.mark.parametrize(("args", "fragments"), [
    (["sandbox", "frobnicate"], ["invalid choice: 'frobnicate'"]),
    (["sandbox", "clock", "rewind"], ["invalid choice: 'rewind'"]),
    (["sandbox", "start", "--port", "http"], ["--port", "invalid int value: 'http'"]),
    (["sandbox", "start", "--port", "70000"], ["--port 70000 is not a port the sandbox can use", "1024 to 65535"]),
    (["sandbox", "start", "--port", "80"], ["--port 80 is not a port the sandbox can use"]),
    (["sandbox", "start", "--port", "0"], ["--port 0 is not a port the sandbox can use"]),
    (["sandbox", "start", "--port", "-1"], ["--port -1 is not a port the sandbox can use"]),
    (["sandbox", "start", "--throttle", "2"], ["--throttle 2.0 is not a share of requests"]),
    (["sandbox", "start", "--throttle", "nan"], ["--throttle nan is not a share of requests"]),
    (["sandbox", "start", "--iam-delay", "-1"], ["--iam-delay -1.0 is not a delay the sandbox can hold"]),
    (["sandbox", "start", "--iam-delay", "inf"], ["--iam-delay inf is not a delay", "0 to 3600"]),
    (["sandbox", "start", "--iam-delay", "nan"], ["--iam-delay nan is not a delay"]),
    (["sandbox", "clock", "advance", "15m"], ["No sandbox is running", "labkit sandbox start"]),
    (["sandbox", "reset"], ["No sandbox is running"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'"]),
])
def test_bad_input_is_one_clear_line(home: Path, args: list[str], fragments: list[str]) -> None:
    result = labkit(home, *args)
    one_line_error(result, *fragments)
    assert result.returncode == 2
    assert not (home / "sandbox.json").exists(), "bad input must not start a sandbox"


def test_env_for_a_real_account_points_at_no_sandbox(home: Path) -> None:
    env = labkit(home, "env", extra_env={"LABKIT_TARGET": "aws"})
    assert env.returncode == 0, env.stderr
    assert "unset AWS_ENDPOINT_URL" in env.stdout.splitlines()
    assert "127.0.0.1" not in env.stdout
    assert not (home / "sandbox.json").exists()


def test_reset_forgets_everything_but_keeps_the_admins_keys(home: Path) -> None:
    import boto3

    assert labkit(home, "sandbox", "start").returncode == 0
    endpoint = state(home)["endpoint"]
    keys = (home / "aws-credentials").read_text()

    def admin(service: str):
        import configparser

        parser = configparser.ConfigParser()
        parser.read_string(keys)
        return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", **parser["labkit-admin"])

    admin("iam").create_user(UserName="made-before-reset")
    assert labkit(home, "sandbox", "clock", "advance", "1h").returncode == 0
    reset = labkit(home, "sandbox", "reset")
    assert reset.returncode == 0, reset.stderr
    assert "everything created in it is gone" in reset.stdout
    users = [u["UserName"] for u in admin("iam").list_users()["Users"]]
    assert users == ["labkit-admin"]  # the same admin key still works; the learner's user is gone
    names = sorted(t["Value"] for r in admin("ec2").describe_instances()["Reservations"]
                   for i in r["Instances"] for t in i["Tags"] if t["Key"] == "Name")
    assert names == ["batch-1", "web-1", "web-2"]  # seeded again
    assert "(real time)" in labkit(home, "sandbox", "clock").stdout
    assert (home / "aws-credentials").read_text() == keys
    assert labkit(home, "sandbox", "stop").returncode == 0


# --- failures are one line --------------------------------------------------------------------------------

def test_an_unusable_lab_workspace_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for home in (blocker / "labkit", blocker):
        for args in (["sandbox", "start"], ["sandbox", "status"], ["sandbox", "stop"], ["env"]):
            result = labkit(home, *args)
            one_line_error(result, f"The lab workspace {home} cannot be used", "set LABKIT_HOME")
    assert blocker.read_text() == "not a folder"


def test_start_options_while_a_sandbox_runs(shared_home: Path) -> None:
    home = shared_home
    running = state(home)
    same = labkit(home, "sandbox", "start", "--port", str(running["port"]), "--iam-delay", "0")
    assert same.returncode == 0 and "already running" in same.stdout
    for args, shown in ((["--port", str(running["port"] + 1)], f"--port {running['port'] + 1}"),
                        (["--iam-delay", "3"], "--iam-delay 3"), (["--throttle", "0.5"], "--throttle 0.5")):
        one_line_error(labkit(home, "sandbox", "start", *args), "already running", shown, "labkit sandbox stop")
    one_line_error(labkit(home, "sandbox", "start", "--port", "70000"), "--port 70000 is not a port")
    one_line_error(labkit(home, "sandbox", "start", "--iam-delay", "inf"), "--iam-delay inf")
    assert state(home)["pid"] == running["pid"] and alive(running["pid"])


class _Impostor:
    """An HTTP server on 127.0.0.1 that answers every request with one canned reply."""

    def __init__(self) -> None:
        import http.server
        import threading

        impostor = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                status, kind, body = impostor.reply
                if status is None:  # hang up without an answer
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.reply: tuple = (200, "application/json", b"{}")
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("reply", [
    (200, "text/html", b"<html><body>Welcome to nginx</body></html>"),
    (200, "application/json", b"{not json"),
    (200, "application/json", b"[1, 2, 3]"),
    (200, "application/json", b"{}"),
    (200, "application/json", b'{"clock": {"now": "yesterday", "offset": 0}, "faults": {}}'),
    (200, "application/json", b'{"now": "2026-01-01T00:00:00Z", "offset": "Infinity", "clock": 1}'),
    (200, "application/json", b'{"now": 5, "offset": 1e999}'),
    (200, "application/json", b"[" * 100000),
    (500, "text/html", b"<html>Internal Server Error</html>"),
    (403, "application/json", b'{"error": ["not", "a", "string"]}'),
    (None, "", b""),
], ids=lambda reply: f"{reply[0]}-{reply[2][:12]!r}")
def test_status_and_clock_never_crash_on_what_the_server_says(shared_home: Path, reply: tuple) -> None:
    home = shared_home
    real = state(home)
    impostor = _Impostor()
    try:
        impostor.reply = reply
        (home / "sandbox.json").write_text(json.dumps(
            {**real, "endpoint": f"http://127.0.0.1:{impostor.port}", "port": impostor.port}))
        for args in (["sandbox", "status"], ["sandbox", "clock"], ["sandbox", "clock", "advance", "1m"],
                     ["sandbox", "clock", "reset"]):
            result = labkit(home, *args)
            one_line_error(result)
            assert result.returncode in (1, 2), result
    finally:
        impostor.close()
        (home / "sandbox.json").write_text(json.dumps(real))
    assert "(real time)" in labkit(home, "sandbox", "clock").stdout


@pytest.fixture(scope="module")
def shared_home(tmp_path_factory):
    """One sandbox for the tests that only read it or put it back as they found it."""
    home = tmp_path_factory.mktemp("cli-sandbox") / "labkit"
    assert labkit(home, "sandbox", "start").returncode == 0
    yield home
    labkit(home, "sandbox", "stop")


def test_a_huge_clock_advance_is_refused_and_the_clock_kept(shared_home: Path) -> None:
    home = shared_home
    assert labkit(home, "sandbox", "clock", "advance", "15m").returncode == 0
    one_line_error(labkit(home, "sandbox", "clock", "advance", "87600000h"),
                   "at most 100 years ahead of real time", "labkit sandbox clock reset")
    assert "(15 min ahead of real time)" in labkit(home, "sandbox", "clock").stdout
    assert labkit(home, "sandbox", "clock", "reset").returncode == 0


# --- a start under a crowd: waits while the server makes progress -----------------------------------------

def _child(code: str, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=out)


def test_start_gives_up_on_a_server_that_makes_no_progress(tmp_path: Path, monkeypatch) -> None:
    from labkit.errors import LabError
    from labkit.sandbox import lifecycle

    monkeypatch.setattr(lifecycle, "STALL_LIMIT", 2.0)
    log = tmp_path / "sandbox.log"
    stuck = _child("import time; time.sleep(60)", log)
    began = time.monotonic()
    with pytest.raises(LabError, match=r"made no progress for 2 s while starting"):
        lifecycle._wait_until_ready(stuck, log)
    assert 2 <= time.monotonic() - began < 30
    stuck.kill()
    stuck.wait()


def test_start_waits_for_a_busy_server_up_to_its_limit(tmp_path: Path, monkeypatch) -> None:
    from labkit.errors import LabError
    from labkit.sandbox import lifecycle

    monkeypatch.setattr(lifecycle, "STALL_LIMIT", 1.0)
    monkeypatch.setattr(lifecycle, "START_LIMIT", 4.0)
    log = tmp_path / "sandbox.log"
    busy = _child("while True: pass", log)  # its CPU time grows: progress, never ready
    began = time.monotonic()
    with pytest.raises(LabError, match=r"was still starting after 4 s \(the machine is very busy\)"):
        lifecycle._wait_until_ready(busy, log)
    assert time.monotonic() - began >= 4, "a server that works is given the whole limit, not the stall limit"
    busy.kill()
    busy.wait()


def test_a_server_that_explains_why_it_stopped_is_quoted(tmp_path: Path) -> None:
    from labkit.errors import LabError
    from labkit.sandbox import lifecycle

    log = tmp_path / "sandbox.log"
    failed = _child("import sys; print('labkit sandbox: cannot listen on 127.0.0.1:5: denied', "
                    "file=sys.stderr); sys.exit(3)", log)
    with pytest.raises(LabError) as refused:
        lifecycle._wait_until_ready(failed, log)
    assert str(refused.value) == (f"The sandbox stopped while starting (exit 3): cannot listen on "
                                  f"127.0.0.1:5: denied; see {log} for why.")
