"""The real-account path (LABKIT_TARGET=aws with a named profile), run against a private sandbox.

- The policy in labkit/data/minimum-permissions.json is enough for the whole lab: an admin with
  only that policy runs setup -> assume -> probe -> expiry -> cleanup end to end.
- Nothing is created before the account is confirmed, whatever the entry point.
"""

from __future__ import annotations

import inspect
import json
import re
from datetime import UTC, datetime

import pytest
from botocore.exceptions import ClientError

from labkit import cleanup as cleanup_module
from labkit import workspace
from labkit.errors import LabError
from labkit.lab import TAG, Lab
from labkit.waiting import expire
from tests.aws_path import MINIMUM_POLICY, aws_workspace, private_sandbox, snapshot

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def private(request):
    return private_sandbox(request.config)


def test_minimum_policy_is_scoped_to_the_labs_names():
    policy = json.loads(MINIMUM_POLICY.read_text())
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if statement["Resource"] == "*":
            assert set(actions) <= {"iam:ListUsers", "iam:ListRoles", "sts:GetCallerIdentity"}
        else:
            assert statement["Resource"] in ("arn:aws:iam::*:user/labkit-*", "arn:aws:iam::*:role/labkit-*")
        assert statement["Effect"] == "Allow"
    every = {a for s in policy["Statement"] for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not any(a.endswith("*") for a in every), "no wildcard actions"
    assert "iam:PassRole" not in every and "iam:CreatePolicy" not in every


def test_minimum_permissions_run_the_whole_lab(private, tmp_path, monkeypatch):
    keys = private.minimal_admin()
    target = aws_workspace(monkeypatch, tmp_path / "home", private, keys)
    assert not target.is_sandbox and target.endpoint == private.endpoint
    assert target.caller["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/lab-minimal-admin"

    # the policy really is that narrow: the sandbox refuses anything outside the lab's names
    with pytest.raises(ClientError) as refused:
        target.client("iam").create_user(UserName="someone-else")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert "no identity-based policy allows the iam:CreateUser action" in str(refused.value)

    target.confirm(ACCOUNT)
    messages: list[str] = []
    lab = Lab(target, progress=messages.append)
    assert (lab.names.user, lab.names.role) == ("labkit-sts-user", "labkit-sts_role")
    steps = lab.setup(max_session_duration=3600)
    assert [s.action for s in steps] == ["created"] * 5
    assert [s.action for s in lab.setup(max_session_duration=3600)] == ["found"] * 5
    iam = private.iam()
    assert TAG in iam.list_user_tags(UserName="labkit-sts-user")["Tags"]
    assert TAG in iam.list_role_tags(RoleName="labkit-sts_role")["Tags"]
    profile = (tmp_path / "home" / "aws-config").read_text()
    assert f"endpoint_url = {private.endpoint}" in profile

    before = lab.probe_ec2()
    assert (before.ok, before.code) == (False, "UnauthorizedOperation")
    session = lab.assume_role(900)
    assert session.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/labkit-sts_role/sts-session"
    during = lab.probe_ec2(session.credentials)
    assert during.ok and sorted(i["Name"] for i in during.value) == ["batch-1", "web-1", "web-2"]

    # the real-account wait, with a clock that moves the sandbox's clock instead of sleeping
    now = [private.now().timestamp()]

    def sleep(seconds: float) -> None:
        now[0] += seconds
        private.advance(seconds)

    lines: list[str] = []
    result = expire(lab, session, lines.append, tick=120, sleep=sleep, clock=lambda: now[0])
    assert result.expired and 900 <= result.waited <= 910
    assert lines[0].startswith("Waiting for the session to expire: 15:0")
    after = lab.probe_ec2(session.credentials)
    assert (after.code, after.message) == ("RequestExpired", "Request has expired.")

    assert [str(s) for s in lab.cleanup(dry_run=True)][-1].strip().startswith("would be removed")
    removed = lab.cleanup()
    assert {(s.what, s.action) for s in removed} >= {("IAM user", "removed"), ("IAM role", "removed"),
                                                     ("access key", "removed"), ("lab-local profile", "removed")}
    assert lab.cleanup(dry_run=True) == [] and lab.leftovers() == []
    assert workspace.read_credentials_profile("default") is None
    assert workspace.read_credentials_profile("lab-admin") is not None  # the admin's profile is kept
    assert "lab-minimal-admin" in {u["UserName"] for u in iam.list_users()["Users"]}
    assert not any("Waiting" in m for m in messages)  # no faults: nothing to wait for


def _creating_calls(lab: Lab):
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]}
    return {
        "setup": lambda: lab.setup(),
        "ensure_user": lab.ensure_user,
        "ensure_access_key": lab.ensure_access_key,
        "ensure_role": lambda: lab.ensure_role(3600),
        "set_trust_policy": lambda: lab.set_trust_policy(trust),
        "ensure_role_policy": lab.ensure_role_policy,
        "ensure_user_policy": lab.ensure_user_policy,
        "cleanup": lambda: lab.cleanup(),
        "cleanup.cleanup": lambda: cleanup_module.cleanup(lab.target, lab.names),
    }


