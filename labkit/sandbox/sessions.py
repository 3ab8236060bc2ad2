"""GetSessionToken as AWS does it, and what its credentials may do.

id_credentials_temp_request.html and id_credentials_temp_control-access_getsessiontoken.html:

* An IAM user calls it; no permission is needed ("You cannot use policies to control
  authentication operations"). Temporary credentials (a role session, or an earlier
  GetSessionToken session) cannot call it: AccessDenied "Cannot call GetSessionToken with session
  credentials".
* DurationSeconds 900 to 129600 (36 hours) for an IAM user, 43200 when not given (botocore's model
  holds the bounds; a raw request outside them gets the model's validation error).
* With SerialNumber and TokenCode (checked by mfa.py) the session is MFA-authenticated: its
  requests carry aws:MultiFactorAuthPresent true and aws:MultiFactorAuthAge; without them
  aws:MultiFactorAuthPresent is false.
* Its credentials act as the user, with the user's permissions, for every other service; but
  without MFA they cannot call IAM at all, and in STS they can call only AssumeRole and
  GetCallerIdentity (`check_limits`).

moto answers GetSessionToken with fixed example keys that it does not know afterwards, so the
sandbox issues the credentials itself: an `ASIA` key in moto's IAM (so moto acts in the user's
account), and the session (user, token, expiry, MFA) in the SessionRegistry.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from xml.sax.saxutils import escape

from labkit.sandbox import awserrors
from labkit.sandbox.awserrors import NAMESPACES
from labkit.sandbox.principals import Identity, SessionInfo, SessionRegistry, iam
from labkit.sandbox.reading import Call

DEFAULT_DURATION = 43200
MIN_DURATION = 900
MAX_DURATION = 129600
# What GetSessionToken's credentials may call in STS, with or without MFA.
STS_ALLOWED = frozenset({"AssumeRole", "GetCallerIdentity"})


def check_limits(call: Call, identity: Identity) -> None:
    """Refuse what temporary credentials may not call, before any policy is read: no session
    calls GetSessionToken or GetFederationToken; a GetSessionToken session calls only AssumeRole
    and GetCallerIdentity in STS, and IAM only when it was opened with MFA."""
    if not identity.temporary:
        return
    if call.service == "sts":
        if call.operation in ("GetSessionToken", "GetFederationToken") or (
                identity.is_user_session and call.operation not in STS_ALLOWED):
            raise awserrors.sts_session_error("session_credentials", operation=call.operation)
    elif call.service == "iam" and identity.is_user_session:
        session = identity.session
        if session is None or session.mfa_authenticated_at is None:
            raise awserrors.sts_session_error("iam_without_mfa")


def duration(params: dict[str, Any]) -> int:
    """DurationSeconds within the model's bounds (botocore checks them; a raw request may not)."""
    value = params.get("DurationSeconds")
    if value is None:
        return DEFAULT_DURATION
    if value < MIN_DURATION:
        raise awserrors.constraint_errors([f"Value '{value}' at 'durationSeconds' failed to satisfy "
                                           f"constraint: Member must have value greater than or equal to {MIN_DURATION}"])
    if value > MAX_DURATION:
        raise awserrors.constraint_errors([f"Value '{value}' at 'durationSeconds' failed to satisfy "
                                           f"constraint: Member must have value less than or equal to {MAX_DURATION}"])
    return value


def issue(identity: Identity, seconds: int, mfa: bool, now: datetime, registry: SessionRegistry) -> bytes:
    """Create the session and answer GetSessionToken's response as AWS words it."""
    backend = iam(identity.account)
    key = backend.create_temp_access_key()  # ASIA..., in the user's account; no role, no user
    issued = now.replace(microsecond=0)
    expiration = issued + timedelta(seconds=seconds)
    info = SessionInfo(
        access_key_id=key.access_key_id,
        role_arn=None,
        session_name="",
        issued_at=issued,
        mfa_authenticated_at=issued if mfa else None,
        user_name=identity.user_name,
        account=identity.account,
        session_token=_session_token(),
        expiration=expiration,
    )
    registry.add(info)
    return _response(key.access_key_id, key.secret_access_key, info.session_token or "", expiration)


def caller_identity(identity: Identity) -> bytes:
    """GetCallerIdentity for a GetSessionToken session: the user (moto does not know the key)."""
    ns = NAMESPACES["sts"]
    return (
        f'<GetCallerIdentityResponse xmlns="{ns}"><GetCallerIdentityResult>'
        f"<Arn>{escape(identity.arn)}</Arn><UserId>{escape(identity.user_id)}</UserId>"
        f"<Account>{identity.account}</Account></GetCallerIdentityResult>"
        f"<ResponseMetadata><RequestId>{_request_id()}</RequestId></ResponseMetadata>"
        "</GetCallerIdentityResponse>"
    ).encode()


def as_the_user(call: Call, identity: Identity) -> Call:
    """IAM operations that default to the caller (GetUser, ListAccessKeys, ... without UserName)
    name the user explicitly for moto, which cannot tell whose a session key is."""
    if call.service != "iam" or not identity.is_user_session or call.params.get("UserName"):
        return call
    shape = call.model.input_shape if call.model is not None else None
    if shape is None or "UserName" not in shape.members or "UserName" in shape.required_members:
        return call
    call.params = {**call.params, "UserName": identity.user_name}
    return call


def _session_token() -> str:
    """An opaque token of the length and alphabet AWS's have (base64, a few hundred characters)."""
    import base64

    return "IQoJb3JpZ2luX2Vj" + base64.b64encode(secrets.token_bytes(300)).decode()


def _request_id() -> str:
    import uuid

    return str(uuid.uuid4())


def _response(key_id: str, secret: str, token: str, expiration: datetime) -> bytes:
    ns = NAMESPACES["sts"]
    stamp = expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'<GetSessionTokenResponse xmlns="{ns}"><GetSessionTokenResult><Credentials>'
        f"<AccessKeyId>{key_id}</AccessKeyId><SecretAccessKey>{escape(secret)}</SecretAccessKey>"
        f"<SessionToken>{escape(token)}</SessionToken><Expiration>{stamp}</Expiration>"
        "</Credentials></GetSessionTokenResult>"
        f"<ResponseMetadata><RequestId>{_request_id()}</RequestId></ResponseMetadata>"
        "</GetSessionTokenResponse>"
    ).encode()
