"""The real-account code path under the faults a real account shows: IAM propagation delay and
throttling, simulated by a private sandbox (the session's shared sandbox never gets faults)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from labkit import policies
from labkit.lab import IAM_WAIT, MAX_BACKOFF, Lab
from labkit.target import RETRIES
from tests.aws_path import aws_workspace, private_sandbox

ACCOUNT = "123456789012"
DELAY = 2.0


@pytest.fixture(scope="module")
def private(request):
    sandbox = private_sandbox(request.config)
    yield sandbox
    sandbox.faults(0, 0)


@pytest.fixture
def lab(private, tmp_path, monkeypatch):
    """The lab on an aws-style target whose admin has only the minimum permissions."""
    private.reset()
    target = aws_workspace(monkeypatch, tmp_path / "home", private, private.minimal_admin())
    target.confirm(ACCOUNT)
    lab = Lab(target, progress=[].append)
    lab.messages = lab.progress.__self__  # the list the progress lines go to
    yield lab
    private.faults(0, 0)


def test_assume_role_waits_for_iam_and_says_so(private, lab, quick_backoff):
    private.faults(iam_delay=DELAY, throttle=0.1)
    lab.setup()
    pauses = []
    lab.sleep = lambda seconds: (pauses.append(seconds), time.sleep(seconds))
    session = lab.assume_role(900)
    assert session.arn.endswith(":assumed-role/labkit-sts_role/sts-session")
    waiting = [m for m in lab.messages if m.startswith("Waiting for IAM to apply the lab's recent changes")]
    assert waiting, lab.messages
    assert "AssumeRole was refused (AccessDenied); trying again in 1 s" in waiting[0]
    assert f"at most {IAM_WAIT:.0f} s" in waiting[0]
    assert lab.messages[-1].startswith("IAM has caught up: AssumeRole accepted after ")
    # backoff 1, 2, 4 ... s while IAM catches up: it waited, and stopped once AssumeRole was accepted
    assert pauses and pauses[:-1] == [min(2 ** i, MAX_BACKOFF) for i in range(len(pauses) - 1)], pauses
    assert sum(pauses[:-1]) < DELAY  # each retry but the last was still inside IAM's delay
    during = lab.probe_ec2(session.credentials)
    assert during.ok, during


def test_after_the_wait_the_real_refusal_comes_back_with_a_sentence(private, lab):
    """IAM keeps refusing (a delay far past the wait): the lab waits IAM_WAIT, on a fake clock,
    then raises AWS's own AccessDenied with a sentence that says what to check."""
    lab.setup()
    private.faults(iam_delay=600)
    lab.ensure_user_policy()  # unchanged: no new write
    lab.iam.tag_user(UserName=lab.names.user, Tags=lab.names.tags)  # a write: propagation starts
    now = [time.time()]
    lab.now = lambda: now[0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += seconds

    lab.sleep = sleep
    lab._changed()
    with pytest.raises(ClientError) as refused:
        lab.assume_role(900)
    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDenied"
    assert error["Message"] == (f"User: arn:aws:iam::{ACCOUNT}:user/labkit-sts-user is not authorized to "
                                f"perform: sts:AssumeRole on resource: arn:aws:iam::{ACCOUNT}:role/labkit-sts_role")
    assert pauses[:5] == [1.0, 2.0, 4.0, 8.0, 8.0] and max(pauses) == 8.0  # bounded backoff
    assert sum(pauses) == pytest.approx(IAM_WAIT)
    last = lab.messages[-1]
    assert last.startswith(f"IAM still refuses AssumeRole after {IAM_WAIT:.0f} s (AccessDenied): check that "
                           f"the trust policy of arn:aws:iam::{ACCOUNT}:role/labkit-sts_role names "
                           f"arn:aws:iam::{ACCOUNT}:user/labkit-sts-user")
    assert last in refused.value.__notes__
    outcome = lab.try_assume_role(900)  # the Outcome keeps AWS's own code and message
    assert (outcome.ok, outcome.code) == (False, "AccessDenied")


def test_a_wrong_trust_policy_is_reported_at_once_not_waited_for(private, lab):
    lab.setup()
    private.faults(iam_delay=DELAY)
    lab.set_trust_policy(policies.account_trust_policy("210987654321"))
    lab.sleep = pytest.fail  # the policies explain the refusal: no waiting for IAM at all
    outcome = lab.try_assume_role(900)
    assert (outcome.ok, outcome.code) == (False, "AccessDenied")
    assert not any(m.startswith("Waiting") for m in lab.messages)
    assert lab.messages[-1] == (
        "AssumeRole is refused because the trust policy of role labkit-sts_role does not accept "
        f"arn:aws:iam::{ACCOUNT}:user/labkit-sts-user (its Principal is "
        '{"AWS": "arn:aws:iam::210987654321:root"}): name the user there')


def test_a_missing_user_policy_is_reported_at_once(private, lab):
    lab.setup()
    lab.set_trust_policy(policies.account_trust_policy(ACCOUNT))  # names the account, not the user
    lab.iam.delete_user_policy(UserName=lab.names.user, PolicyName=lab.names.user_policy)
    private.faults(iam_delay=DELAY)
    lab._changed()
    outcome = lab.try_assume_role(900)
    assert (outcome.ok, outcome.code) == (False, "AccessDenied")
    assert "because no identity-based policy allows the sts:AssumeRole action" in outcome.message
    assert lab.messages[-1] == (
        "AssumeRole is refused because no policy of user labkit-sts-user allows sts:AssumeRole on "
        f"arn:aws:iam::{ACCOUNT}:role/labkit-sts_role: give it one (iam.put_user_policy, as in notebook 02; or lab.ensure_user_policy())")


def test_no_waiting_long_after_the_last_change(private, lab):
    lab.setup()
    lab.set_trust_policy(policies.account_trust_policy("210987654321"))
    lab._changed_at = 0.0
    lab.now = lambda: time.time() + IAM_WAIT + 1  # the change is older than the wait
    lab.sleep = pytest.fail  # nothing to wait for
    outcome = lab.try_assume_role(900)
    assert outcome.code == "AccessDenied"
    assert lab.messages == []


@pytest.fixture
def quick_backoff(monkeypatch):
    """botocore's retry pauses (up to seconds each) shortened: the retries themselves still happen."""
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.01)


