"""The lesson's widgets, driven as a learner drives them: set values, click buttons.

The lab here has its own user, role and profile, so these tests change nothing the notebooks use.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import ipywidgets as w
import pytest
from ipywidgets.widgets.widget_link import DirectionalLink

from labkit import credentials as creds_mod
from labkit import widgets
from labkit.errors import LabError
from labkit.lab import Lab, Names
from labkit.sandbox import lifecycle
from labkit.target import AWS, Target, connect
from labkit.widgets import (
    AssumeRolePanel,
    ClockControl,
    Countdown,
    DurationPicker,
    Ec2ProbeButton,
    SessionNameField,
    describe_remaining,
    duration_bounds,
    session_name_problem,
    widget_state_text,
)

PROFILE = "widget-test-session"


@pytest.fixture(scope="module")
def lab(sandbox) -> Lab:
    target = connect()
    names = Names.for_target(target, user="labkit-widget-user", role="labkit-widget-role",
                             user_policy="labkit-widget-assume", role_policy="labkit-widget-ec2",
                             profile="labkit-widget-user", session="widget-session")
    lab = Lab(target, names=names, progress=lambda _line: None)
    lab.setup(max_session_duration=3600)
    return lab


@pytest.fixture
def clock_reset(sandbox):
    """The sandbox clock at real time for the test, and back to it afterwards."""
    lifecycle.reset_clock()
    yield
    lifecycle.reset_clock()


@pytest.fixture(autouse=True)
def no_widgets_left():
    yield
    w.Widget.close_all()


# --- duration -------------------------------------------------------------------------------------


def test_bounds_are_900_to_the_role_maximum_in_15_minute_steps():
    assert duration_bounds(3600) == (900, 3600, 900)
    assert duration_bounds(43200) == (900, 43200, 900)


def test_role_chaining_caps_the_maximum_at_one_hour():
    assert duration_bounds(43200, chained=True) == (900, 3600, 900)


def test_an_odd_maximum_is_still_reachable():
    lowest, highest, step = duration_bounds(5000)
    assert highest == 5000 and (highest - lowest) % step == 0 and step == 100


@pytest.mark.parametrize("bad", [899, 43201, "3600", 3600.0, True])
def test_a_maximum_outside_what_aws_allows_is_refused(bad):
    with pytest.raises(LabError, match="out of range"):
        duration_bounds(bad)


def test_picker_cannot_hold_a_value_above_the_role_maximum():
    picker = DurationPicker(3600)
    assert (picker.slider.min, picker.slider.max, picker.value) == (900, 3600, 900)
    picker.value = 7200
    assert picker.value == 3600
    picker.value = 60
    assert picker.value == 900


def test_picker_label_reads_the_duration():
    picker = DurationPicker(43200)
    assert "<b>15 min</b>" in picker.label.value
    picker.value = 5400
    assert "<b>1 h 30 min</b>" in picker.label.value
    picker.value = 43200
    assert "<b>12 h</b>" in picker.label.value and "MaxSessionDuration" in picker.label.value


def test_chained_picker_says_why_it_stops_at_one_hour():
    picker = DurationPicker(43200, chained=True)
    picker.value = 43200
    assert picker.value == 3600 and "role chaining" in picker.label.value


def test_picker_for_lab_reads_the_role_and_the_caller(lab):
    lab.ensure_role(7200)
    try:
        assert DurationPicker.for_lab(lab).slider.max == 7200
        session = lab.assume_role(900)
        chained = DurationPicker.for_lab(lab, session.credentials)
        assert chained.chained and chained.slider.max == 3600
    finally:
        lab.ensure_role(3600)
    assert DurationPicker.for_lab(lab).slider.max == 3600


# --- session name ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sts-session", "ab", "a" * 64, "me+you=us,.@_-1"])
def test_names_aws_accepts(name):
    assert session_name_problem(name) is None


@pytest.mark.parametrize("name, words", [
    ("", "Type a session name"),
    ("x", "too short"),
    ("a" * 65, "65 characters"),
    ("sts session", "space"),
    ("sts/session!", "'!', '/'"),
])
def test_names_aws_refuses_get_a_reason(name, words):
    assert words in session_name_problem(name)


def test_field_shows_the_reason_while_invalid_and_clears_it():
    field = SessionNameField()
    seen = []
    field.on_validity(seen.append)
    field.value = "bad name"
    assert not field.valid and "space" in field.reason.value
    field.value = "good-name"
    assert field.valid and field.reason.value == ""
    assert seen == [True, False, True]


# --- countdown ------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_countdown_starts_from_the_seconds_left_and_waits_for_a_view():
    clock = FakeClock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))
    countdown = Countdown(clock.now + timedelta(seconds=3600), clock, duration=3600)
    assert countdown.play.value == 3600 and countdown.play.step == -1 and countdown.play.interval == 1000
    assert not countdown.play.playing  # nothing ticks without a browser
    assert "13:00:00 UTC" in countdown.label.value and "in 1 h" in countdown.label.value
    countdown.play._view_count = 1  # what the browser reports when it shows the widget
    assert countdown.play.playing


def test_countdown_values_are_linked_in_the_browser():
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    countdown = Countdown(clock.now + timedelta(seconds=900), clock)
    links = [(link.source, link.target) for link in countdown._links]
    assert links == [((countdown.play, "value"), (countdown.seconds, "value")),
                     ((countdown.play, "value"), (countdown.bar, "value"))]
    assert all(isinstance(link, DirectionalLink) for link in countdown._links)


def test_countdown_stops_and_says_expired_at_zero():
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    countdown = Countdown(clock.now + timedelta(seconds=900), clock)
    countdown.play._view_count = 1
    clock.now += timedelta(seconds=900)
    countdown.play.value = 0  # the browser's last tick
    assert not countdown.play.playing and countdown.expired and "expired" in countdown.label.value


def test_countdown_follows_a_moved_clock():
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    countdown = Countdown(clock.now + timedelta(seconds=3600), clock)
    countdown.play._view_count = 1
    clock.now += timedelta(seconds=900)
    countdown.sync()
    assert countdown.play.value == 2700 and countdown.play.playing
    clock.now += timedelta(hours=1)
    countdown.sync()
    assert countdown.play.value == 0 and not countdown.play.playing
    assert "expired" in countdown.label.value


def test_describe_remaining():
    assert describe_remaining(3600) == "in 1 h"
    assert describe_remaining(0) == "expires now"
    assert describe_remaining(-300) == "expired 5 min ago"


# --- the panel against the sandbox ---------------------------------------------------------------


def test_assume_button_is_disabled_while_the_name_is_invalid(lab):
    panel = AssumeRolePanel(lab, reveal_profile=PROFILE)
    assert not panel.button.disabled
    panel.name.value = "no spaces please"
    assert panel.button.disabled
    panel.name.value = "ok-now"
    assert not panel.button.disabled


def test_panel_walks_the_lesson_refused_allowed_expired(lab, clock_reset):
    panel = AssumeRolePanel(lab, reveal_profile=PROFILE)
    assert panel.picker.slider.max == 3600
    panel.probe.button.click()
    assert panel.probe.state == "refused" and "UnauthorizedOperation" in panel.probe.badge.value
    assert "as labkit-widget-user (its own key" in panel.probe.badge.value

    panel.picker.value = 3600
    panel.button.click()
    session = panel.session
    assert session is not None and session.duration == 3600
    assert session.arn.endswith(":assumed-role/labkit-widget-role/widget-session")
    assert session.arn in panel.card.value
    assert "****************" + session.credentials.secret_access_key[-4:] in panel.card.value
    left = (session.expiration - widgets.target_now(lab)).total_seconds()
    assert 3500 < left < 3602  # the sandbox clock reads whole seconds
    assert 3500 < panel.countdown.play.value <= 3600

    assert "probe again" in panel.probe.badge.value  # the user's refusal is not left showing
    panel.probe.button.click()
    assert panel.probe.state == "allowed" and "3 instances" in panel.probe.badge.value
    assert "as the session widget-session" in panel.probe.badge.value

    panel.clock.buttons[1].click()  # +1 h
    panel.clock.buttons[0].click()  # +15 min
    assert "1 h 15 min ahead" in panel.clock.label.value
    assert panel.countdown.expired and "expired" in panel.countdown.label.value
    panel.probe.button.click()
    assert panel.probe.state == "expired" and "RequestExpired" in panel.probe.badge.value
    assert "Request has expired." in panel.probe.badge.value


def test_aws_refusal_is_shown_in_the_panel_not_raised(lab):
    panel = AssumeRolePanel(lab, reveal_profile=PROFILE)
    lab.ensure_role(7200)
    try:
        panel.picker.slider.max = 7200  # a picker made before the role's maximum went down
        panel.picker.value = 7200
    finally:
        lab.ensure_role(3600)
    panel.button.click()
    assert panel.session is None
    assert "ValidationError" in panel.status.value
    assert "exceeds the MaxSessionDuration set for this role" in panel.status.value


# --- secrets never in widget state ---------------------------------------------------------------


def test_the_state_check_finds_a_secret_a_widget_holds():
    w.Text(value="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" in widget_state_text()


def test_reveal_keeps_every_full_value_out_of_widget_state(lab):
    panel = AssumeRolePanel(lab, reveal_profile=PROFILE)
    panel.button.click()
    creds = panel.session.credentials
    panel.reveal.value = True  # what clicking the toggle does
    assert panel.reveal.description == "hide"
    assert f"--profile {PROFILE}" in panel.reveal_box.value
    assert "****************" + creds.secret_access_key[-4:] in panel.reveal_box.value

    secrets = [creds.access_key_id, creds.secret_access_key, creds.session_token,
               lab.user_credentials().secret_access_key]
    state = widget_state_text()
    for secret in secrets:
        assert secret not in state
    for widget in list(w.widgets.widget._instances.values()):
        shown = json.dumps(widget.get_state(), default=str) + repr(widget)
        assert not any(secret in shown for secret in secrets), widget
    assert not any(secret in repr(panel.session) for secret in secrets)

    saved = creds_mod.read_profile(PROFILE)  # where the full values went instead
    assert (saved.access_key_id, saved.secret_access_key, saved.session_token) == (
        creds.access_key_id, creds.secret_access_key, creds.session_token)

    panel.reveal.value = False
    assert panel.reveal_box.value == "" and panel.reveal.description == "reveal"


# --- probe and clock on their own ----------------------------------------------------------------


def test_probe_reports_a_lab_error_in_its_badge(lab):
    def broken():
        raise LabError("There is no profile 'x': run the setup step first.")

    probe = Ec2ProbeButton(lab, broken)
    probe.button.click()
    assert probe.state is None and "run the setup step first" in probe.badge.value


def test_clock_control_moves_the_sandbox_clock(lab, clock_reset):
    moved = []
    control = ClockControl(lab, on_advance=lambda: moved.append(True))
    before = lifecycle.clock()["offset"]
    control.buttons[0].click()
    assert lifecycle.clock()["offset"] - before == pytest.approx(900, abs=1)
    assert moved == [True] and "15 min ahead of real time" in control.label.value


def test_clock_control_is_for_the_sandbox_only(lab):
    real = Lab(Target(AWS, "some-profile"), names=lab.names)
    with pytest.raises(LabError, match="Only the sandbox's clock"):
        ClockControl(real)


def test_progress_lines_go_to_the_panel_not_to_a_cell(lab, capsys):
    panel = AssumeRolePanel(lab, reveal_profile=PROFILE)
    before = lab.progress
    shown = []
    panel.status.observe(lambda change: shown.append(change["new"]), "value")

    def slow_iam(duration, session_name, **kwargs):
        lab.progress("Waiting for IAM to apply the lab's recent changes")
        return original(duration, session_name, **kwargs)

    original = lab.try_assume_role
    lab.try_assume_role = slow_iam
    try:
        panel.button.click()
    finally:
        del lab.try_assume_role
    assert any("Waiting for IAM" in value for value in shown)
    assert capsys.readouterr().out == ""
    assert lab.progress is before and panel.session is not None
