"""A private sandbox, and lab workspaces that use it as if it were a real AWS account.

The session's shared sandbox is never given faults, clock moves or lab resources by these tests:
they run against one more sandbox, started in its own LABKIT_HOME on first use (about 2 s) and
stopped when pytest ends. Each test then gets its own workspace (LABKIT_HOME, AWS config and
credentials files) through `workspace_for`, with every environment variable restored after it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from datetime import datetime
from pathlib import Path

import boto3
import pytest

from labkit import workspace
from labkit.sandbox import lifecycle
from labkit.target import RETRIES, Target, connect

MINIMUM_POLICY = Path(__file__).resolve().parents[1] / "labkit" / "data" / "minimum-permissions.json"
ENV = ("LABKIT_HOME", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL",
       "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "LABKIT_TARGET", "LABKIT_AWS_PROFILE",
       "LABKIT_AWS_ENDPOINT_URL", "LABKIT_NAME_SUFFIX")


class Private:
    def __init__(self, home: Path, sandbox: lifecycle.Sandbox) -> None:
        self.home = home
        self.sandbox = sandbox
        self._iam = None

    @property
    def endpoint(self) -> str:
        return self.sandbox.endpoint

    def faults(self, iam_delay: float = 0.0, throttle: float = 0.0) -> dict:
        return self.sandbox.control("faults", iam_delay=iam_delay, throttle=throttle)

    def reset(self) -> None:
        self.sandbox.control("reset")

    def now(self) -> datetime:
        return datetime.fromisoformat(self.sandbox.control("clock")["now"].replace("Z", "+00:00"))

    def advance(self, seconds: float) -> None:
        self.sandbox.control("clock/advance", seconds=seconds)

    def admin_keys(self, profile: str = "labkit-admin") -> dict[str, str]:
        found = workspace.read_credentials_profile(profile, path=self.home / "aws-credentials")
        assert found, f"the private sandbox wrote no {profile} profile"
        return found

    def admin(self) -> boto3.Session:
        keys = self.admin_keys()
        return boto3.Session(keys["aws_access_key_id"], keys["aws_secret_access_key"], region_name="us-east-1")

    def iam(self):
        """The administrator's IAM client (made once: making a client costs about 0.2 s)."""
        if self._iam is None:
            self._iam = self.admin().client("iam", endpoint_url=self.endpoint, config=RETRIES)
        return self._iam

    def minimal_admin(self, name: str = "lab-minimal-admin") -> dict[str, str]:
        """An IAM user whose only policy is labkit/data/minimum-permissions.json; its key."""
        iam = self.iam()
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="labkit-minimum",
                            PolicyDocument=MINIMUM_POLICY.read_text())
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


_private: Private | None = None


def private_sandbox(config) -> Private:
    """The private sandbox (started on first use), reset to a fresh state without faults."""
    global _private
    if _private is None or not _alive(_private.sandbox.pid):
        home = Path(tempfile.mkdtemp(prefix="labkit-private-"))
        saved = os.environ.get("LABKIT_HOME")
        os.environ["LABKIT_HOME"] = str(home)
        try:
            sandbox, _ = lifecycle.start()
        finally:
            if saved is None:
                os.environ.pop("LABKIT_HOME", None)
            else:
                os.environ["LABKIT_HOME"] = saved
        _private = Private(home, sandbox)
        config.add_cleanup(_stop)
    _private.reset()
    return _private


def _alive(pid: int) -> bool:
    """Is our sandbox process running (a zombie child of ours is not)?"""
    try:
        os.kill(pid, 0)
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    except OSError:
        return False
    return done == 0


def _stop() -> None:
    global _private
    if _private is None:
        return
    pid, home, _private = _private.sandbox.pid, _private.home, None
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    shutil.rmtree(home, ignore_errors=True)


def _isolate(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every variable the lab reads or writes comes back as it was after the test."""
    for name in ENV:
        monkeypatch.setenv(name, "-")  # recorded, so even a later os.environ.update is undone
        monkeypatch.delenv(name)


def aws_workspace(monkeypatch: pytest.MonkeyPatch, home: Path, private: Private, keys: dict[str, str],
                  profile: str = "lab-admin", suffix: str | None = None) -> Target:
    """A workspace whose target is `aws`, with admin `profile` (these keys) at the private sandbox."""
    _isolate(monkeypatch)
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("LABKIT_HOME", str(home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    workspace.write_credentials_profile(profile, keys["aws_access_key_id"], keys["aws_secret_access_key"])
    workspace.write_config_profile(profile, {"region": "us-east-1", "endpoint_url": private.endpoint})
    monkeypatch.setenv("LABKIT_TARGET", "aws")
    monkeypatch.setenv("LABKIT_AWS_PROFILE", profile)
    monkeypatch.setenv("LABKIT_AWS_ENDPOINT_URL", private.endpoint)
    if suffix:
        monkeypatch.setenv("LABKIT_NAME_SUFFIX", suffix)
    return connect()


def sandbox_workspace(monkeypatch: pytest.MonkeyPatch, private: Private) -> Target:
    """The private sandbox as the `sandbox` target (its own LABKIT_HOME), env restored afterwards."""
    _isolate(monkeypatch)
    monkeypatch.setenv("LABKIT_HOME", str(private.home))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(private.home / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(private.home / "aws-credentials"))
    for leftover in ("default", "sts-role"):
        workspace.remove_credentials_profile(leftover)
        workspace.remove_config_profile(leftover)
    (private.home / "iam-changes.json").unlink(missing_ok=True)
    target = connect("sandbox")
    assert target.endpoint == private.endpoint
    return target


def iam_names(iam) -> tuple[set[str], set[str]]:
    users = {u["UserName"] for p in iam.get_paginator("list_users").paginate() for u in p["Users"]}
    roles = {r["RoleName"] for p in iam.get_paginator("list_roles").paginate() for r in p["Roles"]}
    return users, roles


def snapshot(iam) -> str:
    """Users and roles with their tags, keys and policies: to show nothing was touched."""
    users, roles = iam_names(iam)
    state = {
        "users": {u: [iam.list_user_tags(UserName=u)["Tags"],
                      sorted(k["AccessKeyId"] for k in iam.list_access_keys(UserName=u)["AccessKeyMetadata"]),
                      sorted(iam.list_user_policies(UserName=u)["PolicyNames"])] for u in sorted(users)},
        "roles": {r: [iam.list_role_tags(RoleName=r)["Tags"],
                      sorted(iam.list_role_policies(RoleName=r)["PolicyNames"])] for r in sorted(roles)},
    }
    return json.dumps(state, sort_keys=True)