def test_throttling_is_retried_by_the_lab_clients(private, lab, quick_backoff):
    """With 30% of requests throttled, every call of the lab still succeeds; a client without
    retries sees AWS's Throttling error, so the retries are what made the difference."""
    assert RETRIES.retries["mode"] == "standard"
    assert RETRIES.retries["total_max_attempts"] == 7  # botocore: max_attempts=6 retries + the first try
    private.faults(throttle=0.3)
    iam = lab.target.client("iam")
    retried = 0
    for _ in range(40):
        retried += iam.list_users()["ResponseMetadata"]["RetryAttempts"]
    assert retried >= 3
    bare = lab.target.admin.client("iam", region_name="us-east-1", endpoint_url=lab.target.endpoint,
                                   config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    codes = set()
    for _ in range(40):
        try:
            bare.list_users()
        except ClientError as exc:
            codes.add((exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"]))
    assert codes == {(400, "Throttling")}


def test_the_whole_lab_under_delay_and_throttling(private, lab, quick_backoff):
    private.faults(iam_delay=2, throttle=0.1)
    assert [s.action for s in lab.setup()] == ["created"] * 5
    before = lab.probe_ec2()
    assert before.code == "UnauthorizedOperation"
    session = lab.assume_role(900)
    assert session.expiration > datetime.now(UTC)
    assert lab.probe_ec2(session.credentials).ok
    assert lab.whoami(session.credentials).endswith("/sts-session")
    lab.cleanup()
    assert lab.leftovers() == []
