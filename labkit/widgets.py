"""Widgets for the AssumeRole lesson: pick a duration, name the session, assume, watch it expire.

    panel = AssumeRolePanel(lab)     # picker + session name + "Assume role" + result card
    panel                            # display it (last expression of a notebook cell)

Each widget is a small class around ipywidgets 8 controls; its logic runs in Python, so tests drive
it by setting values and calling `.click()` on its buttons, exactly as a learner's clicks do.

Two design decisions, and why:

**"reveal" never shows a full secret.** Everything an ipywidget shows in the browser is a value in
its model's state, and that state is what JupyterLab writes into the .ipynb file (metadata.widgets)
when "Save Widget State Automatically" is on: at every save, including the autosave every two
minutes. The Output widget is no way out (its `outputs` are state too), HTML widgets hold their
markup, and no standard widget can show text it does not hold. A widget that showed the secret for
a single second could therefore leave it in a notebook a learner commits. So the card shows the keys
masked as the AWS CLI does (`****************ABCD`), and the "reveal" toggle saves the full values
as profile `sts-session` in the lab-local credentials file (mode 0600) and shows the terminal
commands that print or use them: the full values reach the learner's eyes in a terminal, which no
notebook records. No widget trait ever holds them; tests check every widget's state after reveal,
and the browser test saves the notebook from JupyterLab with widget state saving on and reads the
file.

**The countdown ticks in the browser.** A Python thread printing into cells would write into
whichever cell runs next and stop when the kernel is busy. Instead an ipywidgets `Play` model
counts down once a second in the browser (its timer lives in the frontend model, so it keeps going
while the notebook tab is hidden), and `jsdlink`s copy its value into the visible seconds box and
bar without a round trip to the kernel. The kernel starts it when a view is first displayed
(`_view_count`), resets it when the sandbox clock moves, and marks the session expired when it reaches
zero. Without a browser (nbval, nbconvert) the widgets keep their initial state: a static "expires
at" line that is correct when read.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from datetime import UTC, datetime

import ipywidgets as w
from botocore.exceptions import BotoCoreError

from labkit import credentials as creds_mod
from labkit.credentials import TemporaryCredentials, format_expiration
from labkit.durations import describe_duration
from labkit.errors import LabError
from labkit.lab import MAX_DURATION, MIN_DURATION, Lab, Session, session_name_problem
from labkit.outcomes import Outcome

CHAINING_LIMIT = 3600  # AWS: a role session assuming a role gets at most 1 hour
STEP = 900  # the slider moves in 15-minute steps when the maximum allows it
REVEAL_PROFILE = "sts-session"
EXPIRED_CODES = ("RequestExpired", "ExpiredToken")

_GREEN, _RED, _ORANGE, _GREY = "#1a7f37", "#cf222e", "#9a6700", "#57606a"


def _esc(value: object) -> str:
    return html.escape(str(value))


def _badge(text: str, colour: str) -> str:
    return (f"<span style='display:inline-block;padding:1px 8px;border-radius:10px;"
            f"background:{colour};color:white;font-weight:bold'>{_esc(text)}</span>")


# --- time ----------------------------------------------------------------------------------------


def target_now(lab: Lab) -> datetime:
    """The time the target believes it is: the sandbox clock (which can be moved), or real time."""
    if lab.target.is_sandbox:
        from labkit.sandbox import lifecycle

        return datetime.fromisoformat(lifecycle.clock()["now"].replace("Z", "+00:00"))
    return datetime.now(UTC)


def describe_remaining(seconds: int) -> str:
    """`in 1 h`, `in 59 min 58 s`, or `expired 5 min ago`."""
    if seconds > 0:
        return f"in {describe_duration(seconds)}"
    if seconds == 0:
        return "expires now"
    return f"expired {describe_duration(-seconds)} ago"


# --- duration ------------------------------------------------------------------------------------


def duration_bounds(maximum: int, chained: bool = False) -> tuple[int, int, int]:
    """(lowest, highest, step) a learner may choose: 900 s up to the role's maximum.

    The highest is the role's MaxSessionDuration, and 3600 s when the caller is itself a role
    session (role chaining). The step is 15 minutes unless the highest is not a multiple of it
    (a MaxSessionDuration of 5000 s): then it is the largest step that still reaches the highest.
    """
    if not isinstance(maximum, int) or isinstance(maximum, bool) or not MIN_DURATION <= maximum <= MAX_DURATION:
        raise LabError(f"A maximum session duration of {maximum!r} s is out of range: a role allows "
                       f"from {MIN_DURATION} s to {MAX_DURATION} s (12 hours).")
    highest = min(maximum, CHAINING_LIMIT) if chained else maximum
    step = math.gcd(STEP, highest - MIN_DURATION) or STEP
    return MIN_DURATION, highest, step


class DurationPicker:
    """A slider from 15 minutes to the role's maximum, with the chosen duration in words."""

    def __init__(self, maximum: int, chained: bool = False, value: int = MIN_DURATION):
        lowest, highest, step = duration_bounds(maximum, chained)
        self.maximum, self.chained = highest, chained
        self.slider = w.IntSlider(value=min(max(value, lowest), highest), min=lowest, max=highest,
                                  step=step, description="Duration (s)", continuous_update=True,
                                  style={"description_width": "initial"},
                                  layout=w.Layout(width="420px"))
        self.label = w.HTML()
        self.slider.observe(lambda _change: self._show(), "value")
        self._show()
        self.widget = w.HBox([self.slider, self.label])

    @classmethod
    def for_lab(cls, lab: Lab, credentials: TemporaryCredentials | None = None) -> DurationPicker:
        """Bounded by the lab role's MaxSessionDuration, and by 1 hour if `credentials` are a role's."""
        chained = bool(credentials and credentials.session_token
                       and ":assumed-role/" in lab.whoami(credentials))
        return cls(lab.max_session_duration(), chained=chained)

    @property
    def value(self) -> int:
        return int(self.slider.value)

    @value.setter
    def value(self, seconds: int) -> None:
        self.slider.value = seconds  # the slider clamps it to its bounds

    def limit_text(self) -> str:
        if self.chained:
            return f"at most {describe_duration(self.maximum)}: a role session assuming a role (role chaining)"
        return f"at most {describe_duration(self.maximum)}: the role's MaxSessionDuration"

    def _show(self) -> None:
        self.label.value = (f"<b>{_esc(describe_duration(self.value))}</b> "
                            f"<span style='color:{_GREY}'>({_esc(self.limit_text())})</span>")

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


