"""Getting past a session's Expiration: the sandbox moves its clock, a real account is waited for.

    result = expire(lab, session)                  # sandbox: a second; AWS: a countdown
    result = expire(lab, session, max_wait=60)     # AWS: do not wait more than a minute now
    print(result)                                  # what happened, or when to come back

In the sandbox the clock jumps to just past the Expiration (`labkit sandbox clock advance`), so
"after expiry" takes a second. In a real account nothing can move AWS's clock: the lab waits,
showing a countdown in place (or calling `countdown` with each line), until the Expiration plus a
small margin for clock skew. Waiting can be skipped (`skip=True`), capped (`max_wait`) or
interrupted (Jupyter's stop button, Ctrl-C); the result then says when to run the step again,
and once the time has come the same call returns at once. The clock and the sleep are
parameters, so tests need not wait fifteen minutes.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from labkit.errors import LabError

MARGIN = 5.0  # seconds past the Expiration before a real account is certain to refuse
TICK = 1.0  # seconds between two countdown lines


@dataclass
class Expiry:
    """What expire() did: is the session past its Expiration now, and how did it get there."""

    expired: bool
    expiration: datetime
    waited: float = 0.0  # seconds waited (real account)
    advanced: float = 0.0  # seconds the sandbox clock was moved
    message: str = ""

    def __str__(self) -> str:
        return self.message

    __repr__ = __str__


def duration_text(seconds: float) -> str:
    seconds = max(0, math.ceil(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _clock_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%H:%M:%S UTC")


def _expiration_of(session) -> datetime:
    """The Expiration of a Session, TemporaryCredentials, or a datetime."""
    if isinstance(session, datetime):
        expiration = session
    else:
        expiration = getattr(session, "expiration", None)
        if expiration is None and hasattr(session, "credentials"):
            expiration = session.credentials.expiration
    if not isinstance(expiration, datetime):
        raise LabError("These credentials have no Expiration (a long-term key never expires): pass the "
                       "session that lab.assume_role() returned.")
    return expiration if expiration.tzinfo else expiration.replace(tzinfo=UTC)


class InPlace:
    """Writes each line over the previous one (a terminal, or a notebook cell's output)."""

    def __init__(self) -> None:
        self.width = 0

    def __call__(self, line: str) -> None:
        sys.stdout.write("\r" + line.ljust(self.width))
        sys.stdout.flush()
        self.width = max(self.width, len(line))


MAX_WAIT_VARIABLE = "LABKIT_MAX_WAIT"


def expire(target, session, countdown: Callable[[str], None] | None = None, *,
           max_wait: float | None = None, skip: bool = False, margin: float = MARGIN,
           tick: float = TICK, sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.time) -> Expiry:
    """Get past `session`'s Expiration. `target` is a Target or a Lab (its target is used).

    On a real account, LABKIT_MAX_WAIT (seconds) caps how long the step waits when `max_wait` is
    not given: an instructor's demo can set it to 0 and come back to the step later."""
    target = getattr(target, "target", target)
    if max_wait is None and os.environ.get(MAX_WAIT_VARIABLE):
        try:
            max_wait = float(os.environ[MAX_WAIT_VARIABLE])
        except ValueError:
            raise LabError(f"{MAX_WAIT_VARIABLE}={os.environ[MAX_WAIT_VARIABLE]!r} is not a number of "
                           "seconds: set it to e.g. 60, or unset it to wait for the expiry.") from None
    expiration = _expiration_of(session)
    if target.is_sandbox:
        return _advance_sandbox(target, expiration)
    return _wait(expiration, countdown, max_wait=max_wait, skip=skip, margin=margin, tick=tick,
                 sleep=sleep, clock=clock)


def _advance_sandbox(target, expiration: datetime) -> Expiry:
    from labkit.sandbox import lifecycle

    running = lifecycle.require_running()
    if target.endpoint and running.endpoint != target.endpoint:
        raise LabError(f"The lab talks to {target.endpoint} but the sandbox of this lab workspace is "
                       f"{running.endpoint}: run the lab and the sandbox with the same LABKIT_HOME.")
    now = _parse(lifecycle.clock()["now"])
    left = (expiration - now).total_seconds()
    if left < 0:
        return Expiry(True, expiration, message=f"The session expired at {_clock_text(expiration)}; the "
                      f"sandbox clock is already past it ({_clock_text(now)}).")
    step = math.floor(left) + 1
    moved = _parse(lifecycle.advance_clock(step)["now"])
    return Expiry(True, expiration, advanced=step, message=(
        f"The sandbox clock moved forward {duration_text(step)} to {_clock_text(moved)}: the session "
        f"expired at {_clock_text(expiration)}. (A real account cannot do this: there the lab waits.)"))


def _wait(expiration: datetime, countdown: Callable[[str], None] | None, *, max_wait: float | None,
          skip: bool, margin: float, tick: float, sleep: Callable[[float], None],
          clock: Callable[[], float]) -> Expiry:
    if max_wait is not None and max_wait < 0:
        raise LabError(f"max_wait={max_wait} is negative: give the most seconds to wait now, e.g. 60.")
    if tick <= 0:
        raise LabError(f"tick={tick} must be a positive number of seconds, e.g. 1.")
    show = countdown or InPlace()
    done_at = expiration.timestamp() + margin
    left = done_at - clock()
    come_back = (f"The session expires at {_clock_text(expiration)}. Run this step again after "
                 f"{_clock_text(datetime.fromtimestamp(done_at, UTC))}: it then returns at once.")
    if left <= 0:
        return Expiry(True, expiration, message=f"The session expired at {_clock_text(expiration)}.")
    if skip or (max_wait is not None and left > max_wait):
        return Expiry(False, expiration, message=f"Not waiting now ({duration_text(left)} to go). " + come_back)
    started = clock()
    try:
        while (left := done_at - clock()) > 0:
            show(f"Waiting for the session to expire: {duration_text(left)} left "
                 f"(Expiration {_clock_text(expiration)}; interrupt to stop and come back later)")
            sleep(min(tick, left))
    except KeyboardInterrupt:
        waited = clock() - started
        if countdown is None:
            sys.stdout.write("\n")
        return Expiry(False, expiration, waited=waited, message="Stopped waiting. " + come_back)
    waited = clock() - started
    show(f"The session expired at {_clock_text(expiration)} (waited {duration_text(waited)}).")
    if countdown is None:
        sys.stdout.write("\n")
    return Expiry(True, expiration, waited=waited, message=(
        f"The session expired at {_clock_text(expiration)}; waited {duration_text(waited)}."))


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
