"""The learner's sandbox, started or reused in the background when the Jupyter server starts.

The server answers at once; the sandbox comes up beside it (lifecycle.start: one per LABKIT_HOME,
reused when it is already running). A sandbox this server started is stopped with the server, so a
hub that stops or culls a learner's server leaves no sandbox behind; one it found running is left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from labkit.errors import LabError

log = logging.getLogger("labkit.jupyter")

STARTING, RUNNING, FAILED, IDLE = "starting", "running", "failed", "idle"


@dataclass
class StartRecord:
    """What the background start did, for the status route."""

    state: str = IDLE
    started_here: bool = False  # this server started it (rather than finding it running)
    pid: int | None = None
    seconds: float | None = None  # how long the start (or the reuse) took
    error: str | None = None


class SandboxStarter:
    def __init__(self, on_ready: Callable[[object], None] | None = None,
                 logger: logging.Logger | None = None) -> None:
        self.record = StartRecord()
        self._on_ready = on_ready
        self._thread: threading.Thread | None = None
        self.log = logger or log

    def begin(self) -> None:
        """Start (or reuse) the sandbox in a thread; returns at once."""
        if self._thread is not None:
            return
        self.record.state = STARTING
        self.log.info("labkit: starting the sandbox in the background (or finding it running)")
        self._thread = threading.Thread(target=self._run, name="labkit-sandbox-start", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        from labkit.sandbox import lifecycle

        begun = time.monotonic()
        try:
            running, started = lifecycle.start()
        except LabError as exc:
            self.record.error, self.record.state = str(exc), FAILED
            self.log.warning("labkit: the sandbox did not start: %s", exc)
            return
        except Exception as exc:  # the server must go on whatever happens here
            self.record.error, self.record.state = f"{type(exc).__name__}: {exc}", FAILED
            self.log.exception("labkit: the sandbox did not start")
            return
        self.record.seconds = round(time.monotonic() - begun, 3)
        self.record.started_here, self.record.pid = started, running.pid
        self.record.state = RUNNING
        self.log.info("labkit: sandbox %s at %s (pid %s) in %.1f s", "started" if started else "found running",
                 running.endpoint, running.pid, self.record.seconds)
        if self._on_ready is not None:
            self._on_ready(running)

    def finish(self, timeout: float = 60.0) -> None:
        """At server stop: wait for a start in flight, then stop the sandbox if this server started
        it and it is still that process."""
        from labkit.sandbox import lifecycle

        if self._thread is not None:
            self._thread.join(timeout)
        if not self.record.started_here:
            return
        running = lifecycle.current()
        if running is None or running.pid != self.record.pid:
            return
        try:
            lifecycle.stop()
        except LabError as exc:
            self.log.warning("labkit: could not stop the sandbox: %s", exc)
        else:
            self.log.info("labkit: sandbox (pid %s) stopped with the server", running.pid)
