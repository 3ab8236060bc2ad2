"""`labkit cleanup` internals on the real-account path (an aws-style target at a private sandbox):
after a setup stopped at any step, everything tagged goes and nothing untagged is touched."""

from __future__ import annotations

import pytest

from labkit import workspace
from labkit.cleanup import CleanupIncomplete, cleanup, leftovers
from labkit.lab import LEARNER_TAG, TAG, Lab, Names
from tests.aws_path import aws_workspace, iam_names, private_sandbox, snapshot

ACCOUNT = "123456789012"
WRITES = ["CreateUser", "CreateAccessKey", "CreateRole", "PutRolePolicy", "PutUserPolicy"]


class Stop(Exception):
    """The lab was interrupted here (a crash, Ctrl-C, a lost connection)."""


@pytest.fixture(scope="module")
def private(request):
    sandbox = private_sandbox(request.config)
    yield sandbox
    sandbox.faults(0, 0)


@pytest.fixture(scope="module")
def admin_keys(private):
    private.faults(throttle=0.1)  # every test here runs with throttling on
    return private.minimal_admin()


@pytest.fixture
def target(private, admin_keys, tmp_path, monkeypatch):
    target = aws_workspace(monkeypatch, tmp_path / "home", private, admin_keys)
    target.confirm(ACCOUNT)
    return target


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.01)


@pytest.fixture(scope="module")
def decoys(private):
    """What cleanup must never touch: untagged labkit-* names, the tag on other names, another tag
    value, and an untagged user and role named exactly like the lab's in another learner's seat."""
    iam = private.iam()
    trust = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":"sts:AssumeRole"}]}'
    iam.create_user(UserName="labkit-untagged-user")
    iam.create_access_key(UserName="labkit-untagged-user")
    iam.put_user_policy(UserName="labkit-untagged-user", PolicyName="keep",
                        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}')
    iam.create_user(UserName="labkit-other-tag", Tags=[{"Key": "labkit", "Value": "something-else"}])
    iam.create_user(UserName="alice", Tags=[TAG])
    iam.create_role(RoleName="labkit-untagged-role", AssumeRolePolicyDocument=trust)
    iam.put_role_policy(RoleName="labkit-untagged-role", PolicyName="keep",
                        PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"ec2:Describe*","Resource":"*"}]}')
    iam.create_role(RoleName="production-app", AssumeRolePolicyDocument=trust, Tags=[TAG])
    return snapshot(iam)


def _untagged_state(private) -> str:
    import json

    state = json.loads(snapshot(private.iam()))
    keep = {"labkit-untagged-user", "labkit-other-tag", "alice", "lab-minimal-admin", "labkit-admin",
            "labkit-untagged-role", "production-app"}
    return json.dumps({kind: {n: v for n, v in items.items() if n in keep} for kind, items in state.items()},
                      sort_keys=True)


def _stop_at(lab: Lab, operation: str, when: str) -> None:
    """Make the lab's IAM client raise Stop before (or right after) its `operation` call."""

    def stop(**kwargs):
        raise Stop(f"{when} {operation}")

    lab.iam.meta.events.register(f"{when}-call.iam.{operation}", stop, unique_id="labkit-test-stop")


@pytest.mark.parametrize("when", ["before", "after"])
@pytest.mark.parametrize("operation", WRITES)
def test_cleanup_after_setup_stopped_at_each_step(private, target, decoys, operation, when):
    kept = _untagged_state(private)
    lab = Lab(target, progress=[].append)
    _stop_at(lab, operation, when)
    with pytest.raises(Stop):
        lab.setup()
    lab.iam.meta.events.unregister(f"{when}-call.iam.{operation}", unique_id="labkit-test-stop")
    planned = cleanup(target, lab.names, dry_run=True)
    assert all(s.action.startswith("would be ") for s in planned)
    steps = cleanup(target, lab.names)
    assert [(s.what, s.name, "would be " + s.action) for s in steps] == [(s.what, s.name, s.action) for s in planned]
    if WRITES.index(operation) > 0 or when == "after":
        assert ("IAM user", "labkit-sts-user", "removed") in [(s.what, s.name, s.action) for s in steps]
    assert leftovers(target) == []
    assert cleanup(target, lab.names) == []  # idempotent: nothing left to do
    users, roles = iam_names(private.iam())
    assert "labkit-sts-user" not in users and "labkit-sts_role" not in roles
    assert _untagged_state(private) == kept
    assert workspace.read_credentials_profile("default") is None


