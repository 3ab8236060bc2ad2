"""The sandbox never harms what is not its own: issue 10's process findings, each reproduced.

Every test drives the `labkit` command as a learner (or someone probing it) would, in a temporary
LABKIT_HOME of its own, and stops whatever it started. Processes are checked with psutil and
/proc, never assumed.
"""

from __future__ import annotations

import configparser
import http.client
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import boto3
import psutil
import pytest
from botocore.exceptions import ClientError

BIN = Path(sys.executable).parent
SERVER = "labkit.sandbox.server"
CLI_OUTPUT = json.dumps({"Credentials": {
    "AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "SessionToken": "FwoGZXIvYXdzEJr//////////wEaDHmZ+token==", "Expiration": "2026-11-28T13:11:40+00:00"}})


def environment(home: Path, **extra: str) -> dict[str, str]:
    return {"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "HOME": str(home.parent), "LABKIT_HOME": str(home),
            "LANG": "C.UTF-8", **extra}


def labkit(home: Path, *args: str, stdin: str | None = None, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "labkit"), *args], input=stdin, capture_output=True, text=True,
                          env=environment(home, **extra), timeout=120,
                          stdin=subprocess.DEVNULL if stdin is None else None)


def one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0, result
    assert result.stderr.startswith("labkit: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def servers(home: Path) -> list[psutil.Process]:
    """The sandbox server processes running for this lab workspace, whatever the state file says."""
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if (SERVER in cmdline and "--home" in cmdline and process.info["status"] != psutil.STATUS_ZOMBIE
                and cmdline[cmdline.index("--home") + 1] == str(home)):
            found.append(process)
    return found


def state(home: Path) -> dict:
    return json.loads((home / "sandbox.json").read_text())


@pytest.fixture
def home(tmp_path: Path):
    home = tmp_path / "labkit"
    yield home
    for process in servers(home):  # only this test's own servers, found by their --home
        process.kill()
        process.wait(10)


def start(home: Path, *args: str, **extra: str) -> dict:
    started = labkit(home, "sandbox", "start", *args, **extra)
    assert started.returncode == 0, started.stderr
    return state(home)


def victim(tmp_path: Path, text: str = "not the lab's\n") -> Path:
    """A file outside the lab workspace that a planted link points at (0644, known content)."""
    path = tmp_path / "victim.txt"
    path.write_text(text)
    path.chmod(0o644)
    return path


# --- which pid gets a signal ------------------------------------------------------------------------------

def test_stop_spares_a_live_process_that_is_not_the_sandbox(home: Path) -> None:
    running = start(home)
    sleeper = subprocess.Popen(["sleep", "600"])
    try:
        sleeper_info = psutil.Process(sleeper.pid)
        forged = [
            {**running, "pid": sleeper.pid},  # the pid of another program, the sandbox's proof
            {**running, "pid": sleeper.pid,  # ... and that program's own start time and command line
             "process": {"create_time": sleeper_info.create_time(), "cmdline": sleeper_info.cmdline()}},
            {**running, "pid": sleeper.pid,  # ... and a sandbox command line with its start time
             "process": {**running["process"], "create_time": sleeper_info.create_time()}},
        ]
        for fake in forged:
            (home / "sandbox.json").write_text(json.dumps(fake))
            stopped = labkit(home, "sandbox", "stop")
            one_line_error(stopped, f"pid {sleeper.pid}", "nothing was signalled", "nothing to stop")
            assert sleeper.poll() is None and psutil.Process(sleeper.pid).status() != psutil.STATUS_ZOMBIE
            assert not (home / "sandbox.json").exists(), "the stale state is removed"
        assert psutil.pid_exists(running["pid"]), "the real sandbox was not signalled either"
    finally:
        sleeper.kill()
        sleeper.wait()


# Run `labkit sandbox stop` with os.kill recording every signal instead of sending it (signal 0,
# a pure existence probe on a positive pid, is let through): a regression cannot hurt this machine.
_GUARDED_STOP = """
import json, os, sys
sent = []
real_kill = os.kill
def kill(pid, sig):
    if sig == 0 and pid > 0:
        return real_kill(pid, sig)
    sent.append([pid, sig])
os.kill = kill
from labkit.cli import main
code = main(["sandbox", "stop"])
print(json.dumps({"code": code, "sent": sent}))
"""


@pytest.mark.parametrize("pid", [0, -1, "x", None, "missing", 1.5, True, -12345, 2**40, "1", 1])
def test_a_pid_that_is_not_a_positive_integer_is_never_signalled(home: Path, pid) -> None:
    home.mkdir(mode=0o700)
    fake = {"endpoint": "http://127.0.0.1:9", "port": 9, "token": "x", "started": "2026-01-01T00:00:00+00:00",
            "process": {"create_time": 0, "cmdline": [sys.executable, "-m", SERVER, "--home", str(home)]}}
    if pid != "missing":
        fake["pid"] = pid
    (home / "sandbox.json").write_text(json.dumps(fake))
    result = subprocess.run([sys.executable, "-c", _GUARDED_STOP], capture_output=True, text=True,
                            env=environment(home), timeout=60)
    outcome = json.loads(result.stdout)
    assert outcome == {"code": 2, "sent": []}, outcome
    assert result.stderr.count("\n") == 1 and "nothing was signalled" in result.stderr, result.stderr
    assert "names no pid" in result.stderr if pid == "missing" else f"names pid {pid!r}" in result.stderr
    assert not (home / "sandbox.json").exists()
    if pid in (-1, "missing"):  # the other commands that read the state file say the same, once
        (home / "sandbox.json").write_text(json.dumps(fake))
        status = labkit(home, "sandbox", "status")
        assert status.returncode == 1 and status.stderr.count("\n") == 1, status.stderr
        assert "nothing was signalled" in status.stderr and status.stdout.startswith("No sandbox is running")


# --- one sandbox per workspace ----------------------------------------------------------------------------

def test_concurrent_starts_give_one_sandbox_and_no_orphan(home: Path) -> None:
    starts = [subprocess.Popen([str(BIN / "labkit"), "sandbox", "start"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=environment(home)) for _ in range(3)]
    results = [(p.wait(200), *p.communicate()) for p in starts]
    assert [code for code, _, _ in results] == [0, 0, 0], results
    outputs = sorted(out.split(" at ")[0] for _, out, _ in results)
    assert outputs == ["A sandbox is already running", "A sandbox is already running", "Sandbox started"]
    running = servers(home)
    assert [p.pid for p in running] == [state(home)["pid"]], "exactly one server, the one the state names"
    assert labkit(home, "sandbox", "stop").returncode == 0
    assert servers(home) == []


def test_twenty_parallel_profile_writes_keep_all_twenty(home: Path) -> None:
    writers = [subprocess.Popen([str(BIN / "labkit"), "creds", "export", "--profile", f"learner-{n}"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, env=environment(home)) for n in range(20)]
    for writer in writers:
        writer.stdin.write(CLI_OUTPUT)
        writer.stdin.close()
    assert [w.wait(120) for w in writers] == [0] * 20, [w.stderr.read() for w in writers]
    parser = configparser.ConfigParser()
    parser.read(home / "aws-credentials")
    assert sorted(parser.sections()) == sorted(f"learner-{n}" for n in range(20))
    assert stat.S_IMODE((home / "aws-credentials").stat().st_mode) == 0o600
    assert not [p.name for p in home.iterdir() if p.name.endswith(".tmp")], "no temporary file is left"


# --- links and modes in LABKIT_HOME -----------------------------------------------------------------------

@pytest.mark.parametrize("name", ["aws-credentials", "aws-config", "sandbox.json", "sandbox.log"])
def test_a_planted_link_is_not_followed(home: Path, tmp_path: Path, name: str) -> None:
    target = victim(tmp_path)
    home.mkdir(mode=0o700)
    (home / name).symlink_to(target)
    refused = labkit(home, "sandbox", "start")
    one_line_error(refused, f"{home / name} is a symbolic link", f"rm {home / name}")
    assert servers(home) == [], "nothing was started"
    assert target.read_text() == "not the lab's\n" and stat.S_IMODE(target.stat().st_mode) == 0o644
    assert (home / name).is_symlink(), "the link is left for the learner to look at"


def test_links_planted_next_to_a_running_sandbox_are_not_followed(home: Path, tmp_path: Path) -> None:
    start(home)
    target = victim(tmp_path)
    (home / "aws-credentials").unlink()
    (home / "aws-credentials").symlink_to(target)
    one_line_error(labkit(home, "creds", "export", "--profile", "lab", stdin=CLI_OUTPUT),
                   "aws-credentials is a symbolic link")
    state_file = home / "sandbox.json"
    saved = state_file.read_text()
    state_file.unlink()
    state_file.symlink_to(target)
    for command in (["sandbox", "stop"], ["sandbox", "status"], ["sandbox", "start"]):
        one_line_error(labkit(home, *command), "sandbox.json is a symbolic link")
    assert target.read_text() == "not the lab's\n" and stat.S_IMODE(target.stat().st_mode) == 0o644
    state_file.unlink()
    state_file.write_text(saved)
    assert labkit(home, "sandbox", "stop").returncode == 0


def test_start_makes_the_workspace_private(home: Path, tmp_path: Path) -> None:
    target = victim(tmp_path)
    home.mkdir()
    home.chmod(0o755)
    (home / "sandbox.log").write_text("an old log\n")
    (home / "sandbox.log").chmod(0o644)
    (home / "lab-names.json").write_text("{}")
    (home / "lab-names.json").chmod(0o664)
    (home / "notes").mkdir(mode=0o755)
    (home / "notes" / "mine.txt").write_text("x")
    (home / "elsewhere").symlink_to(target)
    start(home)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "notes").stat().st_mode) == 0o700, "what is inside a folder is private too"
    files = [p for p in home.iterdir() if p.is_file() and not p.is_symlink()]
    assert {p.name for p in files} >= {"sandbox.log", "aws-credentials", "aws-config", "sandbox.json",
                                       "sandbox-port", "lab-names.json"}
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {p.name: "0o600" for p in files}
    assert stat.S_IMODE(target.stat().st_mode) == 0o644, "a link's target keeps its mode"
    assert (home / "sandbox.log").read_text().startswith("an old log\n")


# --- what the server inherits -----------------------------------------------------------------------------

def test_the_server_starts_with_a_clean_environment(home: Path) -> None:
    inherited = {"AWS_ACCESS_KEY_ID": "AKIAPARENT0000000000", "AWS_SECRET_ACCESS_KEY": "parent-secret",
                 "AWS_SESSION_TOKEN": "parent-token", "AWS_PROFILE": "parent", "AWS_REGION": "eu-west-1",
                 "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "INITIAL_NO_AUTH_ACTION_COUNT": "1000",
                 "MOTO_ACCOUNT_ID": "999999999999", "MOTO_CALL_RESET_API": "false"}
    running = start(home, **inherited)
    environ = dict(item.split("=", 1) for item in
                   Path(f"/proc/{running['pid']}/environ").read_bytes().decode().split("\0") if item)
    leaked = sorted(k for k in environ if k.startswith(("AWS_", "MOTO_")) or k in inherited)
    assert leaked == [], leaked
    assert environ["LABKIT_HOME"] == str(home) and "PATH" in environ
    parser = configparser.ConfigParser()
    parser.read(home / "aws-credentials")
    sts = boto3.client("sts", endpoint_url=running["endpoint"], region_name="us-east-1",
                       **parser["labkit-admin"])
    assert sts.get_caller_identity()["Account"] == "123456789012", "MOTO_ACCOUNT_ID did not reach moto"
    stranger = boto3.client("iam", endpoint_url=running["endpoint"], region_name="us-east-1",
                            aws_access_key_id="AKIAUNKNOWN000000000", aws_secret_access_key="x" * 40)
    with pytest.raises(ClientError) as refused:  # INITIAL_NO_AUTH_ACTION_COUNT switched nothing off
        stranger.list_users()
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"


# --- the clock and the control endpoint -------------------------------------------------------------------

def control(endpoint: str, path: str, token: bytes | str) -> tuple[int, str, dict]:
    """POST /_labkit/<path> with `token` sent as raw header bytes: (status, content type, JSON)."""
    port = int(endpoint.rsplit(":", 1)[1])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.putrequest("POST", f"/_labkit/{path}")
        connection.putheader("X-Labkit-Control-Token", token.encode() if isinstance(token, str) else token)
        connection.putheader("Content-Length", "0")
        connection.endheaders()
        response = connection.getresponse()
        body = response.read()
        return response.status, response.getheader("Content-Type", ""), json.loads(body)
    finally:
        connection.close()


def test_the_clock_refuses_what_it_cannot_hold_and_the_sandbox_keeps_answering(home: Path) -> None:
    running = start(home)
    assert labkit(home, "sandbox", "clock", "advance", "1h").returncode == 0
    before = control(running["endpoint"], "clock", running["token"])[2]["offset"]
    assert before == 3600

    huge = labkit(home, "sandbox", "clock", "advance", "87600000h")
    one_line_error(huge, "at most 100 years ahead", "labkit sandbox clock reset")
    one_line_error(labkit(home, "sandbox", "clock", "advance", "9" * 5000), "not a duration")
    for seconds in ("inf", "nan", "-1", "1e308", "1e999", "", "x"):
        status, kind, answer = control(running["endpoint"], f"clock/advance?seconds={seconds}", running["token"])
        assert (status, kind) == (400, "application/json") and answer["error"], (seconds, answer)
    for faults in ("iam_delay=inf", "iam_delay=-1", "throttle=nan", "throttle=2"):
        status, _, answer = control(running["endpoint"], f"faults?{faults}", running["token"])
        assert status == 400, (faults, answer)
    assert control(running["endpoint"], "clock", running["token"])[2]["offset"] == before, "clock unchanged"
    assert control(running["endpoint"], "status", running["token"])[2]["faults"] == {"iam_delay": 0.0,
                                                                                      "throttle": 0.0}

    shown = labkit(home, "sandbox", "clock")
    assert shown.returncode == 0 and "(1 h ahead of real time)" in shown.stdout
    parser = configparser.ConfigParser()
    parser.read(home / "aws-credentials")
    admin = parser["labkit-admin"]
    ec2 = boto3.client("ec2", endpoint_url=running["endpoint"], region_name="us-east-1", **admin)
    assert len(ec2.describe_instances()["Reservations"]) == 3, "later calls still work"
    stranger = boto3.client("sts", endpoint_url=running["endpoint"], region_name="us-east-1",
                            aws_access_key_id="AKIAUNKNOWN000000000", aws_secret_access_key="x" * 40)
    with pytest.raises(ClientError) as refused:  # a refused call is still AWS's XML error, not a 500
        stranger.get_caller_identity()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"


@pytest.mark.parametrize("token", ["tökén".encode("latin-1"), "令牌".encode(), b"\xff\xfe\x00x", b"",
                                   b"x" * 10000])
def test_a_malformed_control_token_is_refused_not_an_error(shared_sandbox: dict, token: bytes) -> None:
    running = shared_sandbox
    status, kind, answer = control(running["endpoint"], "clock/advance?seconds=60", token)
    assert (status, kind) == (403, "application/json"), answer
    assert answer == {"error": "a valid control token is required"}
    assert control(running["endpoint"], "clock", running["token"])[2]["offset"] == 0


@pytest.fixture(scope="module")
def shared_sandbox(tmp_path_factory):
    home = tmp_path_factory.mktemp("attacks") / "labkit"
    running = start(home)
    yield running
    for process in servers(home):
        process.kill()
        process.wait(10)


def test_restart_keeps_the_port_and_says_it_restarted(home: Path) -> None:
    first = start(home)
    assert labkit(home, "sandbox", "stop").returncode == 0
    time.sleep(0.2)
    second = start(home)
    assert second["port"] == first["port"], "open terminals and panels keep working"
    assert second["started"] != first["started"]
    code = ("from labkit.sandbox import lifecycle; import sys; "
            "print(lifecycle.since(sys.argv[1])); print(lifecycle.since(sys.argv[2]))")
    said = subprocess.run([sys.executable, "-c", code, first["started"], second["started"]],
                          capture_output=True, text=True, env=environment(home), timeout=60)
    assert said.stdout.splitlines() == [
        "The sandbox was restarted: its accounts are new and what the lab made before is gone; "
        "run setup again (`labkit setup` in a terminal).", "None"], said.stderr


def test_a_module_planted_in_the_workspace_is_not_imported_by_the_server(home: Path, tmp_path: Path) -> None:
    marker = tmp_path / "imported"
    home.mkdir(mode=0o700)
    for module in ("psutil", "json", "moto", "werkzeug"):  # all imported by the server at start
        (home / f"{module}.py").write_text(f"open({str(marker)!r}, 'a').write({module!r})\nraise SystemExit(9)\n")
    running = start(home)
    assert not marker.exists(), marker.read_text()
    assert psutil.Process(running["pid"]).cwd() == str(home)
