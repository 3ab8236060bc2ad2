"""Notebook 04: the session handed on, as three `export` lines and as a boto3.Session.

Both checks read the three values, refuse what is plainly wrong (a missing session token, a
misspelt variable, the user's own long-term key), then prove the rest with a real call:
GetCallerIdentity with exactly those credentials must answer with a session of the lab's role.
Whatever they say shows the key, secret and token masked (`****************ABCD`).
"""

from __future__ import annotations

import difflib
import re
import shlex
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from labkit import workspace
from labkit.credentials import (
    ACCESS_KEY_VAR,
    SECRET_KEY_VAR,
    SESSION_TOKEN_VAR,
    TemporaryCredentials,
    mask,
    render,
)
from labkit.errors import LabError
from labkit.exercises.base import Exercise, Mistake, Unusable, aws_error, refuse_blanks

VARIABLES = (ACCESS_KEY_VAR, SECRET_KEY_VAR, SESSION_TOKEN_VAR)
LEGACY_TOKEN = "AWS_SECURITY_TOKEN"  # botocore still reads it; other SDKs do not
OTHER_SETTINGS = {  # variables the CLI and SDKs read that are not credentials: not misspellings
    "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL",
    "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_DEFAULT_OUTPUT", "AWS_PAGER", "AWS_CA_BUNDLE",
    "AWS_CREDENTIAL_EXPIRATION", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_STS_REGIONAL_ENDPOINTS",
}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLACEHOLDER = re.compile(r"\.\.\.|<.*>|x{4,}|your[-_ ]", re.IGNORECASE)
_ANSWERS = {  # what AWS's refusal means for credentials a learner copied
    "InvalidClientTokenId": "AWS does not know this access key with this session token: copy all three "
                            "values from the same AssumeRole response",
    "SignatureDoesNotMatch": "the secret key does not belong to the access key: copy SecretAccessKey from the "
                             "same AssumeRole response",
    "ExpiredToken": "the session is past its Expiration: assume the role again and use the new values",
    "RequestExpired": "the session is past its Expiration: assume the role again and use the new values",
}


