"""Notebook 05: predict what EC2 DescribeInstances answers before, during and after the session.

    prediction = {"before": "UnauthorizedOperation", "during": "allowed", "after": "RequestExpired"}
    ex.check(prediction, timeline)      # after the probes: compared with what EC2 really answered

The prediction is compared with real answers: the probes the notebook recorded (a
labkit.timeline.Timeline, or a dict of phase -> the probe's Outcome or error code). Without
them the check makes the probes it can make at once: DescribeInstances with the user's own key
(before) and with a new session of the lab's role (during); "after" needs a session past its
Expiration, so it is compared only with the notebook's own probe.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from labkit.exercises.base import Exercise, Mistake, Unusable, load_json, quoted
from labkit.outcomes import EXPLANATIONS, Outcome

PHASES = ("before", "during", "after")
ALLOWED = "allowed"
_ALLOWED_WORDS = {"allowed", "allow", "ok", "works", "success", "succeeds", "succeeded"}
_VAGUE_WORDS = {"refused", "denied", "deny", "error", "fails", "failed", "forbidden", "rejected", "no"}
_CODE = re.compile(r"[A-Za-z][A-Za-z0-9.]*")


def answer_of(value: Any) -> str:
    """'allowed' or the error code, from an Outcome, a ClientError, a response dict or a string."""
    if isinstance(value, Outcome):
        return ALLOWED if value.ok else str(value.code)
    if isinstance(value, ClientError):
        return value.response.get("Error", {}).get("Code", "")
    if isinstance(value, str):
        return ALLOWED if value.strip().lower() in _ALLOWED_WORDS else value.strip()
    if isinstance(value, Mapping):
        return ALLOWED  # a response: the call was answered
    raise Unusable(f"a probe's result is a {type(value).__name__}: pass the Outcome (or the error code).")


def observed_answers(observed: Any) -> dict[str, str]:
    """Phase -> what EC2 answered, from a Timeline (its last probe in each phase) or a mapping."""
    if hasattr(observed, "rows") and hasattr(observed, "marks"):
        answers: dict[str, str] = {}
        for row in observed.rows():
            answers[row["phase"]] = row["result"]
        return answers
    if isinstance(observed, Mapping):
        unknown = [k for k in observed if k not in PHASES]
        if unknown:
            raise Unusable(f"the probes are keyed {', '.join(map(str, unknown))}: use before, during and after.")
        return {phase: answer_of(value) for phase, value in observed.items()}
    raise Unusable(f"the probes are a {type(observed).__name__}: pass the notebook's timeline (or a dict of "
                   "phase -> the probe's Outcome).")


class PredictEc2(Exercise):
    id = "predict-ec2"
    variable = "prediction"
    hints = (
        "Before: the user calls EC2 with its own key, and the user's only policy allows sts:AssumeRole. "
        "During: the session has the role's permissions. After: the session's credentials are past their "
        "Expiration.",
        'Write "allowed", or the error code EC2 answers with (one word, as in "An error occurred '
        '(<Code>) ..."). Expired temporary credentials and missing permissions have their own codes.',
    )
    solution_template = """
        prediction = {"before": "UnauthorizedOperation", "during": "allowed", "after": "RequestExpired"}
    """

    def solution_value(self) -> dict:
        return {"before": "UnauthorizedOperation", "during": ALLOWED, "after": "RequestExpired"}

    def judge(self, answer: Any, observed: Any = None, *args: Any) -> list[str]:
        prediction = self._prediction(answer)
        real = observed_answers(observed) if observed is not None else self._probe()
        wrong = []
        for phase in PHASES:
            if phase not in real:
                continue
            said, got = prediction[phase], real[phase]
            if said.lower() != got.lower():
                why = EXPLANATIONS.get(got, "the role's policy allows ec2:Describe*" if got == ALLOWED else "")
                wrong.append(f"{phase}: you predicted {said}, EC2 answered {got}" + (f" ({why.rstrip('.')})" if why else ""))
        if wrong:
            raise Mistake("; ".join(wrong) + ".")
        missing = [phase for phase in PHASES if phase not in real]
        if missing:
            right = " and ".join(phase for phase in PHASES if phase in real)
            raise Mistake(f"{right} match what EC2 answered; {' and '.join(missing)} can be compared only with a "
                          "probe made then: after the probes, run ex.check(prediction, timeline).")
        return []

    def _prediction(self, answer: Any) -> dict[str, str]:
        data = load_json(answer, "prediction", '{"before": "...", "during": "...", "after": "..."}')
        if not isinstance(data, dict):
            raise Unusable('the prediction is a dict with three keys: {"before": ..., "during": ..., "after": ...}.')
        extra = [k for k in data if k not in PHASES]
        if extra:
            raise Mistake(f"{quoted(extra[0])} is not a phase: the keys are before, during and after.")
        result = {}
        for phase in PHASES:
            if phase not in data:
                raise Mistake(f'"{phase}" is missing: predict all three, before, during and after.')
            value = data[phase]
            if not isinstance(value, str) or not value.strip():
                raise Mistake(f'{phase} is {quoted(value)}: write "allowed" or an error code, as text.')
            word = value.strip()
            if word.lower() in _ALLOWED_WORDS:
                result[phase] = ALLOWED
            elif word.lower() in _VAGUE_WORDS or not _CODE.fullmatch(word):
                raise Mistake(f'{phase} is "{word}": say which answer, "allowed" or the error code EC2 answers '
                              "with (one word, e.g. AuthFailure).")
            else:
                result[phase] = word
        return result

    def _probe(self) -> dict[str, str]:
        """Before and during, probed now: the user's own key, then a new session of the lab's role."""
        lab = self.lab
        before = lab.probe_ec2()
        during = lab.probe_ec2(lab.assume_role(duration=900).credentials)
        return {"before": answer_of(before), "during": answer_of(during)}