# --- session name --------------------------------------------------------------------------------


class SessionNameField:
    """The RoleSessionName, checked as it is typed; the reason is shown while it is invalid."""

    def __init__(self, value: str = "sts-session"):
        self.text = w.Text(value=value, description="Session name", continuous_update=True,
                           style={"description_width": "initial"})
        self.reason = w.HTML()
        self._listeners: list[Callable[[bool], None]] = []
        self.text.observe(lambda _change: self._check(), "value")
        self._check()
        self.widget = w.VBox([self.text, self.reason])

    @property
    def value(self) -> str:
        return self.text.value

    @value.setter
    def value(self, name: str) -> None:
        self.text.value = name

    @property
    def problem(self) -> str | None:
        return session_name_problem(self.value)

    @property
    def valid(self) -> bool:
        return self.problem is None

    def on_validity(self, callback: Callable[[bool], None]) -> None:
        """Call `callback(valid)` now and whenever the name changes."""
        self._listeners.append(callback)
        callback(self.valid)

    def _check(self) -> None:
        problem = self.problem
        self.reason.value = "" if problem is None else f"<span style='color:{_RED}'>{_esc(problem)}</span>"
        for callback in self._listeners:
            callback(problem is None)

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


# --- countdown -----------------------------------------------------------------------------------


