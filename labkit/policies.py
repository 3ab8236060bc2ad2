"""The walk-through's two documents, with the placeholders filled, and what each field means."""

from __future__ import annotations

import json
from typing import Any

from labkit.errors import LabError
from labkit.iam import PolicyError, parse_policy


def assume_role_policy(role_arn: str) -> dict[str, Any]:
    """1. The policy given to the IAM user: it may call sts:AssumeRole on this one role."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Action": ["sts:AssumeRole"], "Effect": "Allow", "Resource": [role_arn]}],
    }


def trust_policy(user_arn: str) -> dict[str, Any]:
    """2. The role's trust relationship: who may assume it (the user, by ARN)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "", "Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}
        ],
    }


def account_trust_policy(account_id: str) -> dict[str, Any]:
    """A trust relationship that names the account (`root`): any principal of the account whose
    own policy allows it may assume the role."""
    return trust_policy(f"arn:aws:iam::{account_id}:root")


def ec2_read_policy() -> dict[str, Any]:
    """What the role lets its sessions do: look at EC2, change nothing."""
    return {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["ec2:Describe*"], "Resource": "*"}],
    }


FIELDS = {
    "Version": "The policy language version. Use \"2012-10-17\", the current one; the older "
    "\"2008-10-17\" lacks newer features such as policy variables.",
    "Statement": "A list of rules. Each one allows or denies something.",
    "Sid": "An optional label for the statement (empty here, as in the walk-through).",
    "Effect": "\"Allow\" or \"Deny\". A Deny anywhere always wins over an Allow.",
    "Action": "The API calls the statement is about, as service:Operation, e.g. sts:AssumeRole.",
    "Resource": "Which resources the actions may touch, by ARN. Here: the one role the user may assume.",
    "Principal": "WHO the statement is about. It is used in resource-based policies (a role's trust "
    "policy is one of them), never in a policy attached to a user. Here: the IAM user, by ARN.",
}


def explain(document: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(field, value as written, what it means) for each field of a one-statement document."""
    rows = [("Version", json.dumps(document["Version"]), FIELDS["Version"])]
    for statement in document["Statement"]:
        for key, value in statement.items():
            rows.append((key, json.dumps(value), FIELDS.get(key, "")))
    return rows


def to_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=4)


def load(text: str, kind: str = "identity") -> dict[str, Any]:
    """Parse a policy a learner wrote; a mistake gets a sentence that says what to change."""
    try:
        return parse_policy(text, kind=kind)
    except PolicyError as exc:
        raise LabError(f"This policy cannot be used: {exc}") from None
