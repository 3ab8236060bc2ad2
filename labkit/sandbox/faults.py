"""Fault injection, to test the real-account code path without an account.

- `iam_delay`: after IAM changes a user, role or policy, AssumeRole involving them is refused for
  that many (real) seconds, as AWS does while IAM propagates.
- `throttle`: the share of requests answered with the service's throttling error.
"""

from __future__ import annotations

import random
import threading
import time

from labkit.sandbox import awserrors

IAM_WRITES = ("Create", "Put", "Attach", "Update", "Add", "Delete", "Detach", "Remove", "Tag")


class Faults:
    def __init__(self, iam_delay: float = 0.0, throttle: float = 0.0, seed: int | None = None) -> None:
        self.iam_delay = iam_delay
        self.throttle = throttle
        self._random = random.Random(seed)
        self._changed: dict[str, float] = {}  # IAM entity name -> real time of its last change
        self._lock = threading.Lock()

    def configure(self, iam_delay: float | None = None, throttle: float | None = None) -> None:
        if iam_delay is not None:
            self.iam_delay = max(0.0, float(iam_delay))
        if throttle is not None:
            self.throttle = min(1.0, max(0.0, float(throttle)))

    def settings(self) -> dict[str, float]:
        return {"iam_delay": self.iam_delay, "throttle": self.throttle}

    def reset(self) -> None:
        with self._lock:
            self._changed.clear()

    def maybe_throttle(self, service: str) -> None:
        if self.throttle and self._random.random() < self.throttle:
            raise awserrors.throttling(service)

    def note_write(self, call) -> None:
        if not self.iam_delay or call.service != "iam" or not call.operation.startswith(IAM_WRITES):
            return
        now = time.monotonic()
        with self._lock:
            for key in ("UserName", "RoleName", "GroupName"):
                if key in call.params:
                    self._changed[f"{key}:{call.params[key]}"] = now

    def check_propagation(self, identity, role_arn: str) -> None:
        """Refuse AssumeRole while the caller or the role is still 'propagating'."""
        if not self.iam_delay:
            return
        names = [f"RoleName:{role_arn.rsplit('/', 1)[-1]}"]
        if identity.user_name:
            names.append(f"UserName:{identity.user_name}")
        now = time.monotonic()
        with self._lock:
            recent = any(now - self._changed.get(n, -1e9) < self.iam_delay for n in names)
        if recent:
            raise awserrors.access_denied("sts", identity.arn, "sts:AssumeRole", role_arn, None)
