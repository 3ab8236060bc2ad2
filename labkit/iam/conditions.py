"""The Condition element of IAM JSON policies, evaluated the way AWS documents it.

Rules (AWS IAM User Guide, "IAM JSON policy elements: Condition operators" and "Condition"):

* Several operators in one Condition block: all must be true (AND).
* Several keys under one operator: all must be true (AND).
* Several values for one key in the policy: any may match (OR).
* Condition key names are case-insensitive; String values are case-sensitive unless the operator
  ends in ``IgnoreCase``.
* A key missing from the request context makes a positive operator false, a negated operator
  (``StringNotEquals``, ``NotIpAddress``, ...) true, and any ``...IfExists`` operator true.
  ``Null`` tests for the missing key itself. ``ForAllValues:`` is true for a missing key,
  ``ForAnyValue:`` false.
* Policy variables (``${aws:username}``, ``${aws:PrincipalTag/team}``, the escapes ``${*}``,
  ``${?}``, ``${$}`` and defaults ``${aws:username, 'guest'}``) are replaced in String and Arn
  condition values, and in the Resource element. A variable the request context cannot resolve
  makes that value match nothing ("Policy variables with no value"): :func:`substitute_variables`
  returns ``None`` for it. Policies without ``"Version": "2012-10-17"`` take ``${...}`` literally.

Malformed conditions raise :class:`PolicyError`; :mod:`labkit.iam` exports it.
"""

from __future__ import annotations

import base64
import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "PolicyError",
    "evaluate_condition_block",
    "lower_keys",
    "substitute_variables",
    "validate_condition_block",
    "wildcard_pattern",
]


class PolicyError(ValueError):
    """A policy document AWS would refuse; the message says what to change."""


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------

SCALARS = (str, int, float, bool)


def lower_keys(context: Mapping[str, Any]) -> dict[str, Any]:
    """Condition key names are case-insensitive: index the request context by lower-case name."""
    return {str(key).lower(): value for key, value in context.items()}


def _context_values(lowered: Mapping[str, Any], key: str) -> list[Any] | None:
    """The values of a context key as a list, or None when the key is absent (or empty/None)."""
    raw = lowered.get(key.lower())
    if raw is None:
        return None
    if isinstance(raw, list | tuple | set | frozenset):
        values = [value for value in raw if value is not None]
        return values or None
    return [raw]


def _policy_values(raw: Any) -> list[Any]:
    """A condition value in a policy is a scalar or a list of scalars."""
    return list(raw) if isinstance(raw, list) else [raw]


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


