"""Policy evaluation, one test per documented rule (AWS "Policy evaluation logic", "Principal",
"Action", "Resource"), plus regressions for every moto 5.2 evaluation defect in aws-fidelity.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from labkit.iam import (
    Caller,
    Decision,
    PolicyError,
    Request,
    Result,
    evaluate,
    evaluate_resource_policy,
    names_principal_exactly,
    parse_policy,
    principal_matches,
)

ACCT = "111122223333"
OTHER = "444455556666"
ROLE_ARN = f"arn:aws:iam::{ACCT}:role/LabRole"
ALICE = Caller(arn=f"arn:aws:iam::{ACCT}:user/alice", account=ACCT)
ALICE2 = Caller(arn=f"arn:aws:iam::{ACCT}:user/alice2", account=ACCT)
BOB = Caller(arn=f"arn:aws:iam::{ACCT}:user/bob", account=ACCT)
STRANGER = Caller(arn=f"arn:aws:iam::{OTHER}:user/eve", account=OTHER)
ROOT = Caller(arn=f"arn:aws:iam::{ACCT}:root", account=ACCT)
SESSION = Caller(
    arn=f"arn:aws:sts::{ACCT}:assumed-role/Ops/sess",
    account=ACCT,
    role_arn=f"arn:aws:iam::{ACCT}:role/team/Ops",
)
EC2 = Caller(arn="ec2.amazonaws.com", account=ACCT, service="ec2.amazonaws.com")
ASSUME = Request("sts:AssumeRole", ROLE_ARN)


def allow(action="sts:AssumeRole", resource=ROLE_ARN, **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action="sts:AssumeRole", resource=ROLE_ARN, **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def policy(*statements: dict, version: str | None = "2012-10-17") -> dict:
    document: dict = {"Statement": list(statements)}
    if version:
        document["Version"] = version
    return document


def decide(*statements: dict, request: Request = ASSUME) -> Decision:
    return evaluate([("p", policy(*statements))], request).decision


def trust(*statements: dict) -> dict:
    return policy(*({"Action": "sts:AssumeRole", **s} for s in statements))


def trusts(document: dict, caller: Caller, request: Request = ASSUME) -> Decision:
    return evaluate_resource_policy(document, caller, request).decision


# --- Policy evaluation logic --------------------------------------------------------------------


def test_no_policies_is_implicit_deny():
    assert evaluate([], ASSUME) == Result(Decision.IMPLICIT_DENY)


def test_matching_allow_allows():
    assert decide(allow()) is Decision.ALLOW


def test_no_matching_allow_is_implicit_deny():
    assert decide(allow(action="s3:GetObject")) is Decision.IMPLICIT_DENY


def test_explicit_deny_overrides_allow():
    assert decide(allow(), deny()) is Decision.EXPLICIT_DENY
    assert decide(deny(), allow()) is Decision.EXPLICIT_DENY


def test_explicit_deny_in_another_policy_overrides_allow():
    result = evaluate([("grant", policy(allow())), ("guard", policy(deny(Sid="NoAssume")))], ASSUME)
    assert result == Result(Decision.EXPLICIT_DENY, "guard", "NoAssume")


def test_result_names_the_allowing_policy_and_sid():
    result = evaluate([("other", policy(allow("s3:*"))), ("mine", policy(allow(Sid="A")))], ASSUME)
    assert result == Result(Decision.ALLOW, "mine", "A")


def test_non_matching_deny_does_not_deny():
    assert decide(allow(), deny(action="iam:*")) is Decision.ALLOW


def test_all_elements_must_match_for_a_statement_to_apply():
    statement = allow(Condition={"StringEquals": {"sts:ExternalId": "x"}})
    assert (
        decide(statement, request=Request("sts:AssumeRole", ROLE_ARN, {"sts:ExternalId": "x"}))
        is Decision.ALLOW
    )
    assert (
        decide(statement, request=Request("sts:AssumeRole", ROLE_ARN, {"sts:ExternalId": "y"}))
        is Decision.IMPLICIT_DENY
    )
    assert (
        decide(
            statement, request=Request("sts:AssumeRole", ROLE_ARN + "X", {"sts:ExternalId": "x"})
        )
        is Decision.IMPLICIT_DENY
    )


def test_statement_may_be_a_single_object():
    document = {"Version": "2012-10-17", "Statement": allow()}
    assert evaluate([("p", document)], ASSUME).decision is Decision.ALLOW


def test_policy_may_be_json_text():
    assert evaluate([("p", json.dumps(policy(allow())))], ASSUME).decision is Decision.ALLOW


def test_policy_may_be_url_encoded_json_as_iam_returns_it():
    from urllib.parse import quote

    assert evaluate([("p", quote(json.dumps(policy(allow()))))], ASSUME).decision is Decision.ALLOW


def test_missing_version_is_accepted():
    assert evaluate([("p", policy(allow(), version=None))], ASSUME).decision is Decision.ALLOW


# --- Action -------------------------------------------------------------------------------------


def test_action_match_is_case_insensitive():
    assert decide(allow(action="STS:assumerole")) is Decision.ALLOW
    assert decide(allow(), request=Request("Sts:ASSUMEROLE", ROLE_ARN)) is Decision.ALLOW


def test_action_wildcards():
    assert decide(allow(action="sts:Assume*")) is Decision.ALLOW
    assert decide(allow(action="sts:AssumeRol?")) is Decision.ALLOW
    assert decide(allow(action="*")) is Decision.ALLOW
    assert decide(allow(action="sts:*")) is Decision.ALLOW
    assert decide(allow(action="sts:AssumeRoleWith*")) is Decision.IMPLICIT_DENY
    assert decide(allow(action="sts:Assume")) is Decision.IMPLICIT_DENY


def test_action_list_matches_any():
    assert decide(allow(action=["s3:GetObject", "sts:AssumeRole"])) is Decision.ALLOW


def test_not_action_matches_every_other_action():
    statement = {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
    assert decide(statement) is Decision.ALLOW
    assert decide(statement, request=Request("iam:CreateUser", "*")) is Decision.IMPLICIT_DENY


def test_deny_with_not_action_denies_everything_else():
    statements = [allow("*", "*"), {"Effect": "Deny", "NotAction": "s3:*", "Resource": "*"}]
    assert decide(*statements) is Decision.EXPLICIT_DENY
    assert decide(*statements, request=Request("s3:GetObject", "*")) is Decision.ALLOW


# --- Resource -----------------------------------------------------------------------------------


def test_resource_arn_match_is_case_sensitive():
    assert decide(allow(resource=ROLE_ARN.lower())) is Decision.IMPLICIT_DENY


def test_resource_arn_is_exact_not_prefix():
    request = Request("iam:GetUser", f"arn:aws:iam::{ACCT}:user/alice2")
    assert (
        decide(allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/alice"), request=request)
        is Decision.IMPLICIT_DENY
    )


def test_resource_wildcards_span_colons_and_slashes():
    assert decide(allow(resource="*")) is Decision.ALLOW
    assert decide(allow(resource="arn:aws:iam::*:role/*")) is Decision.ALLOW
    assert decide(allow(resource="arn:aws:iam::*")) is Decision.ALLOW
    assert decide(allow(resource="arn:aws:iam::11112222333?:role/LabRole")) is Decision.ALLOW
    assert decide(allow(resource="arn:aws:iam::*:role/Other*")) is Decision.IMPLICIT_DENY


def test_specific_resource_does_not_match_a_star_request():
    request = Request("ec2:DescribeInstances", "*")
    assert (
        decide(allow("ec2:*", "arn:aws:ec2:*:*:instance/*"), request=request)
        is Decision.IMPLICIT_DENY
    )
    assert decide(allow("ec2:*", "*"), request=request) is Decision.ALLOW


def test_not_resource_matches_every_other_resource():
    statement = {
        "Effect": "Allow",
        "Action": "sts:AssumeRole",
        "NotResource": f"arn:aws:iam::{ACCT}:role/Admin",
    }
    assert decide(statement) is Decision.ALLOW
    assert (
        decide(statement, request=Request("sts:AssumeRole", f"arn:aws:iam::{ACCT}:role/Admin"))
        is Decision.IMPLICIT_DENY
    )


def test_policy_variable_in_resource():
    statement = allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/${{aws:username}}")
    mine = Request("iam:GetUser", ALICE.arn, {"aws:username": "alice"})
    theirs = Request("iam:GetUser", BOB.arn, {"aws:username": "alice"})
    assert decide(statement, request=mine) is Decision.ALLOW
    assert decide(statement, request=theirs) is Decision.IMPLICIT_DENY


def test_policy_variable_without_value_makes_resource_not_match():
    statement = allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/${{aws:username}}")
    assert decide(statement, request=Request("iam:GetUser", ALICE.arn)) is Decision.IMPLICIT_DENY


def test_policy_variables_need_version_2012_10_17():
    document = policy(
        allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/${{aws:username}}"), version="2008-10-17"
    )
    request = Request("iam:GetUser", ALICE.arn, {"aws:username": "alice"})
    assert evaluate([("p", document)], request).decision is Decision.IMPLICIT_DENY


# --- Conditions inside evaluation ---------------------------------------------------------------


def test_revoke_older_sessions_policy_denies_old_tokens_only():
    now = datetime(2026, 1, 31, 12, tzinfo=UTC)
    revoke = deny(
        "*", "*", Condition={"DateLessThan": {"aws:TokenIssueTime": "2026-01-31T12:00:00Z"}}
    )
    grants = [allow("*", "*"), revoke]
    old = Request("s3:ListBuckets", "*", {"aws:TokenIssueTime": now - timedelta(hours=1)})
    new = Request("s3:ListBuckets", "*", {"aws:TokenIssueTime": now + timedelta(seconds=1)})
    assert decide(*grants, request=old) is Decision.EXPLICIT_DENY
    assert decide(*grants, request=new) is Decision.ALLOW


def test_condition_key_lookup_is_case_insensitive_in_requests():
    statement = allow(Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    request = Request("sts:AssumeRole", ROLE_ARN, {"AWS:MULTIFACTORAUTHPRESENT": True})
    assert decide(statement, request=request) is Decision.ALLOW


# --- Malformed policies -------------------------------------------------------------------------


def test_deny_without_resource_is_a_policy_error_not_an_allow():
    # moto 5.2 treats a Deny without Resource as an Allow.
    document = policy({"Effect": "Deny", "Action": "sts:AssumeRole"})
    with pytest.raises(PolicyError, match="no Resource"):
        evaluate([("p", document)], ASSUME)


def test_allow_without_resource_is_a_policy_error_in_identity_policies():
    with pytest.raises(PolicyError, match="Resource"):
        parse_policy(policy({"Effect": "Allow", "Action": "*"}))


def test_missing_effect_message_says_what_to_add():
    with pytest.raises(PolicyError) as raised:
        parse_policy(policy(allow(), {"Action": "*", "Resource": "*"}))
    assert str(raised.value) == 'Statement 2 has no Effect: add "Effect": "Allow" or "Deny".'


def test_effect_must_be_allow_or_deny():
    with pytest.raises(PolicyError, match='"allow"'):
        parse_policy(policy({"Effect": "allow", "Action": "*", "Resource": "*"}))


def test_statement_needs_action_or_not_action():
    with pytest.raises(PolicyError, match="no Action"):
        parse_policy(policy({"Effect": "Allow", "Resource": "*"}))


def test_action_and_not_action_together_is_an_error():
    with pytest.raises(PolicyError, match="both Action and NotAction"):
        parse_policy(policy(allow(NotAction="s3:*")))


def test_resource_and_not_resource_together_is_an_error():
    with pytest.raises(PolicyError, match="both Resource and NotResource"):
        parse_policy(policy(allow(NotResource="*")))


def test_action_without_service_prefix_is_an_error():
    with pytest.raises(PolicyError, match="service:ActionName"):
        parse_policy(policy(allow(action="AssumeRole")))


def test_bad_json_message_has_line_and_column():
    with pytest.raises(PolicyError, match=r"line 2, column \d+"):
        parse_policy('{"Version": "2012-10-17",\n "Statement": [}')


def test_unknown_element_is_an_error_with_suggestion():
    with pytest.raises(PolicyError, match='unknown element "Actions".*Did you mean "Action"'):
        parse_policy(policy({"Effect": "Allow", "Actions": "*", "Resource": "*"}))


def test_unknown_version_is_an_error():
    with pytest.raises(PolicyError, match="2012-10-17"):
        parse_policy(policy(allow(), version="2012-10-18"))


def test_missing_statement_is_an_error():
    with pytest.raises(PolicyError, match="no Statement"):
        parse_policy({"Version": "2012-10-17"})


def test_policy_must_be_an_object():
    with pytest.raises(PolicyError):
        parse_policy("[]")


def test_principal_in_identity_policy_is_an_error():
    with pytest.raises(PolicyError, match="Principal"):
        parse_policy(policy(allow(Principal="*")))


def test_unknown_condition_operator_is_a_policy_error_naming_the_statement():
    with pytest.raises(PolicyError, match="Statement 1.*StringEqualz"):
        parse_policy(policy(allow(Condition={"StringEqualz": {"k": "v"}})))


def test_evaluate_names_the_malformed_policy():
    with pytest.raises(PolicyError, match='Policy "broken"'):
        evaluate([("ok", policy(allow())), ("broken", policy({"Effect": "Allow"}))], ASSUME)


def test_parse_policy_returns_the_document():
    document = policy(allow())
    assert parse_policy(json.dumps(document)) == document


# --- Trust policies: Principal ------------------------------------------------------------------


def test_trust_policy_needs_no_resource():
    document = trust({"Effect": "Allow", "Principal": {"AWS": ALICE.arn}})
    assert trusts(document, ALICE) is Decision.ALLOW


def test_trust_policy_needs_a_principal():
    with pytest.raises(PolicyError, match="no Principal"):
        evaluate_resource_policy(trust({"Effect": "Allow"}), ALICE, ASSUME)


def test_trust_policy_action_must_match():
    document = policy(
        {"Effect": "Allow", "Principal": {"AWS": ALICE.arn}, "Action": "sts:TagSession"}
    )
    assert trusts(document, ALICE) is Decision.IMPLICIT_DENY


def test_user_principal_is_exact_not_substring():
    # moto 5.2 regression: a substring test let user/alice pass a trust policy for user/alice2.
    document = trust({"Effect": "Allow", "Principal": {"AWS": ALICE2.arn}})
    assert trusts(document, ALICE) is Decision.IMPLICIT_DENY
    assert trusts(document, ALICE2) is Decision.ALLOW
    document = trust({"Effect": "Allow", "Principal": {"AWS": ALICE.arn}})
    assert trusts(document, ALICE2) is Decision.IMPLICIT_DENY


def test_root_principal_allows_any_principal_of_that_account():
    # moto 5.2 regression: root principals were denied.
    document = trust({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCT}:root"}})
    assert trusts(document, ALICE) is Decision.ALLOW
    assert trusts(document, SESSION) is Decision.ALLOW
    assert trusts(document, ROOT) is Decision.ALLOW
    assert trusts(document, STRANGER) is Decision.IMPLICIT_DENY


def test_bare_account_id_principal_allows_any_principal_of_that_account():
    # moto 5.2 regression: bare account-ID principals were denied.
    document = trust({"Effect": "Allow", "Principal": {"AWS": ACCT}})
    assert trusts(document, BOB) is Decision.ALLOW
    assert trusts(document, STRANGER) is Decision.IMPLICIT_DENY


def test_plain_star_principal_matches_everyone():
    # moto 5.2 regression: "Principal": "*" as a plain string crashed with a 500.
    document = trust({"Effect": "Allow", "Principal": "*"})
    assert trusts(document, STRANGER) is Decision.ALLOW
    assert trusts(document, EC2) is Decision.ALLOW


def test_aws_star_principal_matches_everyone():
    document = trust({"Effect": "Allow", "Principal": {"AWS": "*"}})
    assert trusts(document, STRANGER) is Decision.ALLOW
    assert trusts(document, SESSION) is Decision.ALLOW


def test_star_principal_with_condition():
    document = trust(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCT}},
        }
    )
    assert (
        trusts(document, ALICE, Request("sts:AssumeRole", ROLE_ARN, {"aws:PrincipalAccount": ACCT}))
        is Decision.ALLOW
    )
    assert (
        trusts(
            document, STRANGER, Request("sts:AssumeRole", ROLE_ARN, {"aws:PrincipalAccount": OTHER})
        )
        is Decision.IMPLICIT_DENY
    )


def test_service_principal_matches_that_service_only():
    # moto 5.2 regression: {"Service": ...} raised a TypeError.
    document = trust({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}})
    assert trusts(document, EC2) is Decision.ALLOW
    assert trusts(document, ALICE) is Decision.IMPLICIT_DENY
    assert trusts(document, ROOT) is Decision.IMPLICIT_DENY
    lambda_ = Caller(arn="lambda.amazonaws.com", account=ACCT, service="lambda.amazonaws.com")
    assert trusts(document, lambda_) is Decision.IMPLICIT_DENY


def test_account_principal_does_not_match_services():
    document = trust({"Effect": "Allow", "Principal": {"AWS": ACCT}})
    assert trusts(document, EC2) is Decision.IMPLICIT_DENY


def test_two_statements_for_two_principals_both_allowed():
    # moto 5.2 regression: the second statement denied the first statement's principal.
    document = trust(
        {"Effect": "Allow", "Principal": {"AWS": ALICE.arn}},
        {"Effect": "Allow", "Principal": {"AWS": BOB.arn}},
    )
    assert trusts(document, ALICE) is Decision.ALLOW
    assert trusts(document, BOB) is Decision.ALLOW
    assert trusts(document, ALICE2) is Decision.IMPLICIT_DENY


def test_principal_list_matches_any_of_them():
    document = trust({"Effect": "Allow", "Principal": {"AWS": [ALICE.arn, BOB.arn]}})
    assert trusts(document, BOB) is Decision.ALLOW
    assert trusts(document, ALICE2) is Decision.IMPLICIT_DENY


def test_several_principal_keys_match_any_of_them():
    document = trust(
        {"Effect": "Allow", "Principal": {"AWS": ALICE.arn, "Service": "ec2.amazonaws.com"}}
    )
    assert trusts(document, ALICE) is Decision.ALLOW
    assert trusts(document, EC2) is Decision.ALLOW
    assert trusts(document, BOB) is Decision.IMPLICIT_DENY


def test_role_principal_matches_that_roles_sessions():
    document = trust({"Effect": "Allow", "Principal": {"AWS": SESSION.role_arn}})
    assert trusts(document, SESSION) is Decision.ALLOW
    other = Caller(f"arn:aws:sts::{ACCT}:assumed-role/Dev/s", ACCT, f"arn:aws:iam::{ACCT}:role/Dev")
    assert trusts(document, other) is Decision.IMPLICIT_DENY
    assert trusts(document, ALICE) is Decision.IMPLICIT_DENY


def test_role_principal_matches_a_caller_whose_arn_is_the_role():
    caller = Caller(arn=SESSION.role_arn, account=ACCT)
    assert principal_matches({"AWS": SESSION.role_arn}, caller) is True


def test_session_principal_is_exact():
    document = trust({"Effect": "Allow", "Principal": {"AWS": SESSION.arn}})
    assert trusts(document, SESSION) is Decision.ALLOW
    other = Caller(f"arn:aws:sts::{ACCT}:assumed-role/Ops/other", ACCT, SESSION.role_arn)
    assert trusts(document, other) is Decision.IMPLICIT_DENY


def test_federated_and_canonical_user_principals_match_nobody():
    assert principal_matches({"Federated": "cognito-identity.amazonaws.com"}, ALICE) is False
    assert principal_matches({"CanonicalUser": "79a59df900b949e55d96a1e698fbaced"}, ALICE) is False


def test_principal_matches_rejects_other_shapes():
    assert principal_matches("alice", ALICE) is False
    assert principal_matches(None, ALICE) is False


def test_not_principal_applies_to_everyone_except_those_listed():
    document = trust(
        {"Effect": "Allow", "Principal": {"AWS": ACCT}},
        {"Effect": "Deny", "NotPrincipal": {"AWS": ALICE.arn}},
    )
    assert evaluate_resource_policy(document, ALICE, ASSUME).decision is Decision.ALLOW
    assert evaluate_resource_policy(document, BOB, ASSUME).decision is Decision.EXPLICIT_DENY


def test_trust_deny_overrides_allow():
    document = trust(
        {"Effect": "Allow", "Principal": {"AWS": ACCT}},
        {"Sid": "NoBob", "Effect": "Deny", "Principal": {"AWS": BOB.arn}},
    )
    assert evaluate_resource_policy(document, BOB, ASSUME, name="trust") == Result(
        Decision.EXPLICIT_DENY, "trust", "NoBob"
    )


def test_trust_conditions_other_than_string_equals_are_evaluated():
    # moto 5.2 regression: only StringEquals was evaluated.
    document = trust(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ACCT},
            "Condition": {
                "Bool": {"aws:MultiFactorAuthPresent": "true"},
                "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
            },
        }
    )
    fresh = Request(
        "sts:AssumeRole",
        ROLE_ARN,
        {"aws:MultiFactorAuthPresent": True, "aws:MultiFactorAuthAge": 60},
    )
    stale = Request(
        "sts:AssumeRole",
        ROLE_ARN,
        {"aws:MultiFactorAuthPresent": True, "aws:MultiFactorAuthAge": 7200},
    )
    no_mfa = Request(
        "sts:AssumeRole",
        ROLE_ARN,
        {"aws:MultiFactorAuthPresent": False, "aws:MultiFactorAuthAge": 60},
    )
    assert trusts(document, ALICE, fresh) is Decision.ALLOW
    assert trusts(document, ALICE, stale) is Decision.IMPLICIT_DENY
    assert trusts(document, ALICE, no_mfa) is Decision.IMPLICIT_DENY


def test_missing_key_fails_a_positive_trust_condition():
    # moto 5.2 regression: a key missing from the request passed the condition.
    document = trust(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ACCT},
            "Condition": {"StringEquals": {"sts:ExternalId": "s3cret"}},
        }
    )
    assert trusts(document, ALICE, ASSUME) is Decision.IMPLICIT_DENY
    with_id = Request("sts:AssumeRole", ROLE_ARN, {"sts:ExternalId": "s3cret"})
    assert trusts(document, ALICE, with_id) is Decision.ALLOW


def test_trust_conditions_read_any_context_key_not_only_external_id():
    # moto 5.2 regression: only sts:ExternalId was read from the request.
    document = trust(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCT}:user/a*"}},
        }
    )
    request = Request("sts:AssumeRole", ROLE_ARN, {"aws:PrincipalArn": ALICE.arn})
    assert trusts(document, ALICE, request) is Decision.ALLOW
    request = Request("sts:AssumeRole", ROLE_ARN, {"aws:PrincipalArn": BOB.arn})
    assert trusts(document, BOB, request) is Decision.IMPLICIT_DENY


def test_trust_policy_with_wrong_principal_key_is_an_error():
    with pytest.raises(PolicyError, match='"Aws"'):
        evaluate_resource_policy(
            trust({"Effect": "Allow", "Principal": {"Aws": ACCT}}), ALICE, ASSUME
        )


def test_trust_policy_with_principal_string_other_than_star_is_an_error():
    with pytest.raises(PolicyError, match="Principal"):
        parse_policy(trust({"Effect": "Allow", "Principal": ALICE.arn}), kind="resource")


# --- names_principal_exactly --------------------------------------------------------------------


def test_names_principal_exactly_for_user_arn():
    document = trust({"Effect": "Allow", "Principal": {"AWS": [BOB.arn, ALICE.arn]}})
    assert names_principal_exactly(document, ALICE) is True
    assert names_principal_exactly(document, ALICE2) is False


def test_names_principal_exactly_for_session_arn():
    document = trust({"Effect": "Allow", "Principal": {"AWS": SESSION.arn}})
    assert names_principal_exactly(document, SESSION) is True


@pytest.mark.parametrize(
    "principal",
    [
        "*",
        {"AWS": "*"},
        {"AWS": ACCT},
        {"AWS": f"arn:aws:iam::{ACCT}:root"},
        {"AWS": SESSION.role_arn},
    ],
)
def test_names_principal_exactly_not_via_root_account_star_or_role(principal):
    document = trust({"Effect": "Allow", "Principal": principal})
    assert names_principal_exactly(document, SESSION) is False
    assert names_principal_exactly(document, ALICE) is False
    assert names_principal_exactly(document, ROOT) is False


def test_names_principal_exactly_ignores_deny_statements():
    document = trust(
        {"Effect": "Allow", "Principal": {"AWS": ACCT}},
        {"Effect": "Deny", "Principal": {"AWS": ALICE.arn}},
    )
    assert names_principal_exactly(document, ALICE) is False


def test_names_principal_exactly_with_request_checks_the_statement_applies():
    document = trust(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ALICE.arn},
            "Condition": {"StringEquals": {"sts:ExternalId": "x"}},
        }
    )
    assert names_principal_exactly(document, ALICE) is True
    assert names_principal_exactly(document, ALICE, ASSUME) is False
    request = Request("sts:AssumeRole", ROLE_ARN, {"sts:ExternalId": "x"})
    assert names_principal_exactly(document, ALICE, request) is True
