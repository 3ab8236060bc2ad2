"""'How AWS decides' (aws-fidelity.md), end to end through the sandbox, and moto's defects as regressions."""

from __future__ import annotations

import json

import pytest

from labkit.iam import IAM_MESSAGES, Decision, PolicyError, Request, evaluate, parse_policy
from labkit.sandbox import lifecycle
from tests.support import (
    ACCOUNT,
    PARTNER,
    Keys,
    allow,
    deny,
    error_of,
    make_role,
    make_user,
    policy,
    trust,
    unique,
)


def assume_any() -> str:
    return policy(allow("sts:AssumeRole"))


def denied(user, role_arn, **kwargs) -> str:
    status, code, message = error_of(user.client("sts").assume_role, RoleArn=role_arn,
                                     RoleSessionName=kwargs.pop("name", "s1"), **kwargs)
    assert (status, code) == (403, "AccessDenied")
    return message


# --- trust policy principal forms ----------------------------------------------------------------

def test_exact_user_principal_is_not_a_prefix(admin):
    """moto defect: substring match let user/alice assume a role trusting user/alice2."""
    alice = make_user(admin, unique("alice"), {"a": assume_any()})
    role_arn = make_role(admin, trust({"AWS": alice.arn + "2"}))
    assert denied(alice, role_arn).endswith(f"on resource: {role_arn}")


def test_root_principal_delegates_to_the_account(admin):
    """moto defect: root principals were denied."""
    role_arn = make_role(admin, trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    user = make_user(admin, policies={"a": assume_any()})
    assert user.assume(role_arn).arn.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/")


def test_bare_account_id_principal(admin):
    """moto defect: bare account-ID principals were denied."""
    role_arn = make_role(admin, trust({"AWS": ACCOUNT}))
    user = make_user(admin, policies={"a": assume_any()})
    assert user.assume(role_arn).arn


def test_root_principal_still_needs_the_identity_policy(admin):
    role_arn = make_role(admin, trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    user = make_user(admin)
    assert "because no identity-based policy allows" in denied(user, role_arn)


def test_naming_the_user_lets_same_account_assume_without_identity_policy(admin):
    """AWS: a resource-based policy that names the principal grants same-account access by itself."""
    user = make_user(admin)
    role_arn = make_role(admin, trust({"AWS": user.arn}))
    assert user.assume(role_arn).arn


def test_plain_star_principal_with_condition(admin):
    """moto defect: "Principal": "*" as a string raised a 500."""
    doc = policy({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
                  "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}})
    role_arn = make_role(admin, doc)
    user = make_user(admin, policies={"a": assume_any()})
    assert user.assume(role_arn).arn


def test_service_principal_does_not_match_users(admin):
    """moto defect: {"Service": ...} principals raised a TypeError."""
    role_arn = make_role(admin, trust({"Service": "ec2.amazonaws.com"}))
    user = make_user(admin, policies={"a": assume_any()})
    assert denied(user, role_arn).endswith(role_arn)


def test_list_of_principals_and_two_statements(admin):
    """moto defect: with two statements for two principals, the second denied the first."""
    a, b = make_user(admin, policies={"a": assume_any()}), make_user(admin, policies={"a": assume_any()})
    doc = policy({"Effect": "Allow", "Principal": {"AWS": a.arn}, "Action": "sts:AssumeRole"},
                 {"Effect": "Allow", "Principal": {"AWS": [b.arn, f"arn:aws:iam::{PARTNER}:root"]},
                  "Action": "sts:AssumeRole"})
    role_arn = make_role(admin, doc)
    assert a.assume(role_arn).arn and b.assume(role_arn).arn


def test_role_arn_principal_matches_its_sessions(admin):
    user = make_user(admin, policies={"a": assume_any()})
    first = make_role(admin, trust({"AWS": user.arn}), policies={"a": assume_any()})
    second = make_role(admin, trust({"AWS": first}))
    assert user.assume(first).assume(second, "hop").arn.endswith("/hop")


def test_deny_statement_without_resource_is_not_an_allow(admin):
    """moto defect: a Deny without Resource was treated as Allow. AWS refuses such a document."""
    status, code, _ = error_of(admin.client("iam").put_user_policy, UserName="labkit-admin",
                               PolicyName="broken", PolicyDocument=json.dumps(
                                   {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "*"}]}))
    assert (status, code) == (400, "MalformedPolicyDocument")


def test_trust_deny_wins(admin):
    user = make_user(admin, policies={"a": assume_any()})
    doc = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"},
                 {"Effect": "Deny", "Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"})
    role_arn = make_role(admin, doc)
    assert "explicit deny" in denied(user, role_arn)


# --- conditions in trust policies ----------------------------------------------------------------

def test_external_id_condition(admin):
    doc = trust({"AWS": ACCOUNT}, Condition={"StringEquals": {"sts:ExternalId": "lab-1234"}})
    role_arn = make_role(admin, doc)
    user = make_user(admin, policies={"a": assume_any()})
    denied(user, role_arn)  # missing key fails a positive condition (moto defect: it passed)
    denied(user, role_arn, ExternalId="wrong-id")
    assert user.assume(role_arn, ExternalId="lab-1234").arn


def test_mfa_condition_refuses_long_term_keys_without_mfa(admin):
    doc = trust({"AWS": ACCOUNT}, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})
    role_arn = make_role(admin, doc)
    user = make_user(admin, policies={"a": assume_any()})
    denied(user, role_arn)


def test_mfa_with_a_virtual_device(admin):
    import base64
    import hashlib
    import hmac
    import struct
    from datetime import datetime

    iam = admin.client("iam")
    name = unique("mfauser")
    user = make_user(admin, name, {"a": assume_any()})
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=unique("dev"))["VirtualMFADevice"]
    seed = device["Base32StringSeed"]
    seed = seed.decode() if isinstance(seed, bytes) else seed

    def code(at: float) -> str:
        key = base64.b32decode(seed + "=" * (-len(seed) % 8))
        digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
        offset = digest[-1] & 0x0F
        return f"{(struct.unpack('>I', digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"

    now = datetime.fromisoformat(lifecycle.clock()["now"].replace("Z", "+00:00")).timestamp()
    iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=code(now - 30), AuthenticationCode2=code(now))
    doc = trust({"AWS": ACCOUNT}, Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"},
                                             "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}})
    role_arn = make_role(admin, doc)
    denied(user, role_arn, SerialNumber=device["SerialNumber"], TokenCode="000000" if code(now) != "000000" else "111111")
    assert user.assume(role_arn, SerialNumber=device["SerialNumber"], TokenCode=code(now)).arn


def test_principal_arn_condition_with_star_principal(admin):
    user = make_user(admin, policies={"a": assume_any()})
    other = make_user(admin, policies={"a": assume_any()})
    doc = trust("*", Condition={"ArnEquals": {"aws:PrincipalArn": user.arn}})
    role_arn = make_role(admin, doc)
    assert user.assume(role_arn).arn
    denied(other, role_arn)


def test_source_identity_condition(admin):
    doc = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
                  "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                  "Condition": {"StringLike": {"sts:SourceIdentity": "alice-*"}}})
    role_arn = make_role(admin, doc)
    user = make_user(admin, policies={"a": policy(allow(["sts:AssumeRole", "sts:SetSourceIdentity"]))})
    denied(user, role_arn, SourceIdentity="bob")
    assert user.assume(role_arn, SourceIdentity="alice-laptop").arn


# --- identity-based evaluation --------------------------------------------------------------------

def test_group_and_attached_policies_apply(admin):
    iam = admin.client("iam")
    group = unique("readers")
    iam.create_group(GroupName=group)
    arn = iam.create_policy(PolicyName=unique("ec2read"), PolicyDocument=policy(allow("ec2:Describe*")))["Policy"]["Arn"]
    iam.attach_group_policy(GroupName=group, PolicyArn=arn)
    user = make_user(admin, groups=[group])
    assert user.client("ec2").describe_instances()["Reservations"]


def test_explicit_deny_beats_allow(admin):
    user = make_user(admin, policies={"all": policy(allow("*")), "no-ec2": policy(deny("ec2:*"))})
    status, code, message = error_of(user.client("ec2").describe_instances)
    assert (status, code) == (403, "UnauthorizedOperation")
    assert message.endswith("with an explicit deny in an identity-based policy")


def test_not_action_and_wildcards(admin):
    user = make_user(admin, policies={"most": json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]})})
    assert user.client("ec2").describe_instances()
    assert error_of(user.client("iam").list_users)[1] == "AccessDenied"


