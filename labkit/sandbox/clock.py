"""The sandbox clock: real time plus an offset that only moves forward.

Everything in the sandbox that reads time (Expiration, expiry checks, aws:TokenIssueTime,
aws:CurrentTime, moto's own timestamps) reads this clock, so "after expiry" takes a second.
Clients sign requests with their real clock, so the 15-minute signature window is checked
against real time (`real_now`), as AWS checks it against its own (correct) clock.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class SandboxClock:
    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        return self._offset

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        with self._lock:
            self._offset += seconds
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
