"""Reading and checking policy documents the way IAM does when you save them.

Each kind of policy has its own rules (AWS IAM User Guide, "Grammar of the IAM JSON policy
language" and the element pages):

==========  =====================================================================================
identity    attached to a user, group or role. Resource or NotResource required; no Principal or
            NotPrincipal ("Policy document should not specify a principal.").
boundary    a managed policy used as a permissions boundary: the identity rules.
session     passed to AssumeRole as Policy / PolicyArns: the identity rules.
trust       a role's trust policy: Principal required; no NotPrincipal
            (reference_policies_elements_notprincipal.html); no Resource or NotResource
            ("Has prohibited field Resource").
resource    any other resource-based policy: Principal or NotPrincipal required; Resource optional.
==========  =====================================================================================

:func:`parse_policy` returns a :class:`~labkit.iam.policy.Policy` or raises
:class:`~labkit.iam.errors.PolicyError` with both IAM's message and the lab's. Texts are parsed
once per kind and cached.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
import urllib.parse
from collections.abc import Iterator, Mapping
from typing import Any

from labkit.iam.conditions import parse_condition_block
from labkit.iam.errors import PolicyError
from labkit.iam.policy import KINDS, VARIABLES_VERSION, Policy, PolicyKind, Statement

__all__ = ["parse_policy", "validate"]

VERSIONS = ("2012-10-17", "2008-10-17")
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
IDENTITY_LIKE = ("identity", "boundary", "session")
_VENDOR = re.compile(r"^[A-Za-z0-9.-]+$")
_ACCOUNT_ID = re.compile(r"^\d{12}$")


def parse_policy(document: str | bytes | Mapping[str, Any], *, kind: PolicyKind = "identity") -> Policy:
    """Read a policy (JSON text, possibly URL-encoded as IAM's API returns it, or a dict) and
    check it the way IAM does when you save it as ``kind``.

    Raises PolicyError: ``str(error)`` says what to change, ``error.iam_message`` is IAM's
    MalformedPolicyDocument text. A Policy given back is returned as it is when it was checked as
    the same kind.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if isinstance(document, Policy) and document.kind == kind:
        return document
    if isinstance(document, bytes):
        document = document.decode("utf-8", "replace")
    if isinstance(document, Mapping):
        try:  # a dict is cached by its JSON text: the same document is often decided again
            text = json.dumps(document)
        except (TypeError, ValueError):
            return _parse(document, kind)
        document = text
    if isinstance(document, str):
        parsed, error = _parse_text(document, kind)
        if error is not None:
            raise error.relabel("")
        assert parsed is not None
        return parsed
    return _parse(document, kind)


def validate(document: str | bytes | Mapping[str, Any], kind: PolicyKind = "identity") -> PolicyError | None:
    """None when IAM would accept ``document`` as ``kind``, else the PolicyError it would raise."""
    try:
        parse_policy(document, kind=kind)
    except PolicyError as error:
        return error
    return None


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str, kind: str) -> tuple[Policy | None, PolicyError | None]:
    try:
        return _parse(text, kind), None
    except PolicyError as exc:
        return None, exc


def _parse(document: str | Mapping[str, Any], kind: str) -> Policy:
    policy = _load(document)
    if not isinstance(policy, Mapping):
        raise PolicyError(
            'A policy must be a JSON object: {"Version": "2012-10-17", "Statement": [...]}.'
        )
    _check_keys(policy, POLICY_KEYS, "The policy")
    version = policy.get("Version")
    if version is not None and version not in VERSIONS:
        raise PolicyError(
            f'Version "{version}" is not a policy language version: use "2012-10-17".',
            problem="version",
        )
    if "Id" in policy and not isinstance(policy["Id"], str):
        raise PolicyError('The policy\'s Id must be a string, e.g. "Id": "lab-policy-1".')
    variables = version == VARIABLES_VERSION
    statements = tuple(
        _statement(number, raw, kind, variables) for number, raw in _numbered(policy)
    )
    _check_unique_sids(statements)
    return Policy(policy, statements, kind)