def test_iam_access_denied_message(admin):
    user = make_user(admin)
    status, code, message = error_of(user.client("iam").get_role, RoleName="whatever")
    assert (status, code) == (403, "AccessDenied")
    assert message == (f"User: {user.arn} is not authorized to perform: iam:GetRole on resource: "
                       f"arn:aws:iam::{ACCOUNT}:role/whatever because no identity-based policy allows "
                       "the iam:GetRole action")


# --- sessions: session policies, revocation, cross-account -------------------------------------

def test_session_policy_limits_the_session(admin):
    role_arn = make_role(admin, trust({"AWS": ACCOUNT}), policies={"ec2": policy(allow("ec2:*"))})
    user = make_user(admin, policies={"a": assume_any()})
    narrow = user.assume(role_arn, Policy=policy(allow("ec2:DescribeRegions")))
    assert narrow.client("ec2").describe_regions()["Regions"]
    status, code, message = error_of(narrow.client("ec2").describe_instances)
    assert code == "UnauthorizedOperation"
    assert message.endswith("because no session policy allows the ec2:DescribeInstances action")


def test_session_policy_arns_limit_the_session(admin):
    iam = admin.client("iam")
    arn = iam.create_policy(PolicyName=unique("regions"), PolicyDocument=policy(allow("ec2:DescribeRegions")))["Policy"]["Arn"]
    role_arn = make_role(admin, trust({"AWS": ACCOUNT}), policies={"ec2": policy(allow("ec2:*"))})
    user = make_user(admin, policies={"a": assume_any()})
    narrow = user.assume(role_arn, PolicyArns=[{"arn": arn}])
    assert narrow.client("ec2").describe_regions()["Regions"]
    assert error_of(narrow.client("ec2").describe_instances)[1] == "UnauthorizedOperation"


def test_revoke_older_sessions(admin):
    role_name = unique("revocable")
    role_arn = make_role(admin, trust({"AWS": ACCOUNT}), role_name, policies={"ec2": policy(allow("ec2:Describe*"))})
    user = make_user(admin, policies={"a": assume_any()})
    old = user.assume(role_arn, "old")
    lifecycle.advance_clock(5)
    now = lifecycle.clock()["now"]
    revoke = policy(deny("*", Condition={"DateLessThan": {"aws:TokenIssueTime": now}}))
    admin.client("iam").put_role_policy(RoleName=role_name, PolicyName="AWSRevokeOlderSessions", PolicyDocument=revoke)
    lifecycle.advance_clock(5)
    status, code, message = error_of(old.client("ec2").describe_instances)
    assert code == "UnauthorizedOperation" and message.endswith("with an explicit deny in an identity-based policy")
    new = user.assume(role_arn, "new")
    assert new.client("ec2").describe_instances()


def test_cross_account_needs_both_sides(admin, partner_admin):
    user = make_user(admin)
    trusting = make_role(partner_admin, trust({"AWS": user.arn}))
    assert trusting.startswith(f"arn:aws:iam::{PARTNER}:role/")
    # the role's account trusts the user, but the user's account has not allowed it
    assert "because no identity-based policy allows" in denied(user, trusting)
    allowed = make_user(admin, policies={"a": policy(allow("sts:AssumeRole", trusting))})
    not_trusted = denied(allowed, trusting)
    assert not_trusted.endswith(trusting)
    both = make_role(partner_admin, trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    caller = make_user(admin, policies={"a": policy(allow("sts:AssumeRole", both))})
    session = caller.assume(both)
    assert session.arn.startswith(f"arn:aws:sts::{PARTNER}:assumed-role/")
    assert session.client("sts").get_caller_identity()["Account"] == PARTNER


def test_session_name_pattern(admin):
    role_arn = make_role(admin, trust({"AWS": ACCOUNT}))
    user = make_user(admin, policies={"a": assume_any()})
    status, code, message = error_of(user.client("sts").assume_role, RoleArn=role_arn, RoleSessionName="bad name!")
    assert (status, code) == (400, "ValidationError")
    assert "Member must satisfy regular expression pattern: [\\w+=,.@-]*" in message


def test_get_caller_identity_needs_no_permission(admin):
    user = make_user(admin, policies={"nothing": policy(deny("*"))})
    assert user.client("sts").get_caller_identity()["Arn"] == user.arn


def test_source_identity_needs_set_source_identity_on_both_sides(admin):
    role_arn = make_role(admin, trust({"AWS": ACCOUNT}))  # trust allows sts:AssumeRole only
    user = make_user(admin, policies={"a": policy(allow(["sts:AssumeRole", "sts:SetSourceIdentity"]))})
    message = denied(user, role_arn, SourceIdentity="alice")
    assert message == (f"User: {user.arn} is not authorized to perform: sts:SetSourceIdentity on "
                       f"resource: {role_arn}")
    assert user.assume(role_arn).arn  # without a source identity, sts:AssumeRole alone is enough


def test_session_tags_need_tag_session(admin):
    doc = policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"})
    role_arn = make_role(admin, doc)
    user = make_user(admin, policies={"a": policy(allow(["sts:AssumeRole", "sts:TagSession"]))})
    message = denied(user, role_arn, Tags=[{"Key": "team", "Value": "blue"}])
    assert "sts:TagSession" in message
    tagged = make_role(admin, policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
                                      "Action": ["sts:AssumeRole", "sts:TagSession"]}))
    assert user.assume(tagged, Tags=[{"Key": "team", "Value": "blue"}]).arn


def test_create_with_tags_needs_the_tagging_permission(admin):
    creator = make_user(admin, policies={"create": policy(allow(["iam:CreateUser"]))})
    iam = creator.client("iam")
    name = unique("tagged")
    status, code, message = error_of(iam.create_user, UserName=name, Tags=[{"Key": "labkit", "Value": "x"}])
    assert (status, code) == (403, "AccessDenied")
    assert message.startswith(f"User: {creator.arn} is not authorized to perform: iam:TagUser on resource: "
                              f"arn:aws:iam::{ACCOUNT}:user/{name}")
    assert iam.create_user(UserName=name)["User"]["UserName"] == name  # untagged: CreateUser is enough


# =================================================================================================
# Issue 11: the families where the sandbox disagreed with AWS's documentation. Each row names its
# page (https://docs.aws.amazon.com/IAM/latest/UserGuide/<page>). Rows that drive the sandbox show
# what a learner sees; rows on labkit.iam alone pin the rule where the sandbox cannot reach it.
# =================================================================================================

EVAL_LOGIC = "reference_policies_evaluation-logic.html#policy-eval-denyallow"
VARIABLES = "reference_policies_variables.html"
MULTIVALUED = "reference_policies_condition-single-vs-multi-valued-context-keys.html"
OPERATORS = "reference_policies_elements_condition_operators.html"
NOT_PRINCIPAL = "reference_policies_elements_notprincipal.html"
CONDITION_KEYS = "reference_policies_condition-keys.html"
ACCT = "111122223333"


# --- same-account trust grants (EVAL_LOGIC: "a resource-based policy ... grants permission directly
# to the IAM user or the session principal that is making the request") ----------------------------

