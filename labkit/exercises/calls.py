"""Notebook 03's call: AssumeRole's parameters, checked as STS checks them.

The answer is what a learner passes to `sts.assume_role(**params)`, or the JSON the AWS CLI takes
with `aws sts assume-role --cli-input-json file://params.json`. The rules come from botocore's
model of STS (the parameter names, types, lengths, patterns and DurationSeconds' 900..43200), and
from the target: the role must be the lab's, and DurationSeconds at most the role's
MaxSessionDuration, read from the role itself (IAM GetRole).
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import Any

from labkit.errors import LabError
from labkit.exercises.base import Exercise, Mistake, Unusable, load_json, quoted
from labkit.exercises.policies import not_the_role

# AWS's answer when DurationSeconds is above the role's maximum (reference/aws-fidelity.md, row 3a)
ABOVE_MAXIMUM = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
# Parameters that need more than the lab's role allows: AssumeRole would be refused
NEEDS_PERMISSION = {
    "Tags": "sts:TagSession",
    "TransitiveTagKeys": "sts:TagSession",
    "SourceIdentity": "sts:SetSourceIdentity",
}
_TYPES = {"string": (str,), "integer": (int,), "list": (list,), "structure": (dict,)}


@functools.cache
def input_shape():
    """AssumeRole's input shape in botocore's model of STS."""
    import botocore.session

    return botocore.session.get_session().get_service_model("sts").operation_model("AssumeRole").input_shape


def _unfilled(value: Any) -> bool:
    """Left as `--generate-cli-skeleton` wrote it: "", 0, [], {} or containers of those."""
    if isinstance(value, dict):
        return all(_unfilled(v) for v in value.values())
    if isinstance(value, list):
        return all(_unfilled(v) for v in value)
    return value in ("", 0) and not isinstance(value, bool)


def _plain(pattern: str | None) -> re.Pattern | None:
    """The model's pattern as a Python regex, when it is one Python reads the same way."""
    if not pattern or "\\u" in pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _bad_characters(value: str, pattern: re.Pattern) -> list[str]:
    inner = pattern.pattern.rstrip("*+")
    if not (inner.startswith("[") and inner.endswith("]")):
        return [] if pattern.fullmatch(value) else ["?"]
    one = re.compile(inner)
    return sorted({ch for ch in value if not one.fullmatch(ch)})


def _characters(bad: list[str]) -> str:
    return ", ".join("a space" if ch == " " else repr(ch) for ch in bad)


