"""The whole request: identity, resource or trust, boundary and session policies decided together.

AWS IAM User Guide, "Policy evaluation logic" (reference_policies_evaluation-logic.html) and
"Cross-account policy evaluation logic" (reference_policies_evaluation-logic-cross-account.html):

1. An explicit Deny in any of the policies wins.
2. Same account, a resource-based policy (a role's trust policy is one) that grants to the
   principal making the request allows it by itself: an implicit deny in the caller's identity
   policies, permissions boundary or session policy does not limit it. This holds for a grant to
   the user's ARN, the session's ARN, ``"*"`` / ``{"AWS": "*"}`` (usually narrowed by a
   condition such as ``aws:PrincipalArn``) and a service. A grant to a role session's **role
   ARN** (role chaining) needs no identity-based Allow either, but is still limited by an implicit
   deny in the session's permissions boundary or session policy. A grant to the account
   (``root`` or a bare account ID) delegates to the account's identity-based policies.
3. Otherwise the identity-based policies must allow it, and so must the permissions boundary and
   the session policies when there are any. A role's trust policy must always allow AssumeRole,
   and across accounts a resource-based policy must allow the request too.

:func:`authorize` returns a :class:`Verdict` with the decision, the clause AWS adds to its
AccessDenied message ("because no identity-based policy allows the sts:AssumeRole action", "with
an explicit deny in a session policy"), every statement that applied, and the context.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from labkit.iam.errors import PolicyError
from labkit.iam.evaluation import (
    Decision,
    Document,
    LayerResult,
    MatchedStatement,
    Request,
    evaluate_policies,
    parse_named,
)
from labkit.iam.grammar import parse_policy
from labkit.iam.principals import Caller, PrincipalMatch
from labkit.iam.variables import lower_keys

__all__ = [
    "BOUNDARY",
    "IDENTITY",
    "REASONS",
    "RESOURCE",
    "SESSION",
    "Verdict",
    "authorize",
    "validate_all",
]

IDENTITY = "identity-based"
RESOURCE = "resource-based"
BOUNDARY = "permissions boundary"
SESSION = "session"

# Policy type -> (AWS's clause for an explicit deny in it, for no Allow in it). One table, so the
# wording is easy to correct (aws-fidelity.md rows 1, 2a; AWS "Troubleshoot access denied error
# messages"). A role trust policy that does not allow AssumeRole gets no clause at all (row 2b).
REASONS: dict[str, tuple[str, str]] = {
    IDENTITY: (
        "with an explicit deny in an identity-based policy",
        "because no identity-based policy allows the {action} action",
    ),
    RESOURCE: (
        "with an explicit deny in a resource-based policy",
        "because no resource-based policy allows the {action} action",
    ),
    BOUNDARY: (
        "with an explicit deny in a permissions boundary",
        "because no permissions boundary allows the {action} action",
    ),
    SESSION: (
        "with an explicit deny in a session policy",
        "because no session policy allows the {action} action",
    ),
}


@dataclass(frozen=True)
class Verdict:
    """AWS's answer to one request, and why."""

    decision: Decision
    action: str
    resource: str
    reason: str | None = None  # the clause after the resource in AWS's message, None if none
    denied_by: str | None = None  # the policy type that decided a denial (None: trust policy)
    matched: tuple[MatchedStatement, ...] = ()  # every statement that applied, of every type
    context: Mapping[str, Any] = field(default_factory=dict)  # the condition keys evaluated

    @property
    def allowed(self) -> bool:
        return self.decision is Decision.ALLOW

    @property
    def explicit_deny(self) -> bool:
        return self.decision is Decision.EXPLICIT_DENY

    def message(self, caller_arn: str) -> str:
        """AWS's AccessDenied text for this denial, e.g. ``User: ... is not authorized to perform:
        sts:AssumeRole on resource: ... because no identity-based policy allows ...``."""
        on = f" on resource: {self.resource}" if self.resource and self.resource != "*" else ""
        clause = f" {self.reason}" if self.reason else ""
        return f"User: {caller_arn} is not authorized to perform: {self.action}{on}{clause}"


def _account_of_arn(arn: str) -> str | None:
    parts = arn.split(":", 5)
    return parts[4] or None if len(parts) == 6 else None