def test_trust_to_star_needs_no_identity_policy(admin):
    """EVAL_LOGIC: a same-account grant to "*" is a grant to the caller; no identity Allow needed."""
    role_arn = make_role(admin, policy({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole",
                                        "Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}}))
    user = make_user(admin)  # no policy at all
    assert user.assume(role_arn).arn.startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/")


def test_trust_to_aws_star_narrowed_by_principal_arn_needs_no_identity_policy(admin):
    """EVAL_LOGIC: {"AWS": "*"} with an aws:PrincipalArn condition grants to that caller alone."""
    user, other = make_user(admin), make_user(admin)
    role_arn = make_role(admin, trust({"AWS": "*"}, Condition={"ArnEquals": {"aws:PrincipalArn": user.arn}}))
    assert user.assume(role_arn).arn
    assert denied(other, role_arn) == (f"User: {other.arn} is not authorized to perform: sts:AssumeRole "
                                       f"on resource: {role_arn}")


def test_role_chaining_to_a_trust_naming_the_callers_role_needs_no_identity_policy(admin):
    """EVAL_LOGIC, "IAM role": a grant to the role ARN needs no identity Allow (role chaining)."""
    user = make_user(admin)
    first = make_role(admin, trust({"AWS": user.arn}))  # its sessions have no policy at all
    second = make_role(admin, trust({"AWS": first}))
    assert user.assume(first).assume(second, "hop").arn.endswith("/hop")


def test_trust_naming_the_session_arn_needs_no_identity_policy(admin):
    """EVAL_LOGIC, "IAM role session": a grant to the session ARN is a grant to the session."""
    user = make_user(admin)
    name = unique("first")
    first = make_role(admin, trust({"AWS": user.arn}), name)
    second = make_role(admin, trust({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/s1"}))
    assert user.assume(first, "s1").assume(second, "hop").arn.endswith("/hop")


def test_role_arn_grant_is_limited_by_the_session_policy(admin):
    """EVAL_LOGIC: grants to a role ARN "are limited by an implicit deny in a ... session policy"."""
    user = make_user(admin)
    first = make_role(admin, trust({"AWS": user.arn}), policies={"all": policy(allow("*"))})
    second = make_role(admin, trust({"AWS": first}))
    narrow = user.assume(first, Policy=policy(allow("ec2:Describe*")))
    status, code, message = error_of(narrow.client("sts").assume_role, RoleArn=second, RoleSessionName="hop")
    assert (status, code) == (403, "AccessDenied")
    assert message == (f"User: {narrow.arn} is not authorized to perform: sts:AssumeRole on resource: "
                       f"{second} because no session policy allows the sts:AssumeRole action")


def test_session_arn_grant_is_not_limited_by_the_session_policy(admin):
    """EVAL_LOGIC: "Permissions granted directly to a session are not limited by an implicit deny
    in an identity-based policy, a permissions boundary, or session policy"."""
    user = make_user(admin)
    name = unique("first")
    first = make_role(admin, trust({"AWS": user.arn}), name)
    second = make_role(admin, trust({"AWS": f"arn:aws:sts::{ACCOUNT}:assumed-role/{name}/narrow"}))
    narrow = user.assume(first, "narrow", Policy=policy(allow("ec2:Describe*")))
    assert narrow.assume(second, "hop").arn.endswith("/hop")


def test_role_arn_grant_is_limited_by_the_permissions_boundary(admin):
    """EVAL_LOGIC: grants to a role ARN "are limited by an implicit deny in a permissions boundary"."""
    iam = admin.client("iam")
    bound = iam.create_policy(PolicyName=unique("ec2-only"), PolicyDocument=policy(allow("ec2:*")))["Policy"]["Arn"]
    user = make_user(admin)
    name = unique("bounded")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust({"AWS": user.arn}), PermissionsBoundary=bound)
    first = f"arn:aws:iam::{ACCOUNT}:role/{name}"
    second = make_role(admin, trust({"AWS": first}))
    session = user.assume(first)
    status, code, message = error_of(session.client("sts").assume_role, RoleArn=second, RoleSessionName="hop")
    assert (status, code) == (403, "AccessDenied")
    assert message.endswith("because no permissions boundary allows the sts:AssumeRole action")


def test_account_grant_still_needs_the_identity_policy_for_sessions_too(admin):
    """EVAL_LOGIC: root / account ID delegate to the account's identity-based policies."""
    user = make_user(admin)
    first = make_role(admin, trust({"AWS": user.arn}))
    second = make_role(admin, trust({"AWS": ACCOUNT}))
    session = user.assume(first, "s1")
    status, code, message = error_of(session.client("sts").assume_role, RoleArn=second, RoleSessionName="hop")
    assert message.endswith("because no identity-based policy allows the sts:AssumeRole action")


def test_engine_grants_by_principal_kind():
    """EVAL_LOGIC, table "Resource-based policies and implicit denies in other policy types": the
    same rows on labkit.iam alone, including the user with a boundary (the sandbox cannot store a
    user's boundary yet) and a session caller named by "*"."""
    from labkit import iam as engine

    role = f"arn:aws:iam::{ACCT}:role/Target"
    user = engine.Caller(f"arn:aws:iam::{ACCT}:user/alice", ACCT)
    session = engine.Caller(f"arn:aws:sts::{ACCT}:assumed-role/Ops/s", ACCT, f"arn:aws:iam::{ACCT}:role/Ops")
    nothing = policy(allow("ec2:*"))  # allows no sts action: an implicit deny for sts:AssumeRole
    request = engine.Request("sts:AssumeRole", role, {})

    def decide(caller, principal, **layers):
        doc = policy({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"})
        return engine.authorize(request, caller, trust_policy=doc, **layers)

    # a user named directly: identity and boundary implicit denies do not limit it
    assert decide(user, {"AWS": user.arn}, identity=[("p", nothing)], boundary=("b", nothing)).allowed
    # a session named directly: nor do identity, boundary or session policy
    assert decide(session, {"AWS": session.arn}, boundary=("b", nothing), session=[("s", nothing)]).allowed
    # the session's role named: no identity Allow needed, but boundary and session policy limit it
    assert decide(session, {"AWS": session.role_arn}).allowed
    limited = decide(session, {"AWS": session.role_arn}, boundary=("b", nothing))
    assert limited.reason == "because no permissions boundary allows the sts:AssumeRole action"
    limited = decide(session, {"AWS": session.role_arn}, session=[("s", nothing)])
    assert limited.reason == "because no session policy allows the sts:AssumeRole action"
    # the account named: the identity policies decide
    assert decide(user, {"AWS": ACCT}).reason == "because no identity-based policy allows the sts:AssumeRole action"
    assert decide(user, {"AWS": ACCT}, identity=[("p", policy(allow("sts:AssumeRole", role)))]).allowed
    # Open case: the page's table lists user, role, role session and federated user ARNs, not "*".
    # "*" names every principal, the session making the request included ("grants permission
    # directly to ... the session principal that is making the request"): chosen reading, a
    # session named by "*" is not limited by its session policy.
    assert decide(session, "*", session=[("s", nothing)]).allowed
    # an explicit deny anywhere still wins
    deny_all = policy(deny("*"))
    assert decide(user, {"AWS": user.arn}, identity=[("p", deny_all)]).explicit_deny


def test_engine_cross_account_needs_both_sides():
    """reference_policies_evaluation-logic-cross-account.html: the trusting account's resource
    policy and the caller's identity policy must both allow."""
    from labkit import iam as engine

    role = "arn:aws:iam::444455556666:role/Target"
    user = engine.Caller(f"arn:aws:iam::{ACCT}:user/alice", ACCT)
    request = engine.Request("sts:AssumeRole", role, {})
    doc = policy({"Effect": "Allow", "Principal": {"AWS": user.arn}, "Action": "sts:AssumeRole"})
    alone = engine.authorize(request, user, trust_policy=doc)
    assert alone.reason == "because no identity-based policy allows the sts:AssumeRole action"
    both = engine.authorize(request, user, trust_policy=doc, identity=[("p", policy(allow("sts:AssumeRole", role)))])
    assert both.allowed


# --- policy variables: where they are replaced (VARIABLES, "Where you can use policy variables") ---

def test_variable_before_the_fifth_colon_is_literal_text():
    """VARIABLES: "only in the resource portion of the ARN ... after the fifth colon"."""
    role = f"arn:aws:iam::{ACCT}:role/LabRole"
    context = {"aws:PrincipalAccount": ACCT, "aws:username": "LabRole"}
    before = json.dumps({"Version": "2012-10-17", "Statement": [
        allow("sts:AssumeRole", "arn:aws:iam::${aws:PrincipalAccount}:role/*")]})
    after = json.dumps({"Version": "2012-10-17", "Statement": [
        allow("sts:AssumeRole", f"arn:aws:iam::{ACCT}:role/${{aws:username}}")]})
    assert evaluate([("p", before)], Request("sts:AssumeRole", role, context)).decision is Decision.IMPLICIT_DENY
    literal = "arn:aws:iam::${aws:PrincipalAccount}:role/LabRole"
    assert evaluate([("p", before)], Request("sts:AssumeRole", literal, context)).decision is Decision.ALLOW
    assert evaluate([("p", after)], Request("sts:AssumeRole", role, context)).decision is Decision.ALLOW


def test_variable_after_the_fifth_colon_in_the_sandbox(admin):
    """VARIABLES: ${aws:username} in the resource part, through the sandbox (iam:GetUser on the
    caller's own user only). The literal-before-the-fifth-colon case cannot be stored in the
    sandbox yet: moto's validator refuses such a Resource, which IAM accepts (issue 11)."""
    name = unique("self")
    mine = make_user(admin, name, {"me": policy(allow("iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"))})
    assert mine.client("iam").get_user(UserName=name)["User"]["UserName"] == name
    other = make_user(admin, unique("other"))
    assert error_of(mine.client("iam").get_user, UserName=other.arn.rsplit("/", 1)[-1])[1] == "AccessDenied"


@pytest.mark.parametrize("version", ["2008-10-17", None])
def test_variables_need_version_2012_10_17(version):
    """VARIABLES: "If you don't include the Version element ... variables ... are treated as literal
    strings" (and Version 2008-10-17 predates them), in Resource and in Condition values."""
    document = {"Statement": [allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/${{aws:username}}"),
                              allow("sts:AssumeRole", "*", Condition={"StringEquals": {"aws:PrincipalTag/me": "${aws:username}"}})]}
    if version:
        document["Version"] = version
    context = {"aws:username": "alice", "aws:PrincipalTag/me": "alice"}
    get = Request("iam:GetUser", f"arn:aws:iam::{ACCT}:user/alice", context)
    assert evaluate([("p", document)], get).decision is Decision.IMPLICIT_DENY
    assert evaluate([("p", document)], Request("sts:AssumeRole", "x", context)).decision is Decision.IMPLICIT_DENY
    literal = Request("sts:AssumeRole", "x", {"aws:PrincipalTag/me": "${aws:username}"})
    assert evaluate([("p", document)], literal).decision is Decision.ALLOW


# --- policy variables with no value (VARIABLES, "Policy variables with no value") ---------------

def test_resource_with_a_variable_that_has_no_value_matches_nothing():
    """VARIABLES: "the resource that includes a policy variable with no value will not match any
    resource"."""
    document = policy(allow("iam:GetUser", f"arn:aws:iam::{ACCT}:user/${{aws:username}}"))
    session = Request("iam:GetUser", f"arn:aws:iam::{ACCT}:user/alice", {"aws:userid": "AROA:s"})  # no username
    assert evaluate([("p", document)], session).decision is Decision.IMPLICIT_DENY


def test_not_resource_with_a_variable_that_has_no_value_does_not_apply():
    """VARIABLES: "If a variable that has no value ... is used as part of the Resource or
    NotResource element ... [it] will not match any resource."

    Open case: the page does not say whether such a NotResource means "all resources" (nothing
    excluded) or that the element matches nothing. Its note "If AWS cannot resolve a variable this
    might cause the entire statement to be invalid" supports the second reading, chosen here: the
    statement does not apply (an Allow grants nothing, a Deny denies nothing)."""
    document = policy({"Effect": "Allow", "Action": "iam:GetUser",
                       "NotResource": f"arn:aws:iam::{ACCT}:user/${{aws:username}}"})
    request = Request("iam:GetUser", f"arn:aws:iam::{ACCT}:user/bob", {})
    assert evaluate([("p", document)], request).decision is Decision.IMPLICIT_DENY
    named = Request("iam:GetUser", f"arn:aws:iam::{ACCT}:user/bob", {"aws:username": "alice"})
    assert evaluate([("p", document)], named).decision is Decision.ALLOW


def test_negated_operator_matches_a_variable_that_has_no_value():
    """VARIABLES, the page's own example: "Access is explicitly denied when aws:principaltag/Team is
    not set" ("Inverted condition operators like StringNotEquals ... do match against a null value")."""
    document = policy(allow("s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/*"),
                      deny("s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/*",
                           Condition={"StringNotEquals": {"s3:ExistingObjectTag/Team": "${aws:PrincipalTag/Team}"}}))
    obj = "arn:aws:s3:::amzn-s3-demo-bucket/report"
    untagged = Request("s3:GetObject", obj, {"s3:ExistingObjectTag/Team": "red"})
    assert evaluate([("p", document)], untagged).decision is Decision.EXPLICIT_DENY
    same = Request("s3:GetObject", obj, {"s3:ExistingObjectTag/Team": "red", "aws:PrincipalTag/Team": "red"})
    assert evaluate([("p", document)], same).decision is Decision.ALLOW


def test_principal_tag_variable_in_the_sandbox(admin):
    """VARIABLES and CONDITION_KEYS: a Deny conditioned on the caller's own tag, through the sandbox:
    no tag (null value) and the negated operator matches; the right tag lets the call through."""
    guard = policy(allow("ec2:Describe*"),
                   deny("ec2:*", Condition={"StringNotEquals": {"aws:RequestedRegion": "${aws:PrincipalTag/region}"}}))
    untagged = make_user(admin, policies={"p": guard})
    status, code, message = error_of(untagged.client("ec2").describe_instances)
    assert code == "UnauthorizedOperation" and message.endswith("with an explicit deny in an identity-based policy")
    name = unique("regional")
    tagged = make_user(admin, name, {"p": guard})
    admin.client("iam").tag_user(UserName=name, Tags=[{"Key": "region", "Value": "us-east-1"}])
    assert "Reservations" in tagged.client("ec2").describe_instances()


# --- set operators and multivalued keys (MULTIVALUED; OPERATORS) ---------------------------------

@pytest.mark.parametrize("operator", ["ForAnyValue:StringEquals", "ForAnyValue:StringEqualsIfExists",
                                      "ForAnyValue:StringNotEqualsIfExists"])
def test_for_any_value_on_a_missing_key_is_false(operator):
    """MULTIVALUED, ForAnyValue: "if the key does not exist, the condition returns false" (IfExists
    does not change that: it applies to each value inside the set operation)."""
    document = policy(allow("sts:TagSession", "*", Condition={operator: {"aws:TagKeys": ["team"]}}))
    assert evaluate([("p", document)], Request("sts:TagSession", "*", {})).decision is Decision.IMPLICIT_DENY


@pytest.mark.parametrize("tag_keys", [None, []])
def test_for_all_values_on_a_missing_or_empty_key_is_true(tag_keys):
    """MULTIVALUED, ForAllValues: "It also returns true if there are no context keys in the request"."""
    document = policy(allow("sts:TagSession", "*", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}))
    context = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    assert evaluate([("p", document)], Request("sts:TagSession", "*", context)).decision is Decision.ALLOW


@pytest.mark.parametrize("operator", ["StringEquals", "StringLike", "StringNotEquals", "StringNotLike"])
def test_single_valued_operator_on_a_multivalued_key_does_not_match(operator):
    """MULTIVALUED: "Multivalued context keys require a condition set operator"; without one the
    condition does not match, whatever the values (negated operators included)."""
    document = policy(allow("sts:TagSession", "*", Condition={operator: {"aws:TagKeys": "team"}}))
    for keys in (["team"], ["other"], ["team", "other"]):
        request = Request("sts:TagSession", "*", {"aws:TagKeys": keys})
        assert evaluate([("p", document)], request).decision is Decision.IMPLICIT_DENY


@pytest.mark.parametrize("operator", ["StringNotEquals", "StringNotLike", "ArnNotLike", "ArnNotEquals",
                                      "NumericNotEquals", "DateNotEquals", "NotIpAddress",
                                      "StringNotEqualsIgnoreCase"])
def test_negated_operators_are_true_on_a_missing_key(operator):
    """OPERATORS: "If the policy condition requires that the key is not matched, such as
    StringNotLike or ArnNotLike, and the right key is not present, the condition is true"."""
    value = {"ArnNotLike": "arn:aws:iam::*:root", "ArnNotEquals": "arn:aws:iam::1:root", "NumericNotEquals": "1",
             "DateNotEquals": "2026-01-01T00:00:00Z", "NotIpAddress": "10.0.0.0/8"}.get(operator, "x")
    document = policy(allow("sts:AssumeRole", "*", Condition={operator: {"aws:SomeMissingKey": value}}))
    assert evaluate([("p", document)], Request("sts:AssumeRole", "*", {})).decision is Decision.ALLOW


def test_tag_keys_in_the_sandbox_need_a_set_operator(admin):
    """MULTIVALUED and CONDITION_KEYS: AssumeRole's session tags are aws:TagKeys; ForAllValues limits
    which keys may be set, and a plain StringEquals on aws:TagKeys never matches."""
    user = make_user(admin, policies={"a": policy(allow(["sts:AssumeRole", "sts:TagSession"]))})
    only_team = make_role(admin, policy(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:TagSession",
         "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}}))
    assert user.assume(only_team, Tags=[{"Key": "team", "Value": "blue"}]).arn
    assert "sts:TagSession" in denied(user, only_team, Tags=[{"Key": "owner", "Value": "me"}])
    plain = make_role(admin, policy(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:TagSession",
         "Condition": {"StringEquals": {"aws:TagKeys": "team"}}}))
    assert "sts:TagSession" in denied(user, plain, Tags=[{"Key": "team", "Value": "blue"}])


# --- what IAM refuses and accepts, per kind of policy --------------------------------------------

def test_not_principal_is_refused_in_a_trust_policy():
    """NOT_PRINCIPAL: NotPrincipal may not be used in a role's trust policy."""
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCT}:user/bob"}, "Action": "sts:AssumeRole"}]}
    with pytest.raises(PolicyError) as raised:
        parse_policy(document, kind="trust")
    assert raised.value.problem == "not_principal_in_trust"
    assert "NotPrincipal" in str(raised.value) and raised.value.iam_message
    assert parse_policy(document, kind="resource")  # other resource-based policies may use it


def test_create_role_refuses_not_principal_in_its_trust_policy(admin):
    """NOT_PRINCIPAL: IAM refuses a trust policy with NotPrincipal at CreateRole and at
    UpdateAssumeRolePolicy (MalformedPolicyDocument; moto stored it), so it never grants."""
    iam = admin.client("iam")
    document = policy({"Effect": "Allow", "Action": "sts:AssumeRole",
                       "NotPrincipal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/nobody"}})
    name = unique("notprincipal")
    status, code, message = error_of(iam.create_role, RoleName=name, AssumeRolePolicyDocument=document)
    assert (status, code) == (400, "MalformedPolicyDocument")
    assert message == IAM_MESSAGES["not_principal_in_trust"].text
    assert error_of(iam.get_role, RoleName=name)[1] == "NoSuchEntity"  # nothing half-made
    role_arn = make_role(admin, trust({"AWS": ACCOUNT}), name)
    assert error_of(iam.update_assume_role_policy, RoleName=name, PolicyDocument=document)[1] == "MalformedPolicyDocument"
    user = make_user(admin, policies={"a": assume_any()})
    assert user.assume(role_arn).arn  # the trust policy it had is the one that still applies


def test_resource_is_refused_in_a_trust_policy():
    """PRINCIPAL ("The IAM resource-based policy type is a role trust policy"; the resource is the
    role) and aws-fidelity.md: "A trust policy may not have Resource (MalformedPolicyDocument: Has
    prohibited field Resource)"."""
    document = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ACCT}, "Action": "sts:AssumeRole", "Resource": "*"}]}
    with pytest.raises(PolicyError) as raised:
        parse_policy(document, kind="trust")
    assert raised.value.iam_message == "Has prohibited field Resource"
    assert "remove Resource" in str(raised.value)


@pytest.mark.parametrize("kind", ["identity", "session", "boundary"])
def test_principal_is_refused_in_an_identity_policy(kind):
    """reference_policies_elements_principal.html: "You cannot use the Principal element in an
    identity-based policy"; IAM: "Policy document should not specify a principal."."""
    document = policy(allow("sts:AssumeRole", Principal={"AWS": ACCT}))
    with pytest.raises(PolicyError) as raised:
        parse_policy(document, kind=kind)
    assert raised.value.iam_message == "Policy document should not specify a principal."
    assert "remove Principal" in str(raised.value)


def test_iam_accepts_account_wildcards_and_typed_condition_values():
    """aws-fidelity.md and OPERATORS: "arn:aws:iam::*:*" is a valid Resource; numbers and booleans
    are valid condition values, compared as the operator reads them."""
    document = {"Version": "2012-10-17", "Statement": [allow("sts:AssumeRole", ["arn:aws:iam::*:*", f"arn:aws:iam::{ACCT}:*"],
                Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": 3600},
                           "Bool": {"aws:MultiFactorAuthPresent": True}})]}
    parse_policy(json.dumps(document))
    fresh = Request("sts:AssumeRole", f"arn:aws:iam::{ACCT}:role/R",
                    {"aws:MultiFactorAuthAge": 60, "aws:MultiFactorAuthPresent": True})
    assert evaluate([("p", document)], fresh).decision is Decision.ALLOW
    stale = Request("sts:AssumeRole", f"arn:aws:iam::{ACCT}:role/R",
                    {"aws:MultiFactorAuthAge": 7200, "aws:MultiFactorAuthPresent": True})
    assert evaluate([("p", document)], stale).decision is Decision.IMPLICIT_DENY


