"""Condition operators, one test per documented rule (AWS "IAM JSON policy elements:
Condition operators", "Condition", "Variables and tags")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from labkit.iam.conditions import (
    PolicyError,
    evaluate_condition_block,
    substitute_variables,
    validate_condition_block,
    wildcard_pattern,
)

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def holds(condition: dict, context: dict, **kwargs) -> bool:
    return evaluate_condition_block(condition, context, **kwargs)


# --- Structure: AND / OR ------------------------------------------------------------------------


def test_empty_condition_block_is_true():
    assert holds({}, {}) is True
    assert evaluate_condition_block(None, {}) is True


def test_multiple_values_for_one_key_are_ored():
    condition = {"StringEquals": {"sts:ExternalId": ["a", "b"]}}
    assert holds(condition, {"sts:ExternalId": "b"}) is True
    assert holds(condition, {"sts:ExternalId": "c"}) is False


def test_multiple_keys_in_one_operator_are_anded():
    condition = {"StringEquals": {"sts:ExternalId": "x", "aws:username": "alice"}}
    assert holds(condition, {"sts:ExternalId": "x", "aws:username": "alice"}) is True
    assert holds(condition, {"sts:ExternalId": "x", "aws:username": "bob"}) is False


def test_multiple_operators_are_anded():
    condition = {
        "StringEquals": {"sts:ExternalId": "x"},
        "Bool": {"aws:MultiFactorAuthPresent": "true"},
    }
    assert holds(condition, {"sts:ExternalId": "x", "aws:MultiFactorAuthPresent": True}) is True
    assert holds(condition, {"sts:ExternalId": "x", "aws:MultiFactorAuthPresent": False}) is False


def test_condition_key_names_are_case_insensitive():
    condition = {"StringEquals": {"STS:EXTERNALID": "x"}}
    assert holds(condition, {"sts:externalid": "x"}) is True
    assert holds({"StringEquals": {"sts:externalid": "x"}}, {"Sts:ExternalId": "x"}) is True


# --- String operators ---------------------------------------------------------------------------


def test_string_equals_is_case_sensitive():
    assert holds({"StringEquals": {"k": "Alice"}}, {"k": "Alice"}) is True
    assert holds({"StringEquals": {"k": "Alice"}}, {"k": "alice"}) is False


def test_string_equals_has_no_wildcards():
    assert holds({"StringEquals": {"k": "a*"}}, {"k": "abc"}) is False
    assert holds({"StringEquals": {"k": "a*"}}, {"k": "a*"}) is True


def test_string_not_equals_is_true_when_no_value_matches():
    condition = {"StringNotEquals": {"k": ["a", "b"]}}
    assert holds(condition, {"k": "c"}) is True
    assert holds(condition, {"k": "a"}) is False


def test_string_equals_ignore_case():
    assert holds({"StringEqualsIgnoreCase": {"k": "ALICE"}}, {"k": "alice"}) is True
    assert holds({"StringEqualsIgnoreCase": {"k": "ALICE"}}, {"k": "bob"}) is False


def test_string_not_equals_ignore_case():
    assert holds({"StringNotEqualsIgnoreCase": {"k": "ALICE"}}, {"k": "alice"}) is False
    assert holds({"StringNotEqualsIgnoreCase": {"k": "ALICE"}}, {"k": "bob"}) is True


def test_string_like_wildcards_star_and_question_mark():
    assert holds({"StringLike": {"k": "team-*"}}, {"k": "team-blue/x"}) is True
    assert holds({"StringLike": {"k": "v?"}}, {"k": "v1"}) is True
    assert holds({"StringLike": {"k": "v?"}}, {"k": "v10"}) is False
    assert holds({"StringLike": {"k": "team-*"}}, {"k": "Team-blue"}) is False


def test_string_not_like():
    assert holds({"StringNotLike": {"k": "admin*"}}, {"k": "administrator"}) is False
    assert holds({"StringNotLike": {"k": "admin*"}}, {"k": "dev"}) is True


def test_string_operators_compare_booleans_and_numbers_as_text():
    assert holds({"StringEquals": {"k": True}}, {"k": "true"}) is True
    assert holds({"StringEquals": {"k": "42"}}, {"k": 42}) is True


# --- Numeric ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "actual", "expected"),
    [
        ("NumericEquals", 10, True),
        ("NumericEquals", 11, False),
        ("NumericNotEquals", 11, True),
        ("NumericNotEquals", 10, False),
        ("NumericLessThan", 9, True),
        ("NumericLessThan", 10, False),
        ("NumericLessThanEquals", 10, True),
        ("NumericLessThanEquals", 11, False),
        ("NumericGreaterThan", 11, True),
        ("NumericGreaterThan", 10, False),
        ("NumericGreaterThanEquals", 10, True),
        ("NumericGreaterThanEquals", 9, False),
    ],
)
def test_numeric_operators_compare_numbers(operator, actual, expected):
    assert holds({operator: {"n": "10"}}, {"n": actual}) is expected


def test_numeric_accepts_json_numbers_strings_and_decimals():
    assert holds(
        {"NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}, {"aws:MultiFactorAuthAge": "120"}
    )
    assert holds({"NumericEquals": {"n": "1.5"}}, {"n": 1.5}) is True


def test_numeric_compares_numerically_not_as_text():
    assert holds({"NumericLessThan": {"n": "100"}}, {"n": 9}) is True


def test_numeric_with_non_numeric_context_value_does_not_match():
    assert holds({"NumericLessThan": {"n": "100"}}, {"n": "abc"}) is False


# --- Date ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operator", "delta", "expected"),
    [
        ("DateEquals", 0, True),
        ("DateEquals", 1, False),
        ("DateNotEquals", 1, True),
        ("DateNotEquals", 0, False),
        ("DateLessThan", -1, True),
        ("DateLessThan", 0, False),
        ("DateLessThanEquals", 0, True),
        ("DateLessThanEquals", 1, False),
        ("DateGreaterThan", 1, True),
        ("DateGreaterThan", 0, False),
        ("DateGreaterThanEquals", 0, True),
        ("DateGreaterThanEquals", -1, False),
    ],
)
def test_date_operators_compare_instants(operator, delta, expected):
    actual = NOW + timedelta(seconds=delta)
    assert (
        holds({operator: {"aws:CurrentTime": "2026-01-31T12:00:00Z"}}, {"aws:CurrentTime": actual})
        is expected
    )


def test_date_policy_value_may_be_epoch_seconds():
    epoch = int(NOW.timestamp())
    assert holds({"DateEquals": {"t": epoch}}, {"t": NOW}) is True
    assert holds({"DateLessThan": {"t": str(epoch)}}, {"t": NOW - timedelta(seconds=1)}) is True


def test_date_context_value_may_be_iso_text_or_epoch():
    condition = {"DateGreaterThan": {"t": "2026-01-01T00:00:00Z"}}
    assert holds(condition, {"t": "2026-01-31T12:00:00Z"}) is True
    assert holds(condition, {"t": int(NOW.timestamp())}) is True
    assert holds(condition, {"t": "2025-12-31T23:59:59+00:00"}) is False


def test_date_only_policy_value_means_midnight_utc():
    assert holds({"DateGreaterThan": {"t": "2026-01-31"}}, {"t": NOW}) is True


def test_revoke_older_sessions_denies_tokens_issued_before_the_instant():
    # AWSRevokeOlderSessions: Deny * when DateLessThan aws:TokenIssueTime <revocation time>
    condition = {"DateLessThan": {"aws:TokenIssueTime": "2026-01-31T12:00:00Z"}}
    assert holds(condition, {"aws:TokenIssueTime": NOW - timedelta(minutes=5)}) is True
    assert holds(condition, {"aws:TokenIssueTime": NOW + timedelta(minutes=5)}) is False
    assert holds(condition, {}) is False  # IAM users have no token: the deny does not apply


# --- Bool, Binary, IP, ARN ----------------------------------------------------------------------


def test_bool_compares_true_false_case_insensitively():
    assert holds(
        {"Bool": {"aws:MultiFactorAuthPresent": "TRUE"}}, {"aws:MultiFactorAuthPresent": True}
    )
    assert (
        holds(
            {"Bool": {"aws:MultiFactorAuthPresent": "true"}}, {"aws:MultiFactorAuthPresent": False}
        )
        is False
    )
    assert holds(
        {"Bool": {"aws:MultiFactorAuthPresent": False}}, {"aws:MultiFactorAuthPresent": "false"}
    )


def test_bool_false_does_not_match_a_missing_key():
    # The classic pitfall: Deny if Bool MFA "false" does not catch long-term keys (key absent).
    assert holds({"Bool": {"aws:MultiFactorAuthPresent": "false"}}, {}) is False
    assert holds({"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}, {}) is True


def test_binary_equals_compares_base64():
    assert holds({"BinaryEquals": {"k": "aGVsbG8="}}, {"k": b"hello"}) is True
    assert holds({"BinaryEquals": {"k": "aGVsbG8="}}, {"k": "aGVsbG8="}) is True
    assert holds({"BinaryEquals": {"k": "aGVsbG8="}}, {"k": b"bye"}) is False


def test_ip_address_matches_cidr():
    condition = {"IpAddress": {"aws:SourceIp": ["203.0.113.0/24", "2001:db8::/32"]}}
    assert holds(condition, {"aws:SourceIp": "203.0.113.9"}) is True
    assert holds(condition, {"aws:SourceIp": "2001:db8::1"}) is True
    assert holds(condition, {"aws:SourceIp": "198.51.100.1"}) is False
    assert holds(condition, {"aws:SourceIp": "not-an-ip"}) is False


def test_ip_address_single_address_is_a_slash_32():
    assert holds({"IpAddress": {"aws:SourceIp": "127.0.0.1"}}, {"aws:SourceIp": "127.0.0.1"})


def test_not_ip_address():
    condition = {"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}
    assert holds(condition, {"aws:SourceIp": "10.1.2.3"}) is False
    assert holds(condition, {"aws:SourceIp": "127.0.0.1"}) is True


def test_arn_like_wildcards():
    condition = {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ops-*"}}
    assert holds(condition, {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ops-admin"})
    assert not holds(condition, {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/dev"})


def test_arn_equals_behaves_like_arn_like():
    condition = {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::*:role/ops"}}
    assert holds(condition, {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ops"}) is True


def test_arn_wildcard_stays_within_its_colon_separated_part():
    condition = {"ArnLike": {"aws:SourceArn": "arn:aws:*:us-east-1:111122223333:*"}}
    assert holds(condition, {"aws:SourceArn": "arn:aws:sns:us-east-1:111122223333:topic"})
    # "*" in the service part must not swallow the region part
    assert not holds(
        condition, {"aws:SourceArn": "arn:aws:sns:eu-west-1:x:us-east-1:111122223333:t"}
    )


def test_arn_is_case_sensitive():
    condition = {"ArnEquals": {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/Ops"}}
    assert holds(condition, {"aws:PrincipalArn": "arn:aws:iam::111122223333:role/ops"}) is False


def test_arn_not_equals_and_not_like():
    arn = "arn:aws:iam::111122223333:role/ops"
    assert holds({"ArnNotEquals": {"k": arn}}, {"k": arn}) is False
    assert holds({"ArnNotLike": {"k": "arn:aws:iam::*:role/dev*"}}, {"k": arn}) is True


# --- Missing keys, IfExists, Null ---------------------------------------------------------------


@pytest.mark.parametrize(
    "operator",
    [
        "StringEquals",
        "StringLike",
        "NumericLessThan",
        "DateLessThan",
        "Bool",
        "IpAddress",
        "ArnLike",
    ],
)
def test_missing_key_positive_operator_is_false(operator):
    value = {
        "NumericLessThan": "10",
        "DateLessThan": "2026-01-01T00:00:00Z",
        "Bool": "true",
        "IpAddress": "10.0.0.0/8",
        "ArnLike": "arn:aws:iam::*:root",
    }.get(operator, "x")
    assert holds({operator: {"k": value}}, {"other": "x"}) is False


@pytest.mark.parametrize(
    ("operator", "value"),
    [
        ("StringNotEquals", "x"),
        ("StringNotEqualsIgnoreCase", "x"),
        ("StringNotLike", "x*"),
        ("NumericNotEquals", "1"),
        ("DateNotEquals", "2026-01-01T00:00:00Z"),
        ("ArnNotEquals", "arn:aws:iam::1:root"),
        ("ArnNotLike", "arn:aws:iam::*:root"),
        ("NotIpAddress", "10.0.0.0/8"),
    ],
)
def test_missing_key_negated_operator_is_true(operator, value):
    assert holds({operator: {"k": value}}, {}) is True


def test_if_exists_is_true_when_key_missing():
    assert holds({"StringEqualsIfExists": {"k": "x"}}, {}) is True
    assert holds({"NumericLessThanIfExists": {"aws:MultiFactorAuthAge": "3600"}}, {}) is True


def test_if_exists_still_checks_a_present_key():
    assert holds({"StringEqualsIfExists": {"k": "x"}}, {"k": "y"}) is False
    assert holds({"StringEqualsIfExists": {"k": "x"}}, {"k": "x"}) is True


def test_null_true_means_key_absent():
    assert holds({"Null": {"aws:TokenIssueTime": "true"}}, {}) is True
    assert holds({"Null": {"aws:TokenIssueTime": "true"}}, {"aws:TokenIssueTime": NOW}) is False


def test_null_false_means_key_present():
    assert holds({"Null": {"aws:TokenIssueTime": "false"}}, {"aws:TokenIssueTime": NOW}) is True
    assert holds({"Null": {"aws:TokenIssueTime": False}}, {}) is False


def test_none_value_counts_as_missing():
    assert holds({"Null": {"k": "true"}}, {"k": None}) is True
    assert holds({"StringEquals": {"k": "x"}}, {"k": None}) is False


# --- Set qualifiers -----------------------------------------------------------------------------


def test_for_any_value_needs_one_context_value_to_match():
    condition = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["team", "env"]}}
    assert holds(condition, {"aws:TagKeys": ["owner", "env"]}) is True
    assert holds(condition, {"aws:TagKeys": ["owner"]}) is False


def test_for_all_values_needs_every_context_value_to_match():
    condition = {"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}
    assert holds(condition, {"aws:TagKeys": ["team", "env"]}) is True
    assert holds(condition, {"aws:TagKeys": ["team", "owner"]}) is False


def test_for_all_values_missing_key_is_true():
    assert holds({"ForAllValues:StringEquals": {"aws:TagKeys": "team"}}, {}) is True


def test_for_any_value_missing_key_is_false():
    assert holds({"ForAnyValue:StringEquals": {"aws:TagKeys": "team"}}, {}) is False


def test_for_all_values_with_negated_operator():
    condition = {"ForAllValues:StringNotEquals": {"aws:TagKeys": "secret"}}
    assert holds(condition, {"aws:TagKeys": ["a", "b"]}) is True
    assert holds(condition, {"aws:TagKeys": ["a", "secret"]}) is False


def test_for_any_value_with_negated_operator():
    condition = {"ForAnyValue:StringNotEquals": {"aws:TagKeys": "secret"}}
    assert holds(condition, {"aws:TagKeys": ["secret", "b"]}) is True
    assert holds(condition, {"aws:TagKeys": ["secret"]}) is False


def test_single_valued_operator_on_multivalued_key_does_not_match():
    # reference_policies_condition-single-vs-multi-valued-context-keys.html: "Multivalued context
    # keys require a condition set operator"; without one the condition does not match, negated
    # or not (tests/test_decisions.py has the family's rows).
    for operator in ("StringEquals", "StringNotEquals", "StringLike", "StringNotLike"):
        assert holds({operator: {"aws:TagKeys": "a*"}}, {"aws:TagKeys": ["a", "b"]}) is False
        assert holds({operator: {"aws:TagKeys": "a*"}}, {"aws:TagKeys": ["a*"]}) is False


# --- Policy variables ---------------------------------------------------------------------------


def test_policy_variable_in_condition_value():
    condition = {"StringEquals": {"aws:PrincipalTag/owner": "${aws:username}"}}
    ctx = {"aws:username": "alice", "aws:PrincipalTag/owner": "alice"}
    assert holds(condition, ctx) is True
    assert holds(condition, {**ctx, "aws:username": "bob"}) is False


def test_policy_variable_with_no_value_equals_nothing():
    # reference_policies_variables.html, "Policy variables with no value": StringEquals and
    # StringLike do not match; "Inverted condition operators like StringNotEquals or StringNotLike
    # do match against a null value".
    condition = {"StringEquals": {"k": "${aws:username}"}}
    assert holds(condition, {"k": "${aws:username}"}) is False
    assert holds({"StringLike": {"k": "${aws:username}*"}}, {"k": "x"}) is False
    assert holds({"StringNotEquals": {"k": "${aws:username}"}}, {"k": "x"}) is True
    assert holds({"StringNotLike": {"k": "${aws:username}"}}, {"k": "x"}) is True
    assert holds({"StringNotEquals": {"k": ["${aws:username}", "x"]}}, {"k": "x"}) is False


def test_policy_variables_off_for_old_version_are_literal():
    condition = {"StringEquals": {"k": "${aws:username}"}}
    assert holds(condition, {"k": "${aws:username}", "aws:username": "a"}, variables=False) is True


def test_substitute_variables_username_userid_and_tags():
    ctx = {"aws:username": "alice", "aws:userid": "AIDAEXAMPLE", "aws:PrincipalTag/team": "blue"}
    assert substitute_variables("home/${aws:username}/", ctx) == "home/alice/"
    assert substitute_variables("${aws:userid}", ctx) == "AIDAEXAMPLE"
    assert substitute_variables("${aws:principaltag/team}-x", ctx) == "blue-x"


def test_substitute_variables_escapes():
    assert substitute_variables("a${*}b${?}c${$}d", {}) == "a*b?c$d"


def test_substitute_variables_unknown_variable_returns_none():
    assert substitute_variables("home/${aws:username}", {}) is None


def test_substitute_variables_default_value():
    assert substitute_variables("${aws:username, 'guest'}", {}) == "guest"
    assert substitute_variables("${aws:username, 'guest'}", {"aws:username": "al"}) == "al"
    assert substitute_variables("${k, 'it''s'}", {}) == "it's"


def test_escaped_wildcard_is_literal_in_like_patterns():
    pattern = wildcard_pattern("a${*}", {})
    assert pattern.fullmatch("a*")
    assert not pattern.fullmatch("abc")


def test_variable_value_is_literal_in_like_patterns():
    pattern = wildcard_pattern("x/${aws:username}", {"aws:username": "a.b"})
    assert pattern.fullmatch("x/a.b")
    assert not pattern.fullmatch("x/aXb")


# --- Malformed conditions -----------------------------------------------------------------------


def test_unknown_operator_raises_policy_error_with_suggestion():
    with pytest.raises(PolicyError, match='"StringEqual".*Did you mean "StringEquals"'):
        holds({"StringEqual": {"k": "x"}}, {"k": "x"})


def test_unknown_set_qualifier_raises():
    with pytest.raises(PolicyError):
        validate_condition_block({"ForSomeValues:StringEquals": {"k": "x"}})


def test_null_if_exists_is_not_an_operator():
    with pytest.raises(PolicyError):
        validate_condition_block({"NullIfExists": {"k": "true"}})


@pytest.mark.parametrize(
    "condition",
    [
        {"NumericLessThan": {"k": "ten"}},
        {"DateLessThan": {"k": "yesterday"}},
        {"IpAddress": {"k": "10.0.0.0/33"}},
        {"Bool": {"k": "yes"}},
        {"Null": {"k": "maybe"}},
        {"StringEquals": {"k": []}},
        {"StringEquals": {"k": {"nested": 1}}},
        {"StringEquals": "x"},
        ["StringEquals"],
    ],
)
def test_malformed_condition_values_raise_policy_error(condition):
    with pytest.raises(PolicyError):
        validate_condition_block(condition)


def test_operator_names_accept_if_exists_and_qualifiers_together():
    # ForAnyValue on a missing key is false, IfExists or not (reference_policies_condition-single-
    # vs-multi-valued-context-keys.html: "if the key does not exist, the condition returns false").
    condition = {"ForAnyValue:StringLikeIfExists": {"k": "a*"}}
    assert holds(condition, {}) is False
    assert holds({"ForAllValues:StringLikeIfExists": {"k": "a*"}}, {}) is True
    assert holds(condition, {"k": ["b", "abc"]}) is True
    assert holds(condition, {"k": ["b"]}) is False
