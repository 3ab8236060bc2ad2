"""'How AWS decides' (aws-fidelity.md), end to end through the sandbox, and moto's defects as regressions."""

from __future__ import annotations

import json

from labkit.sandbox import lifecycle
from labkit.sandbox.assume_role import totp_ok  # noqa: F401  (documents where MFA codes are checked)
from tests.support import (
    ACCOUNT,
    PARTNER,
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