# --- the request context (CONDITION_KEYS) ------------------------------------------------------------

def test_trust_policy_conditioned_on_the_users_tag(admin):
    """CONDITION_KEYS, aws:PrincipalTag: "the tag ... attached to the principal making the request"."""
    doc = trust({"AWS": ACCOUNT}, Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}})
    role_arn = make_role(admin, doc)
    name = unique("blue")
    blue = make_user(admin, name, {"a": assume_any()})
    admin.client("iam").tag_user(UserName=name, Tags=[{"Key": "team", "Value": "blue"}])
    untagged = make_user(admin, policies={"a": assume_any()})
    assert blue.assume(role_arn).arn
    assert denied(untagged, role_arn).endswith(role_arn)


def test_session_principal_tags_are_role_tags_overlaid_by_session_tags(admin):
    """CONDITION_KEYS, aws:PrincipalTag: a role session's tags are the role's tags and the session
    tags, the session tag winning for the same key (id_session-tags.html)."""
    iam = admin.client("iam")
    reader = policy(allow("ec2:Describe*", Condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}}))
    name = unique("tagged")
    role_arn = make_role(admin, policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
                                        "Action": ["sts:AssumeRole", "sts:TagSession"]}), name,
                         policies={"read": reader})
    iam.tag_role(RoleName=name, Tags=[{"Key": "team", "Value": "red"}])
    user = make_user(admin, policies={"a": policy(allow(["sts:AssumeRole", "sts:TagSession"]))})
    red = user.assume(role_arn, "red")
    assert error_of(red.client("ec2").describe_instances)[1] == "UnauthorizedOperation"
    blue = user.assume(role_arn, "blue", Tags=[{"Key": "Team", "Value": "blue"}])
    assert "Reservations" in blue.client("ec2").describe_instances()


