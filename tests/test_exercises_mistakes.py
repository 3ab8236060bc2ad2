"""The mistake catalogue: typical wrong answers, each fed to its exercise's check, which must say
"✗ Not yet" and name the mistake (the element, what is wrong, what to write instead).

Run against a private sandbox (the lab's names: user labkit-sts-user, role sts_role, account
123456789012; the partner account 210987654321), set up once for the module.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from labkit.exercises import exercise
from labkit.lab import Lab
from tests.aws_path import private_sandbox, sandbox_workspace

ACCOUNT, PARTNER = "123456789012", "210987654321"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/labkit-sts-user"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/sts_role"


@pytest.fixture(scope="module")
def lab(request):
    private = private_sandbox(request.config)
    with pytest.MonkeyPatch.context() as patch:
        target = sandbox_workspace(patch, private)
        lab = Lab(target, progress=[].append)
        lab.setup()
        lab.private = private
        yield lab


@pytest.fixture(scope="module")
def session(lab):
    """A session of the lab's role, as notebook 04 has it."""
    return lab.assume_role(duration=900)


@pytest.fixture(scope="module")
def observed(lab):
    """What EC2 really answered before, during and after a session (the sandbox clock moved, then reset)."""
    before = lab.probe_ec2()
    session = lab.assume_role(duration=900)
    during = lab.probe_ec2(session.credentials)
    lab.private.advance(901)
    try:
        after = lab.probe_ec2(session.credentials)
    finally:
        lab.private.sandbox.control("clock/reset")
    return {"before": before, "during": during, "after": after}


def policy(*statements: dict, version: str | None = "2012-10-17") -> dict:
    document: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        document = {"Version": version, **document}
    return document


def allow(action: Any = "sts:AssumeRole", resource: Any = ROLE_ARN, **more) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **more}


def trusts(principal: Any = None, action: Any = "sts:AssumeRole", **more) -> dict:
    return {"Effect": "Allow", "Principal": {"AWS": USER_ARN} if principal is None else principal,
            "Action": action, **more}


def exports(key: str, secret: str, token: str | None, names=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                                               "AWS_SESSION_TOKEN"), keyword: str = "export ") -> str:
    values = (key, secret, token)
    return "\n".join(f'{keyword}{name}="{value}"' for name, value in zip(names, values, strict=True)
                     if value is not None)


def url(query: str, base: str = "https://signin.aws.amazon.com/switchrole") -> str:
    return f"{base}?{query}"


PREDICTED = {"before": "UnauthorizedOperation", "during": "allowed", "after": "RequestExpired"}
JSON_ERROR = '{\n    "Version": "2012-10-17",\n    "Statement": [\n        {"Effect": "Allow" "Action": "sts:AssumeRole"}\n    ]\n}'


@dataclass
class Case:
    name: str
    exercise: str
    answer: Callable[..., Any]  # (lab, session) -> the answer
    says: tuple[str, ...]  # every one of these appears in the verdict
    usable: bool = True
    observed: bool = field(default=False)  # pass the real probes (predict-ec2)


def C(name, exercise_id, answer, *says, usable=True, observed=False) -> Case:
    return Case(name, exercise_id, answer if callable(answer) else (lambda lab, s, a=answer: a), says, usable,
                observed)


def _creds(s):
    return s.credentials


