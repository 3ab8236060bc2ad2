"""The lab's steps: re-running finds what exists, bad input gets a sentence, what the lab did not
make is left alone. Run against a private sandbox (as the `sandbox` target)."""

from __future__ import annotations

import json

import pytest

from labkit import policies
from labkit.errors import LabError
from labkit.lab import (
    TAG,
    Lab,
    Names,
    check_duration,
    check_learner,
    check_max_session_duration,
    check_session_name,
)
from labkit.target import AWS, Target
from tests.aws_path import private_sandbox, sandbox_workspace, snapshot


@pytest.fixture(scope="module")
def private(request):
    return private_sandbox(request.config)


@pytest.fixture
def lab(private, monkeypatch):
    private.reset()
    target = sandbox_workspace(monkeypatch, private)
    return Lab(target, progress=[].append)


def test_setup_creates_then_finds(lab, private):
    assert [(s.what, s.action) for s in lab.setup()] == [
        ("IAM user", "created"), ("access key", "created"), ("IAM role", "created"),
        ("role policy", "created"), ("user policy", "created")]
    assert [s.action for s in lab.setup()] == ["found"] * 5
    iam = private.iam()
    assert len(iam.list_access_keys(UserName="labkit-sts-user")["AccessKeyMetadata"]) == 1
    assert TAG in iam.list_role_tags(RoleName="sts_role")["Tags"]
    assert str(lab.setup()[0]) == "   found  IAM user labkit-sts-user"


def test_setup_repairs_what_changed(lab, private):
    lab.setup()
    iam = private.iam()
    iam.update_role(RoleName="sts_role", MaxSessionDuration=7200)
    iam.delete_role_policy(RoleName="sts_role", PolicyName="labkit-ec2-read")
    iam.put_user_policy(UserName="labkit-sts-user", PolicyName="labkit-assume-role",
                        PolicyDocument=json.dumps(policies.assume_role_policy("arn:aws:iam::123456789012:role/other")))
    iam.update_assume_role_policy(RoleName="sts_role",
                                  PolicyDocument=json.dumps(policies.account_trust_policy("123456789012")))
    assert [s.action for s in lab.setup(max_session_duration=3600)] == [
        "found", "found", "updated", "created", "updated"]
    role = iam.get_role(RoleName="sts_role")["Role"]
    assert role["MaxSessionDuration"] == 3600
    assert role["AssumeRolePolicyDocument"] == policies.trust_policy(lab.user_arn)
    assert lab.setup(max_session_duration=43200)[2].action == "updated"
    assert lab.max_session_duration() == 43200