class AssumeRoleCall(Exercise):
    id = "assume-role"
    variable = "assume_role_params"
    needs = ("lab", "picker")
    hints = (
        "AssumeRole needs the role's ARN (RoleArn) and a name for the session (RoleSessionName); "
        "DurationSeconds says how long the session lasts.",
        "RoleArn is lab.role_arn; RoleSessionName may use letters, digits and + = , . @ - _ (no spaces); "
        "DurationSeconds is the picker's value, picker.value: from 900 up to the role's MaxSessionDuration.",
    )
    solution_template = """
        assume_role_params = {
            "RoleArn": lab.role_arn,
            "RoleSessionName": "sts-session",
            "DurationSeconds": picker.value,
        }
    """

    def solution_value(self) -> dict:
        return {"RoleArn": self.lab.role_arn, "RoleSessionName": "sts-session", "DurationSeconds": 900}

    def judge(self, answer: Any, *args: Any) -> list[str]:
        if isinstance(answer, str) and answer.lstrip().startswith("aws "):
            raise Unusable("this is a command line; the exercise wants the parameters as JSON, as "
                           '--cli-input-json takes them: {"RoleArn": "...", "RoleSessionName": "...", '
                           '"DurationSeconds": 900}.')
        params = load_json(answer, "parameters", '{"RoleArn": "...", "RoleSessionName": "...", "DurationSeconds": 900}')
        if not isinstance(params, dict):
            raise Unusable(f"the parameters are a JSON {type(params).__name__}, not an object: write "
                           '{"RoleArn": "...", "RoleSessionName": "...", "DurationSeconds": 900}.')
        if "Credentials" in params or "AssumedRoleUser" in params:
            raise Mistake("this is AssumeRole's response; the exercise wants what you pass to it: RoleArn, "
                          "RoleSessionName and DurationSeconds.")
        left = [k for k, v in params.items() if k not in ("RoleArn", "RoleSessionName", "DurationSeconds")
                and _unfilled(v)]
        if left:
            raise Mistake(f"{', '.join(left)} {'is' if len(left) == 1 else 'are'} still empty, as "
                          "--generate-cli-skeleton wrote them, and STS refuses empty values: remove the "
                          "parameters you do not use.")
        self._model_rules(params)
        lab = self.lab
        if params["RoleArn"] != lab.role_arn:
            raise Mistake(f"RoleArn {not_the_role(params['RoleArn'], lab)}")
        if "DurationSeconds" not in params:
            raise Mistake("DurationSeconds is missing: without it STS makes the session last 3600 s (1 hour); "
                          "pass the duration you picked (picker.value).")
        maximum = self._maximum()
        seconds = params["DurationSeconds"]
        if seconds > maximum:
            raise Mistake(f"DurationSeconds {seconds} is above the MaxSessionDuration of role {lab.names.role} "
                          f"({maximum} s), so STS answers ValidationError: \"{ABOVE_MAXIMUM}\" Choose 900 to "
                          f"{maximum}, or raise the role's maximum first.")
        for name, permission in NEEDS_PERMISSION.items():
            if name in params:
                raise Mistake(f"{name} needs {permission} in the role's trust policy, which the lab's role does "
                              f"not allow: AssumeRole would be refused (AccessDenied). Remove {name}.")
        extra = [k for k in params if k not in ("RoleArn", "RoleSessionName", "DurationSeconds")]
        return [f"{', '.join(extra)} {'is' if len(extra) == 1 else 'are'} not needed for the lab's role: the call "
                "works without, so leave it out unless you mean it."] if extra else []

    def _maximum(self) -> int:
        try:
            return self.lab.max_session_duration()
        except LabError as exc:
            raise Unusable(f"{exc} (catch_up(\"03\") or `labkit catch-up 03` does it).") from None

    def _model_rules(self, params: dict) -> None:
        """Names, required members, types, lengths, patterns and ranges, from botocore's model."""
        shape = input_shape()
        members = shape.members
        for key in params:
            if key in members:
                continue
            folded = {m.lower(): m for m in members}
            guess = folded.get(key.replace("_", "").lower()) or next(
                iter(difflib.get_close_matches(key, list(members), n=1, cutoff=0.7)), None)
            mean = f'did you mean "{guess}"? ' if guess else ""
            raise Mistake(f'"{key}" is not a parameter of AssumeRole: {mean}(the names are case-sensitive: '
                          "RoleArn, RoleSessionName, DurationSeconds, ...).")
        for name in shape.required_members:
            if name not in params:
                example = "sts-session" if name == "RoleSessionName" else "the role's ARN"
                raise Mistake(f"{name} is missing: AssumeRole needs it (e.g. {example}).")
        for name, value in params.items():
            self._member_rules(name, value, members[name])
        from botocore.validate import ParamValidator

        report = ParamValidator().validate(params, shape)  # what is left: inside lists and structures
        if report.has_errors():
            raise Mistake(f"{report.generate_report().splitlines()[0]}.")

    def _member_rules(self, name: str, value: Any, member) -> None:
        kind = member.type_name
        meta = member.metadata
        wanted = _TYPES.get(kind)
        if wanted and (not isinstance(value, wanted) or isinstance(value, bool)):
            if kind == "integer" and isinstance(value, str) and value.strip().isdigit():
                raise Mistake(f'{name} is the text "{value}": write the number, {value.strip()} (no quotes).')
            if kind == "integer" and isinstance(value, float) and value.is_integer():
                raise Mistake(f"{name} is {value}: write a whole number, {int(value)}.")
            raise Mistake(f"{name} is {quoted(value)}, but AssumeRole takes a {kind} there.")
        if kind == "integer":
            low, high = meta.get("min"), meta.get("max")
            if low is not None and value < low:
                minutes = " (15 minutes), the shortest session STS gives" if name == "DurationSeconds" else ""
                raise Mistake(f"{name} {value} is below {low}{minutes}: choose {low} or more.")
            if high is not None and value > high:
                hours = " (12 hours), the longest session any role allows" if name == "DurationSeconds" else ""
                raise Mistake(f"{name} {value} is above {high}{hours}: choose at most {high}.")
        elif kind == "string":
            low, high = meta.get("min"), meta.get("max")
            if low is not None and len(value) < low:
                empty = "empty" if not value else f"only {len(value)} character{'s' if len(value) > 1 else ''} long"
                raise Mistake(f"{name} {quoted(value)} is {empty}: it needs at least {low} characters.")
            if high is not None and len(value) > high:
                raise Mistake(f"{name} is {len(value)} characters long: it may have at most {high}.")
            pattern = _plain(meta.get("pattern"))
            if pattern is not None and not pattern.fullmatch(value):
                bad = _bad_characters(value, pattern)
                allowed = " Use letters, digits and + = , . @ - _ only (e.g. sts-session)." \
                    if name == "RoleSessionName" else ""
                raise Mistake(f"{name} {quoted(value)} has {_characters(bad)}, which STS does not allow "
                              f"there.{allowed}")
