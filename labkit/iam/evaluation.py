"""Evaluating policies of one type for one request: which statements apply, and what they decide.

Rules (AWS IAM User Guide, "Policy evaluation logic" and "IAM JSON policy element reference"):

* A statement applies when all of its elements match: Action/NotAction, Resource/NotResource,
  Principal/NotPrincipal (resource-based policies only) and Condition.
* ``*`` and ``?`` are wildcards in actions and ARNs. Actions compare case-insensitively, ARNs
  case-sensitively; ``*`` in a Resource may span ``:`` and ``/``.
* Within the policies of one type: an explicit Deny that applies wins; otherwise an Allow that
  applies allows; otherwise the request is implicitly denied.

The whole request, with identity, resource, boundary and session policies together, is decided by
:func:`labkit.iam.decision.authorize`. moto 5.2 gets several of these rules wrong (see
``aws-fidelity.md``); this package does not use it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from labkit.iam.conditions import conditions_hold
from labkit.iam.context import RequestContext
from labkit.iam.errors import PolicyError
from labkit.iam.grammar import parse_policy
from labkit.iam.policy import Policy, Statement
from labkit.iam.principals import Caller, PrincipalMatch, principal_match
from labkit.iam.variables import lower_keys, resource_pattern

__all__ = [
    "Decision",
    "LayerResult",
    "MatchedStatement",
    "Request",
    "Result",
    "evaluate",
    "evaluate_policies",
    "evaluate_resource_policy",
    "names_principal_exactly",
]

Document = str | bytes | Mapping[str, Any]


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit_deny"
    IMPLICIT_DENY = "implicit_deny"


@dataclass(frozen=True)
class Request:
    """What is asked: an action on a resource, with the request context for conditions.

    ``context`` is a :class:`~labkit.iam.context.RequestContext` or a plain mapping of condition
    keys (``{"aws:username": "alice"}``); key names are case-insensitive.
    """

    action: str
    resource: str
    context: Mapping[str, Any] | RequestContext = field(default_factory=dict)

    def context_keys(self) -> dict[str, Any]:
        """The condition keys as a plain mapping."""
        if isinstance(self.context, RequestContext):
            return self.context.keys()
        return dict(self.context)


@dataclass(frozen=True)
class MatchedStatement:
    """A statement that applied to the request, and where it is."""

    policy_type: str  # "identity-based", "resource-based", "permissions boundary", "session"
    policy: str | None  # the policy's name (or ARN)
    sid: str | None
    index: int  # 1-based position in the policy
    effect: str  # "Allow" or "Deny"
    principal_match: PrincipalMatch | None = None  # resource-based policies: how it named the caller


@dataclass(frozen=True)
class Result:
    """The decision, and which policy and statement made it (when one did).

    ``matched`` lists every statement that applied (not part of equality).
    """

    decision: Decision
    policy: str | None = None
    sid: str | None = None
    matched: tuple[MatchedStatement, ...] = field(default=(), compare=False)


@dataclass(frozen=True)
class LayerResult:
    """What the policies of one type decide: the decision, the statements that applied, and for
    resource-based policies the strongest way an applying Allow named the caller."""

    decision: Decision
    matched: tuple[MatchedStatement, ...] = ()
    grant: PrincipalMatch | None = None

    def result(self) -> Result:
        effect = "Deny" if self.decision is Decision.EXPLICIT_DENY else "Allow"
        deciding = next((m for m in self.matched if m.effect == effect), None)
        if self.decision is Decision.IMPLICIT_DENY or deciding is None:
            return Result(self.decision, matched=self.matched)
        return Result(self.decision, deciding.policy, deciding.sid, self.matched)


# ---------------------------------------------------------------------------------------------
# One statement
# ---------------------------------------------------------------------------------------------


def _resource_element_matches(statement: Statement, resource: str, lowered: Mapping[str, Any]) -> bool:
    """Resource / NotResource / neither (absent, as in a trust policy: matches).

    A Resource entry whose variable has no value matches no resource. A NotResource with such a
    variable makes the statement not apply at all (the element matches nothing).
    """
    if statement.resources is None:
        return True
    patterns = statement.static_resources
    if patterns is None:
        compiled = [resource_pattern(text, lowered, variables=True) for text in statement.resources]
        if statement.not_resource and any(pattern is None for pattern in compiled):
            return False
        patterns = tuple(pattern for pattern in compiled if pattern is not None)
    hit = any(pattern.fullmatch(resource) is not None for pattern in patterns)
    return hit != statement.not_resource


def statement_applies(statement: Statement, action: str, resource: str, lowered: Mapping[str, Any]) -> bool:
    """Action, Resource and Condition all match (the Principal is checked by the caller)."""
    if (statement.action_regex.fullmatch(action) is not None) == statement.not_action:
        return False
    if not _resource_element_matches(statement, resource, lowered):
        return False
    return conditions_hold(statement.conditions, lowered, statement.variables)


def _principal(statement: Statement, caller: Caller) -> PrincipalMatch | None:
    """How the statement's Principal names the caller (None: the statement is not for them)."""
    found = principal_match(statement.principal, caller)
    if statement.not_principal:
        return PrincipalMatch.DIRECT if found is None else None
    return found


