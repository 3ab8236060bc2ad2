"""An IAM policy evaluator that decides like AWS does, for the sandbox's gatekeeper.

Rules (AWS IAM User Guide, "Policy evaluation logic" and "IAM JSON policy element reference"):

* An explicit Deny in any applicable statement wins; otherwise at least one Allow is needed;
  otherwise the request is implicitly denied.
* A statement applies when all of its elements match: Action/NotAction, Resource/NotResource,
  Principal/NotPrincipal (resource-based policies only) and Condition.
* ``*`` and ``?`` are wildcards in actions and ARNs. Actions compare case-insensitively, ARNs
  case-sensitively; ``*`` in a Resource may span ``:`` and ``/``.
* Identity-based policies need Resource or NotResource and have no Principal; a role's trust
  policy (resource-based) needs Principal or NotPrincipal and usually has no Resource.

moto 5.2 gets several of these wrong (see docs ``aws-fidelity.md``); this module does not use it.
"""

from __future__ import annotations

import difflib
import enum
import functools
import json
import re
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from labkit.iam.conditions import (
    PolicyError,
    evaluate_condition_block,
    lower_keys,
    validate_condition_block,
    wildcard_pattern,
)

__all__ = [
    "Caller",
    "Decision",
    "PolicyError",
    "Request",
    "Result",
    "evaluate",
    "evaluate_resource_policy",
    "names_principal_exactly",
    "parse_policy",
    "principal_matches",
]

PolicyKind = Literal["identity", "resource"]
VERSIONS = ("2012-10-17", "2008-10-17")
VARIABLES_VERSION = "2012-10-17"  # policy variables exist only in this language version
POLICY_KEYS = ("Version", "Id", "Statement")
STATEMENT_KEYS = (
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
)
PRINCIPAL_KEYS = ("AWS", "Service", "Federated", "CanonicalUser")
_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROOT_ARN = re.compile(r"^arn:[\w-]+:iam::(\d{12}):root$")