def test_resource_tags_of_the_role_being_assumed(admin):
    """CONDITION_KEYS, aws:ResourceTag: AssumeRole's resource is the role; its tags are in the context."""
    iam = admin.client("iam")
    user = make_user(admin, policies={"a": policy(allow("sts:AssumeRole", Condition={"StringEquals": {"aws:ResourceTag/env": "lab"}}))})
    lab, other = unique("lab"), unique("prod")
    lab_arn = make_role(admin, trust({"AWS": ACCOUNT}), lab)
    other_arn = make_role(admin, trust({"AWS": ACCOUNT}), other)
    iam.tag_role(RoleName=lab, Tags=[{"Key": "env", "Value": "lab"}])
    iam.tag_role(RoleName=other, Tags=[{"Key": "env", "Value": "prod"}])
    assert user.assume(lab_arn).arn
    assert "because no identity-based policy allows" in denied(user, other_arn)


def test_request_tags_when_creating_a_tagged_user(admin):
    """CONDITION_KEYS, aws:RequestTag and aws:TagKeys: the tags a request sets."""
    creator = make_user(admin, policies={"create": policy(allow("iam:CreateUser"), allow(
        "iam:TagUser", Condition={"StringEquals": {"aws:RequestTag/labkit": "yes"},
                                  "ForAllValues:StringEquals": {"aws:TagKeys": ["labkit"]}}))})
    iam = creator.client("iam")
    assert iam.create_user(UserName=unique("ok"), Tags=[{"Key": "labkit", "Value": "yes"}])["User"]
    status, code, message = error_of(iam.create_user, UserName=unique("no"), Tags=[{"Key": "labkit", "Value": "no"}])
    assert code == "AccessDenied" and "iam:TagUser" in message
    extra = [{"Key": "labkit", "Value": "yes"}, {"Key": "owner", "Value": "me"}]
    assert error_of(iam.create_user, UserName=unique("no"), Tags=extra)[1] == "AccessDenied"


def test_request_context_model():
    """CONDITION_KEYS and VARIABLES ("Principal key values"): what each caller's context holds."""
    from datetime import UTC, datetime, timedelta

    from labkit.iam import Caller, RequestContext

    now = datetime(2026, 1, 31, 12, tzinfo=UTC)
    user = Caller(f"arn:aws:iam::{ACCT}:user/team/alice", ACCT, user_id="AIDAEXAMPLE")
    keys = RequestContext(caller=user, now=now, source_ip="127.0.0.1", requested_region="us-east-1",
                          secure_transport=False, principal_tags={"team": "blue"},
                          request_tags={"a": "1", "b": "2"}).keys()
    assert keys["aws:username"] == "alice" and keys["aws:PrincipalType"] == "User"
    assert keys["aws:userid"] == "AIDAEXAMPLE" and keys["aws:PrincipalArn"] == user.arn
    assert keys["aws:EpochTime"] == int(now.timestamp()) and keys["aws:CurrentTime"] == now
    assert keys["aws:PrincipalTag/team"] == "blue" and keys["aws:TagKeys"] == ["a", "b"]
    assert "aws:MultiFactorAuthPresent" not in keys and "aws:TokenIssueTime" not in keys  # long-term keys
    session = Caller(f"arn:aws:sts::{ACCT}:assumed-role/Ops/s", ACCT, f"arn:aws:iam::{ACCT}:role/Ops",
                     user_id="AROAEXAMPLE:s")
    keys = RequestContext(caller=session, now=now, token_issue_time=now - timedelta(minutes=5),
                          mfa_authenticated_at=now - timedelta(minutes=5), source_identity="alice").keys()
    assert keys["aws:PrincipalType"] == "AssumedRole" and "aws:username" not in keys
    assert keys["aws:PrincipalArn"] == session.role_arn and keys["aws:userid"] == "AROAEXAMPLE:s"
    assert keys["aws:MultiFactorAuthPresent"] is True and keys["aws:MultiFactorAuthAge"] == 300
    assert keys["aws:SourceIdentity"] == "alice"
    no_mfa = RequestContext(caller=session, now=now, mfa_present=False).keys()
    assert no_mfa["aws:MultiFactorAuthPresent"] is False and "aws:MultiFactorAuthAge" not in no_mfa


