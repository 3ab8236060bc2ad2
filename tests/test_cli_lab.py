"""`labkit setup` and `labkit cleanup` as a learner runs them: real subprocesses, a sandbox of their own.

The module starts its own sandbox in a temporary LABKIT_HOME (the session's sandbox is not touched).
Each test leaves that sandbox as it found it: with none of the lab's resources in it.
"""

from __future__ import annotations

import configparser
import json
import os
import pty
import re
import signal
import stat
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

BIN = Path(sys.executable).parent
ACCOUNT = "123456789012"
USER = "labkit-sts-user"


def labkit(home: Path, *args: str, stdin=subprocess.DEVNULL, **env: str) -> subprocess.CompletedProcess:
    environ = {"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "HOME": str(home.parent),
               "LABKIT_HOME": str(home), "LANG": "C.UTF-8", **env}
    return subprocess.run([str(BIN / "labkit"), *args], stdin=stdin, capture_output=True, text=True,
                          env=environ, timeout=120)


def one_line_error(result: subprocess.CompletedProcess, starts: str) -> None:
    assert result.returncode == 2, result
    assert result.stderr.startswith("labkit: " + starts), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def lab_home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("cli-lab") / "labkit"
    started = labkit(home, "sandbox", "start")
    assert started.returncode == 0, started.stderr
    yield home
    try:
        os.kill(json.loads((home / "sandbox.json").read_text())["pid"], signal.SIGTERM)
    except (OSError, ValueError, KeyError):
        pass


def iam(home: Path):
    state = json.loads((home / "sandbox.json").read_text())
    parser = configparser.ConfigParser()
    parser.read(home / "aws-credentials")
    admin = parser["labkit-admin"]
    return boto3.client("iam", region_name="us-east-1", endpoint_url=state["endpoint"],
                        aws_access_key_id=admin["aws_access_key_id"],
                        aws_secret_access_key=admin["aws_secret_access_key"])


def exists(client, kind: str, name: str) -> bool:
    try:
        client.get_user(UserName=name) if kind == "user" else client.get_role(RoleName=name)
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "NoSuchEntity"
        return False
    return True


def config_sections(home: Path) -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(home / "aws-config")
    return parser.sections()


# --- bad input: one line, exit 2, nothing contacted --------------------------------------------------

@pytest.mark.parametrize("value", ["100", "43201", "banana", "-5"])
def test_max_session_duration_out_of_range(tmp_path: Path, value: str) -> None:
    home = tmp_path / "labkit"
    result = labkit(home, "setup", f"--max-session-duration={value}")
    one_line_error(result, f"--max-session-duration {value} is out of range")
    assert "3600 to 43200 seconds" in result.stderr
    assert not (home / "sandbox.json").exists(), "bad input must be refused before a sandbox starts"


def test_bad_names_and_unknown_options(tmp_path: Path) -> None:
    home = tmp_path / "labkit"
    one_line_error(labkit(home, "setup", "--user-name", "two words"), "--user-name 'two words' is not a valid IAM name")
    one_line_error(labkit(home, "setup", "--role-name", "x" * 65), f"--role-name '{'x' * 65}' is not a valid IAM name")
    one_line_error(labkit(home, "cleanup", "--force"), "unrecognized arguments: --force")
    assert not (home / "sandbox.json").exists()


def test_cleanup_without_a_sandbox_starts_nothing(tmp_path: Path) -> None:
    home = tmp_path / "labkit"
    result = labkit(home, "cleanup")
    assert result.returncode == 0
    assert result.stdout.startswith("No sandbox is running, so there is nothing to clean up")
    assert not (home / "sandbox.json").exists()


# --- the sandbox ---------------------------------------------------------------------------------------

def test_setup_twice_then_cleanup_twice(lab_home: Path) -> None:
    client = iam(lab_home)
    first = labkit(lab_home, "setup")
    assert first.returncode == 0, first.stderr
    for line in ("created  IAM user labkit-sts-user", "created  access key profile default",
                 "created  IAM role sts_role", "created  CLI profile sts-role"):
        assert line in first.stdout
    assert f"--role-arn          arn:aws:iam::{ACCOUNT}:role/sts_role" in first.stdout
    assert 'eval "$(labkit env)"' in first.stdout and "labkit sandbox clock advance 15m" in first.stdout
    creds = configparser.ConfigParser()
    creds.read(lab_home / "aws-credentials")
    key, secret = creds["default"]["aws_access_key_id"], creds["default"]["aws_secret_access_key"]
    assert key not in first.stdout and secret not in first.stdout
    assert f"****************{key[-4:]}" in first.stdout
    assert stat.S_IMODE((lab_home / "aws-credentials").stat().st_mode) == 0o600
    assert client.get_role(RoleName="sts_role")["Role"]["MaxSessionDuration"] == 3600

    second = labkit(lab_home, "setup")
    assert second.returncode == 0, second.stderr
    actions = re.findall(r"^  (\w+)  ", second.stdout, flags=re.M)
    assert actions and set(actions) == {"found"}, second.stdout
    creds.read(lab_home / "aws-credentials")
    assert creds["default"]["aws_access_key_id"] == key, "re-running setup must keep the user's key"

    longer = labkit(lab_home, "setup", "--max-session-duration", "12h")
    assert "updated  IAM role sts_role" in longer.stdout, longer.stdout
    assert client.get_role(RoleName="sts_role")["Role"]["MaxSessionDuration"] == 43200

    dry = labkit(lab_home, "cleanup", "--dry-run")
    assert dry.returncode == 0 and "would be removed  IAM user labkit-sts-user" in dry.stdout
    assert dry.stdout.rstrip().endswith("Nothing was removed (--dry-run).")
    assert exists(client, "user", USER) and exists(client, "role", "sts_role")

    gone = labkit(lab_home, "cleanup")
    assert gone.returncode == 0, gone.stderr
    assert "removed  IAM role sts_role" in gone.stdout and "removed  CLI profile sts-role" in gone.stdout
    assert not exists(client, "user", USER) and not exists(client, "role", "sts_role")
    assert "profile sts-role" not in config_sections(lab_home)
    assert "default" not in config_sections(lab_home)

    again = labkit(lab_home, "cleanup")
    assert again.returncode == 0
    assert again.stdout.strip() == f"Nothing to clean up: the lab has no resources in account {ACCOUNT}."