# ---------------------------------------------------------------------------------------------
# Policies of one type
# ---------------------------------------------------------------------------------------------


def evaluate_policies(
    policies: Iterable[tuple[str | None, Policy]],
    request: Request,
    *,
    policy_type: str = "identity-based",
    caller: Caller | None = None,
    lowered: Mapping[str, Any] | None = None,
) -> LayerResult:
    """Decide one type of policy: explicit deny wins, then any Allow, else implicit deny.

    With ``caller``, statements must also name the caller in Principal/NotPrincipal
    (resource-based policies). ``lowered`` is the request context with lower-cased keys, when the
    caller already computed it.
    """
    if lowered is None:
        lowered = lower_keys(request.context_keys())
    matched: list[MatchedStatement] = []
    denied = False
    grant: PrincipalMatch | None = None
    for name, policy in policies:
        for statement in policy.statements:
            found = None
            if caller is not None:
                found = _principal(statement, caller)
                if found is None:
                    continue
            if not statement_applies(statement, request.action, request.resource, lowered):
                continue
            matched.append(MatchedStatement(policy_type, name, statement.sid, statement.index,
                                            statement.effect, found))
            if statement.effect == "Deny":
                denied = True
            elif found is not None and (grant is None or found > grant):
                grant = found
    if denied:
        return LayerResult(Decision.EXPLICIT_DENY, tuple(matched), grant)
    if matched:
        return LayerResult(Decision.ALLOW, tuple(matched), grant)
    return LayerResult(Decision.IMPLICIT_DENY)


def parse_named(
    policies: Iterable[tuple[str, Document]] | Sequence[tuple[str, Document]], kind: str
) -> list[tuple[str, Policy]]:
    """Parse ``[(name, document), ...]``; a malformed one raises PolicyError naming it."""
    parsed = []
    for name, document in policies:
        try:
            parsed.append((name, parse_policy(document, kind=kind)))  # type: ignore[arg-type]
        except PolicyError as error:
            raise error.relabel(f'Policy "{name}": ') from None
    return parsed


def evaluate(policies: Iterable[tuple[str, Document]], request: Request) -> Result:
    """Evaluate identity-based policies ``[(name, document), ...]`` for one request.

    Raises PolicyError (naming the policy) when a document is malformed; a Deny statement
    without Resource is malformed, never an Allow.
    """
    return evaluate_policies(parse_named(policies, "identity"), request).result()


def evaluate_resource_policy(
    document: Document,
    caller: Caller,
    request: Request,
    name: str | None = None,
    *,
    kind: str = "resource",
) -> Result:
    """Evaluate a resource-based policy (e.g. a role's trust policy): Principal must match too.

    ``kind="trust"`` checks the document with a trust policy's stricter rules.
    """
    policy = parse_policy(document, kind=kind)  # type: ignore[arg-type]
    return evaluate_policies(
        [(name, policy)], request, policy_type="resource-based", caller=caller
    ).result()


def names_principal_exactly(
    document: Document, caller: Caller, request: Request | None = None
) -> bool:
    """Does an Allow statement's Principal name ``caller.arn`` itself (user or session ARN)?

    Naming the account, root, ``"*"`` or the role ARN does not count. With ``request`` given, the
    statement must also apply to it (action, resource, condition); without, any Allow counts.
    """
    policy = parse_policy(document, kind="resource")
    lowered = lower_keys(request.context_keys()) if request is not None else {}
    for statement in policy.statements:
        if statement.effect != "Allow" or not isinstance(statement.principal, Mapping):
            continue
        if statement.not_principal:
            continue
        named = statement.principal.get("AWS")
        named = named if isinstance(named, list) else [named]
        if caller.arn not in named or caller.kind == "root":
            continue
        if request is None or statement_applies(statement, request.action, request.resource, lowered):
            return True
    return False