# --- AWS's words for an explicit deny (no "because") ---------------------------------------------

def test_explicit_deny_message_has_no_because(admin):
    """AWS "Troubleshoot access denied error messages": "... on resource: R with an explicit deny in
    an identity-based policy" (the implicit form says "because no ... allows")."""
    role_arn = make_role(admin, trust({"AWS": ACCOUNT}))
    user = make_user(admin, policies={"a": assume_any(), "d": policy(deny("sts:AssumeRole"))})
    assert denied(user, role_arn) == (f"User: {user.arn} is not authorized to perform: sts:AssumeRole on "
                                      f"resource: {role_arn} with an explicit deny in an identity-based policy")


def test_explicit_deny_in_a_session_policy(admin):
    role_arn = make_role(admin, trust({"AWS": ACCOUNT}), policies={"ec2": policy(allow("ec2:*"))})
    user = make_user(admin, policies={"a": assume_any()})
    guarded = user.assume(role_arn, Policy=policy(allow("ec2:*"), deny("ec2:DescribeInstances")))
    status, code, message = error_of(guarded.client("ec2").describe_instances)
    assert code == "UnauthorizedOperation"
    assert message.endswith(f"User: {guarded.arn} is not authorized to perform: ec2:DescribeInstances "
                            "with an explicit deny in a session policy")


# =================================================================================================
# Issue 11, the sandbox half: IAM writes checked as IAM checks them, user boundaries stored and
# applied, the request context from labkit.iam (transitive session tags along a chain), and the
# decoded authorization message. GetSessionToken and MFA: tests/test_sts_sessions.py.
# =================================================================================================

BOUNDARIES = "access_policies_boundaries.html"
SESSION_TAGS = "id_session-tags.html"
GRAMMAR = "reference_policies_grammar.html"  # "Quotation marks are optional for numeric and Boolean values"
RESOURCE = "reference_policies_elements_resource.html"  # "must include either a Resource or a NotResource"
PRINCIPAL = "reference_policies_elements_principal.html"  # "You cannot use the Principal element in an identity-based policy"
BOUNDARY_API = "API_PutUserPermissionsBoundary.html"  # Errors: NoSuchEntity 404, InvalidInput 400
NO_RESOURCE = policy({"Effect": "Allow", "Action": "ec2:DescribeInstances"})  # identity policy without Resource


# --- IAM writes (aws-fidelity.md, "IAM accepts ..."; labkit.iam's grammar per kind) -------------

def _write(admin, operation: str, document: str):
    """Call `operation` with `document` where its policy goes; return the call's ClientError."""
    iam = admin.client("iam")
    name = unique("w")
    if operation == "CreatePolicy":
        return error_of(iam.create_policy, PolicyName=name, PolicyDocument=document)
    if operation == "CreatePolicyVersion":
        arn = iam.create_policy(PolicyName=name, PolicyDocument=policy(allow("ec2:*")))["Policy"]["Arn"]
        return error_of(iam.create_policy_version, PolicyArn=arn, PolicyDocument=document)
    if operation == "PutUserPolicy":
        iam.create_user(UserName=name)
        return error_of(iam.put_user_policy, UserName=name, PolicyName="p", PolicyDocument=document)
    if operation == "PutGroupPolicy":
        iam.create_group(GroupName=name)
        return error_of(iam.put_group_policy, GroupName=name, PolicyName="p", PolicyDocument=document)
    if operation == "PutRolePolicy":
        make_role(admin, trust({"AWS": ACCOUNT}), name)
        return error_of(iam.put_role_policy, RoleName=name, PolicyName="p", PolicyDocument=document)
    if operation == "CreateRole":
        return error_of(iam.create_role, RoleName=name, AssumeRolePolicyDocument=document)
    make_role(admin, trust({"AWS": ACCOUNT}), name)
    return error_of(iam.update_assume_role_policy, RoleName=name, PolicyDocument=document)


@pytest.mark.parametrize("operation", ["CreatePolicy", "CreatePolicyVersion", "PutUserPolicy",
                                       "PutGroupPolicy", "PutRolePolicy"])
def test_iam_refuses_a_malformed_identity_policy_with_its_text(admin, operation):
    """RESOURCE and PRINCIPAL: an identity policy statement needs Resource ("Policy statement must
    contain resources."), and may not name a Principal ("Policy document should not specify a
    principal."; IAM's texts as aws-fidelity.md quotes them)."""
    assert _write(admin, operation, NO_RESOURCE) == (400, "MalformedPolicyDocument",
                                                     "Policy statement must contain resources.")
    with_principal = policy(allow("ec2:*", Principal={"AWS": ACCOUNT}))
    assert _write(admin, operation, with_principal)[2] == "Policy document should not specify a principal."


@pytest.mark.parametrize("operation", ["CreateRole", "UpdateAssumeRolePolicy"])
def test_iam_refuses_a_malformed_trust_policy_with_its_text(admin, operation):
    """PRINCIPAL ("The IAM resource-based policy type is a role trust policy"; the resource is the
    role) and aws-fidelity.md: "A trust policy may not have Resource (MalformedPolicyDocument: Has
    prohibited field Resource)"."""
    with_resource = trust({"AWS": ACCOUNT}, Resource="*")
    assert _write(admin, operation, with_resource) == (400, "MalformedPolicyDocument",
                                                       "Has prohibited field Resource")


def test_malformed_policy_document_uses_the_query_envelope(sandbox):
    from tests.support import admin_keys, raw_request

    status, body = raw_request("iam", {"Action": "CreatePolicy", "Version": "2010-05-08",
                                       "PolicyName": unique("p"), "PolicyDocument": NO_RESOURCE}, admin_keys())
    assert status == 400
    assert body.startswith("<ErrorResponse") and "<Code>MalformedPolicyDocument</Code>" in body
    assert "<Message>Policy statement must contain resources.</Message>" in body


def test_iam_stores_what_it_accepts_and_moto_refused(admin):
    """aws-fidelity.md: IAM accepts "arn:aws:iam::*:*", a variable before the fifth colon (literal
    text there: VARIABLES), and numbers and booleans as condition values (GRAMMAR: "Quotation marks
    are optional for numeric and Boolean values"); moto's validator refused all three."""
    iam = admin.client("iam")
    document = {"Version": "2012-10-17", "Statement": [
        allow("iam:GetUser", ["arn:aws:iam::*:*", "arn:aws:iam::${aws:PrincipalAccount}:role/*"]),
        allow("ec2:DescribeInstances", Condition={"NumericLessThan": {"aws:EpochTime": 4102444800},
                                                  "Bool": {"aws:SecureTransport": False}})]}
    created = iam.create_policy(PolicyName=unique("typed"), PolicyDocument=json.dumps(document))["Policy"]
    stored = iam.get_policy_version(PolicyArn=created["Arn"], VersionId="v1")["PolicyVersion"]["Document"]
    stored = json.loads(stored) if isinstance(stored, str) else stored
    assert stored == document
    name = unique("typed")
    user = make_user(admin, name)
    iam.attach_user_policy(UserName=name, PolicyArn=created["Arn"])
    assert user.client("iam").get_user(UserName=name)["User"]["UserName"] == name  # arn:aws:iam::*:*
    assert user.client("ec2").describe_instances()["Reservations"]  # 4102444800 and false, typed
    trusting = trust({"AWS": ACCOUNT}, Condition={"Bool": {"aws:MultiFactorAuthPresent": True},
                                                  "NumericLessThan": {"aws:MultiFactorAuthAge": 3600}})
    assert make_role(admin, trusting).startswith(f"arn:aws:iam::{ACCOUNT}:role/")


def test_variable_before_the_fifth_colon_in_the_sandbox(admin):
    """VARIABLES, through the sandbox now that IAM's grammar stores it: ${aws:PrincipalAccount} in
    the account field is literal text, so the Allow matches no real role."""
    role_arn = make_role(admin, trust({"AWS": ACCOUNT}))
    user = make_user(admin, policies={"p": policy(allow("sts:AssumeRole", "arn:aws:iam::${aws:PrincipalAccount}:role/*"))})
    assert "because no identity-based policy allows" in denied(user, role_arn)