class Countdown:
    """Seconds left until Expiration, counted down by the browser (see the module docstring)."""

    def __init__(self, expiration: datetime, now: Callable[[], datetime], duration: int | None = None):
        self.expiration = expiration
        self._now = now
        remaining = self.remaining()
        self.play = w.Play(value=max(0, remaining), min=0, max=MAX_DURATION * 2, step=-1, interval=1000,
                           playing=False, show_repeat=False, layout=w.Layout(display="none"))
        self.play._view_count = 0  # the frontend counts its views: start ticking once one is shown
        self.seconds = w.IntText(value=max(0, remaining), description="Seconds left", disabled=True,
                                 style={"description_width": "initial"}, layout=w.Layout(width="200px"))
        self.bar = w.IntProgress(value=max(0, remaining), min=0, max=max(duration or remaining, 1),
                                 layout=w.Layout(width="220px"))
        self.label = w.HTML()
        self._links = [w.jsdlink((self.play, "value"), (self.seconds, "value")),
                       w.jsdlink((self.play, "value"), (self.bar, "value"))]
        self.play.observe(self._on_views, "_view_count")
        self.play.observe(self._on_tick, "value")
        self.widget = w.VBox([w.HBox([self.seconds, self.bar, self.play]), self.label])
        self.sync()

    @property
    def expired(self) -> bool:
        return self.play.value <= 0

    def remaining(self) -> int:
        """Whole seconds left on the target's clock (negative once expired)."""
        return math.floor((self.expiration - self._now()).total_seconds())

    def sync(self) -> None:
        """Set the count from the target's clock (after the sandbox clock moved, for example)."""
        remaining = self.remaining()
        self.play.value = max(0, remaining)
        self._label(remaining)
        if remaining > 0 and (self.play._view_count or 0) > 0:
            self.play.playing = True
        if remaining <= 0:
            self.play.playing = False

    def _label(self, remaining: int) -> None:
        at = self.expiration.astimezone(UTC).strftime("%H:%M:%S UTC")
        if remaining > 0:
            self.label.value = f"Expires at <b>{at}</b> ({_esc(describe_remaining(remaining))} when this was shown)"
        else:
            self.label.value = (f"{_badge('expired', _ORANGE)} at <b>{at}</b>: these credentials no longer "
                                "work; assume the role again.")

    def _on_views(self, change) -> None:
        if (change["new"] or 0) > 0 and not self.expired and not self.play.playing:
            self.play.playing = True

    def _on_tick(self, change) -> None:
        if change["new"] <= 0:
            self.play.playing = False
            self._label(self.remaining())

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


# --- EC2 probe -----------------------------------------------------------------------------------


def probe_state(outcome: Outcome) -> str:
    """'allowed', 'expired' (RequestExpired / ExpiredToken) or 'refused'."""
    if outcome.ok:
        return "allowed"
    return "expired" if outcome.code in EXPIRED_CODES else "refused"


class Ec2ProbeButton:
    """DescribeInstances with the given credentials; a badge says allowed, refused or expired."""

    def __init__(self, lab: Lab,
                 credentials: Callable[[], TemporaryCredentials | None] | TemporaryCredentials | None = None,
                 who: Callable[[], str] | None = None):
        self.lab = lab
        self._credentials = credentials if callable(credentials) else (lambda: credentials)
        self._who = who
        self.button = w.Button(description="Probe EC2", icon="search",
                               tooltip="aws ec2 describe-instances with these credentials",
                               layout=w.Layout(width="130px", flex="0 0 auto"))
        self.badge = w.HTML()
        self.outcome: Outcome | None = None
        self.button.on_click(lambda _b: self.probe())
        self.widget = w.HBox([self.button, self.badge])

    @property
    def state(self) -> str | None:
        return probe_state(self.outcome) if self.outcome else None

    def clear(self, hint: str = "") -> None:
        self.outcome = None
        self.badge.value = f"<i style='color:{_GREY}'>{_esc(hint)}</i>" if hint else ""

    def probe(self) -> Outcome | None:
        try:
            self.outcome = self.lab.probe_ec2(self._credentials())
        except (LabError, BotoCoreError) as exc:
            self.outcome = None
            self.badge.value = f"<span style='color:{_RED}'>{_esc(exc)}</span>"
            return None
        who = f" <span style='color:{_GREY}'>as {_esc(self._who())}</span>" if self._who else ""
        self.badge.value = self._render(self.outcome) + who
        return self.outcome

    def _render(self, outcome: Outcome) -> str:
        state = probe_state(outcome)
        if state == "allowed":
            count = len(outcome.value)
            return f"{_badge('allowed', _GREEN)} DescribeInstances returned {count} instance{'s' * (count != 1)}"
        colour = _ORANGE if state == "expired" else _RED
        return (f"{_badge(state, colour)} <code>{_esc(outcome.code)}</code>: {_esc(outcome.message)}"
                + (f"<br><i>{_esc(outcome.explanation)}</i>" if outcome.explanation else ""))

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


# --- sandbox clock -------------------------------------------------------------------------------


