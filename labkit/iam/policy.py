"""A policy document once parsed: its statements, ready to be matched against requests.

:class:`Policy` is the document itself (a ``dict``, equal to the JSON it was read from) with its
statements parsed into :class:`Statement` objects: actions, resources and conditions compiled
once, because the sandbox evaluates the same stored documents on every request. Build one with
:func:`labkit.iam.parse_policy`; do not mutate it.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

from labkit.iam.conditions import Condition
from labkit.iam.variables import _compile, _pieces, has_variables, resource_pattern

__all__ = ["KINDS", "Policy", "PolicyKind", "Statement", "serialize"]

PolicyKind = Literal["identity", "resource", "trust", "session", "boundary"]
KINDS: tuple[str, ...] = ("identity", "resource", "trust", "session", "boundary")
VARIABLES_VERSION = "2012-10-17"  # policy variables exist only in this language version


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list) else (value,)


@dataclass(frozen=True, eq=False)
class Statement:
    """One statement: effect, the elements it matches on, and its parsed conditions."""

    index: int  # 1-based position in the policy
    sid: str | None
    effect: str  # "Allow" or "Deny"
    actions: tuple[str, ...]
    not_action: bool  # the element is NotAction
    resources: tuple[str, ...] | None  # None: no Resource/NotResource (trust policies)
    not_resource: bool
    principal: Any  # the Principal / NotPrincipal value, None when absent
    not_principal: bool
    conditions: tuple[Condition, ...]
    variables: bool  # policy variables are replaced (Version 2012-10-17)

    @property
    def label(self) -> str:
        """ "Statement 2" or 'Statement 2 (Sid "X")', for messages."""
        return f'Statement {self.index} (Sid "{self.sid}")' if self.sid else f"Statement {self.index}"

    @cached_property
    def action_regex(self) -> re.Pattern[str]:
        """All Action/NotAction patterns as one case-insensitive regex (no variables in actions)."""
        return _action_regex(self.actions)

    @cached_property
    def static_resources(self) -> tuple[re.Pattern[str], ...] | None:
        """The Resource patterns compiled once, or None when a variable needs the request."""
        if self.resources is None:
            return ()
        if self.variables and any(has_variables(text) for text in self.resources):
            return None
        return tuple(_literal_resource(text) for text in self.resources)


@functools.lru_cache(maxsize=4096)
def _action_regex(actions: tuple[str, ...]) -> re.Pattern[str]:
    parts = [_compile(_pieces(action, {}, False) or [], ignore_case=True, arn=False).pattern
             for action in actions]
    return re.compile("|".join(f"(?:{part})" for part in parts), re.DOTALL | re.IGNORECASE)


@functools.lru_cache(maxsize=4096)
def _literal_resource(text: str) -> re.Pattern[str]:
    pattern = resource_pattern(text, {}, variables=False)
    assert pattern is not None  # without variables every entry compiles
    return pattern


class Policy(dict):
    """A parsed policy document: the JSON object itself, plus its parsed statements.

    ``kind`` is what it was checked as (identity, resource, trust, session, boundary);
    ``version`` its Version element (None when absent).
    """

    statements: tuple[Statement, ...]
    kind: str
    version: str | None

    def __init__(self, document: Mapping[str, Any], statements: tuple[Statement, ...], kind: str):
        super().__init__(document)
        self.statements = statements
        self.kind = kind
        self.version = document.get("Version")

    @property
    def variables(self) -> bool:
        return self.version == VARIABLES_VERSION

    def to_json(self, **kwargs: Any) -> str:
        return serialize(self, **kwargs)


def serialize(document: Mapping[str, Any], **kwargs: Any) -> str:
    """A document as JSON text (what IAM stores and parse_policy reads back)."""
    return json.dumps(dict(document), **kwargs)