# --- user permissions boundaries (BOUNDARIES) ----------------------------------------------------

def _boundary(admin, document: str) -> str:
    return admin.client("iam").create_policy(PolicyName=unique("boundary"), PolicyDocument=document)["Policy"]["Arn"]


def test_create_user_with_a_boundary_stores_and_applies_it(admin):
    """BOUNDARIES: "a permissions boundary ... sets the maximum permissions that an identity-based
    policy can grant"; CreateUser's PermissionsBoundary sets it, GetUser shows it."""
    iam = admin.client("iam")
    bound = _boundary(admin, policy(allow("ec2:Describe*")))
    name = unique("bounded")
    created = iam.create_user(UserName=name, PermissionsBoundary=bound)["User"]
    assert created["PermissionsBoundary"] == {"PermissionsBoundaryType": "PermissionsBoundaryPolicy",
                                              "PermissionsBoundaryArn": bound}
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == bound
    listed = [u for u in iam.list_users()["Users"] if u["UserName"] == name][0]
    assert "PermissionsBoundary" not in listed  # ListUsers does not return it
    iam.put_user_policy(UserName=name, PolicyName="all", PolicyDocument=policy(allow(["ec2:*", "iam:*"])))
    key = iam.create_access_key(UserName=name)["AccessKey"]
    user = Keys(key["AccessKeyId"], key["SecretAccessKey"], arn=created["Arn"])
    assert user.client("ec2").describe_instances()["Reservations"]
    status, code, message = error_of(user.client("iam").list_users)
    assert (status, code) == (403, "AccessDenied")
    assert message.endswith("because no permissions boundary allows the iam:ListUsers action")


def test_put_and_delete_user_permissions_boundary(admin):
    """BOUNDARIES: PutUserPermissionsBoundary sets a user's boundary (moto answered an HTML 500),
    DeleteUserPermissionsBoundary removes it."""
    iam = admin.client("iam")
    bound = _boundary(admin, policy(allow("ec2:DescribeRegions")))
    name = unique("later")
    user = make_user(admin, name, {"ec2": policy(allow("ec2:*"))})
    assert user.client("ec2").describe_instances()
    iam.put_user_permissions_boundary(UserName=name, PermissionsBoundary=bound)
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"]["PermissionsBoundaryArn"] == bound
    assert error_of(user.client("ec2").describe_instances)[2].endswith(
        "because no permissions boundary allows the ec2:DescribeInstances action")
    assert user.client("ec2").describe_regions()["Regions"]
    iam.delete_user_permissions_boundary(UserName=name)
    assert "PermissionsBoundary" not in iam.get_user(UserName=name)["User"]
    assert user.client("ec2").describe_instances()


def test_a_boundary_must_be_an_existing_policy(admin):
    """BOUNDARY_API: NoSuchEntity (404) for a policy that does not exist; the text is uncertain
    (awserrors.IAM_WRITE_ERRORS says where it comes from)."""
    iam = admin.client("iam")
    missing = f"arn:aws:iam::{ACCOUNT}:policy/{unique('nowhere')}"
    name = unique("nobound")
    assert error_of(iam.create_user, UserName=name, PermissionsBoundary=missing) == (
        404, "NoSuchEntity", f"Policy {missing} does not exist or is not attachable.")
    assert error_of(iam.get_user, UserName=name)[1] == "NoSuchEntity"  # nothing half-made
    make_user(admin, name)
    assert error_of(iam.put_user_permissions_boundary, UserName=name, PermissionsBoundary=missing)[1] == "NoSuchEntity"
    assert "PermissionsBoundary" not in iam.get_user(UserName=name)["User"]


@pytest.mark.parametrize("operation", ["CreateUser", "CreateRole", "PutUserPermissionsBoundary",
                                       "PutRolePermissionsBoundary"])
def test_a_boundary_must_be_a_policy_arn(admin, operation):
    """BOUNDARY_API: InvalidInput (400) for a value that is not a policy ARN (a role's ARN here),
    before anything is made or changed."""
    iam = admin.client("iam")
    name = unique("badbound")
    wrong = make_role(admin, trust({"AWS": ACCOUNT}))
    expected = (400, "InvalidInput", f"ARN {wrong} is not valid.")
    if operation == "CreateUser":
        assert error_of(iam.create_user, UserName=name, PermissionsBoundary=wrong) == expected
        assert error_of(iam.get_user, UserName=name)[1] == "NoSuchEntity"
    elif operation == "CreateRole":
        assert error_of(iam.create_role, RoleName=name, AssumeRolePolicyDocument=trust({"AWS": ACCOUNT}),
                        PermissionsBoundary=wrong) == expected
        assert error_of(iam.get_role, RoleName=name)[1] == "NoSuchEntity"
    elif operation == "PutUserPermissionsBoundary":
        make_user(admin, name)
        assert error_of(iam.put_user_permissions_boundary, UserName=name, PermissionsBoundary=wrong) == expected
        assert "PermissionsBoundary" not in iam.get_user(UserName=name)["User"]
    else:
        make_role(admin, trust({"AWS": ACCOUNT}), name)
        assert error_of(iam.put_role_permissions_boundary, RoleName=name, PermissionsBoundary=wrong) == expected
        assert "PermissionsBoundary" not in iam.get_role(RoleName=name)["Role"]


def test_delegated_admin_condition_on_the_boundary(admin):
    """CONDITION_KEYS and BOUNDARIES: iam:PermissionsBoundary lets an administrator create users
    only with a given boundary."""
    bound = _boundary(admin, policy(allow("ec2:Describe*")))
    delegate = make_user(admin, policies={"p": policy(allow("iam:CreateUser", Condition={
        "StringEquals": {"iam:PermissionsBoundary": bound}}))})
    iam = delegate.client("iam")
    assert error_of(iam.create_user, UserName=unique("free"))[1] == "AccessDenied"
    assert iam.create_user(UserName=unique("kept"), PermissionsBoundary=bound)["User"]


# --- the request context (CONDITION_KEYS; SESSION_TAGS, "Chaining roles with session tags") ------

def _tagging_role(admin, policies: dict[str, str] | None = None, name: str | None = None) -> str:
    return make_role(admin, policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
                                    "Action": ["sts:AssumeRole", "sts:TagSession"]}), name,
                     policies={"all": policy(allow("*"))} if policies is None else policies)


def test_transitive_session_tags_pass_along_a_role_chain(admin):
    """SESSION_TAGS: transitive tags set in the first session are principal tags of the second,
    and stay transitive for a third; non-transitive session tags are not passed on."""
    star_only = policy(allow("ec2:DescribeInstances", Condition={"StringEquals": {"aws:PrincipalTag/Star": "1"}}))
    moon_only = policy(allow("ec2:DescribeInstances", Condition={"StringEquals": {"aws:PrincipalTag/Moon": "1"}}))
    user = make_user(admin, policies={"a": policy(allow(["sts:AssumeRole", "sts:TagSession"]))})
    first = _tagging_role(admin)
    second = _tagging_role(admin, {"all": policy(allow("sts:*")), "star": star_only})
    third = _tagging_role(admin, {"star": star_only})
    moon = _tagging_role(admin, {"moon": moon_only})
    session1 = user.assume(first, "s1", Tags=[{"Key": "Star", "Value": "1"}, {"Key": "Moon", "Value": "1"}],
                           TransitiveTagKeys=["Star"])
    session2 = session1.assume(second, "s2")
    assert session2.client("ec2").describe_instances()["Reservations"]
    assert session2.assume(third, "s3").client("ec2").describe_instances()["Reservations"]
    assert error_of(session1.assume(moon, "moon").client("ec2").describe_instances)[1] == "UnauthorizedOperation"


def test_incoming_transitive_tag_wins_over_the_roles_tag(admin):
    """SESSION_TAGS: "The inherited Star = 1 session tag overrides the role's Star = 3 tag"."""
    name = unique("starred")
    star_one = policy(allow("ec2:DescribeInstances", Condition={"StringEquals": {"aws:PrincipalTag/Star": "1"}}))
    second = _tagging_role(admin, {"star": star_one}, name)
    admin.client("iam").tag_role(RoleName=name, Tags=[{"Key": "Star", "Value": "3"}])
    user = make_user(admin, policies={"a": policy(allow(["sts:AssumeRole", "sts:TagSession"]))})
    assert error_of(user.assume(second, "direct").client("ec2").describe_instances)[1] == "UnauthorizedOperation"
    first = _tagging_role(admin)
    session1 = user.assume(first, "s1", Tags=[{"Key": "Star", "Value": "1"}], TransitiveTagKeys=["Star"])
    assert session1.assume(second, "s2").client("ec2").describe_instances()["Reservations"]