def test_the_lab_refuses_an_untagged_user_with_its_name(private, target):
    iam = private.iam()
    iam.create_user(UserName="labkit-sts-user-bob")
    before = snapshot(iam)
    lab = Lab(target, Names.for_target(target, learner="bob"))
    with pytest.raises(Exception, match="already exists and was not made by this lab"):
        lab.setup()
    assert cleanup(target, lab.names) == []
    assert snapshot(iam) == before
    iam.delete_user(UserName="labkit-sts-user-bob")


def test_one_learner_cleans_up_only_their_own(private, target):
    alice = Lab(target, Names.for_target(target, learner="alice"), progress=[].append)
    bob = Lab(target, Names.for_target(target, learner="bob"), progress=[].append)
    assert (alice.names.user, alice.names.role) == ("labkit-sts-user-alice", "labkit-sts_role-alice")
    alice.setup()
    workspace.remove_credentials_profile("default")
    bob.setup()
    assert {"Key": LEARNER_TAG, "Value": "bob"} in private.iam().list_user_tags(UserName="labkit-sts-user-bob")["Tags"]
    removed = cleanup(target, alice.names)
    assert {s.name for s in removed if s.what in ("IAM user", "IAM role")} == {
        "labkit-sts-user-alice", "labkit-sts_role-alice"}
    users, roles = iam_names(private.iam())
    assert "labkit-sts-user-bob" in users and "labkit-sts_role-bob" in roles
    assert leftovers(target, alice.names) == []
    assert leftovers(target, bob.names) == ["user/labkit-sts-user-bob", "role/labkit-sts_role-bob"]
    # the instructor's sweep takes every seat
    swept = cleanup(target, Names.for_target(target), everyone=True)
    assert {s.name for s in swept if s.what == "IAM user"} == {"labkit-sts-user-bob"}
    assert leftovers(target, Names.for_target(target), everyone=True) == []


def test_a_user_that_vanishes_during_cleanup_is_not_an_error(private, target):
    lab = Lab(target, progress=[].append)
    lab.setup()
    other = private.iam()

    def vanish(**kwargs):  # someone else removes the user right after cleanup listed it
        for key in other.list_access_keys(UserName="labkit-sts-user")["AccessKeyMetadata"]:
            other.delete_access_key(UserName="labkit-sts-user", AccessKeyId=key["AccessKeyId"])
        other.delete_user_policy(UserName="labkit-sts-user", PolicyName="labkit-assume-role")
        other.delete_user(UserName="labkit-sts-user")

    lab.iam.meta.events.register("after-call.iam.ListUsers", vanish, unique_id="vanish")
    try:
        steps = cleanup(target, lab.names)
    finally:
        lab.iam.meta.events.unregister("after-call.iam.ListUsers", unique_id="vanish")
    assert "labkit-sts-user" not in [s.name for s in steps]
    assert ("lab-local profile", "default") in [(s.what, s.name) for s in steps]  # its key is dead
    assert leftovers(target) == []


def test_the_profile_of_a_user_removed_by_hand_is_a_leftover(private, target):
    lab = Lab(target, progress=[].append)
    lab.setup()
    iam = private.iam()
    for key in iam.list_access_keys(UserName="labkit-sts-user")["AccessKeyMetadata"]:
        iam.delete_access_key(UserName="labkit-sts-user", AccessKeyId=key["AccessKeyId"])
    iam.delete_user_policy(UserName="labkit-sts-user", PolicyName="labkit-assume-role")
    iam.delete_user(UserName="labkit-sts-user")
    assert leftovers(target) == ["role/labkit-sts_role", "lab-local profile default"]
    assert [(s.what, s.action) for s in cleanup(target, dry_run=True)][-1] == ("lab-local profile", "would be removed")
    cleanup(target)
    assert leftovers(target) == [] and workspace.read_credentials_profile("default") is None


