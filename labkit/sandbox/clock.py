"""The sandbox clock: real time plus an offset that only moves forward.

Everything in the sandbox that reads time (Expiration, expiry checks, aws:TokenIssueTime,
aws:CurrentTime, moto's own timestamps) reads this clock, so "after expiry" takes a second.
Clients sign requests with their real clock, so the 15-minute signature window is checked
against real time (`real_now`), as AWS checks it against its own (correct) clock.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import UTC, datetime

MAX_OFFSET = 100 * 365 * 86400  # seconds: at most 100 years ahead, so every date stays representable


class SandboxClock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        """Move forward `seconds`; refused (ValueError, the clock unchanged) when that is not a
        finite number >= 0 or would put the clock more than MAX_OFFSET ahead of real time."""
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or not math.isfinite(seconds):
            raise ValueError(f"the sandbox clock moves by a finite number of seconds, not {seconds!r}")
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            offset = self._offset + seconds
            if offset > MAX_OFFSET:
                raise ValueError(
                    f"the sandbox clock can be at most {MAX_OFFSET // (365 * 86400)} years ahead of real "
                    f"time, and moving it {seconds:.0f} s would put it {offset / (365 * 86400):,.0f} years "
                    "ahead: give a shorter duration, or reset it with `labkit sandbox clock reset`"
                )
            self._offset = offset
            return self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0.0

    def timestamp(self) -> float:
        return time.time() + self._offset

    def now(self) -> datetime:
        """Aware UTC datetime on the sandbox clock."""
        return datetime.fromtimestamp(self.timestamp(), UTC)

    def utcnow_naive(self) -> datetime:
        """What moto's `utcnow()` returns (naive UTC), on the sandbox clock, in whole seconds as
        AWS's timestamps (Expiration, CreateDate) are."""
        return self.now().replace(tzinfo=None, microsecond=0)

    @staticmethod
    def real_now() -> datetime:
        return datetime.now(UTC)


CLOCK = SandboxClock()
