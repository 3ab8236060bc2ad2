"""Is this identity allowed this action? moto's state read into labkit.iam, which decides.

This module only gathers what the policy engine needs from the sandbox: the caller's identity
policies (user inline and attached, groups; a role session's role policies), permissions boundary
and session policies, a role's trust policy, and the tags for the request context. The decision
and AWS's "because ..." clause come from :func:`labkit.iam.authorize`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from labkit import iam
from labkit.iam import Decision, Request, RequestContext, Verdict
from labkit.sandbox.principals import (
    Identity,
    identity_policies,
    permissions_boundary,
    principal_tags,
    request_tags,
    resource_tags,
    session_policies,
)

__all__ = ["Verdict", "authorize", "request_context"]

_NO_TRUST = object()


def request_context(
    identity: Identity,
    base: Mapping[str, Any],
    resource: str,
    params: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The gatekeeper's context keys plus the tags: the principal's, the resource's and the
    request's (aws:PrincipalTag/*, aws:ResourceTag/*, aws:RequestTag/*, aws:TagKeys)."""
    tags = RequestContext(
        principal_tags=principal_tags(identity),
        resource_tags=resource_tags(resource),
        request_tags=request_tags(params),
    ).keys()
    return {**base, **tags}


def authorize(
    identity: Identity,
    action: str,
    resource: str,
    context: Mapping[str, Any],
    params: Mapping[str, str] | None = None,
    *,
    trust_policy: Any = _NO_TRUST,
) -> Verdict:
    """AWS's verdict on ``action`` on ``resource`` by ``identity``.

    With ``trust_policy`` (AssumeRole: the role's stored trust policy, or None when the role does
    not exist), the trust policy must allow it too. A stored document IAM would have refused at
    write time never applies (moto's validator lets some through).
    """
    request = Request(action, resource, request_context(identity, context, resource, params))
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
