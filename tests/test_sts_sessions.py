"""GetSessionToken and MFA, end to end through the sandbox (issue 11 item 5, issue 12 item 3).

Pages (https://docs.aws.amazon.com/IAM/latest/UserGuide/<page>):
TEMP_REQUEST = id_credentials_temp_request.html ("Requesting temporary security credentials",
    GetSessionToken: "Cannot call IAM API operations unless MFA information is included with the
    request. Cannot call AWS STS API operations except AssumeRole or GetCallerIdentity.")
GETSESSIONTOKEN = id_credentials_temp_control-access_getsessiontoken.html ("You cannot use
    policies to control authentication operations"; 900 s to 129,600 s for IAM users)
MFA_CONFIGURE = id_credentials_mfa_configure-api-require.html (MFA-protected API access:
    GetSessionToken with MFA, then aws:MultiFactorAuthPresent / aws:MultiFactorAuthAge)
CONDITION_KEYS = reference_policies_condition-keys.html (aws:MultiFactorAuthAge: seconds since
    MFA; aws:MultiFactorAuthPresent false for temporary credentials without MFA)
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from labkit.sandbox import lifecycle
from labkit.sandbox.mfa import code_at
from tests.support import (
    ACCOUNT,
    PARTNER,
    Keys,
    allow,
    error_of,
    make_role,
    make_user,
    policy,
    raw_request,
    trust,
    unique,
)

INVALID_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
NO_SUCH_DEVICE = ("MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your "
                  "MFA serial number is valid and associated with this user.")


def sandbox_now() -> datetime:
    return datetime.fromisoformat(lifecycle.clock()["now"].replace("Z", "+00:00"))


def session_of(user: Keys, **kwargs) -> tuple[Keys, dict]:
    resp = user.client("sts").get_session_token(**kwargs)
    c = resp["Credentials"]
    return Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], user.arn), resp


def with_mfa_device(admin, policies: dict[str, str] | None = None) -> tuple[Keys, str, str]:
    """A user with an enabled virtual MFA device: (keys, serial number, seed)."""
    iam = admin.client("iam")
    name = unique("mfa")
    user = make_user(admin, name, policies)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=unique("dev"))["VirtualMFADevice"]
    seed = device["Base32StringSeed"]
    seed = seed.decode() if isinstance(seed, bytes) else seed
    now = sandbox_now()
    iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=code_at(seed, now - timedelta(seconds=30)),
                          AuthenticationCode2=code_at(seed, now))
    return user, device["SerialNumber"], seed


def fresh_code(seed: str) -> str:
    """The code of the next time step: one no earlier test of this device has used."""
    lifecycle.advance_clock(30)
    return code_at(seed, sandbox_now())


# --- GetSessionToken: no permission, durations, what its credentials are -------------------------

def test_get_session_token_needs_no_permission(admin):
    """GETSESSIONTOKEN: policies cannot control it, not even an explicit Deny of everything."""
    user = make_user(admin, policies={"nothing": policy({"Effect": "Deny", "Action": "*", "Resource": "*"})})
    session, resp = session_of(user)
    assert session.access_key_id.startswith("ASIA") and session.session_token
    expected = sandbox_now() + timedelta(seconds=43200)  # the default: 12 hours
    assert abs((resp["Credentials"]["Expiration"] - expected).total_seconds()) < 5


@pytest.mark.parametrize("seconds", [900, 129600])
def test_get_session_token_durations(admin, seconds):
    """GETSESSIONTOKEN: 900 seconds to 129,600 seconds (36 hours) for IAM users."""
    user = make_user(admin)
    _, resp = session_of(user, DurationSeconds=seconds)
    expected = sandbox_now() + timedelta(seconds=seconds)
    assert abs((resp["Credentials"]["Expiration"] - expected).total_seconds()) < 5


def test_get_session_token_credentials_act_as_the_user(admin):
    """TEMP_REQUEST: "the permissions ... are the permissions of the IAM user"; other services
    accept them (EC2 here), and GetCallerIdentity names the user."""
    user = make_user(admin, policies={"ec2": policy(allow("ec2:DescribeInstances"))})
    session, _ = session_of(user)
    identity = session.client("sts").get_caller_identity()
    assert identity["Arn"] == user.arn and identity["Account"] == ACCOUNT
    assert identity["UserId"] == user.client("sts").get_caller_identity()["UserId"]
    assert session.client("ec2").describe_instances()["Reservations"]
    status, code, message = error_of(session.client("ec2").describe_regions)
    assert code == "UnauthorizedOperation" and f"User: {user.arn} is not authorized" in message


def test_get_session_token_in_the_partner_account(partner_admin):
    user = make_user(partner_admin)
    session, _ = session_of(user)
    assert session.client("sts").get_caller_identity()["Account"] == PARTNER


def test_get_session_token_credentials_expire_on_the_sandbox_clock(admin):
    user = make_user(admin, policies={"ec2": policy(allow("ec2:DescribeInstances"))})
    session, _ = session_of(user, DurationSeconds=900)
    assert session.client("ec2").describe_instances()
    lifecycle.advance_clock(901)
    assert error_of(session.client("ec2").describe_instances) == (400, "RequestExpired", "Request has expired.")
    assert error_of(session.client("sts").get_caller_identity) == (
        403, "ExpiredToken", "The security token included in the request is expired")


def test_get_session_token_is_refused_to_temporary_credentials(admin):
    """TEMP_REQUEST: GetSessionToken is called with an IAM user's long-term credentials."""
    user = make_user(admin)
    role_arn = make_role(admin, trust({"AWS": user.arn}))
    for temporary in (user.assume(role_arn), session_of(user)[0]):
        assert error_of(temporary.client("sts").get_session_token) == (
            403, "AccessDenied", "Cannot call GetSessionToken with session credentials")


