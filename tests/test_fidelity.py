"""Every row of ../shared/reference/aws-fidelity.md, driven through a running sandbox with boto3.

Each test asserts the status, code and message a learner would see from real AWS.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from labkit.sandbox import lifecycle
from tests.support import (
    ACCOUNT,
    PARTNER,
    Keys,
    admin_keys,
    allow,
    deny,
    error_of,
    make_role,
    make_user,
    policy,
    raw_request,
    trust,
    unique,
)

EC2_READ = policy(allow("ec2:Describe*"))


def assume_policy(role_arn: str) -> str:
    """The walk-through's user policy: sts:AssumeRole on one role ARN."""
    return policy(allow(["sts:AssumeRole"], [role_arn]))


@pytest.fixture
def seed_setup(admin):
    """The walk-through's setup: a user allowed to assume one role whose trust names the user."""
    user_name, role_name = unique("sts_user"), unique("sts_role")
    user_arn = f"arn:aws:iam::{ACCOUNT}:user/{user_name}"
    role_arn = make_role(admin, trust({"AWS": user_arn}), role_name, max_session=7200,
                         policies={"ec2-read": EC2_READ})
    user = make_user(admin, user_name, {"assume": assume_policy(role_arn)})
    return user, role_arn


# --- row 1: EC2 refuses an IAM user with no EC2 permission -------------------------------------

def test_row1_ec2_unauthorized_operation(seed_setup):
    user, _ = seed_setup
    status, code, message = error_of(user.client("ec2").describe_instances)
    assert (status, code) == (403, "UnauthorizedOperation")
    assert message == (
        f"You are not authorized to perform this operation. User: {user.arn} is not authorized to "
        "perform: ec2:DescribeInstances because no identity-based policy allows the "
        "ec2:DescribeInstances action"
    )


def test_row1_ec2_error_uses_the_ec2_envelope(seed_setup):
    user, _ = seed_setup
    status, body = raw_request("ec2", {"Action": "DescribeInstances", "Version": "2016-11-15"}, user)
    assert status == 403
    assert re.search(r"<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not "
                     r"authorized to perform this operation\..*</Message></Error></Errors>"
                     r"<RequestID>[0-9a-f-]+</RequestID></Response>", body)


def test_row1_mutating_ec2_call_adds_encoded_message(seed_setup, admin):
    import json

    user, _ = seed_setup
    status, code, message = error_of(user.client("ec2").run_instances, ImageId="ami-1e749f67",
                                     MinCount=1, MaxCount=1)
    assert (status, code) == (403, "UnauthorizedOperation")
    encoded = message.split("Encoded authorization failure message: ", 1)[1]
    # only someone allowed sts:DecodeAuthorizationMessage may read it
    assert error_of(user.client("sts").decode_authorization_message, EncodedMessage=encoded)[1] == "AccessDenied"
    decoded = json.loads(admin.client("sts").decode_authorization_message(EncodedMessage=encoded)["DecodedMessage"])
    # API_DecodeAuthorizationMessage.html and the AWS CLI's example: this shape, every list an
    # {"items": [...]} and every value a string
    assert list(decoded) == ["allowed", "explicitDeny", "matchedStatements", "failures", "context"]
    assert decoded["allowed"] is False and decoded["explicitDeny"] is False
    assert decoded["matchedStatements"] == {"items": []} and decoded["failures"] == {"items": []}
    assert list(decoded["context"]) == ["principal", "action", "resource", "conditions"]
    assert decoded["context"]["action"] == "ec2:RunInstances"
    assert decoded["context"]["principal"]["arn"] == user.arn
    assert decoded["context"]["principal"]["name"] == user.arn.rsplit("/", 1)[1]
    conditions = decoded["context"]["conditions"]["items"]
    assert {"key": "aws:RequestedRegion", "values": {"items": [{"value": "us-east-1"}]}} in conditions
    assert all(isinstance(v["value"], str) for item in conditions for v in item["values"]["items"])
    status, code, _ = error_of(admin.client("sts").decode_authorization_message, EncodedMessage="not-a-message")
    assert (status, code) == (400, "InvalidAuthorizationMessageException")


# --- rows 2a-2c: AssumeRole refused -------------------------------------------------------------