def _number(value: Any) -> Decimal | None:
    """A number from an int, float or numeric string; None when it is not one (bools are not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _date(value: Any) -> datetime | None:
    """A UTC datetime from a datetime, an ISO 8601 string or epoch seconds (number or string)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    number = _number(value)
    if number is not None:
        try:
            return datetime.fromtimestamp(float(number), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _boolean(value: Any) -> bool | None:
    """True/False from a bool or the strings "true"/"false" (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _network(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR block (a single address counts as /32 or /128)."""
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# Policy variables and wildcards
# ---------------------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_WITH_DEFAULT = re.compile(r"^\s*([^\s,']+)\s*(?:,\s*'((?:[^']|'')*)'\s*)?$")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}

# A pattern after variable substitution: literal text, or a wildcard character from the policy.
Piece = tuple[str, bool]  # (text, is_wildcard)


def _resolve(inner: str, lowered: Mapping[str, Any]) -> str | None:
    """The text for one ``${...}``: an escape, a context key's value, or the default value."""
    if inner.strip() in _ESCAPES:
        return _ESCAPES[inner.strip()]
    match = _WITH_DEFAULT.match(inner)
    if match is None:
        return None
    key, default = match.group(1), match.group(2)
    values = _context_values(lowered, key)
    if values is not None and len(values) == 1:
        return as_text(values[0])
    return default.replace("''", "'") if default is not None else None


def _pieces(text: str, lowered: Mapping[str, Any], variables: bool) -> list[Piece] | None:
    """Split policy text into literal and wildcard pieces, replacing variables (None: unresolved).

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
    the default when the key is missing. Returns None when a variable cannot be resolved, which
    per AWS ("Policy variables with no value") means the policy element does not match.
    """
    pieces = _pieces(text, lower_keys(context), variables=True)
    return None if pieces is None else "".join(text for text, _ in pieces)


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
    variable cannot be resolved.
    """
    pieces = _pieces(text, lower_keys(context), variables)
    if pieces is None:
        return None
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


# ---------------------------------------------------------------------------------------------
# Operators
# ---------------------------------------------------------------------------------------------

Prepare = Callable[[Any, Mapping[str, Any], bool], Any]  # policy value -> comparable (None: skip)
Test = Callable[[Any, Any], bool]  # (context value, prepared policy value) -> match


@dataclass(frozen=True)
class Family:
    """How one kind of operator reads policy values and compares a context value with them."""

    prepare: Prepare
    test: Test
    check: Callable[[Any], bool]  # is this policy value acceptable at all (validation)
    expects: str  # for error messages


def _prepare_text(value: Any, lowered: Mapping[str, Any], variables: bool) -> str | None:
    text = as_text(value)
    if not variables:
        return text
    pieces = _pieces(text, lowered, variables)
    return None if pieces is None else "".join(piece for piece, _ in pieces)


def _prepare_glob(value: Any, lowered: Mapping[str, Any], variables: bool) -> Any:
    return wildcard_pattern(as_text(value), lowered, variables=variables)


def _prepare_arn(value: Any, lowered: Mapping[str, Any], variables: bool) -> Any:
    return wildcard_pattern(as_text(value), lowered, variables=variables, arn=True)


def _matches_pattern(actual: Any, pattern: re.Pattern[str]) -> bool:
    return pattern.fullmatch(as_text(actual)) is not None


def _compare_numbers(compare: Callable[[Decimal, Decimal], bool]) -> Family:
    def test(actual: Any, expected: Decimal) -> bool:
        number = _number(actual)
        return number is not None and compare(number, expected)

    return Family(lambda v, _c, _x: _number(v), test, lambda v: _number(v) is not None, "a number")


def _compare_dates(compare: Callable[[datetime, datetime], bool]) -> Family:
    def test(actual: Any, expected: datetime) -> bool:
        moment = _date(actual)
        return moment is not None and compare(moment, expected)

    return Family(
        lambda v, _c, _x: _date(v),
        test,
        lambda v: _date(v) is not None,
        'a date such as "2026-01-31T12:00:00Z" or epoch seconds',
    )


def _in_network(actual: Any, network: Any) -> bool:
    try:
        address = ipaddress.ip_address(as_text(actual).strip())
    except ValueError:
        return False
    return address.version == network.version and address in network


def _binary_equal(actual: Any, expected: str) -> bool:
    return as_text(actual) == expected


def _any_scalar(value: Any) -> bool:
    return isinstance(value, SCALARS)


_STRING = Family(_prepare_text, lambda a, e: as_text(a) == e, _any_scalar, "a string")
_STRING_IC = Family(
    _prepare_text, lambda a, e: as_text(a).casefold() == e.casefold(), _any_scalar, "a string"
)
_LIKE = Family(_prepare_glob, _matches_pattern, _any_scalar, "a string")
_ARN = Family(_prepare_arn, _matches_pattern, _any_scalar, "an ARN")
_BOOL = Family(
    lambda v, _c, _x: _boolean(v),
    lambda a, e: _boolean(a) is e,
    lambda v: _boolean(v) is not None,
    '"true" or "false"',
)
_BINARY = Family(lambda v, _c, _x: as_text(v), _binary_equal, _any_scalar, "base64 text")
_IP = Family(
    lambda v, _c, _x: _network(v),
    _in_network,
    lambda v: _network(v) is not None,
    'an IP address or CIDR block such as "203.0.113.0/24"',
)

# Operator name (lower case) -> (canonical name, family, negated).
BASE_OPERATORS: dict[str, tuple[str, Family, bool]] = {
    name.lower(): (name, family, negated)
    for name, family, negated in [
        ("StringEquals", _STRING, False),
        ("StringNotEquals", _STRING, True),
        ("StringEqualsIgnoreCase", _STRING_IC, False),
        ("StringNotEqualsIgnoreCase", _STRING_IC, True),
        ("StringLike", _LIKE, False),
        ("StringNotLike", _LIKE, True),
        ("NumericEquals", _compare_numbers(lambda a, b: a == b), False),
        ("NumericNotEquals", _compare_numbers(lambda a, b: a == b), True),
        ("NumericLessThan", _compare_numbers(lambda a, b: a < b), False),
        ("NumericLessThanEquals", _compare_numbers(lambda a, b: a <= b), False),
        ("NumericGreaterThan", _compare_numbers(lambda a, b: a > b), False),
        ("NumericGreaterThanEquals", _compare_numbers(lambda a, b: a >= b), False),
        ("DateEquals", _compare_dates(lambda a, b: a == b), False),
        ("DateNotEquals", _compare_dates(lambda a, b: a == b), True),
        ("DateLessThan", _compare_dates(lambda a, b: a < b), False),
        ("DateLessThanEquals", _compare_dates(lambda a, b: a <= b), False),
        ("DateGreaterThan", _compare_dates(lambda a, b: a > b), False),
        ("DateGreaterThanEquals", _compare_dates(lambda a, b: a >= b), False),
        ("Bool", _BOOL, False),
        ("BinaryEquals", _BINARY, False),
        ("IpAddress", _IP, False),
        ("NotIpAddress", _IP, True),
        ("ArnEquals", _ARN, False),  # AWS: ArnEquals and ArnLike behave the same
        ("ArnLike", _ARN, False),
        ("ArnNotEquals", _ARN, True),
        ("ArnNotLike", _ARN, True),
    ]
}
SET_QUALIFIERS = {"forallvalues": "ForAllValues", "foranyvalue": "ForAnyValue"}
_ALL_NAMES = [name for name, _, _ in BASE_OPERATORS.values()] + ["Null"]


@dataclass(frozen=True)
class Operator:
    """A parsed operator such as ``ForAnyValue:StringNotLikeIfExists``."""

    name: str  # as written in the policy
    family: Family | None  # None for Null
    negated: bool = False
    if_exists: bool = False
    qualifier: str | None = None  # "ForAllValues", "ForAnyValue" or None


def _unknown_operator(name: str) -> PolicyError:
    base = name.split(":", 1)[-1]
    guesses = difflib.get_close_matches(base, _ALL_NAMES, n=1, cutoff=0.6)
    hint = f' Did you mean "{guesses[0]}"?' if guesses else ""
    return PolicyError(
        f'Condition operator "{name}" is not one AWS knows.{hint} Use one of StringEquals, '
        "StringLike, NumericLessThan, DateGreaterThan, Bool, IpAddress, ArnLike, Null, ... "
        '(optionally ending in "IfExists", or prefixed "ForAnyValue:" / "ForAllValues:").'
    )


def parse_operator(name: str) -> Operator:
    """Split an operator name into set qualifier, base operator and ``IfExists`` suffix."""
    qualifier, _, base = name.rpartition(":")
    if qualifier and qualifier.lower() not in SET_QUALIFIERS:
        raise _unknown_operator(name)
    lowered = base.lower()
    if lowered == "null":
        if qualifier:
            raise PolicyError(
                f'Condition operator "{name}": Null takes no ForAnyValue/ForAllValues.'
            )
        return Operator(name, None)
    if_exists = lowered.endswith("ifexists") and lowered[: -len("ifexists")] in BASE_OPERATORS
    if if_exists:
        lowered = lowered[: -len("ifexists")]
    if lowered not in BASE_OPERATORS:
        raise _unknown_operator(name)
    _, family, negated = BASE_OPERATORS[lowered]
    return Operator(name, family, negated, if_exists, SET_QUALIFIERS.get(qualifier.lower()))


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def validate_condition_block(condition: Any) -> None:
    """Raise PolicyError unless ``condition`` is ``{operator: {key: value or [values]}}``."""
    if not isinstance(condition, Mapping):
        raise PolicyError(
            'Condition must be an object such as {"StringEquals": {"sts:ExternalId": "abc"}}.'
        )
    for name, keys in condition.items():
        operator = parse_operator(str(name))
        if not isinstance(keys, Mapping) or not keys:
            raise PolicyError(
                f'Condition operator "{name}" needs an object of condition keys, '
                f'e.g. "{name}": {{"aws:username": "alice"}}.'
            )
        for key, raw in keys.items():
            _validate_values(operator, str(key), raw)


def _validate_values(operator: Operator, key: str, raw: Any) -> None:
    values = _policy_values(raw)
    where = f'Condition "{operator.name}" on "{key}"'
    if not values:
        raise PolicyError(f"{where} has an empty list of values: give at least one value.")
    for value in values:
        if not isinstance(value, SCALARS):
            raise PolicyError(
                f"{where}: values must be strings, numbers or booleans, not {value!r}."
            )
        if operator.family is None:
            if _boolean(value) is None:
                raise PolicyError(f'{where}: Null takes "true" (key absent) or "false" (present).')
        elif not operator.family.check(value):
            raise PolicyError(f"{where}: {value!r} is not {operator.family.expects}.")


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def evaluate_condition_block(
    condition: Mapping[str, Any] | None, context: Mapping[str, Any], *, variables: bool = True
) -> bool:
    """True when every operator's every key is satisfied by the request context (AND of ANDs).

    ``variables=False`` takes ``${...}`` literally (policies without Version 2012-10-17).
    Raises PolicyError for a malformed block, e.g. an unknown operator.
    """
    if not condition:
        return True
    validate_condition_block(condition)
    lowered = lower_keys(context)
    for name, keys in condition.items():
        operator = parse_operator(str(name))
        for key, raw in keys.items():
            if not _key_satisfied(
                operator, _context_values(lowered, str(key)), raw, lowered, variables
            ):
                return False
    return True


def _key_satisfied(
    operator: Operator,
    actual: list[Any] | None,
    raw: Any,
    lowered: Mapping[str, Any],
    variables: bool,
) -> bool:
    """One key under one operator: policy values are ORed; set qualifiers range over the context."""
    if operator.family is None:
        return any((actual is None) is _boolean(value) for value in _policy_values(raw))
    if actual is None:
        return _missing_key(operator)
    prepared = [operator.family.prepare(v, lowered, variables) for v in _policy_values(raw)]
    prepared = [value for value in prepared if value is not None]
    if not prepared:
        return False  # every value named an unresolvable variable: the element does not match

    def one(value: Any) -> bool:
        hit = any(operator.family.test(value, expected) for expected in prepared)
        return hit != operator.negated

    if operator.qualifier == "ForAllValues":
        return all(one(value) for value in actual)
    if operator.qualifier == "ForAnyValue" or not operator.negated:
        return any(one(value) for value in actual)
    return all(one(value) for value in actual)  # negated: no context value may match


def _missing_key(operator: Operator) -> bool:
    """The key is absent from the request context.

    ForAllValues: true (vacuously). ForAnyValue: false unless IfExists. Otherwise IfExists
    operators and negated operators are true, positive operators false.
    """
    if operator.qualifier == "ForAllValues":
        return True
    if operator.qualifier == "ForAnyValue":
        return operator.if_exists
    return operator.if_exists or operator.negated