def test_without_mfa_no_iam_and_only_two_sts_calls(admin):
    """TEMP_REQUEST: without MFA its credentials cannot call IAM; in STS only AssumeRole and
    GetCallerIdentity."""
    user = make_user(admin, policies={"all": policy(allow("*"))})
    role_arn = make_role(admin, trust({"AWS": ACCOUNT}))
    session, _ = session_of(user)
    assert error_of(session.client("iam").list_users) == (
        403, "InvalidClientTokenId", "The security token included in the request is invalid")
    assert error_of(session.client("sts").decode_authorization_message, EncodedMessage="x") == (
        403, "AccessDenied", "Cannot call DecodeAuthorizationMessage with session credentials")
    assert session.client("sts").get_caller_identity()["Arn"] == user.arn
    chained = session.assume(role_arn, "from-session-token")
    assert chained.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_arn.rsplit('/', 1)[1]}/from-session-token"


# --- MFA: codes checked with pyotp on the sandbox clock, each once ------------------------------

def test_get_session_token_with_mfa_can_call_iam(admin):
    """TEMP_REQUEST: with MFA, IAM calls are allowed (by the user's own policies)."""
    user, serial, seed = with_mfa_device(admin, {"iam": policy(allow("iam:GetUser"))})
    session, _ = session_of(user, SerialNumber=serial, TokenCode=fresh_code(seed))
    assert session.client("iam").get_user()["User"]["Arn"] == user.arn  # "the user making the call"


