"""Is this identity allowed this action? AWS's evaluation, with the reason AWS would give.

Identity-based policies (user inline, attached, groups; role inline and attached), the permissions
boundary, and for role sessions the session policies: the session gets the intersection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labkit.iam import Decision, PolicyError, Request, evaluate, parse_policy
from labkit.sandbox import awserrors
from labkit.sandbox.principals import (
    Identity,
    identity_policies,
    permissions_boundary,
    session_policies,
)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    explicit_deny: bool = False
    reason: str | None = None  # the "because ..." clause of AWS's message


def _evaluate(policies: list[tuple[str, str]], request: Request) -> Decision:
    usable = []
    for name, document in policies:
        try:
            parse_policy(document)
        except PolicyError:
            continue  # a document AWS would have refused at write time never applies
        usable.append((name, document))
    return evaluate(usable, request).decision


def authorize(identity: Identity, action: str, resource: str, context: Mapping[str, Any]) -> Verdict:
    request = Request(action=action, resource=resource, context=context)
    identity_decision = _evaluate(identity_policies(identity), request)
    if identity_decision is Decision.EXPLICIT_DENY:
        return Verdict(False, True, awserrors.explicit_deny_in("identity-based"))
    layers: list[tuple[str, Decision]] = [("identity-based", identity_decision)]
    boundary = permissions_boundary(identity)
    if boundary:
        layers.append(("permissions boundary", _evaluate([boundary], request)))
    if identity.session is not None:
        policies = session_policies(identity.session)
        if policies:
            layers.append(("session", _evaluate(policies, request)))
    for kind, decision in layers:
        if decision is Decision.EXPLICIT_DENY:
            article = "a" if kind != "identity-based" else "an"
            return Verdict(False, True, f"with an explicit deny in {article} {kind} policy")
    for kind, decision in layers:
        if decision is not Decision.ALLOW:
            noun = "permissions boundary" if kind == "permissions boundary" else f"{kind} policy"
            return Verdict(False, False, f"no {noun} allows the {action} action")
    return Verdict(True)