def test_nothing_is_created_before_the_account_is_confirmed(private, tmp_path, monkeypatch):
    target = aws_workspace(monkeypatch, tmp_path / "home", private, private.admin_keys())
    lab = Lab(target)
    iam = private.iam()
    lab_made = Lab(target)  # a role the lab made, so set_trust_policy and cleanup have a target
    target._confirmed = True
    lab_made.setup()
    target._confirmed = False
    (tmp_path / "home" / "confirmed-account.json").unlink(missing_ok=True)
    workspace.remove_credentials_profile("default")
    assert not target.confirmed
    before = snapshot(iam)
    for name, call in _creating_calls(lab).items():
        with pytest.raises(LabError, match=r"has not been told it may create resources in account 123456789012"):
            call()
        assert snapshot(iam) == before, f"{name} changed IAM before the account was confirmed"
    assert workspace.read_credentials_profile("default") is None

    # the CLI, without --yes and without a terminal, changes nothing either
    from labkit.cli import main

    assert main(["setup"]) == 2
    assert main(["cleanup"]) == 2
    assert snapshot(iam) == before

    # a wrong or malformed account ID does not confirm
    for typed, message in (("210987654321", "is not the account of profile"),
                           ("12345", "is not an AWS account ID")):
        with pytest.raises(LabError, match=message):
            target.confirm(typed)
        assert not target.confirmed
    assert "Confirmed" in target.confirm("1234-5678-9012")
    assert [s.action for s in lab.cleanup()][-1] == "removed"
    assert lab.leftovers() == []


def test_every_public_step_that_writes_iam_checks_confirmation():
    """A new Lab method that writes IAM without require_confirmed() fails here."""
    writes = re.compile(r"\.(create|put|update|delete|tag|attach|detach)_\w+\(|_ensure_inline|_put_trust")
    for name, method in inspect.getmembers(Lab, inspect.isfunction):
        if name.startswith("_"):
            continue
        source = inspect.getsource(method)
        if not writes.search(source):
            continue
        assert "require_confirmed()" in source, f"Lab.{name} writes IAM without require_confirmed()"
    assert "require_confirmed()" in inspect.getsource(cleanup_module.cleanup)


def test_expiry_wait_can_be_skipped_and_rerun(private, tmp_path, monkeypatch):
    target = aws_workspace(monkeypatch, tmp_path / "home", private, private.admin_keys())
    target.confirm(ACCOUNT)
    lab = Lab(target)
    lab.setup()
    session = lab.assume_role(900)
    now = [datetime.now(UTC).timestamp()]
    skipped = expire(lab, session, max_wait=60, sleep=pytest.fail, clock=lambda: now[0])
    assert not skipped.expired and "Run this step again after" in str(skipped)
    later = [session.expiration.timestamp() + 10]
    again = expire(lab, session, sleep=pytest.fail, clock=lambda: later[0])
    assert again.expired and again.waited == 0
    lab.cleanup()
