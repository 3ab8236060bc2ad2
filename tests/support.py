"""Helpers for tests that drive the sandbox as a learner's boto3 would."""

from __future__ import annotations

import itertools
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from unittest import mock
from urllib.parse import urlencode

import boto3
import botocore.auth
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from labkit.sandbox import lifecycle

ACCOUNT = "123456789012"
PARTNER = "210987654321"
_counter = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}"


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def trust(principal, **extra) -> str:
    return policy({"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra})


@dataclass
class Keys:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    arn: str | None = None

    def client(self, service: str):
        return boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url=lifecycle.require_running().endpoint,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            aws_session_token=self.session_token,
        )

    def assume(self, role_arn: str, name: str = "test-session", **kwargs) -> Keys:
        resp = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=name, **kwargs)
        c = resp["Credentials"]
        return Keys(c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"], resp["AssumedRoleUser"]["Arn"])


def make_user(admin: boto3.Session, name: str | None = None, policies: dict[str, str] | None = None,
              groups: list[str] | None = None) -> Keys:
    iam = admin.client("iam")
    name = name or unique("user")
    iam.create_user(UserName=name)
    for policy_name, document in (policies or {}).items():
        iam.put_user_policy(UserName=name, PolicyName=policy_name, PolicyDocument=document)
    for group in groups or []:
        iam.add_user_to_group(GroupName=group, UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    arn = iam.get_user(UserName=name)["User"]["Arn"]
    return Keys(key["AccessKeyId"], key["SecretAccessKey"], arn=arn)


def make_role(admin: boto3.Session, trust_policy: str, name: str | None = None,
              max_session: int = 3600, policies: dict[str, str] | None = None) -> str:
    iam = admin.client("iam")
    name = name or unique("role")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_policy,
                          MaxSessionDuration=max_session)["Role"]["Arn"]
    for policy_name, document in (policies or {}).items():
        iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=document)
    return arn


def error_of(call, *args, **kwargs) -> tuple[int, str, str]:
    """(HTTP status, code, message) of the ClientError a call raises."""
    try:
        call(*args, **kwargs)
    except ClientError as exc:
        err = exc.response["Error"]
        return exc.response["ResponseMetadata"]["HTTPStatusCode"], err["Code"], err["Message"]
    raise AssertionError("the call succeeded but an error was expected")


def raw_request(service: str, params: dict, keys: Keys, when: datetime | None = None) -> tuple[int, str]:
    """A query-protocol request signed with botocore's SigV4, sent without any client validation."""
    endpoint = lifecycle.require_running().endpoint
    body = urlencode(params)
    request = AWSRequest(method="POST", url=endpoint + "/", data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    creds = Credentials(keys.access_key_id, keys.secret_access_key, keys.session_token)
    if when is None:
        SigV4Auth(creds, service, "us-east-1").add_auth(request)
    else:
        with mock.patch.object(botocore.auth, "get_current_datetime", return_value=when):
            SigV4Auth(creds, service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    http = urllib.request.Request(prepared.url, data=prepared.body.encode() if isinstance(prepared.body, str) else prepared.body,
                                  headers=dict(prepared.headers), method="POST")
    try:
        with urllib.request.urlopen(http, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def admin_keys(profile: str = "labkit-admin") -> Keys:
    from labkit import workspace

    found = workspace.read_credentials_profile(profile)
    assert found, f"no {profile} profile"
    return Keys(found["aws_access_key_id"], found["aws_secret_access_key"])
