"""STS AssumeRole as AWS decides it: input constraints, who may assume, and for how long.

Rows 2a-2c and 3a-3c of aws-fidelity.md. Raises AwsError; returns what the session must remember.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from labkit.iam import Caller
from labkit.sandbox import awserrors
from labkit.sandbox.authorization import authorize
from labkit.sandbox.principals import Identity, iam, request_tags, role_by_arn

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
    external = params.get("ExternalId")
    if external is not None and (len(external) < 2 or len(external) > 1224 or not EXTERNAL_ID.match(external)):
        problems.append(f"Value '{external}' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]* and length 2 to 1224")
    if problems:
        raise awserrors.constraint_errors(problems)


def policy_arns(params: Mapping[str, Any]) -> list[str]:
    """PolicyArns as read (reading.Call: [{"arn": ...}, ...])."""
    return [entry["arn"] for entry in params.get("PolicyArns") or [] if entry.get("arn")]


def totp_ok(seed_base32: str, code: str, at: datetime) -> bool:
    """RFC 6238 (30 s steps, 6 digits, one step of drift) on the sandbox clock."""
    try:
        key = base64.b32decode(seed_base32 + "=" * (-len(seed_base32) % 8))
    except ValueError:
        return False
    step = int(at.timestamp()) // 30
    for counter in (step - 1, step, step + 1):
        digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
        offset = digest[-1] & 0x0F
        value = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
        if f"{value:06d}" == code:
            return True
    return False


def mfa_verified(identity: Identity, params: Mapping[str, str], now: datetime) -> bool:
    serial, code = params.get("SerialNumber"), params.get("TokenCode")
    if not serial or not code or identity.is_session or not identity.user_name:
        return False
    backend = iam(identity.account)
    user = backend.users.get(identity.user_name)
    if user is None or serial not in user.mfa_devices:
        return False
    device = backend.virtual_mfa_devices.get(serial)
    if device is None:  # a hardware device: the sandbox cannot check its codes
        return bool(re.fullmatch(r"\d{6}", code))
    return totp_ok(device.base32_string_seed, code, now)


def caller_of(identity: Identity) -> Caller:
    return identity.caller


def session_tags(params: Mapping[str, str]) -> dict[str, str]:
    """The session tags an AssumeRole call sets (Tags): aws:PrincipalTag/* of the session."""
    return request_tags(params)


def extra_actions(params: Mapping[str, str]) -> list[str]:
    """What else the call asks for: setting a source identity, or tagging the session."""
    extra = []
    if params.get("SourceIdentity") is not None:
        extra.append("sts:SetSourceIdentity")
    if params.get("Tags") or params.get("TransitiveTagKeys"):  # as read: lists (reading.Call)
        extra.append("sts:TagSession")
    return extra


def check(identity: Identity, params: Mapping[str, str], context: dict[str, Any]) -> int:
    """Decide an AssumeRole call; return the session duration in seconds, or raise AwsError.

    sts:AssumeRole, and sts:SetSourceIdentity / sts:TagSession when the call sets them, must each
    be allowed as labkit.iam decides: the role's trust policy, and the caller's identity policies
    unless the trust policy grants to the caller itself (same account)."""
    validate(params)
    role_arn = params["RoleArn"]
    role = role_by_arn(role_arn)
    trust = role.assume_role_policy_document if role is not None else None
    for action in ["sts:AssumeRole", *extra_actions(params)]:
        verdict = authorize(identity, action, role_arn, context, params, trust_policy=trust)
        if not verdict.allowed:
            raise awserrors.access_denied("sts", identity.arn, action, role_arn, verdict.reason)
    return _duration(identity, params, role)


def _duration(identity: Identity, params: Mapping[str, str], role) -> int:
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
