"""Where the lab runs: connect() and its messages, account confirmation, the admin's clients."""

from __future__ import annotations

import json

import pytest

from labkit.errors import LabError
from labkit.target import AWS, RETRIES, Target, connect
from tests.aws_path import aws_workspace, private_sandbox


@pytest.fixture(scope="module")
def private(request):
    return private_sandbox(request.config)


def test_unknown_target_and_missing_profile(monkeypatch):
    with pytest.raises(LabError, match="LABKIT_TARGET='azure' is not a target: use 'sandbox'"):
        connect("azure")
    monkeypatch.delenv("LABKIT_AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with pytest.raises(LabError, match="LABKIT_TARGET=aws needs a named profile: set LABKIT_AWS_PROFILE"):
        connect("aws")


def test_a_profile_that_does_not_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    target = connect("aws", profile="no-such-profile")
    with pytest.raises(LabError, match="The AWS profile 'no-such-profile' does not exist"):
        print(target.account_id)


def test_keys_the_account_does_not_know_say_what_to_check(private, tmp_path, monkeypatch):
    target = aws_workspace(monkeypatch, tmp_path, private, {"aws_access_key_id": "AKIAIOSFODNN7EXAMPLE",
                                                            "aws_secret_access_key": "x" * 40})
    with pytest.raises(LabError) as refused:
        print(target.account_id)
    message = str(refused.value)
    assert "Cannot reach the aws target with profile 'lab-admin'" in message
    assert "InvalidClientTokenId" in message
    assert "aws sts get-caller-identity --profile lab-admin" in message


def test_confirmation_is_remembered_per_profile_and_account(private, tmp_path, monkeypatch):
    target = aws_workspace(monkeypatch, tmp_path, private, private.admin_keys())
    assert not target.is_sandbox and not target.confirmed
    with pytest.raises(LabError, match=r"has not been told it may create resources in account 123456789012 \(profile 'lab-admin'\)"):
        target.require_confirmed()
    assert target.confirm(" 123456789012 ") == "Confirmed: the lab may create its resources in account 123456789012."
    assert json.loads((tmp_path / "confirmed-account.json").read_text()) == {
        "profile": "lab-admin", "account": "123456789012"}
    assert (tmp_path / "confirmed-account.json").stat().st_mode & 0o777 == 0o600
    assert connect().confirmed  # a new process with the same profile and account
    partner = aws_workspace(monkeypatch, tmp_path, private, private.admin_keys("labkit-partner-admin"))
    assert partner.account_id == "210987654321" and not partner.confirmed  # same profile name, other account
    assert "a real AWS account, account 210987654321" in partner.describe()


def test_the_sandbox_is_always_confirmed():
    assert Target("sandbox", "labkit-admin").confirmed


def test_admin_clients_are_made_once_and_retry_throttling(private, tmp_path, monkeypatch):
    target = aws_workspace(monkeypatch, tmp_path, private, private.admin_keys())
    assert target.client("iam") is target.client("iam")
    config = target.client("iam").meta.config
    assert config.retries["mode"] == "standard" and config.retries["total_max_attempts"] == 7
    user = target.session_for("AKIAIOSFODNN7EXAMPLE", "x" * 40)
    assert target.client("sts", user) is not target.client("sts", user)
    assert target.client("sts", user).meta.config.retries == RETRIES.retries
    assert Target(AWS, "p").region == "us-east-1"