def test_row2a_no_identity_policy_allows(admin):
    role_arn = make_role(admin, trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    user = make_user(admin)
    status, code, message = error_of(user.client("sts").assume_role, RoleArn=role_arn, RoleSessionName="s1")
    assert (status, code) == (403, "AccessDenied")
    assert message == (f"User: {user.arn} is not authorized to perform: sts:AssumeRole on resource: "
                       f"{role_arn} because no identity-based policy allows the sts:AssumeRole action")


def test_row2a_explicit_deny_in_identity_policy(admin):
    role_arn = make_role(admin, trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}))
    user = make_user(admin, policies={"a": assume_policy(role_arn), "d": policy(deny("sts:*"))})
    status, code, message = error_of(user.client("sts").assume_role, RoleArn=role_arn, RoleSessionName="s1")
    assert (status, code) == (403, "AccessDenied")
    assert message.endswith("with an explicit deny in an identity-based policy")


def test_row2b_trust_policy_does_not_name_the_caller(admin):
    other = f"arn:aws:iam::{ACCOUNT}:user/{unique('someone')}"
    role_arn = make_role(admin, trust({"AWS": other}))
    user = make_user(admin, policies={"a": assume_policy(role_arn)})
    status, code, message = error_of(user.client("sts").assume_role, RoleArn=role_arn, RoleSessionName="s1")
    assert (status, code) == (403, "AccessDenied")
    assert message == f"User: {user.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"


def test_row2c_role_that_does_not_exist(admin):
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/{unique('missing')}"
    user = make_user(admin, policies={"a": assume_policy(role_arn)})
    status, code, message = error_of(user.client("sts").assume_role, RoleArn=role_arn, RoleSessionName="s1")
    assert (status, code) == (403, "AccessDenied")
    assert message == f"User: {user.arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"


# --- rows 3a-3d: durations ---------------------------------------------------------------------

def test_row3a_duration_above_max_session_duration(seed_setup):
    user, role_arn = seed_setup  # MaxSessionDuration 7200
    status, code, message = error_of(user.client("sts").assume_role, RoleArn=role_arn,
                                     RoleSessionName="s1", DurationSeconds=7201)
    assert (status, code) == (400, "ValidationError")
    assert message == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."


def test_row3a_duration_at_the_maximum_is_accepted(seed_setup):
    user, role_arn = seed_setup
    resp = user.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1", DurationSeconds=7200)
    assert resp["Credentials"]["AccessKeyId"].startswith("ASIA")


def test_row3b_role_chaining_limit(admin):
    second = make_role(admin, trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}), max_session=43200)
    first = make_role(admin, trust({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
                      policies={"chain": assume_policy(second)})
    user = make_user(admin, policies={"a": assume_policy(first)})
    session = user.assume(first)
    status, code, message = error_of(session.client("sts").assume_role, RoleArn=second,
                                     RoleSessionName="chained", DurationSeconds=3601)
    assert (status, code) == (400, "ValidationError")
    assert message == ("The requested DurationSeconds exceeds the 1 hour session limit for roles "
                       "assumed by role chaining.")
    chained = session.assume(second, "chained", DurationSeconds=3600)
    assert chained.arn.endswith(f"/{second.rsplit('/', 1)[1]}/chained")


def test_row3c_duration_below_900_sent_raw(seed_setup):
    user, role_arn = seed_setup
    status, body = raw_request("sts", {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": role_arn,
                                       "RoleSessionName": "s1", "DurationSeconds": "899"}, user)
    assert status == 400
    assert "<Code>ValidationError</Code>" in body
    assert ("1 validation error detected: Value &apos;899&apos; at &apos;durationSeconds&apos; failed to "
            "satisfy constraint: Member must have value greater than or equal to 900") in body.replace("'", "&apos;")


def test_row3c_botocore_refuses_before_sending(seed_setup):
    from botocore.exceptions import ParamValidationError

    user, role_arn = seed_setup
    with pytest.raises(ParamValidationError):
        user.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="s1", DurationSeconds=899)


@pytest.mark.parametrize("value,bound", [("100", "greater than or equal to 3600"),
                                         ("43201", "less than or equal to 43200")])
def test_row3d_max_session_duration_bounds(sandbox, value, bound):
    status, body = raw_request("iam", {"Action": "CreateRole", "Version": "2010-05-08",
                                       "RoleName": unique("r"), "MaxSessionDuration": value,
                                       "AssumeRolePolicyDocument": trust({"AWS": ACCOUNT})}, admin_keys())
    assert status == 400
    assert "<Code>ValidationError</Code>" in body
    assert f"at &apos;maxSessionDuration&apos; failed to satisfy constraint: Member must have value {bound}" in body.replace("'", "&apos;")


# --- rows 4a-4c: expiry on the sandbox clock ---------------------------------------------------

def test_row4_expired_credentials_per_service(seed_setup):
    user, role_arn = seed_setup
    session = user.assume(role_arn, "expiring", DurationSeconds=900)
    session.client("ec2").describe_instances()  # works during the session
    lifecycle.advance_clock(901)
    status, code, message = error_of(session.client("ec2").describe_instances)
    assert (status, code, message) == (400, "RequestExpired", "Request has expired.")
    status, code, message = error_of(session.client("sts").get_caller_identity)
    assert (status, code, message) == (403, "ExpiredToken", "The security token included in the request is expired")
    status, code, message = error_of(session.client("iam").list_users)
    assert (status, code, message) == (403, "ExpiredToken", "The security token included in the request is expired")
    status, code, message = error_of(session.client("s3").list_buckets)
    assert (status, code, message) == (400, "ExpiredToken", "The provided token has expired.")


def test_expiration_agrees_with_the_sandbox_clock(seed_setup):
    user, role_arn = seed_setup
    clock = lifecycle.clock()
    resp = user.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="timed", DurationSeconds=1800)
    sandbox_now = datetime.fromisoformat(clock["now"].replace("Z", "+00:00"))
    expected = sandbox_now + timedelta(seconds=1800)
    assert abs((resp["Credentials"]["Expiration"] - expected).total_seconds()) < 5


