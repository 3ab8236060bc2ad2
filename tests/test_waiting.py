"""Getting past a session's Expiration: the sandbox moves its clock, a real account waits (with
an injected clock and sleep here, so no test waits fifteen minutes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from labkit.credentials import TemporaryCredentials
from labkit.errors import LabError
from labkit.lab import Lab
from labkit.target import AWS, Target
from labkit.waiting import duration_text, expire
from tests.aws_path import private_sandbox, sandbox_workspace

EXPIRES = datetime(2026, 1, 1, 12, 15, tzinfo=UTC)


@pytest.fixture(scope="module")
def private(request):
    return private_sandbox(request.config)


class FakeTime:
    def __init__(self, start: datetime) -> None:
        self.now = start.timestamp()
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


AWS_TARGET = Target(AWS, "someone")


def test_the_sandbox_moves_its_clock_past_the_expiration(private, monkeypatch):
    target = sandbox_workspace(monkeypatch, private)
    lab = Lab(target, progress=[].append)
    lab.setup()
    session = lab.assume_role(900)
    assert lab.probe_ec2(session.credentials).ok
    result = expire(lab, session, sleep=pytest.fail)
    # moved by what was left of the 900 s (less the seconds this test took), never more than 900 s + 1
    assert result.expired and result.waited == 0 and 0 < result.advanced <= 901
    assert str(result).startswith(f"The sandbox clock moved forward {duration_text(result.advanced)}")
    assert private.now() >= session.expiration
    after = lab.probe_ec2(session.credentials)
    assert (after.code, after.message) == ("RequestExpired", "Request has expired.")
    again = expire(lab, session)
    assert again.expired and again.advanced == 0 and "already past it" in str(again)
    lab.cleanup()


def test_a_real_account_waits_with_a_countdown():
    clock = FakeTime(EXPIRES - timedelta(seconds=125))
    lines: list[str] = []
    result = expire(AWS_TARGET, EXPIRES, lines.append, tick=60, sleep=clock.sleep, clock=clock)
    assert result.expired and result.waited == 130 and result.advanced == 0
    assert clock.pauses == [60, 60, 10]  # until the Expiration plus a 5 s margin
    assert lines == [
        "Waiting for the session to expire: 02:10 left (Expiration 12:15:00 UTC; interrupt to stop and come back later)",
        "Waiting for the session to expire: 01:10 left (Expiration 12:15:00 UTC; interrupt to stop and come back later)",
        "Waiting for the session to expire: 00:10 left (Expiration 12:15:00 UTC; interrupt to stop and come back later)",
        "The session expired at 12:15:00 UTC (waited 02:10).",
    ]


def test_the_countdown_prints_in_place(capsys):
    clock = FakeTime(EXPIRES - timedelta(seconds=2))
    expire(AWS_TARGET, EXPIRES, tick=5, sleep=clock.sleep, clock=clock)
    out = capsys.readouterr().out
    lines = out.split("\r")
    assert lines[0] == "" and lines[1].startswith("Waiting for the session to expire: 00:07 left")
    assert lines[-1].endswith("\n") and lines[-1].strip() == "The session expired at 12:15:00 UTC (waited 00:07)."
    assert len(lines[-1]) == len(lines[1]) + 1  # padded over the longer line before it
    assert "\n" not in out[:-1]


def test_skip_max_wait_and_coming_back_later():
    clock = FakeTime(EXPIRES - timedelta(minutes=14))
    skipped = expire(AWS_TARGET, EXPIRES, skip=True, sleep=pytest.fail, clock=clock)
    assert not skipped.expired
    assert str(skipped) == ("Not waiting now (14:05 to go). The session expires at 12:15:00 UTC. Run this "
                            "step again after 12:15:05 UTC: it then returns at once.")
    assert not expire(AWS_TARGET, EXPIRES, max_wait=60, sleep=pytest.fail, clock=clock).expired
    clock.now = EXPIRES.timestamp() + 6
    later = expire(AWS_TARGET, EXPIRES, max_wait=0, sleep=pytest.fail, clock=clock)
    assert later.expired and str(later) == "The session expired at 12:15:00 UTC."


def test_interrupting_the_wait():
    clock = FakeTime(EXPIRES - timedelta(minutes=5))

    def sleep(seconds):
        clock.sleep(seconds)
        if len(clock.pauses) == 3:
            raise KeyboardInterrupt

    result = expire(AWS_TARGET, EXPIRES, [].append, sleep=sleep, clock=clock)
    assert not result.expired and result.waited == 3
    assert str(result).startswith("Stopped waiting. The session expires at 12:15:00 UTC. Run this step again")


def test_bad_input():
    with pytest.raises(LabError, match="no Expiration"):
        expire(AWS_TARGET, TemporaryCredentials("AKIAIOSFODNN7EXAMPLE", "x" * 40))
    with pytest.raises(LabError, match="max_wait=-1 is negative"):
        expire(AWS_TARGET, EXPIRES, max_wait=-1, clock=FakeTime(EXPIRES))
    with pytest.raises(LabError, match="tick=0 must be a positive number"):
        expire(AWS_TARGET, EXPIRES, tick=0, clock=FakeTime(EXPIRES))
    assert duration_text(3725.2) == "1:02:06" and duration_text(-3) == "00:00"
