"""Who signed a request, and which policies apply to them: read from moto's IAM and STS state.

moto is the data plane; this module only reads it. Sessions carry what moto does not keep
(session policies, MFA, issue time, chaining), recorded by the gatekeeper when AssumeRole passes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.iam.models import iam_backends
from moto.sts.models import sts_backends

from labkit.iam import Caller, overlay_tags

PARTITION = "aws"


@dataclass
class SessionInfo:
    """A temporary session, as the gatekeeper saw it issued: a role session (AssumeRole: moto
    issued it, `role_arn` is set) or an IAM user's session (GetSessionToken: the sandbox issued
    it, `user_name`, `account`, `session_token` and `expiration` are set)."""

    access_key_id: str
    role_arn: str | None
    session_name: str
    issued_at: datetime
    policy: str | None = None
    policy_arns: list[str] = field(default_factory=list)
    mfa_authenticated_at: datetime | None = None  # when MFA was proved (carried along a chain)
    source_identity: str | None = None
    tags: dict[str, str] = field(default_factory=dict)  # session tags, incoming transitive ones too
    transitive_tag_keys: tuple[str, ...] = ()  # which of `tags` pass on to a chained session
    user_name: str | None = None  # GetSessionToken sessions only, from here on
    account: str | None = None
    session_token: str | None = None
    expiration: datetime | None = None

    @property
    def transitive_tags(self) -> dict[str, str]:
        """The tags a session this one opens inherits (id_session-tags.html, role chaining)."""
        wanted = {key.lower() for key in self.transitive_tag_keys}
        return {key: value for key, value in self.tags.items() if key.lower() in wanted}


@dataclass
class Identity:
    """The principal behind an access key."""

    account: str
    arn: str
    user_id: str
    access_key_id: str
    secret_access_key: str
    status: str
    user_name: str | None = None
    session_token: str | None = None
    expiration: datetime | None = None
    role_arn: str | None = None
    session: SessionInfo | None = None

    @property
    def is_session(self) -> bool:
        """A role session (AssumeRole's credentials)."""
        return self.role_arn is not None

    @property
    def temporary(self) -> bool:
        """Temporary credentials: a role session or a GetSessionToken session."""
        return self.session_token is not None

    @property
    def is_user_session(self) -> bool:
        """An IAM user's GetSessionToken session."""
        return self.temporary and self.role_arn is None

    @property
    def principal_arn(self) -> str:
        """aws:PrincipalArn: the role ARN for role sessions, otherwise the caller ARN."""
        return self.role_arn or self.arn

    @property
    def caller(self) -> Caller:
        """Who this is, for the policy engine."""
        return Caller(arn=self.arn, account=self.account, role_arn=self.role_arn, user_id=self.user_id)


class SessionRegistry:
    """What the gatekeeper learned about each role session at AssumeRole time."""

    def __init__(self) -> None:
        from labkit.sandbox.mfa import UsedCodes

        self._sessions: dict[str, SessionInfo] = {}
        self._assumed: dict[str, object] = {}  # access key -> moto's AssumedRole (saves a list scan)
        self._lock = threading.Lock()
        self.used_codes = UsedCodes()  # MFA codes STS accepted (each works once)

    def add(self, info: SessionInfo, assumed: object | None = None) -> None:
        with self._lock:
            self._sessions[info.access_key_id] = info
            if assumed is not None:
                self._assumed[info.access_key_id] = assumed

    def assumed(self, access_key_id: str) -> object | None:
        return self._assumed.get(access_key_id)

    def get(self, access_key_id: str) -> SessionInfo | None:
        return self._sessions.get(access_key_id)

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()
            self._assumed.clear()
        self.used_codes.clear()


def accounts() -> Iterator[tuple[str, object]]:
    for account_id, backends in list(iam_backends.items()):
        if PARTITION in backends:
            yield account_id, backends[PARTITION]


def iam(account_id: str):
    return iam_backends[account_id][PARTITION]


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def find(access_key_id: str, sessions: SessionRegistry) -> Identity | None:
    """The identity that owns `access_key_id`, or None if no account knows the key."""
    for account_id, backend in accounts():
        key = backend.access_keys.get(access_key_id)
        if key is None:
            continue
        if key.role_arn:
            return _session_identity(account_id, key, sessions)
        if not key.user_name:  # a temporary key with no role: a GetSessionToken session
            return _user_session_identity(backend, key, sessions)
        user = backend.users.get(key.user_name)
        if user is None:
            return None
        return Identity(
            account=account_id,
            arn=user.arn,
            user_id=user.id,
            access_key_id=access_key_id,
            secret_access_key=key.secret_access_key,
            status=key.status,
            user_name=user.name,
        )
    return None


def assumed_session(account_id: str, access_key_id: str):
    """moto's AssumedRole for a session key issued in `account_id` (a scan of moto's list)."""
    return sts_backends[account_id][PARTITION].get_assumed_role_from_access_key(access_key_id)


def _session_identity(account_id: str, key, sessions: SessionRegistry) -> Identity | None:
    assumed = sessions.assumed(key.access_key_id) or assumed_session(account_id, key.access_key_id)
    if assumed is None:
        return None
    return Identity(
        account=account_id,
        arn=assumed.arn,
        user_id=assumed.user_id,
        access_key_id=key.access_key_id,
        secret_access_key=key.secret_access_key,
        status=key.status,
        session_token=assumed.session_token,
        expiration=aware(assumed.expiration),
        role_arn=key.role_arn,
        session=sessions.get(key.access_key_id),
    )


def _user_session_identity(backend, key, sessions: SessionRegistry) -> Identity | None:
    info = sessions.get(key.access_key_id)
    user = backend.users.get(info.user_name) if info is not None and info.user_name else None
    if info is None or user is None:  # unknown, or the user was deleted since
        return None
    return Identity(
        account=info.account or user.account_id,
        arn=user.arn,
        user_id=user.id,
        access_key_id=key.access_key_id,
        secret_access_key=key.secret_access_key,
        status=key.status,
        user_name=user.name,
        session_token=info.session_token,
        expiration=info.expiration,
        session=info,
    )


def role_by_arn(role_arn: str):
    """The moto Role an ARN names (in whichever sandbox account it says), or None."""
    parts = role_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or not parts[5].startswith("role/"):
        return None
    account_id = parts[4]
    if account_id not in iam_backends:
        return None
    for role in iam(account_id).roles.values():
        if role.arn == role_arn:
            return role
    return None


def _managed_document(policy) -> str:
    for version in policy.versions:
        if version.is_default_version:
            return version.document
    return policy.versions[-1].document if policy.versions else "{}"


def identity_policies(identity: Identity) -> list[tuple[str, str]]:
    """(name, document) of every identity-based policy that applies to a user or a role."""
    backend = iam(identity.account)
    if identity.is_session:
        role = role_by_arn(identity.role_arn or "")
        if role is None:
            return []
        return _entity_policies(role)
    user = backend.users.get(identity.user_name or "")
    if user is None:
        return []
    found = _entity_policies(user)
    for group in backend.get_groups_for_user(user.name):
        found += [(f"group/{group.name}/{n}", d) for n, d in _entity_policies(group)]
    return found


def _entity_policies(entity) -> list[tuple[str, str]]:
    found = list(entity.policies.items())
    found += [(arn, _managed_document(p)) for arn, p in entity.managed_policies.items()]
    return found


def permissions_boundary(identity: Identity) -> tuple[str, str] | None:
    if identity.is_session:
        entity = role_by_arn(identity.role_arn or "")
    else:
        entity = iam(identity.account).users.get(identity.user_name or "")
    arn = getattr(entity, "permissions_boundary_arn", None) or getattr(entity, "permissions_boundary", None)
    if not arn or not isinstance(arn, str):
        return None
    policy = managed_policy(arn)
    return (arn, _managed_document(policy)) if policy else None


def managed_policy(policy_arn: str):
    account_id = policy_arn.split(":")[4] or None
    backends = [iam(account_id)] if account_id and account_id in iam_backends else [b for _, b in accounts()]
    for backend in backends:
        policy = backend.managed_policies.get(policy_arn)
        if policy is not None:
            return policy
    return None


def session_policies(info: SessionInfo) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if info.policy:
        found.append(("session policy", info.policy))
    for arn in info.policy_arns:
        policy = managed_policy(arn)
        if policy is not None:
            found.append((arn, _managed_document(policy)))
    return found


# --- tags, for the request context ---------------------------------------------------------------


def _tag_dict(tags) -> dict[str, str]:
    """moto keeps tags as [{"Key": k, "Value": v}, ...]."""
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in tags or []}


