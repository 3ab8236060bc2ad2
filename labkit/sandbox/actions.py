"""What a request asks for: its IAM action (`service:Action`), parameters and resource ARN."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

from labkit.sandbox.principals import Identity, iam


@dataclass
class Call:
    service: str
    operation: str
    params: dict[str, str] = field(default_factory=dict)
    mfa: bool = False  # AssumeRole only: the caller proved MFA with SerialNumber and TokenCode

    @property
    def action(self) -> str:
        return f"{self.service}:{self.operation}"


def read_call(environ: dict, body: bytes, service: str) -> Call:
    """The operation from the query protocol (Action=...), the JSON protocol, or S3's REST form."""
    params: dict[str, str] = {}
    for source in (environ.get("QUERY_STRING", ""), _form_body(environ, body)):
        for key, values in parse_qs(source, keep_blank_values=True).items():
            params[key] = values[0]
    if "Action" in params:
        return Call(service, params["Action"], params)
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = {}
        flat = {k: v for k, v in payload.items() if isinstance(v, str)} if isinstance(payload, dict) else {}
        return Call(service, target.rsplit(".", 1)[-1], flat)
    if service == "s3":
        return Call("s3", _s3_operation(environ), params)
    return Call(service, "Unknown", params)


def _form_body(environ: dict, body: bytes) -> str:
    ctype = environ.get("CONTENT_TYPE", "")
    if body and ctype.startswith("application/x-www-form-urlencoded"):
        return body.decode("utf-8", "replace")
    return ""


def _s3_operation(environ: dict) -> str:
    """The IAM action of an S3 REST call (enough for the lab's S3 examples)."""
    method = environ["REQUEST_METHOD"]
    path = unquote(environ.get("PATH_INFO", "/")).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket:
        return "ListAllMyBuckets"
    if not key:
        return {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "ListBucket"}.get(
            method, "ListBucket"
        )
    return {"PUT": "PutObject", "DELETE": "DeleteObject"}.get(method, "GetObject")


def s3_resource(environ: dict) -> str:
    path = unquote(environ.get("PATH_INFO", "/")).lstrip("/")
    return f"arn:aws:s3:::{path}" if path else "*"


def resource_for(call: Call, identity: Identity, region: str, environ: dict) -> str:
    """The resource ARN AWS authorizes `call` against (the cases the lab uses; '*' otherwise)."""
    p = call.params
    if call.service == "sts" and call.operation == "AssumeRole":
        return p.get("RoleArn", "*")
    if call.service == "iam":
        return _iam_resource(call, identity)
    if call.service == "s3":
        return s3_resource(environ)
    return "*"


def _iam_resource(call: Call, identity: Identity) -> str:
    p = call.params
    account = identity.account
    backend = iam(account)
    if "PolicyArn" in p and "RoleName" not in p and "UserName" not in p and "GroupName" not in p:
        return p["PolicyArn"]
    if "RoleName" in p:
        role = _role_named(backend, p["RoleName"])
        path = role.path if role else p.get("Path", "/")
        return f"arn:aws:iam::{account}:role{path}{p['RoleName']}"
    if "GroupName" in p:
        group = backend.groups.get(p["GroupName"])
        path = group.path if group else p.get("Path", "/")
        return f"arn:aws:iam::{account}:group{path}{p['GroupName']}"
    if "UserName" in p:
        user = backend.users.get(p["UserName"])
        path = user.path if user else p.get("Path", "/")
        return f"arn:aws:iam::{account}:user{path}{p['UserName']}"
    if "PolicyName" in p and call.operation == "CreatePolicy":
        return f"arn:aws:iam::{account}:policy{p.get('Path', '/')}{p['PolicyName']}"
    if call.operation in {"GetUser", "CreateAccessKey", "ListAccessKeys", "DeleteAccessKey",
                          "UpdateAccessKey", "ListUserPolicies", "ListAttachedUserPolicies",
                          "ListGroupsForUser", "ListMFADevices"} and identity.user_name:
        return identity.arn
    return "*"


def _role_named(backend, name: str):
    """moto keys roles by ID; IAM's API names them."""
    for role in backend.roles.values():
        if role.name == name:
            return role
    return None


TAGGED_CREATES = {"iam:CreateUser": "iam:TagUser", "iam:CreateRole": "iam:TagRole",
                  "iam:CreatePolicy": "iam:TagPolicy"}


def tagging_actions(call: Call) -> list[str]:
    """Creating with tags also needs the tagging permission (AWS checks both)."""
    tag = TAGGED_CREATES.get(call.action)
    if tag and any(k.startswith("Tags.member.") for k in call.params):
        return [tag]
    return []