class _Credentials(Exercise):
    """Shared by both: is this the session's key, and does AWS say it is a session of the lab's role?"""

    def _not_the_users_key(self, access_key_id: str, secret: str, where: str) -> None:
        saved = workspace.read_credentials_profile(self.lab.names.profile) or {}
        if access_key_id and access_key_id == saved.get("aws_access_key_id"):
            raise Mistake(f"{where} {mask(access_key_id)} is the IAM user's own long-term key (profile "
                          f"{self.lab.names.profile}), not the session's: take AccessKeyId, SecretAccessKey and "
                          "SessionToken from the AssumeRole response.")
        if secret and secret == saved.get("aws_secret_access_key"):
            raise Mistake("the secret key is the IAM user's own long-term secret, not the session's: take "
                          "SecretAccessKey from the AssumeRole response.")
        if access_key_id.startswith("AKIA"):
            raise Mistake(f"{where} {mask(access_key_id)} starts with AKIA: that is a long-term access key. "
                          "A session's key starts with ASIA: take AccessKeyId from the AssumeRole response.")

    def _prove(self, session) -> str:
        """GetCallerIdentity with these credentials: the ARN of a session of the lab's role, or a Mistake."""
        lab = self.lab
        try:
            arn = lab.target.client("sts", session).get_caller_identity()["Arn"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            meaning = _ANSWERS.get(code, "AWS refused these credentials")
            raise Mistake(f"AWS refused GetCallerIdentity with these credentials ({aws_error(exc)}): "
                          f"{meaning}.") from None
        except BotoCoreError as exc:
            raise Unusable(f"the lab could not ask AWS who these credentials are: {exc}") from None
        expected = f":sts::{lab.account_id}:assumed-role/{lab.names.role}/"
        if expected not in arn:
            raise Mistake(f"AWS says these credentials are {arn}, not a session of the lab's role "
                          f"{lab.role_arn}: use the credentials of the AssumeRole call on that role.")
        return arn

    def _fresh_credentials(self) -> TemporaryCredentials:
        """A new session of the lab's role (the lab's solution when the learner's is not right)."""
        return self.lab.assume_role(duration=900).credentials


def parse_exports(text: str) -> dict[str, str]:
    """NAME -> value from bash `export` lines; a Mistake names the line and what to change."""
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith(("set ", "setenv ", "$Env:", "$env:")):
            raise Mistake(f"line {number} is not bash: the exercise wants bash's form, "
                          'export NAME="value" (fish, PowerShell and cmd write it differently).')
        try:
            words = shlex.split(stripped, comments=True)
        except ValueError:
            raise Mistake(f"line {number}: a quote is opened but not closed: put the value between two "
                          'double quotes, export NAME="value".') from None
        if not words:
            continue
        if words[0] != "export":
            if "=" in words[0]:
                raise Mistake(f"line {number} sets {words[0].split('=')[0]} without export: the variable then "
                              "stays in the shell and the aws command never sees it. Start the line with export.")
            raise Mistake(f'line {number} does not start with export: write export NAME="value".')
        if len(words) == 1:
            raise Mistake(f'line {number} is only "export": write export NAME="value".')
        for word in words[1:]:
            if "=" not in word or word.startswith("="):
                raise Mistake(f"line {number}: bash allows no spaces around = (export NAME=\"value\"); "
                              f"here {word!r} stands on its own.")
            name, _, value = word.partition("=")
            if not _NAME.fullmatch(name):
                raise Mistake(f"line {number}: {name!r} is not a variable name.")
            if name in found and found[name] != value:
                raise Mistake(f"line {number} sets {name} a second time, to another value: keep one line per "
                              "variable.")
            found[name] = value
    return found


class Exports(_Credentials):
    id = "exports"
    variable = "exports"
    needs = ("response",)
    hints = (
        "Three lines, one per value of the response's Credentials: export AWS_ACCESS_KEY_ID=..., "
        "export AWS_SECRET_ACCESS_KEY=..., export AWS_SESSION_TOKEN=... .",
        'Build them from the response with f-strings, e.g. f\'export AWS_ACCESS_KEY_ID="{creds["AccessKeyId"]}"\', '
        'where creds = response["Credentials"]; join the three lines with "\\n".',
    )
    solution_template = """
        creds = response["Credentials"]
        exports = "\\n".join([
            f'export AWS_ACCESS_KEY_ID="{creds["AccessKeyId"]}"',
            f'export AWS_SECRET_ACCESS_KEY="{creds["SecretAccessKey"]}"',
            f'export AWS_SESSION_TOKEN="{creds["SessionToken"]}"',
        ])
    """

    def solution_value(self) -> str:
        return render(self._fresh_credentials(), "bash")

    def judge(self, answer: Any, *args: Any) -> list[str]:
        if isinstance(answer, list | tuple) and all(isinstance(line, str) for line in answer):
            answer = "\n".join(answer)
        refuse_blanks(answer, "the three export lines")
        if not isinstance(answer, str):
            raise Unusable(f"the export lines are text (a str), not a {type(answer).__name__}: write the three "
                           "lines in one string.")
        if not answer.strip():
            raise Unusable('there is no export line yet: write export AWS_ACCESS_KEY_ID="..." and the two others.')
        found = parse_exports(answer)
        self.secret(*found.values())
        if found.get(ACCESS_KEY_VAR):
            self._not_the_users_key(found[ACCESS_KEY_VAR], found.get(SECRET_KEY_VAR, ""), ACCESS_KEY_VAR)
        warnings: list[str] = []
        for name in found:
            if name in VARIABLES or name in OTHER_SETTINGS or name == LEGACY_TOKEN or not name.startswith("AWS_"):
                continue
            guess = difflib.get_close_matches(name, VARIABLES, n=1, cutoff=0.6)
            if guess and guess[0] not in found:
                raise Mistake(f"{name} is not a variable the AWS CLI or the SDKs read: the name is {guess[0]}.")
        if SESSION_TOKEN_VAR not in found and LEGACY_TOKEN in found:
            warnings.append(f"{LEGACY_TOKEN} is the old name of the token variable: botocore and the AWS CLI "
                            f"still read it, other SDKs do not. Write {SESSION_TOKEN_VAR}.")
            found[SESSION_TOKEN_VAR] = found[LEGACY_TOKEN]
        for name in VARIABLES:
            if name not in found:
                why = (" temporary credentials are three values, and without the token AWS does not know "
                       "the key (STS and IAM answer InvalidClientTokenId, EC2 AuthFailure)."
                       if name == SESSION_TOKEN_VAR else "")
                raise Mistake(f"{name} is missing:{why or ' the AWS CLI needs all three values.'} "
                              f"Add export {name}=\"...\" with the value from the response's Credentials.")
        for name in VARIABLES:
            value = found[name]
            if not value or _PLACEHOLDER.search(value):
                raise Mistake(f'{name} is still a placeholder ("{value}"): put the value from the response\'s '
                              "Credentials there.")
            if value.endswith(",") or value.startswith(("'", '"')) or value.endswith(("'", '"')):
                raise Mistake(f"{name}'s value {mask(value)} has a quote or comma copied from the JSON: keep only "
                              "the value itself, between one pair of double quotes.")
        key, secret, token = (found[name] for name in VARIABLES)
        try:
            session = self.lab.target.session_for(key, secret, token)
        except (ValueError, LabError) as exc:
            raise Mistake(f"these values cannot be used as credentials: {exc}") from None
        self._prove(session)
        return warnings


class SessionFromResponse(_Credentials):
    id = "session"
    variable = "session"
    needs = ("response",)
    hints = (
        "boto3.Session(...) takes the three values as aws_access_key_id, aws_secret_access_key and "
        "aws_session_token.",
        'They are in response["Credentials"]: "AccessKeyId", "SecretAccessKey" and "SessionToken".',
    )
    solution_template = """
        import boto3

        session = boto3.Session(
            aws_access_key_id=response["Credentials"]["AccessKeyId"],
            aws_secret_access_key=response["Credentials"]["SecretAccessKey"],
            aws_session_token=response["Credentials"]["SessionToken"],
        )
    """

    def solution_value(self):
        creds = self._fresh_credentials()
        return self.lab.target.session_for(creds.access_key_id, creds.secret_access_key, creds.session_token)

    def judge(self, answer: Any, *args: Any) -> list[str]:
        import boto3

        refuse_blanks(answer, "a boto3.Session built from the response's Credentials")
        if not isinstance(answer, boto3.Session):
            kind = type(answer).__name__
            if isinstance(answer, dict) and ("Credentials" in answer or "AccessKeyId" in answer):
                raise Mistake("this is the response (or its Credentials), not a session: pass its three values to "
                              "boto3.Session(aws_access_key_id=..., aws_secret_access_key=..., "
                              "aws_session_token=...).")
            raise Mistake(f"this is a {kind}, not a boto3.Session: build one with boto3.Session(aws_access_key_id"
                          "=..., aws_secret_access_key=..., aws_session_token=...).")
        found = answer.get_credentials()
        if found is None:
            raise Mistake("this boto3.Session has no credentials: pass aws_access_key_id, aws_secret_access_key "
                          "and aws_session_token from the response's Credentials.")
        frozen = found.get_frozen_credentials()
        self.secret(frozen.access_key, frozen.secret_key, frozen.token)
        self._not_the_users_key(frozen.access_key, frozen.secret_key, "aws_access_key_id")
        if not frozen.token:
            raise Mistake("the session has no aws_session_token: temporary credentials are three values, and "
                          "without the token AWS refuses the key. Add aws_session_token=...[\"SessionToken\"].")
        self._prove(answer)
        return []
