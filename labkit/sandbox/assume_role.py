"""STS AssumeRole as AWS decides it: input constraints, who may assume, and for how long.

Rows 2a-2c and 3a-3c of aws-fidelity.md. Raises AwsError; returns what the session must remember.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from labkit.iam import Caller, RequestContext
from labkit.sandbox import awserrors
from labkit.sandbox.authorization import authorize
from labkit.sandbox.principals import Identity, request_tags, role_by_arn

SESSION_NAME = re.compile(r"^[\w+=,.@-]*$")
EXTERNAL_ID = re.compile(r"^[\w+=,.@:/-]*$")
CHAINING_LIMIT = 3600
DEFAULT_DURATION = 3600


def validate(params: Mapping[str, str]) -> None:
    """The model's constraints, reported in AWS's 'N validation errors detected' form (row 3c)."""
    problems: list[str] = []
    name = params.get("RoleSessionName")
    if name is None:
        problems.append("Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
    else:
        if len(name) < 2:
            problems.append(f"Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2")
        if len(name) > 64:
            problems.append(f"Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64")
        if not SESSION_NAME.match(name):
            problems.append(f"Value '{name}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
    arn = params.get("RoleArn")
    if arn is None:
        problems.append("Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
    elif len(arn) < 20:
        problems.append(f"Value '{arn}' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20")
    raw = params.get("DurationSeconds")
    if raw is not None:
        try:
            duration = int(raw)
        except ValueError:
            duration = None
            problems.append(f"Value '{raw}' at 'durationSeconds' failed to satisfy constraint: Member must be a number")
        if duration is not None and duration < 900:
            problems.append(f"Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900")
        if duration is not None and duration > 43200:
            problems.append(f"Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200")
    problems += _mfa_constraints(params)
    external = params.get("ExternalId")
    if external is not None and (len(external) < 2 or len(external) > 1224 or not EXTERNAL_ID.match(external)):
        problems.append(f"Value '{external}' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]* and length 2 to 1224")
    if problems:
        raise awserrors.constraint_errors(problems)


def _mfa_constraints(params: Mapping[str, Any]) -> list[str]:
    """SerialNumber 9..256 characters of [\\w+=/:,.@-]; TokenCode six digits (the model's)."""
    problems = []
    serial, code = params.get("SerialNumber"), params.get("TokenCode")
    if serial is not None and not (9 <= len(serial) <= 256 and re.fullmatch(r"[\w+=/:,.@-]*", serial)):
        problems.append(f"Value '{serial}' at 'serialNumber' failed to satisfy constraint: Member must "
                        "satisfy regular expression pattern: [\\w+=/:,.@-]*")
    if code is not None and not re.fullmatch(r"\d{6}", code):
        problems.append(f"Value '{code}' at 'tokenCode' failed to satisfy constraint: Member must "
                        "satisfy regular expression pattern: [\\d]*")
    return problems


def policy_arns(params: Mapping[str, Any]) -> list[str]:
    """PolicyArns as read (reading.Call: [{"arn": ...}, ...])."""
    return [entry["arn"] for entry in params.get("PolicyArns") or [] if entry.get("arn")]


def caller_of(identity: Identity) -> Caller:
    return identity.caller


def session_tags(params: Mapping[str, Any], incoming: Mapping[str, str]) -> dict[str, str]:
    """The new session's tags: the calling session's transitive tags, then the call's Tags
    (aws:PrincipalTag/* of the session, over the role's own tags)."""
    return {**incoming, **request_tags(params)}


def transitive_keys(params: Mapping[str, Any], incoming: Mapping[str, str]) -> tuple[str, ...]:
    """The keys that stay transitive: the inherited ones, and those this call names."""
    return (*incoming, *(params.get("TransitiveTagKeys") or []))


def check_tags(params: Mapping[str, Any], incoming: Mapping[str, str]) -> None:
    """id_session-tags.html, "Chaining roles with session tags": a tag the calling session passes
    on as transitive cannot be set again, and a transitive key must be one of the call's tags
    (AWS compares tag keys case-insensitively)."""
    keys = {key.lower() for key in request_tags(params)}
    if keys & {key.lower() for key in incoming}:
        raise awserrors.sts_session_error("transitive_conflict")
    if any(key.lower() not in keys for key in params.get("TransitiveTagKeys") or []):
        raise awserrors.sts_session_error("transitive_not_tagged")


def extra_actions(params: Mapping[str, Any], incoming: Mapping[str, str]) -> list[str]:
    """What else the call asks for: setting a source identity, or tagging the session (its own
    tags, or the calling session's transitive tags, which the new session is given)."""
    extra = []
    if params.get("SourceIdentity") is not None:
        extra.append("sts:SetSourceIdentity")
    if params.get("Tags") or params.get("TransitiveTagKeys") or incoming:  # as read: lists
        extra.append("sts:TagSession")
    return extra


def check(identity: Identity, params: Mapping[str, Any], context: RequestContext,
          incoming: Mapping[str, str]) -> int:
    """Decide an AssumeRole call; return the session duration in seconds, or raise AwsError.

    sts:AssumeRole, and sts:SetSourceIdentity / sts:TagSession when the call sets them, must each
    be allowed as labkit.iam decides: the role's trust policy, and the caller's identity policies
    unless the trust policy grants to the caller itself (same account)."""
    role_arn = params["RoleArn"]
    role = role_by_arn(role_arn)
    trust = role.assume_role_policy_document if role is not None else None
    for action in ["sts:AssumeRole", *extra_actions(params, incoming)]:
        verdict = authorize(identity, action, role_arn, context, trust_policy=trust)
        if not verdict.allowed:
            raise awserrors.access_denied("sts", identity.arn, action, role_arn, verdict.reason)
    return _duration(identity, params, role)


def _duration(identity: Identity, params: Mapping[str, Any], role) -> int:
    asked = params.get("DurationSeconds")
    duration = int(asked) if asked is not None else DEFAULT_DURATION
    if identity.is_session and duration > CHAINING_LIMIT:
        raise awserrors.validation(
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining."
        )
    maximum = int(role.max_session_duration or 3600)
    if duration > maximum:
        raise awserrors.validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
        )
    return duration
