"""labkit.timeline: the data a session's timeline plots, the figure, and the target's clock."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from labkit.errors import LabError
from labkit.outcomes import Outcome
from labkit.sandbox import lifecycle
from labkit.target import Target
from labkit.timeline import OK_COLOR, REFUSED_COLOR, Timeline, clock_for

T0 = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


@dataclass
class FakeSession:
    expiration: datetime
    duration: int


def refused(code: str) -> Outcome:
    return Outcome("DescribeInstances", False, code=code, message="...")


def story() -> Timeline:
    """The walk-through: refused before, allowed during, RequestExpired after a 900 s session."""
    timeline = Timeline()
    timeline.record("as the user", refused("UnauthorizedOperation"), at=T0 - timedelta(seconds=30))
    timeline.start(FakeSession(expiration=T0 + timedelta(seconds=900), duration=900))
    timeline.record("with the session", Outcome("DescribeInstances", True, []), at=T0 + timedelta(seconds=6))
    timeline.record("after expiry", refused("RequestExpired"), at=T0 + timedelta(seconds=905))
    return timeline


def test_rows_hold_minutes_from_issue_phase_and_result():
    assert story().rows() == [
        {"label": "as the user", "minutes": -0.5, "phase": "before", "ok": False, "result": "UnauthorizedOperation"},
        {"label": "with the session", "minutes": 0.1, "phase": "during", "ok": True, "result": "allowed"},
        {"label": "after expiry", "minutes": 15.08, "phase": "after", "ok": False, "result": "RequestExpired"},
    ]


def test_issue_time_is_expiration_minus_duration():
    timeline = story()
    assert timeline.issued == T0 and timeline.expires == T0 + timedelta(minutes=15)


def test_the_expiry_instant_itself_is_after():
    timeline = story()
    mark = timeline.record("at expiry", refused("RequestExpired"), at=T0 + timedelta(seconds=900))
    assert timeline.phase(mark) == "after"


def test_naive_times_are_taken_as_utc():
    timeline = story()
    mark = timeline.record("naive", Outcome("X", True), at=datetime(2026, 11, 28, 12, 1, 0))
    assert mark.at == T0 + timedelta(minutes=1) and timeline.phase(mark) == "during"


def test_table_is_plain_text_in_order():
    assert story().table().splitlines() == [
        "probe                 phase   result",
        "as the user           before  UnauthorizedOperation",
        "with the session      during  allowed",
        "after expiry          after   RequestExpired",
    ]


def test_record_uses_the_timeline_clock_when_no_time_is_given():
    ticks = iter([T0, T0 + timedelta(seconds=60)])
    timeline = Timeline(clock=lambda: next(ticks))
    timeline.record("first", Outcome("X", True))
    timeline.record("second", Outcome("X", False, code="AccessDenied"))
    assert [r["minutes"] for r in timeline.rows()] == [0.0, 1.0]  # no session: from the first probe
    assert [r["phase"] for r in timeline.rows()] == ["before", "before"]


def test_bad_input_is_explained():
    with pytest.raises(LabError, match="Outcome of a probe"):
        Timeline().record("x", "allowed")
    with pytest.raises(LabError, match="timeline is empty"):
        Timeline().minutes(T0)
    with pytest.raises(LabError, match="date and time"):
        Timeline().record("x", Outcome("X", True), at="12:00")


def test_figure_plots_one_marker_per_probe_and_the_session_span():
    fig = story().figure()
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    markers = [c for c in ax.collections if isinstance(c, PathCollection)]
    xs = [c.get_offsets()[0][0] for c in markers]
    assert xs == pytest.approx([-0.5, 0.1, 905 / 60])
    colors = [tuple(c.get_facecolor()[0][:3]) for c in markers]
    from matplotlib.colors import to_rgb

    assert colors == [to_rgb(REFUSED_COLOR), to_rgb(OK_COLOR), to_rgb(REFUSED_COLOR)]
    texts = [t.get_text() for t in ax.texts]
    assert "issued" in texts and "expires" in texts
    assert "after expiry\nRequestExpired" in texts and "as the user\nUnauthorizedOperation" in texts
    low, high = ax.get_xlim()
    assert low < -0.5 and high > 905 / 60
    assert [line.get_xdata()[0] for line in ax.lines] == pytest.approx([0, 15])


def test_figure_renders_to_png_without_a_display():
    buffer = io.BytesIO()
    story().figure().savefig(buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_real_accounts_use_real_time():
    now = clock_for(Target("aws", "admin"))()
    assert abs((now - datetime.now(UTC)).total_seconds()) < 2


def test_the_sandbox_clock_agrees_with_the_sandbox(sandbox):
    now = clock_for(Target("sandbox", "labkit-admin"))()
    sandbox_says = datetime.fromisoformat(lifecycle.clock()["now"].replace("Z", "+00:00"))
    assert abs((now - sandbox_says).total_seconds()) < 2


def test_the_sandbox_clock_is_real_time_plus_the_offset_to_the_microsecond(monkeypatch):
    monkeypatch.setattr(lifecycle, "clock", lambda: {"now": "2000-01-01T00:00:00Z", "offset": 4500.25})
    now = clock_for(Target("sandbox", "labkit-admin"))()
    expected = datetime.now(UTC) + timedelta(seconds=4500.25)
    assert abs((now - expected).total_seconds()) < 1


def test_a_probe_recorded_before_start_is_before_even_within_the_same_second():
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from labkit.outcomes import Outcome
    from labkit.timeline import Timeline

    issued = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
    timeline = Timeline()
    timeline.record("as the user", Outcome("DescribeInstances", False, code="UnauthorizedOperation"),
                    at=issued + timedelta(milliseconds=700))  # AWS truncates the issue time
    timeline.start(SimpleNamespace(expiration=issued + timedelta(seconds=900), duration=900))
    timeline.record("with the session", Outcome("DescribeInstances", True), at=issued + timedelta(seconds=2))
    assert [r["phase"] for r in timeline.rows()] == ["before", "during"]
