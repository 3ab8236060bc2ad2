"""The request context: the condition keys a request carries, built the way AWS fills them.

AWS IAM User Guide, "AWS global condition context keys" (reference_policies_condition-keys.html)
and "Principal key values" (reference_policies_variables.html). What is present depends on who
calls and how:

* ``aws:PrincipalArn``, ``aws:PrincipalAccount``, ``aws:PrincipalType`` (User, AssumedRole,
  Account), ``aws:userid`` always; ``aws:username`` for IAM users only.
* ``aws:PrincipalTag/KEY``: a user's tags; for a role session, the role's tags overlaid by the
  session tags (a session tag wins over a role tag with the same key, compared case-insensitively).
* ``aws:ResourceTag/KEY``: the tags of the resource acted on, where the action supports them.
* ``aws:RequestTag/KEY`` and ``aws:TagKeys`` (multivalued): the tags the request sets.
* ``aws:TokenIssueTime`` and ``aws:MultiFactorAuthPresent`` only with temporary credentials
  (long-term access keys carry neither); ``aws:MultiFactorAuthAge`` only when MFA was used.
* ``aws:SourceIdentity`` when the session has one; ``aws:CurrentTime``, ``aws:EpochTime``,
  ``aws:SourceIp``, ``aws:RequestedRegion``, ``aws:SecureTransport`` always.

:class:`RequestContext` is the typed way to build one; ``RequestContext.keys()`` is the flat
``{"aws:PrincipalTag/team": "blue", ...}`` mapping the evaluator reads. Plain dicts of condition
keys are accepted wherever a context is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from labkit.iam.principals import Caller

__all__ = ["RequestContext", "overlay_tags"]


def overlay_tags(*layers: Mapping[str, str] | None) -> dict[str, str]:
    """Tags of several layers (e.g. role tags, then session tags): a later layer wins over an
    earlier one for the same key, compared case-insensitively, and keeps its own spelling."""
    merged: dict[str, tuple[str, str]] = {}
    for layer in layers:
        for key, value in (layer or {}).items():
            merged[str(key).lower()] = (str(key), str(value))
    return dict(merged.values())


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class RequestContext:
    """Everything AWS puts in the request context for one call (see the module's rules)."""

    caller: Caller | None = None
    now: datetime | None = None
    source_ip: str | None = None
    requested_region: str | None = None
    secure_transport: bool | None = None
    principal_tags: Mapping[str, str] = field(default_factory=dict)
    resource_tags: Mapping[str, str] = field(default_factory=dict)
    request_tags: Mapping[str, str] = field(default_factory=dict)
    token_issue_time: datetime | None = None  # temporary credentials only
    mfa_present: bool | None = None  # None: long-term keys (the key is absent)
    mfa_authenticated_at: datetime | None = None  # when MFA was used: sets Present and Age
    source_identity: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # service keys, e.g. sts:ExternalId

    def with_changes(self, **changes: Any) -> RequestContext:
        return replace(self, **changes)

    def keys(self) -> dict[str, Any]:
        """The condition keys, by name (multivalued keys as lists)."""
        keys: dict[str, Any] = {}
        caller = self.caller
        if caller is not None:
            keys["aws:PrincipalArn"] = caller.principal_arn
            keys["aws:PrincipalAccount"] = caller.account
            if caller.principal_type is not None:
                keys["aws:PrincipalType"] = caller.principal_type
            if caller.user_id is not None:
                keys["aws:userid"] = caller.user_id
            elif caller.kind == "root":
                keys["aws:userid"] = caller.account
            if caller.user_name is not None:
                keys["aws:username"] = caller.user_name
            if caller.kind != "service":
                keys["aws:ViaAWSService"] = False
        if self.now is not None:
            now = _aware(self.now)
            keys["aws:CurrentTime"] = now
            keys["aws:EpochTime"] = int(now.timestamp())
        if self.source_ip is not None:
            keys["aws:SourceIp"] = self.source_ip
        if self.requested_region is not None:
            keys["aws:RequestedRegion"] = self.requested_region
        if self.secure_transport is not None:
            keys["aws:SecureTransport"] = self.secure_transport
        if self.token_issue_time is not None:
            keys["aws:TokenIssueTime"] = _aware(self.token_issue_time)
        if self.mfa_authenticated_at is not None:
            keys["aws:MultiFactorAuthPresent"] = True
            if self.now is not None:
                age = _aware(self.now) - _aware(self.mfa_authenticated_at)
                keys["aws:MultiFactorAuthAge"] = max(0, int(age.total_seconds()))
        elif self.mfa_present is not None:
            keys["aws:MultiFactorAuthPresent"] = self.mfa_present
        if self.source_identity is not None:
            keys["aws:SourceIdentity"] = self.source_identity
        for prefix, tags in (
            ("aws:PrincipalTag/", self.principal_tags),
            ("aws:ResourceTag/", self.resource_tags),
            ("aws:RequestTag/", self.request_tags),
        ):
            for key, value in tags.items():
                keys[f"{prefix}{key}"] = value
        if self.request_tags:
            keys["aws:TagKeys"] = list(self.request_tags)
        keys.update(self.extra)
        return keys
