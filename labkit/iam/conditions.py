"""The Condition element of IAM JSON policies, evaluated the way AWS documents it.

Rules (AWS IAM User Guide, "IAM JSON policy elements: Condition operators",
reference_policies_elements_condition_operators.html, and "Single-valued vs. multivalued context
keys", reference_policies_condition-single-vs-multi-valued-context-keys.html):

* Several operators in one Condition block: all must be true (AND). Several keys under one
  operator: all must be true (AND). Several values for one key in the policy: any may match (OR).
* Condition key names are case-insensitive; String values are case-sensitive unless the operator
  ends in ``IgnoreCase``.
* A key missing from the request makes a positive operator false, a negated operator
  (``StringNotEquals``, ``NotIpAddress``, ...) true, and an ``...IfExists`` operator true.
  ``Null`` tests for the missing key itself.
* ``ForAnyValue:`` on a missing key is false, with or without ``IfExists``; ``ForAllValues:`` on
  a missing (or empty) key is true.
* A single-valued operator (no ``ForAnyValue:``/``ForAllValues:``) on a multivalued key such as
  ``aws:TagKeys`` does not match, negated or not: multivalued keys need a set operator.
* Policy variables are replaced in the values of string and ARN operators
  (:mod:`labkit.iam.variables`). A value whose variable has no value equals nothing, so a
  positive operator does not match it and a negated operator does
  (reference_policies_variables.html, "Policy variables with no value").

Malformed conditions raise :class:`~labkit.iam.errors.PolicyError`.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from labkit.iam.errors import PolicyError
from labkit.iam.variables import (
    _pieces,
    as_text,
    context_values,
    has_variables,
    lower_keys,
    substitute_variables,
    wildcard_pattern,
)

__all__ = [
    "Condition",
    "PolicyError",
    "evaluate_condition_block",
    "lower_keys",
    "parse_condition_block",
    "parse_operator",
    "substitute_variables",
    "validate_condition_block",
    "wildcard_pattern",
]

SCALARS = (str, int, float, bool)


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def _policy_values(raw: Any) -> list[Any]:
    """A condition value in a policy is a scalar or a list of scalars."""
    return list(raw) if isinstance(raw, list) else [raw]


def _number(value: Any) -> Decimal | None:
    """A number from an int, float or numeric string; None when it is not one (bools are not)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value))
        return number if number.is_finite() else None
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
# Operator families
# ---------------------------------------------------------------------------------------------

Prepare = Callable[[Any, Mapping[str, Any], bool], Any]  # policy value -> comparable (None: no value)
Test = Callable[[Any, Any], bool]  # (context value, prepared policy value) -> match


@dataclass(frozen=True)
class Family:
    """How one kind of operator reads policy values and compares a context value with them."""

    prepare: Prepare
    test: Test
    check: Callable[[Any], bool]  # is this policy value acceptable at all (validation)
    expects: str  # for error messages
    variables: bool = False  # are policy variables replaced in its values


def _prepare_text(value: Any, lowered: Mapping[str, Any], variables: bool) -> str | None:
    text = as_text(value)
    if not variables or not has_variables(text):
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


def _any_scalar(value: Any) -> bool:
    return isinstance(value, SCALARS)


_STRING = Family(_prepare_text, lambda a, e: as_text(a) == e, _any_scalar, "a string", True)
_STRING_IC = Family(
    _prepare_text,
    lambda a, e: as_text(a).casefold() == e.casefold(),
    _any_scalar,
    "a string",
    True,
)
_LIKE = Family(_prepare_glob, _matches_pattern, _any_scalar, "a string", True)
_ARN = Family(_prepare_arn, _matches_pattern, _any_scalar, "an ARN", True)
_BOOL = Family(
    lambda v, _c, _x: _boolean(v),
    lambda a, e: _boolean(a) is e,
    lambda v: _boolean(v) is not None,
    'true or false',
)
_BINARY = Family(
    lambda v, _c, _x: as_text(v), lambda a, e: as_text(a) == e, _any_scalar, "base64 text"
)
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
        '(optionally ending in "IfExists", or prefixed "ForAnyValue:" / "ForAllValues:").',
        problem="condition_operator",
        value=name,
    )


_OPERATORS: dict[str, Operator] = {}


def parse_operator(name: str) -> Operator:
    """Split an operator name into set qualifier, base operator and ``IfExists`` suffix."""
    known = _OPERATORS.get(name)
    if known is not None:
        return known
    qualifier, _, base = name.rpartition(":")
    if qualifier and qualifier.lower() not in SET_QUALIFIERS:
        raise _unknown_operator(name)
    lowered = base.lower()
    if lowered == "null":
        if qualifier:
            raise PolicyError(
                f'Condition operator "{name}": Null takes no ForAnyValue/ForAllValues.',
                problem="condition_operator",
                value=name,
            )
        operator = Operator(name, None)
    else:
        if_exists = lowered.endswith("ifexists") and lowered[: -len("ifexists")] in BASE_OPERATORS
        if if_exists:
            lowered = lowered[: -len("ifexists")]
        if lowered not in BASE_OPERATORS:
            raise _unknown_operator(name)
        _, family, negated = BASE_OPERATORS[lowered]
        operator = Operator(
            name, family, negated, if_exists, SET_QUALIFIERS.get(qualifier.lower())
        )
    _OPERATORS[name] = operator
    return operator