class ClockControl:
    """Move the sandbox clock forward, so "after expiry" takes a click instead of an hour."""

    STEPS = (("+15 min", 900), ("+1 h", 3600))

    def __init__(self, lab: Lab, on_advance: Callable[[], None] | None = None):
        if not lab.target.is_sandbox:
            raise LabError("Only the sandbox's clock can be moved: against a real AWS account, wait for "
                           "the Expiration instead (the countdown shows how long).")
        self.lab = lab
        self._listeners = [on_advance] if on_advance else []
        self.buttons = []
        for text, seconds in self.STEPS:
            button = w.Button(description=text, tooltip=f"labkit sandbox clock advance {seconds}",
                              layout=w.Layout(width="90px"))
            button.on_click(lambda _b, s=seconds: self.advance(s))
            self.buttons.append(button)
        self.label = w.HTML()
        self._show()
        self.widget = w.HBox([w.Label("Move the sandbox clock forward:"), *self.buttons, self.label])

    def on_advance(self, callback: Callable[[], None]) -> None:
        self._listeners.append(callback)

    def advance(self, seconds: int) -> None:
        from labkit.sandbox import lifecycle

        try:
            lifecycle.advance_clock(seconds)
        except LabError as exc:
            self.label.value = f"<span style='color:{_RED}'>{_esc(exc)}</span>"
            return
        self._show()
        for callback in self._listeners:
            callback()

    def _show(self) -> None:
        from labkit.sandbox import lifecycle

        try:
            clock = lifecycle.clock()
        except LabError as exc:
            self.label.value = f"<span style='color:{_RED}'>{_esc(exc)}</span>"
            return
        offset = int(clock["offset"])
        ahead = "real time" if not offset else f"{describe_duration(offset)} ahead of real time"
        self.label.value = f"sandbox clock <b>{_esc(clock['now'])}</b> ({_esc(ahead)})"

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


# --- the panel -----------------------------------------------------------------------------------


def reveal_text(session: Session, profile: str, path) -> str:
    """Where the full values are and how to see them in a terminal (never the values themselves)."""
    masked = creds_mod.render_masked(session.credentials, "bash")
    return (
        "<div style='border-left:3px solid #888;padding-left:8px'>"
        "The full values are not shown in the notebook: what a widget shows is kept in its state, and "
        "JupyterLab can save that state into the .ipynb file.<br>"
        f"They are saved as profile <code>{_esc(profile)}</code> in <code>{_esc(path)}</code> "
        "(readable by you only). In a terminal:"
        f"<pre>aws configure get aws_secret_access_key --profile {_esc(profile)}\n"
        f"AWS_PROFILE={_esc(profile)} aws ec2 describe-instances</pre>"
        f"The walk-through's three export lines, masked here:<pre>{_esc(masked)}</pre></div>"
    )