CASES = [
    # --- the user's identity policy (notebook 02) ---
    C("effect Alow", "user-policy", policy({**allow(), "Effect": "Alow"}), 'Effect is "Alow"', '"Allow"'),
    C("Principal in an identity policy", "user-policy", policy(allow(Principal={"AWS": USER_ARN})),
      "has Principal", "remove Principal"),
    C("Resource names another role", "user-policy", policy(allow(resource=f"arn:aws:iam::{ACCOUNT}:role/other-role")),
      'role "other-role"', 'lab\'s role "sts_role"', ROLE_ARN),
    C("Resource is the user's own ARN", "user-policy", policy(allow(resource=USER_ARN)),
      "Resource", "the user labkit-sts-user, not of the role", ROLE_ARN),
    C("Resource is the role's name, not its ARN", "user-policy", policy(allow(resource="sts_role")),
      "role's name", "ARN", ROLE_ARN),
    C("Resource in another account", "user-policy", policy(allow(resource=f"arn:aws:iam::{PARTNER}:role/sts_role")),
      f"account {PARTNER}", f"account {ACCOUNT}"),
    C("sts:AssumeRoles", "user-policy", policy(allow("sts:AssumeRoles")), '"sts:AssumeRoles"',
      "not an STS action", '"sts:AssumeRole"'),
    C("Action without the sts: prefix", "user-policy", policy(allow("AssumeRole")), '"AssumeRole"',
      "no service prefix", '"sts:AssumeRole"'),
    C("Action under another service", "user-policy", policy(allow("iam:AssumeRole")), '"iam:AssumeRole"',
      '"sts"', '"sts:AssumeRole"'),
    C("another STS call", "user-policy", policy(allow("sts:GetSessionToken")), '"sts:GetSessionToken"',
      "another STS call", '"sts:AssumeRole"'),
    C("Version missing", "user-policy", policy(allow(), version=None), "no Version", '"2012-10-17"'),
    C("Version is a date of one's own", "user-policy", policy(allow(), version="2024-06-01"), '"2024-06-01"',
      '"2012-10-17"'),
    C("JSON syntax error", "user-policy", JSON_ERROR, "not valid JSON", "line 4, column 28", usable=False),
    C("a Python set for a list", "user-policy", policy(allow({"sts:AssumeRole"})), "Action", "set",
      "square brackets"),
    C("no Resource", "user-policy", policy({"Effect": "Allow", "Action": "sts:AssumeRole"}), "Resource"),
    C("a Deny that wins", "user-policy", policy(allow(), {"Effect": "Deny", "Action": "sts:*", "Resource": "*"}),
      "Statement 2", "Deny always wins"),
    C("no Allow at all", "user-policy", policy({"Effect": "Deny", "Action": "ec2:*", "Resource": "*"}),
      '"Effect": "Allow"'),
    C("a blank left in the skeleton", "user-policy", policy(allow(resource=...)), "Statement 1's Resource",
      "still ...", usable=False),
    C("lower-case element name", "user-policy", policy({"effect": "Allow", "Action": "sts:AssumeRole",
                                                        "Resource": ROLE_ARN}), '"effect"'),
    # --- the role's trust policy (notebook 02) ---
    C("Principal names another user", "trust-policy",
      policy(trusts({"AWS": f"arn:aws:iam::{ACCOUNT}:user/labkit-sts-colleague"})),
      "Principal", 'user "labkit-sts-colleague"', USER_ARN),
    C("Principal names another account", "trust-policy", policy(trusts({"AWS": f"arn:aws:iam::{PARTNER}:root"})),
      f"account {PARTNER}", f"account {ACCOUNT}", USER_ARN),
    C("Principal names the partner account's ID", "trust-policy", policy(trusts({"AWS": PARTNER})),
      PARTNER, f"account {ACCOUNT}"),
    C("Principal as a bare ARN string", "trust-policy", policy(trusts(USER_ARN)), "bare value",
      f'{{"AWS": "{USER_ARN}"}}'),
    C("Principal as a list of ARNs", "trust-policy", policy(trusts([USER_ARN])), "bare value", '{"AWS": '),
    C("Resource in a trust policy", "trust-policy", policy(trusts(Resource=ROLE_ARN)), "has Resource",
      "remove Resource", "Has prohibited field Resource"),
    C("NotPrincipal in a trust policy", "trust-policy",
      policy({"Effect": "Allow", "NotPrincipal": {"AWS": USER_ARN}, "Action": "sts:AssumeRole"}), "NotPrincipal"),
    C("a Service principal", "trust-policy", policy(trusts({"Service": "ec2.amazonaws.com"})), "Service",
      f'{{"AWS": "{USER_ARN}"}}'),
    C("the user's name instead of its ARN", "trust-policy", policy(trusts({"AWS": "labkit-sts-user"})),
      "user's name", USER_ARN),
    C("the role's own ARN as Principal", "trust-policy", policy(trusts({"AWS": ROLE_ARN})), 'role "sts_role"',
      USER_ARN),
    C("sts:AssumeRoles in a trust policy", "trust-policy", policy(trusts(action="sts:AssumeRoles")),
      '"sts:AssumeRoles"', '"sts:AssumeRole"'),
    C("an MFA condition the lab's call cannot meet", "trust-policy",
      policy(trusts(Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})), "Condition",
      "remove the Condition"),
    C("lower-case aws principal key", "trust-policy", policy(trusts({"aws": USER_ARN})), '"aws"', '"AWS"'),
    C("JSON syntax error in the trust policy", "trust-policy", '{"Version": "2012-10-17", "Statement": [}',
      "not valid JSON", "line 1, column", usable=False),
    # --- AssumeRole's parameters (notebook 03) ---
    C("DurationSeconds 60", "assume-role", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "DurationSeconds": 60},
      "DurationSeconds 60", "900"),
    C("DurationSeconds 7200, above the role's maximum", "assume-role",
      {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "DurationSeconds": 7200}, "DurationSeconds 7200",
      "MaxSessionDuration", "3600", "exceeds the MaxSessionDuration set for this role"),
    C("DurationSeconds 50000", "assume-role", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "DurationSeconds": 50000},
      "DurationSeconds 50000", "43200"),
    C("a session name with a space", "assume-role",
      {"RoleArn": ROLE_ARN, "RoleSessionName": "sts session", "DurationSeconds": 900}, "RoleSessionName",
      "a space"),
    C("a session name of one character", "assume-role",
      {"RoleArn": ROLE_ARN, "RoleSessionName": "s", "DurationSeconds": 900}, "RoleSessionName", "at least 2"),
    C("DurationSeconds as text", "assume-role",
      json.dumps({"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "DurationSeconds": "900"}), "the text", "900"),
    C("a misspelt parameter name", "assume-role",
      {"RoleARN": ROLE_ARN, "RoleSessionName": "s1", "DurationSeconds": 900}, '"RoleARN"', '"RoleArn"'),
    C("RoleArn of another role", "assume-role",
      {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/other-role", "RoleSessionName": "s1", "DurationSeconds": 900},
      "RoleArn", '"other-role"', ROLE_ARN),
    C("RoleArn is the user's ARN", "assume-role",
      {"RoleArn": USER_ARN, "RoleSessionName": "s1", "DurationSeconds": 900}, "RoleArn", "user", ROLE_ARN),
    C("RoleSessionName missing", "assume-role", {"RoleArn": ROLE_ARN, "DurationSeconds": 900},
      "RoleSessionName is missing"),
    C("DurationSeconds left out", "assume-role", {"RoleArn": ROLE_ARN, "RoleSessionName": "s1"},
      "DurationSeconds is missing", "picker.value"),
    C("the response instead of the parameters", "assume-role", lambda lab, s: {"Credentials": {}},
      "AssumeRole's response"),
    C("the CLI skeleton's other parameters left empty", "assume-role",
      {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "PolicyArns": [{"arn": ""}], "Policy": "",
       "DurationSeconds": 900, "Tags": [{"Key": "", "Value": ""}], "TransitiveTagKeys": [""], "ExternalId": "",
       "SerialNumber": "", "TokenCode": "", "SourceIdentity": "",
       "ProvidedContexts": [{"ProviderArn": "", "ContextAssertion": ""}]},
      "PolicyArns, Policy, Tags", "still empty", "--generate-cli-skeleton", "remove the parameters you do not use"),
    C("session tags the role does not allow", "assume-role",
      {"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "DurationSeconds": 900, "Tags": [{"Key": "a", "Value": "b"}]},
      "Tags", "sts:TagSession"),
    # --- the three export lines (notebook 04) ---
    C("AWS_SESSION_TOKEN missing", "exports",
      lambda lab, s: exports(_creds(s).access_key_id, _creds(s).secret_access_key, None),
      "AWS_SESSION_TOKEN is missing"),
    C("AWS_SECRET_KEY for AWS_SECRET_ACCESS_KEY", "exports",
      lambda lab, s: exports(_creds(s).access_key_id, _creds(s).secret_access_key, _creds(s).session_token,
                             names=("AWS_ACCESS_KEY_ID", "AWS_SECRET_KEY", "AWS_SESSION_TOKEN")),
      "AWS_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"),
    C("the user's long-term key where the session's belongs", "exports",
      lambda lab, s: exports(lab.user_credentials().access_key_id, lab.user_credentials().secret_access_key,
                             _creds(s).session_token),
      "long-term key", "profile default", "AssumeRole response"),
    C("export left out", "exports",
      lambda lab, s: exports(_creds(s).access_key_id, _creds(s).secret_access_key, _creds(s).session_token,
                             keyword=""), "without export"),
    C("the secret key of another session", "exports",
      lambda lab, s: exports(_creds(s).access_key_id, lab.assume_role(900).credentials.secret_access_key,
                             _creds(s).session_token), "SignatureDoesNotMatch", "SecretAccessKey"),
    C("placeholders left in", "exports", lambda lab, s: exports("...", "...", "..."), "placeholder"),
    C("spaces around =", "exports", lambda lab, s: f'export AWS_ACCESS_KEY_ID = "{_creds(s).access_key_id}"',
      "no spaces around ="),
    C("fish instead of bash", "exports", lambda lab, s: f'set -gx AWS_ACCESS_KEY_ID "{_creds(s).access_key_id}"',
      "not bash"),
    C("a quote not closed", "exports", 'export AWS_ACCESS_KEY_ID="ASIA', "quote", "not closed"),
    # --- the boto3.Session (notebook 04) ---
    C("a session with the user's own key", "session",
      lambda lab, s: lab.target.session_for(lab.user_credentials().access_key_id,
                                            lab.user_credentials().secret_access_key), "long-term key"),
    C("a session without the token", "session",
      lambda lab, s: lab.target.session_for(_creds(s).access_key_id, _creds(s).secret_access_key),
      "no aws_session_token"),
    C("the response instead of a session", "session", lambda lab, s: {"Credentials": {"AccessKeyId": "x"}},
      "not a session", "boto3.Session("),
    # --- the switch-role link (notebook 06) ---
    C("another account in the link", "switch-role-url", url(f"roleName=sts_role&account={PARTNER}"),
      f"account={PARTNER}", ACCOUNT),
    C("another role in the link", "switch-role-url", url(f"roleName=other-role&account={ACCOUNT}"),
      "roleName=other-role", '"sts_role"'),
    C("the role's ARN as roleName", "switch-role-url", url(f"roleName={ROLE_ARN}&account={ACCOUNT}"),
      "role's ARN", "only its name"),
    C("the console host", "switch-role-url",
      url(f"roleName=sts_role&account={ACCOUNT}", "https://console.aws.amazon.com/switchrole"),
      "console.aws.amazon.com", "signin.aws.amazon.com"),
    C("http", "switch-role-url", url(f"roleName=sts_role&account={ACCOUNT}", "http://signin.aws.amazon.com/switchrole"),
      "https"),
    C("account missing", "switch-role-url", url("roleName=sts_role"), "account is missing"),
    C("a parameter name in the wrong case", "switch-role-url", url(f"rolename=sts_role&account={ACCOUNT}"),
      '"rolename"', '"roleName"'),
    # --- EC2 before / during / after (notebook 05) ---
    C("AccessDenied before", "predict-ec2", {**PREDICTED, "before": "AccessDenied"}, "before", "AccessDenied",
      "UnauthorizedOperation", observed=True),
    C("ExpiredToken after", "predict-ec2", {**PREDICTED, "after": "ExpiredToken"}, "after", "ExpiredToken",
      "RequestExpired", observed=True),
    C("refused during", "predict-ec2", {**PREDICTED, "during": "UnauthorizedOperation"}, "during",
      "EC2 answered allowed", observed=True),
    C("a vague word for an error", "predict-ec2", {**PREDICTED, "before": "denied"}, '"denied"', "error code",
      observed=True),
    C("a phase missing", "predict-ec2", {"before": "UnauthorizedOperation", "during": "allowed"},
      '"after" is missing', observed=True),
]


def test_the_catalogue_is_large_enough():
    assert len(CASES) >= 20
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.exercise for c in CASES} == {"user-policy", "trust-policy", "assume-role", "exports", "session",
                                           "switch-role-url", "predict-ec2"}


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_mistake_is_named(case: Case, lab, session, observed):
    ex = exercise(case.exercise, lab)
    args = (observed,) if case.observed else ()
    answer = case.answer(lab, session)
    verdict = ex.verdict(answer, *args)
    text = str(verdict)
    assert not verdict.passed, text
    assert verdict.usable is case.usable, text
    assert text.startswith("✗ Not yet: "), text
    for words in case.says:
        assert words in text, f"{words!r} not in: {text}"
    assert text.count("\n") <= 2 and "Traceback" not in text
    creds = session.credentials
    for secret in (creds.secret_access_key, creds.session_token, lab.user_credentials().secret_access_key):
        assert secret not in text


def test_secrets_in_a_wrong_answer_are_masked(lab, session):
    """The key of a wrong answer is shown as the AWS CLI shows it, ****************ABCD, never whole."""
    user = lab.user_credentials()
    text = str(exercise("exports", lab).verdict(
        exports(user.access_key_id, user.secret_access_key, session.credentials.session_token)))
    assert "*" * 16 + user.access_key_id[-4:] in text
    assert user.access_key_id not in text and user.secret_access_key not in text


def test_an_expired_session_in_the_exports_is_named(lab):
    session = lab.assume_role(duration=900)
    creds = session.credentials
    lab.private.advance(901)
    try:
        verdict = exercise("exports", lab).verdict(exports(creds.access_key_id, creds.secret_access_key,
                                                           creds.session_token))
    finally:
        lab.private.sandbox.control("clock/reset")
    assert not verdict.passed
    assert "ExpiredToken" in verdict.problem and "assume the role again" in verdict.problem
    assert creds.session_token not in str(verdict)


def test_a_mistake_through_the_cli(lab, tmp_path, capsys):
    """The same words on the command line, and exit 1."""
    from labkit.cli import main

    answer = tmp_path / "trust.json"
    answer.write_text(json.dumps(policy(trusts({"AWS": f"arn:aws:iam::{PARTNER}:root"}))))
    assert main(["check", "trust-policy", str(answer)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("✗ Not yet: ") and f"account {PARTNER}" in out and USER_ARN in out