# --- rows 5a-5d: authentication ------------------------------------------------------------------

def test_row5a_unknown_access_key(sandbox):
    nobody = Keys("AKIA" + "Z" * 16, "x" * 40)
    assert error_of(nobody.client("sts").get_caller_identity) == (
        403, "InvalidClientTokenId", "The security token included in the request is invalid.")
    assert error_of(nobody.client("ec2").describe_instances) == (
        401, "AuthFailure", "AWS was not able to validate the provided access credentials")


def test_row5a_session_token_that_does_not_match(seed_setup):
    user, role_arn = seed_setup
    session = user.assume(role_arn)
    forged = Keys(session.access_key_id, session.secret_access_key, "F" * 100)
    assert error_of(forged.client("sts").get_caller_identity)[:2] == (403, "InvalidClientTokenId")
    no_token = Keys(session.access_key_id, session.secret_access_key)
    assert error_of(no_token.client("sts").get_caller_identity)[:2] == (403, "InvalidClientTokenId")


def test_row5b_wrong_secret(seed_setup):
    user, _ = seed_setup
    wrong = Keys(user.access_key_id, "w" * 40)
    assert error_of(wrong.client("sts").get_caller_identity) == (
        403, "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your AWS "
        "Secret Access Key and signing method. Consult the service documentation for details.")
    assert error_of(wrong.client("ec2").describe_instances)[:2] == (401, "AuthFailure")