class AssumeRolePanel:
    """Duration picker + session name + "Assume role"; the result card, countdown and EC2 probe."""

    def __init__(self, lab: Lab, credentials: TemporaryCredentials | None = None,
                 reveal_profile: str = REVEAL_PROFILE):
        self.lab = lab
        self.caller_credentials = credentials
        self.reveal_profile = creds_mod.check_profile_name(reveal_profile)
        self.session: Session | None = None
        self.countdown: Countdown | None = None
        self.picker = DurationPicker.for_lab(lab, credentials)
        self.name = SessionNameField(lab.names.session)
        self.button = w.Button(description="Assume role", button_style="primary", icon="user-secret")
        self.button.on_click(lambda _b: self.assume())
        self.name.on_validity(self._validity)
        self.status = w.HTML()
        self.card = w.HTML()
        self.reveal = w.ToggleButton(value=False, description="reveal", icon="eye", disabled=True,
                                     tooltip="where the full keys are, and how to see them in a terminal")
        self.reveal.observe(self._on_reveal, "value")
        self.reveal_box = w.HTML()
        self.countdown_box = w.VBox([])
        self.probe = Ec2ProbeButton(lab, self.probe_credentials, who=self.probe_caller)
        self.clock = ClockControl(lab, on_advance=self._clock_moved) if lab.target.is_sandbox else None
        rows = [w.HTML(f"<b>AssumeRole</b> on <code>{_esc(lab.role_arn)}</code>"), self.picker.widget,
                self.name.widget, w.HBox([self.button, self.status]), self.card, self.countdown_box,
                w.HBox([self.reveal]), self.reveal_box, self.probe.widget]
        if self.clock is not None:
            rows.append(self.clock.widget)
        self.widget = w.VBox(rows)
        self.widget.add_class("labkit-assume-panel")  # CSS hooks for the browser test
        self.countdown_box.add_class("labkit-countdown")
        self.probe.badge.add_class("labkit-probe-badge")

    def probe_credentials(self) -> TemporaryCredentials | None:
        """The session's keys once assumed; before that the caller's (by default the IAM user's)."""
        return self.session.credentials if self.session else self.caller_credentials

    def probe_caller(self) -> str:
        if self.session is not None:
            return f"the session {self.session.arn.rsplit('/', 1)[-1]} (its temporary keys)"
        if self.caller_credentials is not None:
            return "the caller's credentials"
        return f"{self.lab.names.user} (its own key, profile {self.lab.names.profile})"

    def _validity(self, valid: bool) -> None:
        self.button.disabled = not valid

    def assume(self) -> Session | None:
        """AssumeRole with the chosen duration and name; AWS's refusal is shown, not raised."""
        self.status.value = "<i>calling AssumeRole...</i>"
        progress = self.lab.progress  # progress lines (waiting for IAM) go to the panel, not a cell
        self.lab.progress = lambda line: setattr(self.status, "value", f"<i>{_esc(line)}</i>")
        try:
            outcome = self.lab.try_assume_role(self.picker.value, self.name.value,
                                               credentials=self.caller_credentials)
        except (LabError, BotoCoreError) as exc:
            self.status.value = f"<span style='color:{_RED}'>{_esc(exc)}</span>"
            return None
        finally:
            self.lab.progress = progress
        if not outcome.ok:
            self.status.value = outcome._repr_html_()
            return None
        self.reveal.value = False
        self.session = outcome.value
        self.probe.clear("probe again: now with the session's keys")
        self.status.value = _badge("assumed", _GREEN)
        now = target_now(self.lab)
        if self.countdown is not None:
            self.countdown.play.playing = False
        self.countdown = Countdown(self.session.expiration, lambda: target_now(self.lab), self.session.duration)
        self.countdown_box.children = [self.countdown.widget]
        self.card.value = self.card_html(now)
        self.reveal.disabled = False
        return self.session

    def card_html(self, now: datetime) -> str:
        session = self.session
        assert session is not None
        masked = session.credentials.masked()
        remaining = math.floor((session.expiration - now).total_seconds())
        rows = [
            ("AssumedRoleUser.Arn", session.arn, "labkit-arn"),
            ("AssumedRoleUser.AssumedRoleId", session.assumed_role_id, "labkit-role-id"),
            ("AccessKeyId", masked["access_key_id"], "labkit-access-key"),
            ("SecretAccessKey", masked["secret_access_key"], "labkit-secret-key"),
            ("SessionToken", masked["session_token"], "labkit-session-token"),
            ("Expiration", format_expiration(session.expiration), "labkit-expiration"),
        ]
        body = "".join(f"<tr><td style='padding-right:12px'>{_esc(k)}</td>"
                       f"<td><code class='{cls}'>{_esc(v)}</code></td></tr>" for k, v, cls in rows)
        return (f"<table class='labkit-card'>{body}</table>"
                f"<div>{_esc(describe_duration(session.duration))} session; it expires "
                f"{_esc(describe_remaining(remaining))} on the {'sandbox' if self.lab.target.is_sandbox else 'AWS'} "
                "clock.</div>")

    def _on_reveal(self, change) -> None:
        self.reveal.description = "hide" if change["new"] else "reveal"
        if not change["new"] or self.session is None:
            self.reveal_box.value = ""
            return
        try:
            path = creds_mod.write_profile(self.session.credentials, self.reveal_profile)
        except LabError as exc:
            self.reveal_box.value = f"<span style='color:{_RED}'>{_esc(exc)}</span>"
            return
        self.reveal_box.value = reveal_text(self.session, self.reveal_profile, path)

    def _clock_moved(self) -> None:
        if self.countdown is not None:
            self.countdown.sync()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)


def widget_state_text() -> str:
    """Every live widget's state as the kernel would save or embed it, as one string (for checks)."""
    import json

    return json.dumps(w.Widget.get_manager_state(drop_defaults=False), default=str)


__all__ = [
    "AssumeRolePanel", "ClockControl", "Countdown", "DurationPicker", "Ec2ProbeButton",
    "SessionNameField", "describe_remaining", "duration_bounds", "probe_state", "session_name_problem",
    "target_now", "widget_state_text",
]
