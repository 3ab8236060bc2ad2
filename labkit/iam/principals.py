"""Who makes a request (:class:`Caller`), and how a Principal element names them.

AWS IAM User Guide, "AWS JSON policy elements: Principal" (reference_policies_elements_principal.html)
and "Policy evaluation logic" (reference_policies_evaluation-logic.html):

* ``"*"`` and ``{"AWS": "*"}`` name everyone.
* ``{"AWS": user ARN}``, ``{"AWS": session ARN}``: exactly that principal (never a prefix).
* ``{"AWS": role ARN}``: that role's sessions. Within one account such a grant is still limited by
  an implicit deny in the session's permissions boundary or session policy.
* ``{"AWS": "arn:aws:iam::ACCT:root"}`` or ``{"AWS": "ACCT"}``: the account, which delegates to
  its own identity-based policies.
* ``{"Service": name}``: only that service. ``Federated``, ``CanonicalUser``: nobody here.

How a grant names the caller decides what else must allow the request (see
:mod:`labkit.iam.decision`), so :func:`principal_match` says which of these it was.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Caller", "PrincipalMatch", "account_of", "principal_match", "principal_matches"]

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_ROOT_ARN = re.compile(r"^arn:[\w-]+:iam::(\d{12}):root$")


@dataclass(frozen=True)
class Caller:
    """Who makes the request; matched against a resource policy's Principal.

    ``arn`` is the caller's own ARN (a user, ``arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`` for a
    role session, ``arn:aws:iam::ACCT:root`` for the account's root user, the service name for a
    service). ``role_arn`` is the role's IAM ARN (with its path) for role sessions; ``service`` the
    service principal's name; ``user_id`` the unique ID (``AIDA...``, or ``AROA...:session`` for a
    role session).
    """

    arn: str
    account: str
    role_arn: str | None = None  # for role sessions: the role's IAM ARN, including its path
    service: str | None = None  # for service principals, e.g. "ec2.amazonaws.com"
    user_id: str | None = None

    @property
    def kind(self) -> str:
        """"service", "root", "role_session" or "user"."""
        if self.service is not None:
            return "service"
        if self.role_arn is not None:
            return "role_session"
        if _ROOT_ARN.match(self.arn):
            return "root"
        return "user"

    @property
    def principal_arn(self) -> str:
        """``aws:PrincipalArn``: the role's ARN for a role session, otherwise the caller's ARN."""
        return self.role_arn or self.arn

    @property
    def principal_type(self) -> str | None:
        """``aws:PrincipalType``: User, AssumedRole or Account (absent for services)."""
        return {"user": "User", "role_session": "AssumedRole", "root": "Account"}.get(self.kind)

    @property
    def user_name(self) -> str | None:
        """``aws:username``: an IAM user's friendly name (absent for everyone else)."""
        if self.kind != "user" or ":user/" not in self.arn:
            return None
        return self.arn.rsplit("/", 1)[-1]


class PrincipalMatch(enum.IntEnum):
    """How a Principal element names the caller, weakest first."""

    ACCOUNT = 1  # the account (root ARN or bare account ID): delegates to identity policies
    ROLE = 2  # the role of a role session (role ARN): limited by boundary and session policy
    DIRECT = 3  # the caller itself: user or session ARN, "*", {"AWS": "*"}, the service


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def account_of(value: str) -> str | None:
    """The account an account principal names: "111122223333" or "arn:aws:iam::111122223333:root"."""
    if _ACCOUNT_ID.match(value):
        return value
    match = _ROOT_ARN.match(value)
    return match.group(1) if match else None


def _value_match(key: str, value: Any, caller: Caller) -> PrincipalMatch | None:
    if not isinstance(value, str):
        return None
    if key == "Service":
        if caller.service is not None and value.lower() == caller.service.lower():
            return PrincipalMatch.DIRECT
        return None
    if key != "AWS":
        return None  # Federated, CanonicalUser: no such callers in the sandbox
    if value == "*":
        return PrincipalMatch.DIRECT
    if caller.service is not None:
        return None
    if value == caller.arn:
        return PrincipalMatch.DIRECT
    account = account_of(value)
    if account is not None:
        return PrincipalMatch.ACCOUNT if account == caller.account else None
    if caller.role_arn is not None and value == caller.role_arn:
        return PrincipalMatch.ROLE
    return None


def principal_match(principal: Any, caller: Caller) -> PrincipalMatch | None:
    """How a Principal element value names the caller (the strongest way), or None if it does not.

    A list and several keys name any of their entries.
    """
    if principal == "*":
        return PrincipalMatch.DIRECT
    if not isinstance(principal, Mapping):
        return None
    best: PrincipalMatch | None = None
    for key, values in principal.items():
        for value in _as_list(values):
            found = _value_match(str(key), value, caller)
            if found is not None and (best is None or found > best):
                best = found
    return best


def principal_matches(principal: Any, caller: Caller) -> bool:
    """Does a Principal element value name the caller, in any way?"""
    return principal_match(principal, caller) is not None