def test_row5c_clock_skew(sandbox):
    keys = admin_keys()
    past = datetime.now(UTC) - timedelta(minutes=20)
    status, body = raw_request("sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, keys, when=past)
    assert status == 403 and "<Code>SignatureDoesNotMatch</Code>" in body
    assert re.search(r"Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z "
                     r"\(\d{8}T\d{6}Z - 15 min\.\)", body)
    status, body = raw_request("ec2", {"Action": "DescribeInstances", "Version": "2016-11-15"}, keys, when=past)
    assert status == 400 and "<Code>RequestExpired</Code>" in body
    future = datetime.now(UTC) + timedelta(minutes=20)
    status, body = raw_request("sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, keys, when=future)
    assert status == 403 and "Signature not yet current" in body


def test_row5c_s3_request_time_too_skewed(sandbox):
    from unittest import mock

    import botocore.auth

    past = datetime.now(UTC) - timedelta(minutes=20)
    with mock.patch.object(botocore.auth, "get_current_datetime", return_value=past):
        status, code, _ = error_of(admin_keys().client("s3").list_buckets)
    assert (status, code) == (403, "RequestTimeTooSkewed")


def test_row5d_inactive_key(admin):
    user = make_user(admin, policies={"any": policy(allow("*"))})
    name = user.arn.rsplit("/", 1)[1]
    admin.client("iam").update_access_key(UserName=name, AccessKeyId=user.access_key_id, Status="Inactive")
    assert error_of(user.client("sts").get_caller_identity)[:2] == (403, "InvalidClientTokenId")
    assert error_of(user.client("ec2").describe_instances)[:2] == (401, "AuthFailure")


def test_deleted_key_is_unknown(admin):
    user = make_user(admin)
    name = user.arn.rsplit("/", 1)[1]
    admin.client("iam").delete_access_key(UserName=name, AccessKeyId=user.access_key_id)
    assert error_of(user.client("sts").get_caller_identity)[:2] == (403, "InvalidClientTokenId")


# --- no unauthenticated path -------------------------------------------------------------------

def test_admin_is_the_caller(admin):
    assert admin.client("sts").get_caller_identity()["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/labkit-admin"


def test_unsigned_request_is_refused(sandbox):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(sandbox.endpoint + "/", data=b"Action=GetCallerIdentity&Version=2011-06-15",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 403
    assert b"<Code>MissingAuthenticationToken</Code>" in info.value.read()


@pytest.mark.parametrize("path", ["/moto-api/reset", "/moto-api/", "/_labkit/reset", "/_labkit/clock/advance?seconds=1"])
def test_internal_paths_need_credentials(sandbox, path):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(urllib.request.Request(sandbox.endpoint + path, method="POST"), timeout=10)
    assert info.value.code == 403


def test_x_moto_account_id_header_is_ignored(seed_setup):
    user, _ = seed_setup
    client = user.client("sts")
    client.meta.events.register("before-sign.sts.*",
                                lambda request, **kw: request.headers.__setitem__("x-moto-account-id", PARTNER))
    assert client.get_caller_identity()["Account"] == ACCOUNT


def test_presigned_url_is_verified(sandbox):
    import urllib.error
    import urllib.request

    from botocore.config import Config

    keys = admin_keys()
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=sandbox.endpoint,
                      aws_access_key_id=keys.access_key_id, aws_secret_access_key=keys.secret_access_key,
                      config=Config(signature_version="s3v4"))
    url = s3.generate_presigned_url("list_buckets", ExpiresIn=300)
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
    tampered = re.sub(r"X-Amz-Signature=([0-9a-f])", lambda m: "X-Amz-Signature=" + ("0" if m[1] != "0" else "1"), url)
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(tampered, timeout=10)
    assert info.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in info.value.read()


def test_presigned_url_expires(sandbox):
    from unittest import mock

    import botocore.auth
    from botocore.config import Config

    keys = admin_keys()
    s3 = boto3.client("s3", region_name="us-east-1", endpoint_url=sandbox.endpoint,
                      aws_access_key_id=keys.access_key_id, aws_secret_access_key=keys.secret_access_key,
                      config=Config(signature_version="s3v4"))
    with mock.patch.object(botocore.auth, "get_current_datetime",
                           return_value=datetime.now(UTC) - timedelta(seconds=120)):
        url = s3.generate_presigned_url("list_buckets", ExpiresIn=60)
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=10)
    assert info.value.code == 403
    assert b"<Message>Request has expired</Message>" in info.value.read()


def test_assume_role_response_has_aws_shape(seed_setup):
    """Whole-second Expiration; PackedPolicySize only with a session policy."""
    user, role_arn = seed_setup
    status, body = raw_request("sts", {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": role_arn,
                                       "RoleSessionName": "shape", "DurationSeconds": "900"}, user)
    assert status == 200
    assert "PackedPolicySize" not in body
    assert re.search(r"<Expiration>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ</Expiration>", body), body
    resp = user.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="shape2",
                                          Policy=policy(allow("ec2:DescribeInstances")))
    assert "PackedPolicySize" in resp


def test_user_ids_look_like_aws(admin):
    user = make_user(admin)
    user_id = user.client("sts").get_caller_identity()["UserId"]
    assert re.fullmatch(r"AIDA[A-Z0-9]{17}", user_id), user_id
    group = admin.client("iam").create_group(GroupName=unique("g"))["Group"]
    assert re.fullmatch(r"AGPA[A-Z0-9]{17}", group["GroupId"])


def test_sandbox_listens_on_loopback_only(sandbox):
    from pathlib import Path

    listening = [line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                 if line.split()[3] == "0A"]  # state LISTEN
    assert f"0100007F:{sandbox.port:04X}" in listening
    assert f"00000000:{sandbox.port:04X}" not in listening
    tcp6 = Path("/proc/net/tcp6")
    if tcp6.exists():
        assert f":{sandbox.port:04X}" not in " ".join(line.split()[1] for line in tcp6.read_text().splitlines()[1:])


def test_sandbox_log_holds_no_secret(seed_setup):
    from labkit import workspace

    user, role_arn = seed_setup
    session = user.assume(role_arn, "logged")
    session.client("ec2").describe_instances()
    error_of(user.client("ec2").describe_instances)  # a refusal is logged
    error_of(Keys(user.access_key_id, "w" * 40).client("sts").get_caller_identity)
    log = (workspace.home() / "sandbox.log").read_text()
    assert "UnauthorizedOperation" in log  # the log does record what happened
    for secret in (user.access_key_id, user.secret_access_key, session.access_key_id,
                   session.secret_access_key, session.session_token):
        assert secret not in log
    assert not re.search(r"(AKIA|ASIA)[A-Z0-9]{16}", log)