def user_tags(account_id: str, user_name: str) -> dict[str, str]:
    backend = iam(account_id)
    user = backend.users.get(user_name)
    if user is None:
        return {}
    return _tag_dict(backend.tagger.list_tags_for_resource(user.arn).get("Tags"))


def principal_tags(identity: Identity) -> dict[str, str]:
    """aws:PrincipalTag/*: a user's tags; a role session's role tags overlaid by its session tags."""
    if identity.is_session:
        role = role_by_arn(identity.role_arn or "")
        session_tags = identity.session.tags if identity.session is not None else {}
        return overlay_tags(_tag_dict(role.tags) if role is not None else {}, session_tags)
    if identity.user_name:
        return user_tags(identity.account, identity.user_name)
    return {}


def resource_tags(resource_arn: str) -> dict[str, str]:
    """aws:ResourceTag/*: the tags of the IAM user or role an ARN names (empty for the others)."""
    parts = resource_arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "iam" or parts[4] not in iam_backends:
        return {}
    if parts[5].startswith("role/"):
        role = role_by_arn(resource_arn)
        return _tag_dict(role.tags) if role is not None else {}
    if parts[5].startswith("user/"):
        backend = iam(parts[4])
        for user in backend.users.values():
            if user.arn == resource_arn:
                return _tag_dict(backend.tagger.list_tags_for_resource(user.arn).get("Tags"))
    return {}


def request_tags(params: Mapping[str, Any] | None) -> dict[str, str]:
    """aws:RequestTag/*: the tags a request sets, as read (reading.Call: [{"Key", "Value"}, ...])."""
    if not params:
        return {}
    tags = params.get("Tags") or []
    return {tag["Key"]: tag.get("Value", "") for tag in tags if isinstance(tag, Mapping) and "Key" in tag}