def test_custom_names_are_remembered_by_cleanup(lab_home: Path) -> None:
    client = iam(lab_home)
    made = labkit(lab_home, "setup", "--user-name", "alice", "--role-name", "reader")
    assert made.returncode == 0, made.stderr
    assert exists(client, "user", "alice") and exists(client, "role", "reader")
    assert f"arn:aws:iam::{ACCOUNT}:role/reader" in made.stdout
    gone = labkit(lab_home, "cleanup")  # no names given: the ones setup used
    assert "removed  IAM user alice" in gone.stdout and "removed  IAM role reader" in gone.stdout
    assert not exists(client, "user", "alice") and not exists(client, "role", "reader")


# --- a real account (the sandbox standing in for it) ---------------------------------------------------

@pytest.fixture
def aws_env(lab_home: Path, tmp_path: Path) -> tuple[Path, dict]:
    """LABKIT_TARGET=aws with the sandbox's admin profile, in a lab home of its own."""
    endpoint = json.loads((lab_home / "sandbox.json").read_text())["endpoint"]
    env = {"LABKIT_TARGET": "aws", "LABKIT_AWS_PROFILE": "labkit-admin",
           "LABKIT_AWS_ENDPOINT_URL": endpoint,
           "AWS_CONFIG_FILE": str(lab_home / "aws-config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(lab_home / "aws-credentials")}
    return tmp_path / "aws-home", env


def test_real_account_needs_confirmation_before_anything_is_created(lab_home, aws_env) -> None:
    home, env = aws_env
    client = iam(lab_home)
    refused = labkit(home, "setup", **env)
    one_line_error(refused, "Nothing was changed: the lab will only create an IAM user, a role and their "
                   f"policies in AWS account {ACCOUNT}")
    assert "--yes" in refused.stderr
    assert not exists(client, "user", USER) and not exists(client, "role", "labkit-sts_role")

    wrong = _with_tty(home, env, "setup", typed="210987654321")
    assert wrong.returncode == 2
    assert f"Type the account ID ({ACCOUNT}) to confirm:" in wrong.stdout
    assert "'210987654321' is not the account of profile 'labkit-admin'" in wrong.stderr
    assert not exists(client, "user", USER)

    typed = _with_tty(home, env, "setup", typed=ACCOUNT)
    assert typed.returncode == 0, typed.stderr
    assert "created  IAM role labkit-sts_role" in typed.stdout
    assert f"arn:aws:iam::{ACCOUNT}:role/labkit-sts_role" in typed.stdout
    assert "export AWS_SHARED_CREDENTIALS_FILE=" in typed.stdout and "labkit env" not in typed.stdout

    kept = labkit(lab_home.parent / "other", "cleanup", **env)  # an unconfirmed workspace: asks again
    one_line_error(kept, "Nothing was changed: the lab will only remove the resources listed above")
    assert "would be removed  IAM role labkit-sts_role" in kept.stdout
    assert exists(client, "role", "labkit-sts_role")

    gone = labkit(home, "cleanup", "--yes", **env)
    assert gone.returncode == 0, gone.stderr
    assert "removed  IAM role labkit-sts_role" in gone.stdout
    assert not exists(client, "role", "labkit-sts_role") and not exists(client, "user", USER)
    again = labkit(home, "cleanup", **env)
    assert again.stdout.strip() == f"Nothing to clean up: the lab has no resources in account {ACCOUNT}."


def test_real_account_yes_confirms_the_profiles_account(lab_home, aws_env) -> None:
    home, env = aws_env
    made = labkit(home, "setup", "--yes", **env)
    assert made.returncode == 0, made.stderr
    assert f"Confirmed: the lab may create its resources in account {ACCOUNT}." in made.stdout
    assert "created  IAM user labkit-sts-user" in made.stdout
    gone = labkit(home, "cleanup", "--yes", **env)
    assert "removed  IAM user labkit-sts-user" in gone.stdout
    assert not exists(iam(lab_home), "user", USER)


def _with_tty(home: Path, env: dict, *args: str, typed: str) -> subprocess.CompletedProcess:
    """Run labkit with a terminal on standard input, and type `typed` + Enter into it."""
    master, slave = pty.openpty()
    try:
        os.write(master, typed.encode() + b"\n")
        return labkit(home, *args, stdin=slave, **env)
    finally:
        os.close(slave)
        os.close(master)


def test_role_profile_boto3_assumes_and_renews_by_itself(lab_home: Path, monkeypatch) -> None:
    """[profile sts-role] from `labkit setup`: boto3 assumes the role, and again once it expired.

    Also the endpoint: the profiles' endpoint_url is used, unless AWS_ENDPOINT_URL is set.
    """
    assert labkit(lab_home, "sandbox", "clock", "reset").returncode == 0  # expiry starts from now
    assert labkit(lab_home, "setup").returncode == 0
    try:
        monkeypatch.setenv("AWS_CONFIG_FILE", str(lab_home / "aws-config"))
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(lab_home / "aws-credentials"))
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)  # the profile's endpoint_url only
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        endpoint = json.loads((lab_home / "sandbox.json").read_text())["endpoint"]
        assert boto3.Session(profile_name="default").client("sts").meta.endpoint_url == endpoint
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # the variable wins over the file
        assert boto3.Session(profile_name="default").client("sts").meta.endpoint_url == "http://127.0.0.1:9"
        monkeypatch.delenv("AWS_ENDPOINT_URL")
        session = boto3.Session(profile_name="sts-role")
        sts = session.client("sts")
        session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/sts_role/sts-session"
        assert sts.get_caller_identity()["Arn"] == session_arn
        first = session.get_credentials().get_frozen_credentials()

        assert labkit(lab_home, "sandbox", "clock", "advance", "15m").returncode == 0
        old = boto3.client("sts", region_name="us-east-1", endpoint_url=endpoint,
                           aws_access_key_id=first.access_key, aws_secret_access_key=first.secret_key,
                           aws_session_token=first.token)
        with pytest.raises(ClientError) as refused:
            old.get_caller_identity()
        assert refused.value.response["Error"]["Code"] == "ExpiredToken"

        assert sts.get_caller_identity()["Arn"] == session_arn  # the same client, renewed itself
        assert session.get_credentials().get_frozen_credentials().access_key != first.access_key
    finally:
        assert labkit(lab_home, "cleanup").returncode == 0