def test_a_lost_local_key_is_replaced(lab, private):
    from labkit import workspace

    lab.setup()
    old = lab.user_credentials().access_key_id
    workspace.remove_credentials_profile("default")
    assert lab.ensure_access_key().action == "created"
    keys = private.iam().list_access_keys(UserName="labkit-sts-user")["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [lab.user_credentials().access_key_id] != [old]


def test_an_untagged_user_with_the_labs_name_is_not_touched(lab, private):
    iam = private.iam()
    iam.create_user(UserName="labkit-sts-user")
    before = snapshot(iam)
    with pytest.raises(LabError) as refused:
        lab.setup()
    assert str(refused.value) == (
        "An IAM user named 'labkit-sts-user' already exists and was not made by this lab (it lacks the "
        "tag labkit=sts-labkit), so the lab will neither change nor remove it. Remove or rename it "
        "yourself, or reset the sandbox with `labkit sandbox reset`.")
    assert lab.cleanup() == []
    assert snapshot(iam) == before


def test_an_untagged_role_with_the_labs_name_is_not_touched(lab, private):
    iam = private.iam()
    iam.create_role(RoleName="sts_role", MaxSessionDuration=7200,
                    AssumeRolePolicyDocument=json.dumps(policies.account_trust_policy("123456789012")))
    before = snapshot(iam)
    with pytest.raises(LabError, match="An IAM role named 'sts_role' already exists and was not made by this lab"):
        lab.setup()
    after = json.loads(snapshot(iam))
    assert after["roles"]["sts_role"] == json.loads(before)["roles"]["sts_role"]
    assert iam.get_role(RoleName="sts_role")["Role"]["MaxSessionDuration"] == 7200
    assert [s.name for s in lab.cleanup() if s.what.startswith("IAM")] == ["labkit-sts-user"]
    assert "sts_role" in {r["RoleName"] for r in iam.list_roles()["Roles"]}


def test_another_lab_instance_knows_of_the_last_change(lab):
    lab.setup()
    other = Lab(lab.target)
    assert other._changed_at == 0.0
    assert abs(other.last_change() - lab.last_change()) < 1e-6 and lab.last_change() > 0
    assert other.wait_budget() == 0.0  # the sandbox applies IAM changes at once (no --iam-delay)


def test_the_sandbox_does_not_wait_on_a_wrong_trust_policy(lab):
    lab.setup()
    lab.set_trust_policy(policies.account_trust_policy("210987654321"))
    outcome = lab.try_assume_role(900)
    assert outcome.code == "AccessDenied" and lab.progress.__self__ == []


@pytest.mark.parametrize(("value", "message"), [
    (899, "899 s is too short: AssumeRole needs at least 900 seconds (15 minutes)."),
    (43201, "43201 s is too long: no role allows more than 43200 seconds (12 hours)."),
    ("900", "The duration must be a whole number of seconds, not '900'."),
    (True, "The duration must be a whole number of seconds, not True."),
])
def test_bad_durations(value, message):
    with pytest.raises(LabError) as refused:
        check_duration(value)
    assert str(refused.value) == message


def test_bad_session_names_and_maximums():
    for name, reason in (("a", "too short"), ("has space", "Not allowed in a session name: space"),
                         ("x" * 65, "at most 64"), ("semi;colon", "Not allowed in a session name: ';'")):
        with pytest.raises(LabError, match=reason):
            check_session_name(name)
    check_session_name("sts-session")
    for seconds in (3599, 43201, "3600"):
        with pytest.raises(LabError, match="is out of range: a role's maximum session is from 3600 s"):
            check_max_session_duration(seconds)


def test_bad_input_to_the_steps_creates_nothing(lab, private):
    before = snapshot(private.iam())
    with pytest.raises(LabError, match="MaxSessionDuration 60 is out of range"):
        lab.setup(max_session_duration=60)
    assert snapshot(private.iam()) == before
    with pytest.raises(LabError, match="run the setup step first"):
        lab.assume_role(900)


def _aws_target() -> Target:
    target = Target(AWS, "someone")
    target.__dict__["caller"] = {"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/x"}
    return target


def test_names_in_a_real_account(monkeypatch):
    monkeypatch.delenv("LABKIT_NAME_SUFFIX", raising=False)
    target = _aws_target()
    names = Names.for_target(target)
    assert (names.user, names.role, names.learner) == ("labkit-sts-user", "labkit-sts_role", "")
    assert names.tags == [TAG]
    assert Names.for_target(target, user="me", role="r").user == "labkit-me"
    monkeypatch.setenv("LABKIT_NAME_SUFFIX", "seat-07")
    seat = Names.for_target(target)
    assert (seat.user, seat.role) == ("labkit-sts-user-seat-07", "labkit-sts_role-seat-07")
    assert seat.tags == [TAG, {"Key": "labkit-learner", "Value": "seat-07"}]
    assert Names.for_target(target, user=seat.user, role=seat.role) == seat  # applied once only
    sandbox = Target("sandbox", "labkit-admin")
    assert Names.for_target(sandbox) == Names()  # the walk-through's names, suffix or not


def test_bad_learner_suffixes(monkeypatch):
    for suffix in ("has space", "a/b", "x" * 33, "é"):
        with pytest.raises(LabError, match="cannot be part of an IAM name: use 1 to 32 letters"):
            check_learner(suffix)
    monkeypatch.setenv("LABKIT_NAME_SUFFIX", "x" * 32)
    with pytest.raises(LabError, match=r"is 70 characters long; IAM allows 64\. Use a shorter LABKIT_NAME_SUFFIX"):
        Names.for_target(_aws_target(), user="labkit-" + "u" * 30)