def test_mfa_session_satisfies_mfa_conditions_and_ages(admin):
    """MFA_CONFIGURE and CONDITION_KEYS: a policy that requires aws:MultiFactorAuthPresent and an
    aws:MultiFactorAuthAge below an hour allows the MFA session, refuses the long-term keys and a
    session without MFA, and refuses the MFA session once an hour has passed (sandbox clock)."""
    guarded = policy(allow("ec2:DescribeInstances", Condition={
        "Bool": {"aws:MultiFactorAuthPresent": "true"},
        "NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}))
    user, serial, seed = with_mfa_device(admin, {"mfa-only": guarded})
    assert error_of(user.client("ec2").describe_instances)[1] == "UnauthorizedOperation"
    plain, _ = session_of(user)
    assert error_of(plain.client("ec2").describe_instances)[1] == "UnauthorizedOperation"
    proved, _ = session_of(user, SerialNumber=serial, TokenCode=fresh_code(seed))
    assert proved.client("ec2").describe_instances()["Reservations"]
    lifecycle.advance_clock(3600)
    assert error_of(proved.client("ec2").describe_instances)[1] == "UnauthorizedOperation"


def test_mfa_session_then_assume_role_carries_mfa(admin):
    """MFA_CONFIGURE: GetSessionToken with MFA, then AssumeRole with those credentials into a role
    whose trust policy requires MFA; the role session is MFA-authenticated too."""
    user, serial, seed = with_mfa_device(admin)
    role_policy = policy(allow("ec2:DescribeInstances", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}))
    role_arn = make_role(admin, trust({"AWS": user.arn}, Condition={
        "Bool": {"aws:MultiFactorAuthPresent": True}, "NumericLessThan": {"aws:MultiFactorAuthAge": 3600}}),
        policies={"mfa": role_policy})
    status, code, _ = error_of(user.client("sts").assume_role, RoleArn=role_arn, RoleSessionName="no-mfa")
    assert (status, code) == (403, "AccessDenied")
    proved, _ = session_of(user, SerialNumber=serial, TokenCode=fresh_code(seed))
    role_session = proved.assume(role_arn, "with-mfa")
    assert role_session.client("ec2").describe_instances()["Reservations"]
    lifecycle.advance_clock(3600)  # the MFA proof is now an hour old: the trust policy's age limit
    status, code, _ = error_of(proved.client("sts").assume_role, RoleArn=role_arn, RoleSessionName="stale")
    assert (status, code) == (403, "AccessDenied")


def test_assume_role_with_a_wrong_code(admin):
    user, serial, seed = with_mfa_device(admin)
    role_arn = make_role(admin, trust({"AWS": user.arn}))
    right = fresh_code(seed)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    assert error_of(user.client("sts").assume_role, RoleArn=role_arn, RoleSessionName="wrong",
                    SerialNumber=serial, TokenCode=wrong) == (403, "AccessDenied", INVALID_CODE)


def test_a_code_works_once(admin):
    """AWS refuses an MFA code already used (the same device and time step), with the same error
    as a wrong code, on AssumeRole and GetSessionToken alike."""
    user, serial, seed = with_mfa_device(admin)
    role_arn = make_role(admin, trust({"AWS": user.arn}))
    code = fresh_code(seed)
    assert user.assume(role_arn, "first", SerialNumber=serial, TokenCode=code).arn
    assert error_of(user.client("sts").assume_role, RoleArn=role_arn, RoleSessionName="again",
                    SerialNumber=serial, TokenCode=code) == (403, "AccessDenied", INVALID_CODE)
    assert error_of(user.client("sts").get_session_token, SerialNumber=serial, TokenCode=code) == (
        403, "AccessDenied", INVALID_CODE)
    assert session_of(user, SerialNumber=serial, TokenCode=fresh_code(seed))[0].session_token


def test_codes_follow_the_sandbox_clock(admin):
    """Codes are checked at the sandbox's time: an hour ahead, the code a device shows at real time
    is refused and the one it shows at the sandbox's time is accepted."""
    from datetime import UTC

    user, serial, seed = with_mfa_device(admin)
    lifecycle.advance_clock(3600)
    real = code_at(seed, datetime.now(UTC))
    sandbox = code_at(seed, sandbox_now())
    if real != sandbox:
        assert error_of(user.client("sts").get_session_token, SerialNumber=serial, TokenCode=real)[2] == INVALID_CODE
    assert session_of(user, SerialNumber=serial, TokenCode=sandbox)[0].session_token


def test_a_device_that_is_not_the_callers(admin):
    user, _, _ = with_mfa_device(admin)
    other, serial, seed = with_mfa_device(admin)
    assert error_of(user.client("sts").get_session_token, SerialNumber=serial, TokenCode=fresh_code(seed)) == (
        403, "AccessDenied", NO_SUCH_DEVICE)


def test_enabling_a_device_needs_two_consecutive_codes(admin):
    """API_EnableMFADevice: "two consecutive authentication codes"; otherwise 403
    InvalidAuthenticationCode."""
    iam = admin.client("iam")
    name = unique("enable")
    make_user(admin, name)
    device = iam.create_virtual_mfa_device(VirtualMFADeviceName=unique("dev"))["VirtualMFADevice"]
    seed = device["Base32StringSeed"]
    seed = seed.decode() if isinstance(seed, bytes) else seed
    now = sandbox_now()
    current = code_at(seed, now)
    status, code, _ = error_of(iam.enable_mfa_device, UserName=name, SerialNumber=device["SerialNumber"],
                               AuthenticationCode1=current, AuthenticationCode2=current)
    assert (status, code) == (403, "InvalidAuthenticationCode")
    iam.enable_mfa_device(UserName=name, SerialNumber=device["SerialNumber"],
                          AuthenticationCode1=code_at(seed, now - timedelta(seconds=30)), AuthenticationCode2=current)
    assert iam.list_mfa_devices(UserName=name)["MFADevices"][0]["SerialNumber"] == device["SerialNumber"]


def test_duration_outside_the_bounds_sent_raw(admin):
    """GETSESSIONTOKEN's bounds, as the model's validation error for a raw request."""
    user = make_user(admin)
    status, body = raw_request("sts", {"Action": "GetSessionToken", "Version": "2011-06-15",
                                       "DurationSeconds": "129601"}, user)
    assert status == 400 and "<Code>ValidationError</Code>" in body
    assert ("Value &apos;129601&apos; at &apos;durationSeconds&apos; failed to satisfy constraint: Member "
            "must have value less than or equal to 129600") in body.replace("'", "&apos;")