# ---------------------------------------------------------------------------------------------
# Parsing and validation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One key under one operator, parsed: ``"StringEquals": {"sts:ExternalId": ["a", "b"]}``."""

    operator: Operator
    key: str  # as written
    values: tuple[Any, ...]  # as written
    static: tuple[Any, ...] | None  # prepared values when no variable needs the request


def _values_error(where: str, message: str) -> PolicyError:
    return PolicyError(f"{where}{message}", problem="condition_value")


def _validate_values(operator: Operator, key: str, raw: Any) -> list[Any]:
    values = _policy_values(raw)
    where = f'Condition "{operator.name}" on "{key}"'
    if not values:
        raise _values_error(where, " has an empty list of values: give at least one value.")
    for value in values:
        if not isinstance(value, SCALARS):
            raise _values_error(
                where, f": values must be strings, numbers or booleans, not {value!r}."
            )
        if operator.family is None:
            if _boolean(value) is None:
                raise _values_error(where, ': Null takes true (key absent) or false (present).')
        elif not operator.family.check(value):
            raise _values_error(where, f": {value!r} is not {operator.family.expects}.")
    return values


def parse_condition_block(condition: Any, *, variables: bool = True) -> tuple[Condition, ...]:
    """Check ``{operator: {key: value or [values]}}`` and parse it (PolicyError if malformed)."""
    if not isinstance(condition, Mapping):
        raise PolicyError(
            'Condition must be an object such as {"StringEquals": {"sts:ExternalId": "abc"}}.'
        )
    parsed: list[Condition] = []
    for name, keys in condition.items():
        operator = parse_operator(str(name))
        if not isinstance(keys, Mapping) or not keys:
            raise PolicyError(
                f'Condition operator "{name}" needs an object of condition keys, '
                f'e.g. "{name}": {{"aws:username": "alice"}}.'
            )
        for key, raw in keys.items():
            values = _validate_values(operator, str(key), raw)
            parsed.append(Condition(operator, str(key), tuple(values), _static(operator, values, variables)))
    return tuple(parsed)


def _static(operator: Operator, values: list[Any], variables: bool) -> tuple[Any, ...] | None:
    """Prepared policy values, when they do not depend on the request (no variables in them)."""
    family = operator.family
    if family is None:
        return tuple(_boolean(value) for value in values)
    if variables and family.variables and any(has_variables(as_text(v)) for v in values):
        return None
    return tuple(family.prepare(value, {}, variables) for value in values)


def validate_condition_block(condition: Any) -> None:
    """Raise PolicyError unless ``condition`` is ``{operator: {key: value or [values]}}``."""
    parse_condition_block(condition)


# ---------------------------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------------------------


def conditions_hold(
    conditions: tuple[Condition, ...], lowered: Mapping[str, Any], variables: bool
) -> bool:
    """True when every parsed condition holds in the (lower-cased) request context."""
    for condition in conditions:
        if not _holds(condition, lowered, variables):
            return False
    return True


def evaluate_condition_block(
    condition: Mapping[str, Any] | None, context: Mapping[str, Any], *, variables: bool = True
) -> bool:
    """True when every operator's every key is satisfied by the request context (AND of ANDs).

    ``variables=False`` takes ``${...}`` literally (policies without Version 2012-10-17).
    Raises PolicyError for a malformed block, e.g. an unknown operator.
    """
    if not condition:
        return True
    return conditions_hold(
        parse_condition_block(condition, variables=variables), lower_keys(context), variables
    )


def _holds(condition: Condition, lowered: Mapping[str, Any], variables: bool) -> bool:
    """One key under one operator: policy values are ORed; set qualifiers range over the context."""
    operator = condition.operator
    actual, multivalued = context_values(lowered, condition.key)
    if operator.family is None:  # Null: true = the key is absent, false = present
        return any((actual is None) is expected for expected in condition.static or ())
    if actual is None:
        return _missing_key(operator)
    if operator.qualifier is None and multivalued:
        return False  # a single-valued operator on a multivalued key does not match
    family = operator.family
    prepared = condition.static
    if prepared is None:
        prepared = tuple(family.prepare(value, lowered, variables) for value in condition.values)
    expected = [value for value in prepared if value is not None]  # None: a variable had no value

    def one(value: Any) -> bool:
        hit = any(family.test(value, each) for each in expected)
        return hit != operator.negated

    if operator.qualifier == "ForAllValues":
        return all(one(value) for value in actual)
    return any(one(value) for value in actual)


def _missing_key(operator: Operator) -> bool:
    """The key is absent from the request context.

    ForAllValues: true (vacuously). ForAnyValue: false, with or without IfExists. Otherwise
    IfExists operators and negated operators are true, positive operators false.
    """
    if operator.qualifier == "ForAllValues":
        return True
    if operator.qualifier == "ForAnyValue":
        return False
    return operator.if_exists or operator.negated