def test_what_others_hung_on_the_lab_user_and_role_goes_too(private, tmp_path, monkeypatch):
    """Attached policies, groups, a console password, an instance profile: removed in order."""
    target = aws_workspace(monkeypatch, tmp_path / "full", private, private.admin_keys())
    target.confirm(ACCOUNT)
    lab = Lab(target, progress=[].append)
    lab.setup()
    iam = private.iam()
    arn = iam.create_policy(PolicyName="lab-extra", PolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListAllMyBuckets","Resource":"*"}]}')["Policy"]["Arn"]
    iam.attach_user_policy(UserName="labkit-sts-user", PolicyArn=arn)
    iam.attach_role_policy(RoleName="labkit-sts_role", PolicyArn=arn)
    iam.create_group(GroupName="lab-group")
    iam.add_user_to_group(GroupName="lab-group", UserName="labkit-sts-user")
    iam.create_login_profile(UserName="labkit-sts-user", Password="Correct-Horse-42!")
    iam.create_instance_profile(InstanceProfileName="lab-profile")
    iam.add_role_to_instance_profile(InstanceProfileName="lab-profile", RoleName="labkit-sts_role")
    steps = [(s.what, s.action) for s in cleanup(target)]
    for expected in [("attached policy", "detached"), ("group membership", "removed"),
                     ("console password", "removed"), ("instance profile link", "removed")]:
        assert expected in steps
    assert steps.index(("console password", "removed")) < steps.index(("IAM user", "removed"))
    assert steps.index(("instance profile link", "removed")) < steps.index(("IAM role", "removed"))
    assert leftovers(target) == []
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0  # the policy itself stays
    iam.delete_policy(PolicyArn=arn)
    iam.delete_group(GroupName="lab-group")
    iam.delete_instance_profile(InstanceProfileName="lab-profile")


def test_what_the_minimum_permissions_cannot_remove_is_reported(private, target):
    """A role someone put in an instance profile: the lab's admin may not unlink it. Everything
    else is removed, and the error says what is left and why."""
    lab = Lab(target, progress=[].append)
    lab.setup()
    iam = private.iam()
    iam.create_instance_profile(InstanceProfileName="lab-profile-2")
    iam.add_role_to_instance_profile(InstanceProfileName="lab-profile-2", RoleName="labkit-sts_role")
    with pytest.raises(CleanupIncomplete) as incomplete:
        cleanup(target)
    message = str(incomplete.value)
    assert "failed  instance profile link lab-profile-2: AccessDenied: User: arn:aws:iam::123456789012:user/lab-minimal-admin is not authorized to perform: iam:RemoveRoleFromInstanceProfile" in message
    assert "failed  IAM role labkit-sts_role: DeleteConflict:" in message
    assert "run the cleanup again" in message
    assert ("IAM user", "labkit-sts-user", "removed") in [(s.what, s.name, s.action) for s in incomplete.value.steps]
    assert leftovers(target) == ["role/labkit-sts_role"]
    iam.remove_role_from_instance_profile(InstanceProfileName="lab-profile-2", RoleName="labkit-sts_role")
    iam.delete_instance_profile(InstanceProfileName="lab-profile-2")
    assert [s.what for s in cleanup(target)] == ["IAM role"]
    assert leftovers(target) == []


def test_cleanup_pages_through_many_users(private, target):
    iam = private.iam()
    for n in range(105):
        iam.create_user(UserName=f"zz-filler-{n:03d}")
    lab = Lab(target, progress=[].append)
    lab.setup()
    users, _ = iam_names(iam)
    assert len(users) > 105 and sorted(users)[-1].startswith("zz-")
    assert "labkit-sts-user" in [s.name for s in cleanup(target)]
    assert leftovers(target) == []


def test_cli_all_learners_sweeps_every_seat(private, target, monkeypatch, capsys):
    from labkit.cli import main

    for learner in ("carol", "dave"):
        Lab(target, Names.for_target(target, learner=learner), progress=[].append).setup()
        workspace.remove_credentials_profile("default")
    monkeypatch.setenv("LABKIT_NAME_SUFFIX", "carol")
    assert main(["cleanup", "--yes"]) == 0  # a learner's own cleanup: carol's seat only
    assert leftovers(target, Names.for_target(target, learner="dave")) != []
    assert main(["cleanup", "--all-learners", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "labkit-sts-user-dave" in out
    assert leftovers(target, Names.for_target(target), everyone=True) == []