class Decision(enum.Enum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit_deny"
    IMPLICIT_DENY = "implicit_deny"


@dataclass(frozen=True)
class Caller:
    """Who makes the request; matched against a resource policy's Principal."""

    arn: str
    account: str
    role_arn: str | None = None  # for role sessions: the role's IAM ARN, including its path
    service: str | None = None  # for service principals, e.g. "ec2.amazonaws.com"


@dataclass(frozen=True)
class Request:
    """What is asked: an action on a resource, with the request context for conditions."""

    action: str
    resource: str
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """The decision, and which policy and statement made it (when one did)."""

    decision: Decision
    policy: str | None = None
    sid: str | None = None


# ---------------------------------------------------------------------------------------------
# Parsing and validation
# ---------------------------------------------------------------------------------------------


def parse_policy(document: str | Mapping[str, Any], *, kind: PolicyKind = "identity") -> dict:
    """Read a policy (JSON text or dict) and check it the way IAM does when you save it.

    ``kind="identity"`` (the default) is for identity-based policies, permissions boundaries and
    session policies; ``kind="resource"`` for a role's trust policy. Raises PolicyError with a
    message that says what to change. Texts are parsed once (the sandbox evaluates the same
    stored documents on every request); do not mutate the returned dict.
    """
    if isinstance(document, str):
        parsed, error = _parse_text(document, kind)
        if error is not None:
            raise PolicyError(str(error)) from None
        return parsed
    return _parse(document, kind)


@functools.lru_cache(maxsize=2048)
def _parse_text(text: str, kind: PolicyKind) -> tuple[dict | None, PolicyError | None]:
    try:
        return _parse(text, kind), None
    except PolicyError as exc:
        return None, exc


def _parse(document: str | Mapping[str, Any], kind: PolicyKind) -> dict:
    policy = _load(document)
    if not isinstance(policy, Mapping):
        raise PolicyError(
            'A policy must be a JSON object: {"Version": "2012-10-17", "Statement": [...]}.'
        )
    _check_keys(policy, POLICY_KEYS, "The policy")
    version = policy.get("Version")
    if version is not None and version not in VERSIONS:
        raise PolicyError(
            f'Version "{version}" is not a policy language version: use "2012-10-17".'
        )
    for label, statement in _labelled(policy):
        _check_statement(statement, label, kind)
    return dict(policy)


def _load(document: str | Mapping[str, Any]) -> Any:
    """JSON text (possibly URL-encoded, as IAM's API returns it) or an already parsed mapping."""
    if isinstance(document, Mapping):
        return document
    if not isinstance(document, str | bytes):
        raise PolicyError(f"A policy must be JSON text or a dict, not {type(document).__name__}.")
    text = document.decode() if isinstance(document, bytes) else document
    if text.lstrip().startswith("%7B"):
        text = urllib.parse.unquote(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyError(
            f"The policy is not valid JSON: {error.msg} at line {error.lineno}, column "
            f"{error.colno}. Look for a missing comma, quote or bracket just before that point."
        ) from None


def _statements(policy: Mapping[str, Any]) -> list[Any]:
    statement = policy.get("Statement")
    if statement is None:
        raise PolicyError('The policy has no Statement: add "Statement": [{"Effect": ..., ...}].')
    statements = statement if isinstance(statement, list) else [statement]
    if not statements:
        raise PolicyError("The policy's Statement list is empty: add at least one statement.")
    return statements


def _labelled(policy: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """Each statement with a label for messages: "Statement 2" or "Statement 2 (Sid "X")"."""
    for number, statement in enumerate(_statements(policy), start=1):
        sid = statement.get("Sid") if isinstance(statement, Mapping) else None
        yield (f'Statement {number} (Sid "{sid}")' if sid else f"Statement {number}"), statement


def _check_keys(mapping: Mapping[str, Any], allowed: tuple[str, ...], label: str) -> None:
    for key in mapping:
        if key not in allowed:
            guess = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f' Did you mean "{guess[0]}"?' if guess else ""
            raise PolicyError(
                f'{label} has an unknown element "{key}".{hint} Allowed: {", ".join(allowed)}.'
            )


def _check_statement(statement: Any, label: str, kind: PolicyKind) -> None:
    if not isinstance(statement, Mapping):
        raise PolicyError(f'{label} must be an object such as {{"Effect": "Allow", ...}}.')
    _check_keys(statement, STATEMENT_KEYS, label)
    _check_effect(statement, label)
    _check_pair(statement, "Action", label, required=True, example='"sts:AssumeRole"')
    for action in _as_list(statement.get("Action", statement.get("NotAction"))):
        if action != "*" and ":" not in action:
            raise PolicyError(
                f'{label} has Action "{action}": write it as service:ActionName, '
                'e.g. "sts:AssumeRole" or "ec2:Describe*".'
            )
    _check_pair(statement, "Resource", label, required=kind == "identity", example='"*"')
    _check_principal_element(statement, label, kind)
    if "Condition" in statement:
        try:
            validate_condition_block(statement["Condition"])
        except PolicyError as error:
            raise PolicyError(f"{label}: {error}") from None


def _check_effect(statement: Mapping[str, Any], label: str) -> None:
    effect = statement.get("Effect")
    if effect is None:
        raise PolicyError(f'{label} has no Effect: add "Effect": "Allow" or "Deny".')
    if effect not in ("Allow", "Deny"):
        raise PolicyError(
            f'{label} has Effect "{effect}": it must be exactly "Allow" or "Deny" '
            "(capital first letter)."
        )


def _check_pair(
    statement: Mapping[str, Any], element: str, label: str, *, required: bool, example: str
) -> None:
    """Element/NotElement: at most one of the two, required or not, strings or lists of them."""
    negated = f"Not{element}"
    if element in statement and negated in statement:
        raise PolicyError(f"{label} has both {element} and {negated}: keep only one of them.")
    if required and element not in statement and negated not in statement:
        why = " (identity-based policies need one)" if element == "Resource" else ""
        raise PolicyError(
            f'{label} has no {element}: add "{element}": {example} (or {negated}){why}.'
        )
    for name in (element, negated):
        if name in statement:
            _check_strings(statement[name], name, label)


def _check_strings(value: Any, element: str, label: str) -> None:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(item, str) and item for item in values):
        raise PolicyError(f"{label}: {element} must be a non-empty string or a list of them.")


def _check_principal_element(statement: Mapping[str, Any], label: str, kind: PolicyKind) -> None:
    present = [name for name in ("Principal", "NotPrincipal") if name in statement]
    if kind == "identity":
        if present:
            raise PolicyError(
                f"{label} has {present[0]}, but identity-based policies apply to whoever they are "
                f"attached to: remove {present[0]} (it belongs in a role's trust policy)."
            )
        return
    if len(present) == 2:
        raise PolicyError(f"{label} has both Principal and NotPrincipal: keep only one of them.")
    if not present:
        raise PolicyError(
            f"{label} has no Principal: say who may use it, e.g. "
            '"Principal": {"AWS": "arn:aws:iam::111122223333:root"}.'
        )
    _check_principal(statement[present[0]], present[0], label)


def _check_principal(value: Any, element: str, label: str) -> None:
    if value == "*":
        return
    if not isinstance(value, Mapping) or not value:
        raise PolicyError(
            f'{label}: {element} must be "*" or an object such as '
            '{"AWS": "arn:aws:iam::111122223333:user/alice"} or {"Service": "ec2.amazonaws.com"}.'
        )
    _check_keys(value, PRINCIPAL_KEYS, f"{label}'s {element}")
    for key, names in value.items():
        _check_strings(names, f"{element} {key}", label)


# ---------------------------------------------------------------------------------------------
# Matching one statement
# ---------------------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def action_matches(patterns: Any, action: str) -> bool:
    """Action names compare case-insensitively, with ``*`` and ``?`` wildcards."""
    for pattern in _as_list(patterns):
        compiled = wildcard_pattern(pattern, {}, variables=False, ignore_case=True)
        if compiled is not None and compiled.fullmatch(action):
            return True
    return False


def resource_matches(
    patterns: Any, resource: str, context: Mapping[str, Any], variables: bool = True
) -> bool:
    """ARNs compare case-sensitively, with wildcards and policy variables.

    A pattern whose variable cannot be resolved matches nothing.
    """
    for pattern in _as_list(patterns):
        compiled = wildcard_pattern(pattern, context, variables=variables)
        if compiled is not None and compiled.fullmatch(resource):
            return True
    return False


def _element_matches(statement: Mapping[str, Any], element: str, matches: Any) -> bool:
    """Element / NotElement / neither (absent: matches, as for Resource in a trust policy)."""
    if element in statement:
        return matches(statement[element])
    negated = f"Not{element}"
    if negated in statement:
        return not matches(statement[negated])
    return True


def _statement_applies(
    statement: Mapping[str, Any],
    request: Request,
    context: Mapping[str, Any],
    variables: bool,
    caller: Caller | None = None,
) -> bool:
    """All elements must match: principal (resource policies), action, resource, condition."""
    if caller is not None and not _element_matches(
        statement, "Principal", lambda value: principal_matches(value, caller)
    ):
        return False
    if not _element_matches(
        statement, "Action", lambda value: action_matches(value, request.action)
    ):
        return False
    if not _element_matches(
        statement,
        "Resource",
        lambda value: resource_matches(value, request.resource, context, variables),
    ):
        return False
    return evaluate_condition_block(statement.get("Condition"), context, variables=variables)


# ---------------------------------------------------------------------------------------------
# Deciding
# ---------------------------------------------------------------------------------------------


def _decide(
    policies: Iterable[tuple[str | None, Mapping[str, Any]]],
    request: Request,
    caller: Caller | None = None,
) -> Result:
    """Explicit deny wins; otherwise the first matching Allow; otherwise implicit deny."""
    context = lower_keys(request.context)
    allow: Result | None = None
    for name, policy in policies:
        variables = policy.get("Version") == VARIABLES_VERSION
        for statement in _statements(policy):
            if not _statement_applies(statement, request, context, variables, caller):
                continue
            sid = statement.get("Sid")
            if statement["Effect"] == "Deny":
                return Result(Decision.EXPLICIT_DENY, name, sid)
            allow = allow or Result(Decision.ALLOW, name, sid)
    return allow or Result(Decision.IMPLICIT_DENY)


def evaluate(policies: Iterable[tuple[str, str | Mapping[str, Any]]], request: Request) -> Result:
    """Evaluate identity-based policies ``[(name, document), ...]`` for one request.

    Raises PolicyError (naming the policy) when a document is malformed; a Deny statement
    without Resource is malformed, never an Allow.
    """
    parsed = []
    for name, document in policies:
        try:
            parsed.append((name, parse_policy(document, kind="identity")))
        except PolicyError as error:
            raise PolicyError(f'Policy "{name}": {error}') from None
    return _decide(parsed, request)


def evaluate_resource_policy(
    document: str | Mapping[str, Any],
    caller: Caller,
    request: Request,
    name: str | None = None,
) -> Result:
    """Evaluate a resource-based policy (a role's trust policy): Principal must match too."""
    return _decide([(name, parse_policy(document, kind="resource"))], request, caller)


# ---------------------------------------------------------------------------------------------
# Principals
# ---------------------------------------------------------------------------------------------


def principal_matches(principal: Any, caller: Caller) -> bool:
    """Does a Principal element value name the caller? (AWS "AWS JSON policy elements: Principal")

    ``"*"`` and ``{"AWS": "*"}``: everyone. ``{"AWS": user or session ARN}``: exactly that ARN.
    ``{"AWS": "arn:aws:iam::ACCT:root"}`` or ``{"AWS": "ACCT"}``: any principal of account ACCT.
    ``{"AWS": role ARN}``: that role's sessions. ``{"Service": name}``: only that service.
    ``Federated`` and ``CanonicalUser`` match nobody here. Lists and several keys: any of them.
    """
    if principal == "*":
        return True
    if not isinstance(principal, Mapping):
        return False
    return any(
        _principal_value_matches(str(key), value, caller)
        for key, values in principal.items()
        for value in _as_list(values)
    )


def _principal_value_matches(key: str, value: Any, caller: Caller) -> bool:
    if not isinstance(value, str):
        return False
    if key == "Service":
        return caller.service is not None and value.lower() == caller.service.lower()
    if key != "AWS":
        return False  # Federated, CanonicalUser: no such callers in the sandbox
    if value == "*":
        return True
    if caller.service is not None:
        return False
    account = _account_of(value)
    if account is not None:
        return account == caller.account
    return value == caller.arn or (caller.role_arn is not None and value == caller.role_arn)


def _account_of(value: str) -> str | None:
    """The account an account principal names: "111122223333" or "arn:aws:iam::111122223333:root"."""
    if _ACCOUNT_ID.match(value):
        return value
    match = _ROOT_ARN.match(value)
    return match.group(1) if match else None


def names_principal_exactly(
    document: str | Mapping[str, Any], caller: Caller, request: Request | None = None
) -> bool:
    """Does an Allow statement's Principal name ``caller.arn`` itself (user or session ARN)?

    Naming the account, root, ``"*"`` or the role ARN does not count. AWS lets a same-account
    AssumeRole succeed without an identity-policy Allow in that case. With ``request`` given, the
    statement must also apply to it (action, resource, condition); without, any Allow counts.
    """
    policy = parse_policy(document, kind="resource")
    variables = policy.get("Version") == VARIABLES_VERSION
    context = lower_keys(request.context) if request is not None else {}
    for statement in _statements(policy):
        if statement["Effect"] != "Allow" or not isinstance(statement.get("Principal"), Mapping):
            continue
        named = _as_list(statement["Principal"].get("AWS"))
        if caller.arn not in named or _account_of(caller.arn) is not None:
            continue
        if request is None or _statement_applies(statement, request, context, variables, caller):
            return True
    return False