def _load(document: str | Mapping[str, Any]) -> Any:
    """JSON text (possibly URL-encoded, as IAM's API returns it) or an already parsed mapping."""
    if isinstance(document, Mapping):
        return document
    if not isinstance(document, str):
        raise PolicyError(f"A policy must be JSON text or a dict, not {type(document).__name__}.")
    text = document
    if text.lstrip().startswith("%7B"):
        text = urllib.parse.unquote(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyError(
            f"The policy is not valid JSON: {error.msg} at line {error.lineno}, column "
            f"{error.colno}. Look for a missing comma, quote or bracket just before that point."
        ) from None


def _numbered(policy: Mapping[str, Any]) -> Iterator[tuple[int, Any]]:
    statement = policy.get("Statement")
    if statement is None:
        raise PolicyError('The policy has no Statement: add "Statement": [{"Effect": ..., ...}].')
    statements = statement if isinstance(statement, list) else [statement]
    if not statements:
        raise PolicyError("The policy's Statement list is empty: add at least one statement.")
    return enumerate(statements, start=1)


def _label(number: int, statement: Any) -> str:
    sid = statement.get("Sid") if isinstance(statement, Mapping) else None
    return f'Statement {number} (Sid "{sid}")' if sid else f"Statement {number}"


def _check_keys(mapping: Mapping[str, Any], allowed: tuple[str, ...], label: str) -> None:
    for key in mapping:
        if key not in allowed:
            guess = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f' Did you mean "{guess[0]}"?' if guess else ""
            raise PolicyError(
                f'{label} has an unknown element "{key}".{hint} Allowed: {", ".join(allowed)}.'
            )


def _statement(number: int, raw: Any, kind: str, variables: bool) -> Statement:
    label = _label(number, raw)
    if not isinstance(raw, Mapping):
        raise PolicyError(f'{label} must be an object such as {{"Effect": "Allow", ...}}.')
    _check_keys(raw, STATEMENT_KEYS, label)
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyError(f'{label}: Sid must be a string, e.g. "Sid": "AllowAssumeRole".')
    effect = _effect(raw, label)
    _principal_rules(raw, label, kind)
    _check_pair(raw, "Action", label, required=True, example='"sts:AssumeRole"',
                missing="no_action")
    actions = _as_list(raw.get("Action", raw.get("NotAction")))
    for action in actions:
        _check_action(action, label)
    _resource_rules(raw, label, kind)
    resources = None
    if "Resource" in raw or "NotResource" in raw:
        resources = tuple(_as_list(raw.get("Resource", raw.get("NotResource"))))
        for resource in resources:
            _check_resource(resource, label)
    principal = raw.get("Principal", raw.get("NotPrincipal"))
    conditions = ()
    if "Condition" in raw:
        try:
            conditions = parse_condition_block(raw["Condition"], variables=variables)
        except PolicyError as error:
            raise error.relabel(f"{label}: ") from None
    return Statement(
        index=number,
        sid=sid or None,
        effect=effect,
        actions=tuple(actions),
        not_action="NotAction" in raw,
        resources=resources,
        not_resource="NotResource" in raw,
        principal=principal,
        not_principal="NotPrincipal" in raw,
        conditions=conditions,
        variables=variables,
    )


def _effect(statement: Mapping[str, Any], label: str) -> str:
    effect = statement.get("Effect")
    if effect is None:
        raise PolicyError(f'{label} has no Effect: add "Effect": "Allow" or "Deny".')
    if effect not in ("Allow", "Deny"):
        raise PolicyError(
            f'{label} has Effect "{effect}": it must be exactly "Allow" or "Deny" '
            "(capital first letter)."
        )
    return effect


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _check_pair(
    statement: Mapping[str, Any],
    element: str,
    label: str,
    *,
    required: bool,
    example: str,
    missing: str,
    why: str = "",
) -> None:
    """Element/NotElement: at most one of the two, required or not, strings or lists of them."""
    negated = f"Not{element}"
    if element in statement and negated in statement:
        raise PolicyError(f"{label} has both {element} and {negated}: keep only one of them.")
    present = element if element in statement else negated if negated in statement else None
    if required and (present is None or statement[present] == []):
        raise PolicyError(
            f'{label} has no {element}: add "{element}": {example} (or {negated}){why}.',
            problem=missing,
        )
    if present is not None:
        values = _as_list(statement[present])
        if not values or not all(isinstance(item, str) and item for item in values):
            raise PolicyError(f"{label}: {present} must be a non-empty string or a list of them.")


def _check_action(action: str, label: str) -> None:
    if action == "*":
        return
    vendor, colon, name = action.partition(":")
    if not colon:
        raise PolicyError(
            f'{label} has Action "{action}": write it as service:ActionName, '
            'e.g. "sts:AssumeRole" or "ec2:Describe*".',
            problem="action_prefix",
        )
    if ":" in name:
        raise PolicyError(
            f'{label} has Action "{action}" with more than one colon: write it as '
            'service:ActionName, e.g. "sts:AssumeRole".',
            problem="action_colons",
        )
    if not _VENDOR.match(vendor):
        raise PolicyError(
            f'{label} has Action "{action}": "{vendor}" is not a service prefix such as "sts" or '
            '"ec2".',
            problem="action_prefix",
        )


def _check_resource(resource: str, label: str) -> None:
    if resource == "*" or resource.startswith("arn:"):
        return
    raise PolicyError(
        f'{label} has Resource "{resource}": write an ARN such as '
        '"arn:aws:iam::111122223333:role/NAME", or "*" for every resource.',
        problem="resource_format",
        value=resource,
    )


def _resource_rules(statement: Mapping[str, Any], label: str, kind: str) -> None:
    if kind == "trust":
        for name in ("Resource", "NotResource"):
            if name in statement:
                raise PolicyError(
                    f"{label} has {name}, but a role's trust policy is attached to the role it "
                    f"controls: remove {name} (the role is the resource).",
                    problem="resource_in_trust" if name == "Resource" else "not_resource_in_trust",
                )
        return
    _check_pair(
        statement,
        "Resource",
        label,
        required=kind in IDENTITY_LIKE,
        example='"*"',
        missing="no_resource",
        why=" (identity-based policies need one)",
    )


def _principal_rules(statement: Mapping[str, Any], label: str, kind: str) -> None:
    present = [name for name in ("Principal", "NotPrincipal") if name in statement]
    if kind in IDENTITY_LIKE:
        if present:
            where = {"identity": "identity-based policies", "boundary": "permissions boundaries",
                     "session": "session policies"}[kind]
            raise PolicyError(
                f"{label} has {present[0]}, but {where} apply to whoever they are attached to: "
                f"remove {present[0]} (it belongs in resource-based policies, such as a role's trust policy).",
                problem="principal_in_identity",
            )
        return
    if len(present) == 2:
        raise PolicyError(f"{label} has both Principal and NotPrincipal: keep only one of them.")
    if kind == "trust" and present == ["NotPrincipal"]:
        raise PolicyError(
            f"{label} has NotPrincipal, which a role's trust policy may not use: name who may "
            'assume the role with "Principal" instead, e.g. '
            '"Principal": {"AWS": "arn:aws:iam::111122223333:user/alice"}.',
            problem="not_principal_in_trust",
        )
    if not present:
        raise PolicyError(
            f"{label} has no Principal: say who may use it, e.g. "
            '"Principal": {"AWS": "arn:aws:iam::111122223333:root"}.',
            problem="no_principal",
        )
    _check_principal(statement[present[0]], present[0], label)


def _check_principal(value: Any, element: str, label: str) -> None:
    if value == "*":
        return
    if not isinstance(value, Mapping) or not value:
        raise PolicyError(
            f'{label}: {element} must be "*" or an object such as '
            '{"AWS": "arn:aws:iam::111122223333:user/alice"} or {"Service": "ec2.amazonaws.com"}.',
            problem="principal_value",
            value=json.dumps(value),
        )
    _check_keys(value, PRINCIPAL_KEYS, f"{label}'s {element}")
    for key, names in value.items():
        items = _as_list(names)
        if not items or not all(isinstance(item, str) and item for item in items):
            raise PolicyError(f"{label}: {element} {key} must be a non-empty string or a list of them.")
        if key != "AWS":
            continue
        for item in items:
            if item == "*" or _ACCOUNT_ID.match(item) or item.startswith("arn:"):
                continue
            raise PolicyError(
                f'{label}: {element} "AWS": "{item}" is not an account ID, an ARN or "*": write '
                'e.g. "arn:aws:iam::111122223333:user/alice" or "111122223333".',
                problem="principal_format",
                key="AWS",
                value=item,
            )


def _check_unique_sids(statements: tuple[Statement, ...]) -> None:
    seen: set[str] = set()
    for statement in statements:
        if statement.sid and statement.sid in seen:
            raise PolicyError(
                f'Two statements have Sid "{statement.sid}": give each statement its own Sid.',
                problem="duplicate_sid",
            )
        if statement.sid:
            seen.add(statement.sid)