def authorize(
    request: Request,
    caller: Caller,
    *,
    identity: Iterable[tuple[str, Document]] = (),
    resource_policy: Document | None = None,
    trust_policy: Document | None = None,
    resource_policy_name: str | None = None,
    resource_account: str | None = None,
    boundary: tuple[str, Document] | None = None,
    session: Iterable[tuple[str, Document]] | None = None,
) -> Verdict:
    """Decide ``request`` made by ``caller`` as AWS does (see the module's rules).

    ``identity``: the caller's identity-based policies ``[(name, document), ...]`` (user inline
    and attached, group policies; a role session's role policies). ``resource_policy`` or
    ``trust_policy`` (a role's trust policy, for AssumeRole): the policy attached to the resource.
    ``resource_account``: the account that owns the resource (default: the resource ARN's
    account when there is a resource or trust policy, else the caller's). ``boundary``:
    ``(name, document)`` of the caller's permissions boundary. ``session``: the session policies
    of a role session. Raises PolicyError (naming the policy) for a malformed document.
    """
    keys = request.context_keys()
    lowered = lower_keys(keys)
    attached = trust_policy if trust_policy is not None else resource_policy
    if resource_account is None and attached is not None:
        resource_account = _account_of_arn(request.resource)
    same_account = resource_account is None or resource_account == caller.account

    def layer(policies: list, policy_type: str, who: Caller | None = None) -> LayerResult:
        return evaluate_policies(policies, request, policy_type=policy_type, caller=who,
                                 lowered=lowered)

    identity_result = layer(parse_named(identity, "identity"), IDENTITY)
    resource_result = None
    if attached is not None:
        kind = "trust" if trust_policy is not None else "resource"
        parsed = parse_named([(resource_policy_name or kind, attached)], kind)
        parsed = [(resource_policy_name, parsed[0][1])]
        resource_result = layer(parsed, RESOURCE, caller)
    boundary_result = layer(parse_named([boundary], "boundary"), BOUNDARY) if boundary else None
    session_list = list(session or ())
    session_result = layer(parse_named(session_list, "session"), SESSION) if session_list else None

    layers = {IDENTITY: identity_result, RESOURCE: resource_result, BOUNDARY: boundary_result,
              SESSION: session_result}
    matched = tuple(m for result in layers.values() if result is not None for m in result.matched)

    def verdict(decision: Decision, denied_by: str | None = None, explicit: bool = False) -> Verdict:
        reason = None
        if denied_by is not None:
            reason = REASONS[denied_by][0 if explicit else 1].format(action=request.action)
        return Verdict(decision, request.action, request.resource, reason, denied_by, matched, keys)

    for policy_type, result in layers.items():
        if result is not None and result.decision is Decision.EXPLICIT_DENY:
            return verdict(Decision.EXPLICIT_DENY, policy_type, explicit=True)

    def limits() -> Verdict | None:
        """An implicit deny in the boundary or the session policies, which limit most grants."""
        for policy_type in (BOUNDARY, SESSION):
            result = layers[policy_type]
            if result is not None and result.decision is not Decision.ALLOW:
                return verdict(Decision.IMPLICIT_DENY, policy_type)
        return None

    granted = resource_result is not None and resource_result.decision is Decision.ALLOW
    if granted and caller.kind == "service":
        return verdict(Decision.ALLOW)
    if granted and same_account:
        assert resource_result is not None
        if resource_result.grant is PrincipalMatch.DIRECT:
            return verdict(Decision.ALLOW)
        if resource_result.grant is PrincipalMatch.ROLE:
            return limits() or verdict(Decision.ALLOW)

    if trust_policy is not None and not granted:
        return verdict(Decision.IMPLICIT_DENY)  # AWS names no policy type here (row 2b)
    identity_allows = identity_result.decision is Decision.ALLOW or caller.kind == "root"
    if not identity_allows:
        return verdict(Decision.IMPLICIT_DENY, IDENTITY)
    limited = limits()
    if limited is not None:
        return limited
    if not same_account and not granted:
        return verdict(Decision.IMPLICIT_DENY, RESOURCE)
    return verdict(Decision.ALLOW)


def validate_all(documents: Iterable[tuple[str, Document]], kind: str) -> list[tuple[str, Document]]:
    """The documents IAM would have accepted as ``kind`` (the others never apply)."""
    usable = []
    for name, document in documents:
        try:
            parse_policy(document, kind=kind)  # type: ignore[arg-type]
        except PolicyError:
            continue
        usable.append((name, document))
    return usable
