"""A session's life on one line: issued, expires, and what each probe got, at its time.

    timeline = Timeline(clock=clock_for(target))
    timeline.record("as the user", lab.probe_ec2())                 # before: refused
    session = lab.assume_role(900); timeline.start(session)
    timeline.record("with the session", lab.probe_ec2(session.credentials))
    timeline.figure()                                                 # a matplotlib Figure

Times are on the target's clock: the sandbox's (which the lab can move forward) or real time
for a real account, so "after expiry" lands after the expiry line either way. The figure is
drawn with matplotlib's object API (no pyplot state), so it works under the Agg backend.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from labkit.errors import LabError
from labkit.outcomes import Outcome

OK_COLOR, REFUSED_COLOR, SESSION_COLOR = "#1a7f37", "#cf222e", "#0969da"


PHASE_ROWS = {"before": 0.5, "during": 0.0, "after": -0.5}


def clock_for(target) -> Callable[[], datetime]:
    """A function returning 'now' on the target's clock (the sandbox clock, or real UTC time)."""
    if getattr(target, "is_sandbox", False):
        from labkit.sandbox import lifecycle

        def sandbox_now() -> datetime:  # real time plus the sandbox's offset, to the microsecond
            return datetime.now(UTC) + timedelta(seconds=float(lifecycle.clock()["offset"]))

        return sandbox_now
    return lambda: datetime.now(UTC)


@dataclass(frozen=True)
class Mark:
    """One probe on the timeline."""

    label: str
    at: datetime
    ok: bool
    result: str  # "allowed" or the error code

    def __str__(self) -> str:
        return f"{self.label}: {self.result}"


@dataclass
class Timeline:
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    issued: datetime | None = None
    expires: datetime | None = None
    marks: list[Mark] = field(default_factory=list)
    _before_start: int = 0  # probes recorded before start(): made before the session existed

    def start(self, session, duration: int | None = None) -> None:
        """Take issue and expiry from a session: its Expiration, and Expiration minus the duration
        (both on the clock of whoever issued it). `session` is the response of sts.assume_role
        (then give its DurationSeconds as `duration`) or a labkit Session. AWS gives whole
        seconds, so a probe made a fraction of a second before AssumeRole can carry a later time
        than `issued`: what was recorded before start() is 'before' whatever its time says."""
        if isinstance(session, Mapping):
            expiration = (session.get("Credentials") or {}).get("Expiration")
            if expiration is None or duration is None:
                raise LabError("start() takes the response of sts.assume_role(...) and its duration: "
                               "timeline.start(response, duration=900).")
        else:
            expiration, duration = session.expiration, duration or session.duration
        expires = _utc(expiration)
        self.issued, self.expires = expires - timedelta(seconds=duration), expires
        self._before_start = len(self.marks)

    def record(self, label: str, outcome: Outcome, at: datetime | None = None) -> Mark:
        """Add a probe's outcome, at `at` or now on the timeline's clock."""
        if not isinstance(outcome, Outcome):
            raise LabError(f"record() needs the Outcome of a probe (e.g. lab.probe_ec2()), not {type(outcome).__name__}.")
        mark = Mark(label, _utc(at or self.clock()), outcome.ok, "allowed" if outcome.ok else str(outcome.code))
        self.marks.append(mark)
        return mark

    def _origin(self) -> datetime:
        if self.issued is not None:
            return self.issued
        if self.marks:
            return min(m.at for m in self.marks)
        raise LabError("The timeline is empty: record a probe or start() a session first.")

    def minutes(self, moment: datetime) -> float:
        """Minutes from the session's issue time (or the first probe) to `moment`."""
        return (_utc(moment) - self._origin()).total_seconds() / 60

    def phase(self, mark: Mark) -> str:
        """'before', 'during' or 'after' the session."""
        recorded_before = any(m is mark for m in self.marks[: self._before_start])
        if self.issued is None or recorded_before or mark.at < self.issued:
            return "before"
        if self.expires is not None and mark.at >= self.expires:
            return "after"
        return "during"

    def rows(self) -> list[dict]:
        """What the figure plots, one row per probe: minutes from issue, phase, result."""
        return [{"label": m.label, "minutes": round(self.minutes(m.at), 2), "phase": self.phase(m),
                 "ok": m.ok, "result": m.result} for m in self.marks]

    def table(self) -> str:
        """The same as text, for a notebook cell or a log."""
        lines = [f"{'probe':<22}{'phase':<8}result"]
        lines += [f"{r['label']:<22}{r['phase']:<8}{r['result']}" for r in self.rows()]
        return "\n".join(lines)

    def figure(self, title: str = "One session: before, during, after"):
        """The timeline as a matplotlib Figure (object API, Agg canvas)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 2.8), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        xs = [self.minutes(m.at) for m in self.marks]
        if self.issued is not None and self.expires is not None:
            end = self.minutes(self.expires)
            ax.axvspan(0, end, color=SESSION_COLOR, alpha=0.12, label="session valid")
            ax.axvline(0, color=SESSION_COLOR, linewidth=1.5)
            ax.axvline(end, color=SESSION_COLOR, linewidth=1.5, linestyle="--")
            ax.annotate("issued", (0, 1.02), xycoords=("data", "axes fraction"), ha="center", fontsize=9)
            ax.annotate("expires", (end, 1.02), xycoords=("data", "axes fraction"), ha="center", fontsize=9)
            xs += [0, end]
        for mark in self.marks:
            x = self.minutes(mark.at)
            phase = self.phase(mark)
            y = PHASE_ROWS[phase]  # one row per phase: probes seconds apart do not hide each other
            color = OK_COLOR if mark.ok else REFUSED_COLOR
            ax.scatter([x], [y], s=90, marker="o" if mark.ok else "X", color=color, zorder=3)
            side = {"before": ("right", -10), "after": ("left", 10)}.get(phase, ("left", 10))
            ax.annotate(f"{mark.label}\n{mark.result}", (x, y), xytext=(side[1], -3),
                        textcoords="offset points", ha=side[0], va="center", fontsize=8, color=color)
        low, high = (min(xs), max(xs)) if xs else (0, 1)
        pad = max((high - low) * 0.25, 1.0)  # room for the labels beside the first and last probe
        ax.set_xlim(low - pad, high + pad)
        ax.set_ylim(-1, 1)
        ax.set_yticks([])
        ax.set_xlabel("minutes after the session was issued" if self.issued else "minutes")
        ax.set_title(title, fontsize=11, pad=16)
        for side in ("left", "right", "top"):
            ax.spines[side].set_visible(False)
        return fig


def _utc(moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise LabError(f"Expected a date and time, got {type(moment).__name__}.")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
