"""Policy variables (``${aws:username}``) and the ``*`` / ``?`` wildcards of policy patterns.

AWS IAM User Guide, "IAM policy elements: Variables and tags" (reference_policies_variables.html):

* Variables exist only in policies with ``"Version": "2012-10-17"``; in any other policy (2008-10-17,
  or no Version) ``${...}`` is literal text.
* In the Resource / NotResource element a variable is replaced only in the resource part of the ARN,
  after the fifth colon; before it (service, region, account) it stays literal text.
* In the Condition element, variables are replaced in the values of string and ARN operators only.
* ``${*}``, ``${?}`` and ``${$}`` stand for the literal characters; ``${key, 'default'}`` uses the
  default when the key has no value.
* A variable whose key has no value in the request ("Policy variables with no value") is
  effectively null: nothing equals it, so an element that uses it matches nothing; a negated
  condition operator does match it. :func:`substitute_variables` returns None for it.
* A multivalued key (``aws:TagKeys``) cannot be used as a variable: it has no single value.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "MULTIVALUED",
    "as_text",
    "context_values",
    "has_variables",
    "lower_keys",
    "resource_pattern",
    "substitute_variables",
    "wildcard_pattern",
]

MULTIVALUED = (list, tuple, set, frozenset)

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_WITH_DEFAULT = re.compile(r"^\s*([^\s,']+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?$")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}

# A pattern after variable substitution: literal text, or a wildcard character from the policy.
Piece = tuple[str, bool]  # (text, is_wildcard)


def lower_keys(context: Mapping[str, Any]) -> dict[str, Any]:
    """Condition key names are case-insensitive: index the request context by lower-case name."""
    return {str(key).lower(): value for key, value in context.items()}


def context_values(lowered: Mapping[str, Any], key: str) -> tuple[list[Any] | None, bool]:
    """(the values of a context key, is it multivalued); values None when the key is absent.

    A key is multivalued when the context holds a list (or tuple, set) for it, whatever its
    length. None and an empty list count as absent.
    """
    raw = lowered.get(key.lower())
    if raw is None:
        return None, False
    if isinstance(raw, MULTIVALUED):
        values = [value for value in raw if value is not None]
        return (values or None), True
    return [raw], False


def as_text(value: Any) -> str:
    """How AWS renders a value as a string: JSON booleans as true/false, times in ISO 8601."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return str(value)


def has_variables(text: str) -> bool:
    return "${" in text


def _resolve(inner: str, lowered: Mapping[str, Any]) -> str | None:
    """The text for one ``${...}``: an escape, a context key's value, or the default value."""
    if inner.strip() in _ESCAPES:
        return _ESCAPES[inner.strip()]
    match = _WITH_DEFAULT.match(inner)
    if match is None:
        return None
    key, default = match.group(1), match.group(2)
    values, multivalued = context_values(lowered, key)
    if values is not None and not multivalued:
        return as_text(values[0])
    return default.replace("''", "'") if default is not None else None


def _pieces(text: str, lowered: Mapping[str, Any], variables: bool) -> list[Piece] | None:
    """Split policy text into literal and wildcard pieces, replacing variables (None: no value).

    Text that comes from a variable or an escape is always literal: ``${*}`` is a real asterisk.
    """
    pieces: list[Piece] = []

    def add_policy_text(chunk: str) -> None:
        for part in re.split(r"([*?])", chunk):
            if part:
                pieces.append((part, part in ("*", "?")))

    position = 0
    for match in _VARIABLE.finditer(text) if variables else ():
        add_policy_text(text[position : match.start()])
        value = _resolve(match.group(1), lowered)
        if value is None:
            return None
        pieces.append((value, False))
        position = match.end()
    add_policy_text(text[position:])
    return pieces


def substitute_variables(text: str, context: Mapping[str, Any]) -> str | None:
    """Replace policy variables in ``text`` with values from the request context.

    ``${aws:username}``-style variables take the (case-insensitively named) context key's value;
    ``${*}``, ``${?}`` and ``${$}`` stand for the literal characters; ``${key, 'default'}`` uses
    the default when the key has no value. Returns None when a variable has no value, which per
    AWS ("Policy variables with no value") means nothing can equal the text.
    """
    pieces = _pieces(text, lower_keys(context), variables=True)
    return None if pieces is None else "".join(text for text, _ in pieces)


def _compile(pieces: list[Piece], *, ignore_case: bool, arn: bool) -> re.Pattern[str]:
    segmented = arn and sum(piece.count(":") for piece, wild in pieces if not wild) >= 5
    regex, segment = [], 0
    for piece, wild in pieces:
        if not wild:
            regex.append(re.escape(piece))
            segment += piece.count(":")
        elif segmented and segment < 5:
            regex.append("[^:]*" if piece == "*" else "[^:]")
        else:
            regex.append(".*" if piece == "*" else ".")
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile("".join(regex), flags)


def wildcard_pattern(
    text: str,
    context: Mapping[str, Any],
    *,
    variables: bool = True,
    ignore_case: bool = False,
    arn: bool = False,
) -> re.Pattern[str] | None:
    """A regex for a policy pattern where ``*`` matches any run of characters and ``?`` one.

    With ``arn=True`` and a pattern of six colon-separated parts, wildcards in the first five
    parts stay within their part, as the ARN condition operators specify; in the resource part
    (and in all other patterns) ``*`` also spans ``:`` and ``/``. Returns None when a policy
    variable has no value. ``context`` may already be lower-cased (see :func:`lower_keys`).
    """
    pieces = _pieces(text, lower_keys(context), variables)
    if pieces is None:
        return None
    return _compile(pieces, ignore_case=ignore_case, arn=arn)


def _split_resource(text: str) -> tuple[str, str]:
    """(the ARN up to and including its fifth colon, the resource part); ("", text) if no ARN."""
    parts = text.split(":", 5)
    if len(parts) < 6:
        return text, ""
    return ":".join(parts[:5]) + ":", parts[5]


def resource_pattern(
    text: str, lowered: Mapping[str, Any], *, variables: bool
) -> re.Pattern[str] | None:
    """A Resource / NotResource entry as a regex (case-sensitive; ``*`` spans ``:`` and ``/``).

    Variables are replaced only after the fifth colon, and only when ``variables`` is true
    (Version 2012-10-17). Returns None when a variable in the resource part has no value: the
    entry then matches no resource.
    """
    head, tail = _split_resource(text)
    pieces = _pieces(head, {}, variables=False)
    assert pieces is not None
    if tail:
        rest = _pieces(tail, lowered, variables)
        if rest is None:
            return None
        pieces += rest
    return _compile(pieces, ignore_case=False, arn=False)