# --- failures are one line ---------------------------------------------------------------------------

def _control(home: Path, path: str) -> dict:
    import urllib.request

    state = json.loads((home / "sandbox.json").read_text())
    request = urllib.request.Request(f"{state['endpoint']}/_labkit/{path}", method="POST",
                                     headers={"X-Labkit-Control-Token": state["token"]})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_throttling_that_outlasts_the_retries_is_one_line(lab_home: Path) -> None:
    assert labkit(lab_home, "setup").returncode == 0
    _control(lab_home, "faults?throttle=1")
    try:
        refused = labkit(lab_home, "cleanup")
    finally:
        _control(lab_home, "faults?throttle=0")
    one_line_error(refused, "The cleanup stopped: AWS answered ")
    assert "with Throttling (Rate exceeded, still after" in refused.stderr
    assert "run `labkit cleanup` again" in refused.stderr
    gone = labkit(lab_home, "cleanup")
    assert gone.returncode == 0 and "removed  IAM user labkit-sts-user" in gone.stdout, gone.stderr


@pytest.mark.parametrize("name", ["aws-config", "aws-credentials"])
def test_garbage_lab_aws_files_are_one_line(lab_home: Path, name: str) -> None:
    path = lab_home / name
    saved = path.read_text()
    try:
        path.write_text(saved + "\nthis line is garbage\n[profile x\n")
        for command in ("setup", "cleanup"):
            result = labkit(lab_home, command)
            assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
            assert str(path) in result.stderr and "Traceback" not in result.stderr
            assert "move it aside" in result.stderr
    finally:
        path.write_text(saved)


def test_a_sandbox_killed_during_setup_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "labkit"
    assert labkit(home, "sandbox", "start", "--throttle", "0.2").returncode == 0  # a slower setup
    environ = {"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path), "LABKIT_HOME": str(home),
               "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
    setup = subprocess.Popen([str(BIN / "labkit"), "setup"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=environ)
    sandbox = json.loads((home / "sandbox.json").read_text())
    for line in setup.stdout:  # the target answered; the IAM calls come next
        if line.startswith("Target:"):
            os.kill(sandbox["pid"], signal.SIGKILL)
            break
    out, err = setup.communicate(timeout=120)
    assert setup.returncode == 2, (out, err)
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"labkit: The setup stopped. The sandbox at {sandbox['endpoint']} is no longer "
                          "running: start it with `labkit sandbox start`"), err