def test_transitive_tags_need_tag_session_in_the_next_trust_policy(admin):
    """SESSION_TAGS: the chained call passes the transitive tags to the new session, so it needs
    sts:TagSession (the failure tools report when a role's trust policy lacks it)."""
    user = make_user(admin, policies={"a": policy(allow(["sts:AssumeRole", "sts:TagSession"]))})
    first = _tagging_role(admin)
    plain = make_role(admin, trust({"AWS": ACCOUNT}))
    session1 = user.assume(first, "s1", Tags=[{"Key": "Star", "Value": "1"}], TransitiveTagKeys=["Star"])
    assert denied(session1, plain) == (f"User: {session1.arn} is not authorized to perform: "
                                       f"sts:TagSession on resource: {plain}")
    untagged = user.assume(first, "s2", Tags=[{"Key": "Star", "Value": "1"}])
    assert untagged.assume(plain, "hop").arn  # not transitive: nothing is passed on


def test_transitive_tag_rules(admin):
    """SESSION_TAGS: "If you try to pass the Heart = 3 session tag, the operation will fail"; a
    transitive key must be one of the call's tags."""
    user = make_user(admin, policies={"a": policy(allow(["sts:AssumeRole", "sts:TagSession"]))})
    first, second = _tagging_role(admin), _tagging_role(admin)
    session1 = user.assume(first, "s1", Tags=[{"Key": "Heart", "Value": "1"}], TransitiveTagKeys=["Heart"])
    status, code, message = error_of(session1.client("sts").assume_role, RoleArn=second, RoleSessionName="s2",
                                     Tags=[{"Key": "heart", "Value": "3"}])
    assert (status, code) == (400, "InvalidParameterValue") and "conflicts with a transitive tag key" in message
    status, code, message = error_of(user.client("sts").assume_role, RoleArn=first, RoleSessionName="s3",
                                     Tags=[{"Key": "Sun", "Value": "2"}], TransitiveTagKeys=["Moon"])
    assert (status, code) == (400, "InvalidParameterValue")
    assert message == "The specified transitive tag key must be included in the requested tags."


def test_transitive_tag_keys_condition(admin):
    """SESSION_TAGS: sts:TransitiveTagKeys limits which tags may be set as transitive."""
    role_arn = make_role(admin, policy(
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:AssumeRole"},
        {"Effect": "Allow", "Principal": {"AWS": ACCOUNT}, "Action": "sts:TagSession",
         "Condition": {"ForAllValues:StringEquals": {"sts:TransitiveTagKeys": ["Project"]}}}))
    user = make_user(admin, policies={"a": policy(allow(["sts:AssumeRole", "sts:TagSession"]))})
    tags = [{"Key": "Project", "Value": "p"}, {"Key": "Owner", "Value": "o"}]
    assert user.assume(role_arn, "ok", Tags=tags, TransitiveTagKeys=["Project"]).arn
    assert "sts:TagSession" in denied(user, role_arn, Tags=tags, TransitiveTagKeys=["Owner"])


def test_source_identity_persists_along_the_chain(admin):
    """CONDITION_KEYS, aws:SourceIdentity: set once, it stays with the chained sessions
    (id_credentials_temp_control-access_monitor.html)."""
    user = make_user(admin, policies={"a": policy(allow(["sts:AssumeRole", "sts:SetSourceIdentity"]))})
    first = make_role(admin, policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
                                     "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}),
                      policies={"all": policy(allow("sts:AssumeRole"))})
    audited = policy(allow("ec2:DescribeInstances", Condition={"StringEquals": {"aws:SourceIdentity": "alice"}}))
    second = make_role(admin, trust({"AWS": ACCOUNT}), policies={"audited": audited})
    session = user.assume(first, "s1", SourceIdentity="alice").assume(second, "s2")
    assert session.client("ec2").describe_instances()["Reservations"]


def test_resource_tags_where_the_action_supports_them(admin):
    """CONDITION_KEYS, aws:ResourceTag: iam:GetRole acts on a role, whose tags are in the context."""
    iam = admin.client("iam")
    lab, prod = unique("lab"), unique("prod")
    make_role(admin, trust({"AWS": ACCOUNT}), lab)
    make_role(admin, trust({"AWS": ACCOUNT}), prod)
    iam.tag_role(RoleName=lab, Tags=[{"Key": "env", "Value": "lab"}])
    user = make_user(admin, policies={"p": policy(allow("iam:GetRole", Condition={"StringEquals": {"aws:ResourceTag/env": "lab"}}))})
    assert user.client("iam").get_role(RoleName=lab)["Role"]["RoleName"] == lab
    assert error_of(user.client("iam").get_role, RoleName=prod)[1] == "AccessDenied"


# --- the decoded authorization message (API_DecodeAuthorizationMessage.html; the AWS CLI's example)

def _decoded(admin, message: str) -> dict:
    encoded = message.split("Encoded authorization failure message: ", 1)[1]
    return json.loads(admin.client("sts").decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])


def test_decoded_message_lists_the_matched_statements_and_the_context(admin):
    name = unique("launcher")
    user = make_user(admin, name, {"ec2": policy(allow("ec2:*"), {
        "Sid": "NoLaunch", "Effect": "Deny", "Action": "ec2:RunInstances", "Resource": "*",
        "Condition": {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}})})
    user_id = user.client("sts").get_caller_identity()["UserId"]
    status, code, message = error_of(user.client("ec2").run_instances, ImageId="ami-1e749f67", MinCount=1, MaxCount=1)
    assert code == "UnauthorizedOperation"
    decoded = _decoded(admin, message)
    assert decoded["allowed"] is False and decoded["explicitDeny"] is True
    assert decoded["failures"] == {"items": []}
    deny = [s for s in decoded["matchedStatements"]["items"] if s["effect"] == "DENY"]
    assert deny == [{"statementId": "NoLaunch", "effect": "DENY",
                     "principals": {"items": [{"value": user_id}]}, "principalGroups": {"items": []},
                     "actions": {"items": [{"value": "ec2:RunInstances"}]},
                     "resources": {"items": [{"value": "*"}]},
                     "conditions": {"items": [{"key": "aws:RequestedRegion", "values": {"items": [{"value": "us-east-1"}]}}]}}]
    assert [s["effect"] for s in decoded["matchedStatements"]["items"]] == ["ALLOW", "DENY"]
    context = decoded["context"]
    assert context["principal"] == {"id": user_id, "name": name, "arn": user.arn}
    assert context["action"] == "ec2:RunInstances" and context["resource"] == "*"
    keys = {item["key"]: [v["value"] for v in item["values"]["items"]] for item in context["conditions"]["items"]}
    assert keys["aws:username"] == [name] and keys["aws:PrincipalArn"] == [user.arn]
    assert keys["aws:RequestedRegion"] == ["us-east-1"] and keys["aws:SecureTransport"] == ["false"]
    assert keys["aws:PrincipalType"] == ["User"] and "aws:MultiFactorAuthPresent" not in keys


def test_decoded_message_of_a_session(admin):
    """A role session: its principal is the session (AROA...:name), its session policy's statement
    applied, and the context holds the session's keys (aws:TokenIssueTime, MFA false, tags)."""
    role_arn = make_role(admin, policy({"Effect": "Allow", "Principal": {"AWS": ACCOUNT},
                                        "Action": ["sts:AssumeRole", "sts:TagSession"]}),
                         policies={"ec2": policy(allow("ec2:*"))})
    user = make_user(admin, policies={"a": policy(allow(["sts:AssumeRole", "sts:TagSession"]))})
    session = user.assume(role_arn, "Ana", Policy=policy({"Sid": "Narrow", "Effect": "Allow",
                                                           "Action": "ec2:Describe*", "Resource": "*"}),
                          Tags=[{"Key": "team", "Value": "blue"}])
    status, code, message = error_of(session.client("ec2").run_instances, ImageId="ami-1e749f67", MinCount=1, MaxCount=1)
    decoded = _decoded(admin, message)
    assert decoded["explicitDeny"] is False
    principal = decoded["context"]["principal"]
    assert principal["arn"] == session.arn and principal["id"].endswith(":Ana") and "name" not in principal
    keys = {item["key"]: [v["value"] for v in item["values"]["items"]] for item in decoded["context"]["conditions"]["items"]}
    assert keys["aws:PrincipalTag/team"] == ["blue"] and keys["aws:MultiFactorAuthPresent"] == ["false"]
    assert keys["aws:PrincipalArn"] == [role_arn] and "aws:TokenIssueTime" in keys
    matched = decoded["matchedStatements"]["items"]
    assert [s["effect"] for s in matched] == ["ALLOW"]  # the role's ec2:* applied; no session statement did
