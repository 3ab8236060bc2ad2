"""EC2's encoded authorization failure messages, and STS DecodeAuthorizationMessage for them.

AWS encrypts the details of a refused mutating EC2 call into an opaque string; only
`sts:DecodeAuthorizationMessage` (with that permission) turns it back into JSON. The sandbox keeps
the details in memory under a random opaque token, so the same two steps work here.

The decoded message has AWS's shape (API_DecodeAuthorizationMessage.html lists what it holds;
the AWS CLI's example, awscli/examples/sts/decode-authorization-message.rst, shows the JSON):

    {"allowed": false, "explicitDeny": true,
     "matchedStatements": {"items": [{"statementId": "VisualEditor0", "effect": "DENY",
         "principals": {"items": [{"value": "AROA..."}]}, "principalGroups": {"items": []},
         "actions": {"items": [{"value": "ec2:RunInstances"}]},
         "resources": {"items": [{"value": "*"}]}, "conditions": {"items": []}}]},
     "failures": {"items": []},
     "context": {"principal": {"id": "AROA...:Ana", "arn": "arn:aws:sts::...:assumed-role/..."},
                 "action": "ec2:RunInstances", "resource": "...",
                 "conditions": {"items": [{"key": "aws:Region", "values": {"items": [{"value":
                 "us-east-1"}]}}, ...]}}}

Every list is {"items": [...]}, every value a string. The matched statements are the statements
that applied to the request (labkit.iam's Verdict), of every policy type; "principals" holds the
unique ID of the user or role the policy is attached to (a group's policy: the group's ID in
"principalGroups"). Uncertain, and kept here to correct in one place: the keys for NotAction /
NotResource ("notActions", "notResources"), the form of a statement's conditions (listed like the
context's, by key), and the action's form in the context: the CLI's newest example writes
"RunInstances", older published outputs "ec2:StopInstances"; the prefixed form is kept.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from labkit.iam import Verdict, parse_policy
from labkit.sandbox import awserrors


@dataclass(frozen=True)
class PolicySource:
    """A policy that took part in the decision, and whom it is attached to."""

    policy_type: str  # labkit.iam's: "identity-based", "resource-based", ...
    name: str | None  # as the Verdict's matched statements name it
    document: Any
    kind: str = "identity"  # how labkit.iam parses it: identity, trust, session, boundary
    principals: tuple[str, ...] = ()  # unique IDs of the user or role it is attached to
    groups: tuple[str, ...] = ()  # unique IDs of the group it is attached to


def _items(values: Iterable[Any]) -> dict[str, list[dict[str, str]]]:
    return {"items": [{"value": _text(value)} for value in values]}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def condition_items(keys: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Context keys as AWS lists them: [{"key": ..., "values": {"items": [{"value": ...}]}}]."""
    return {"items": [{"key": key, "values": _items(_as_list(value))} for key, value in keys.items()
                      if value is not None]}


def _statement_conditions(raw: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    by_key: dict[str, list[Any]] = {}
    for block in (raw.get("Condition") or {}).values():
        if isinstance(block, Mapping):
            for key, value in block.items():
                by_key.setdefault(key, []).extend(_as_list(value))
    return condition_items(by_key)


def statement_entry(source: PolicySource, index: int, effect: str) -> dict[str, Any] | None:
    """One matched statement in AWS's form (None if its policy cannot be read back)."""
    try:
        policy = parse_policy(source.document, kind=source.kind)  # type: ignore[arg-type]
    except ValueError:
        return None
    statements = policy.get("Statement")
    raw = _as_list(statements)[index - 1] if statements is not None else None
    if not isinstance(raw, Mapping):
        return None
    entry: dict[str, Any] = {"statementId": str(raw.get("Sid", "")), "effect": effect.upper()}
    principals = list(source.principals)
    if not principals and isinstance(raw.get("Principal"), Mapping):
        principals = [v for vs in raw["Principal"].values() for v in _as_list(vs)]
    entry["principals"] = _items(principals)
    entry["principalGroups"] = _items(source.groups)
    for element, key in (("Action", "actions"), ("NotAction", "notActions"),
                         ("Resource", "resources"), ("NotResource", "notResources")):
        if element in raw:
            entry[key] = _items(_as_list(raw[element]))
    entry["conditions"] = _statement_conditions(raw)
    return entry


def decoded(verdict: Verdict, *, principal: Mapping[str, str], sources: Iterable[PolicySource]) -> dict:
    """The decoded message for a refused request, as AWS's DecodeAuthorizationMessage returns it."""
    by_name = {(source.policy_type, source.name): source for source in sources}
    matched = []
    for statement in verdict.matched:
        source = by_name.get((statement.policy_type, statement.policy))
        entry = statement_entry(source, statement.index, statement.effect) if source else None
        if entry is not None:
            matched.append(entry)
    return {
        "allowed": verdict.allowed,
        "explicitDeny": verdict.explicit_deny,
        "matchedStatements": {"items": matched},
        "failures": {"items": []},
        "context": {
            "principal": dict(principal),
            "action": verdict.action,
            "resource": verdict.resource,
            "conditions": condition_items(verdict.context),
        },
    }


class AuthorizationMessages:
    def __init__(self) -> None:
        self._messages: dict[str, str] = {}
        self._lock = threading.Lock()

    def encode(self, message: Mapping[str, Any]) -> str:
        """An opaque token standing for the decoded message (`decoded()`'s)."""
        token = secrets.token_urlsafe(192)
        with self._lock:
            self._messages[token] = json.dumps(message, separators=(",", ":"))
        return token

    def decode(self, token: str) -> bytes:
        """The DecodeAuthorizationMessage response body, or AWS's error for an unknown message."""
        message = self._messages.get(token or "")
        if message is None:
            raise awserrors.AwsError(400, "InvalidAuthorizationMessageException",
                                     "Invalid authorization message")
        return (
            '<DecodeAuthorizationMessageResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<DecodeAuthorizationMessageResult><DecodedMessage>{escape(message)}</DecodedMessage>"
            "</DecodeAuthorizationMessageResult><ResponseMetadata><RequestId>"
            f"{secrets.token_hex(16)}</RequestId></ResponseMetadata></DecodeAuthorizationMessageResponse>"
        ).encode()

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
