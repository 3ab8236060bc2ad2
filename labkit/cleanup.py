"""Remove everything the lab made, found by its tag and name, in the order IAM requires.

Only users and roles that carry the lab's tag AND the lab's name (prefix, or the configured name)
are touched. Order: access keys, inline and attached policies (and group memberships, MFA,
login profile), then the user; a role's policies and instance profiles, then the role. Safe to
re-run, and complete after a setup that stopped half-way.
"""

from __future__ import annotations

from collections.abc import Iterator

from botocore.exceptions import ClientError

from labkit import workspace
from labkit.lab import PREFIX, TAG, Names, Step
from labkit.target import Target


def _ours(tags: list[dict]) -> bool:
    return any(t["Key"] == TAG["Key"] and t["Value"] == TAG["Value"] for t in tags)


def _named(name: str, configured: str) -> bool:
    return name.startswith(PREFIX) or name == configured


def _pages(iam, operation: str, key: str, **kwargs) -> Iterator[dict]:
    for page in iam.get_paginator(operation).paginate(**kwargs):
        yield from page[key]


def lab_users(iam, names: Names) -> list[str]:
    found = []
    for user in _pages(iam, "list_users", "Users"):
        if _named(user["UserName"], names.user) and _ours(iam.list_user_tags(UserName=user["UserName"])["Tags"]):
            found.append(user["UserName"])
    return found


def lab_roles(iam, names: Names) -> list[str]:
    found = []
    for role in _pages(iam, "list_roles", "Roles"):
        if _named(role["RoleName"], names.role) and _ours(iam.list_role_tags(RoleName=role["RoleName"])["Tags"]):
            found.append(role["RoleName"])
    return found


def _gone(call, *args, **kwargs) -> None:
    """Run a delete; something already gone is what we wanted."""
    try:
        call(*args, **kwargs)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "NoSuchEntity":
            raise


def _remove_user(iam, name: str, dry_run: bool) -> list[Step]:
    steps = []
    deleted_keys = []
    for key in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        steps.append(Step("access key", "****************" + key["AccessKeyId"][-4:], "removed"))
        deleted_keys.append(key["AccessKeyId"])
        if not dry_run:
            _gone(iam.delete_access_key, UserName=name, AccessKeyId=key["AccessKeyId"])
    for policy in iam.list_user_policies(UserName=name)["PolicyNames"]:
        steps.append(Step("user policy", policy, "removed"))
        if not dry_run:
            _gone(iam.delete_user_policy, UserName=name, PolicyName=policy)
    for policy in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
        steps.append(Step("attached policy", policy["PolicyName"], "detached"))
        if not dry_run:
            _gone(iam.detach_user_policy, UserName=name, PolicyArn=policy["PolicyArn"])
    for group in iam.list_groups_for_user(UserName=name)["Groups"]:
        steps.append(Step("group membership", group["GroupName"], "removed"))
        if not dry_run:
            _gone(iam.remove_user_from_group, GroupName=group["GroupName"], UserName=name)
    for device in iam.list_mfa_devices(UserName=name)["MFADevices"]:
        steps.append(Step("MFA device", device["SerialNumber"], "deactivated"))
        if not dry_run:
            _gone(iam.deactivate_mfa_device, UserName=name, SerialNumber=device["SerialNumber"])
    if not dry_run:
        _gone(iam.delete_login_profile, UserName=name)
    steps.append(Step("IAM user", name, "removed"))
    if not dry_run:
        _gone(iam.delete_user, UserName=name)
        _forget_profiles(deleted_keys)
    return steps


def _remove_role(iam, name: str, dry_run: bool) -> list[Step]:
    steps = []
    for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        steps.append(Step("role policy", policy, "removed"))
        if not dry_run:
            _gone(iam.delete_role_policy, RoleName=name, PolicyName=policy)
    for policy in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        steps.append(Step("attached policy", policy["PolicyName"], "detached"))
        if not dry_run:
            _gone(iam.detach_role_policy, RoleName=name, PolicyArn=policy["PolicyArn"])
    for profile in iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]:
        steps.append(Step("instance profile link", profile["InstanceProfileName"], "removed"))
        if not dry_run:
            _gone(iam.remove_role_from_instance_profile, InstanceProfileName=profile["InstanceProfileName"],
                  RoleName=name)
    steps.append(Step("IAM role", name, "removed"))
    if not dry_run:
        _gone(iam.delete_role, RoleName=name)
    return steps


def _forget_profiles(access_key_ids: list[str]) -> None:
    """Remove lab-local profiles that held the deleted keys (other profiles are kept)."""
    import configparser

    parser = configparser.ConfigParser(interpolation=None)
    parser.read(workspace.credentials_file())
    for section in parser.sections():
        if parser[section].get("aws_access_key_id") in access_key_ids:
            workspace.remove_credentials_profile(section)
            workspace.remove_config_profile(section)


def cleanup(target: Target, names: Names | None = None, dry_run: bool = False) -> list[Step]:
    """Everything the lab created in the target, removed (or, with dry_run, listed)."""
    names = names or Names.for_target(target)
    iam = target.client("iam")
    steps: list[Step] = []
    for user in lab_users(iam, names):
        steps += _remove_user(iam, user, dry_run)
    for role in lab_roles(iam, names):
        steps += _remove_role(iam, role, dry_run)
    if dry_run:
        steps = [Step(s.what, s.name, "would be " + s.action) for s in steps]
    return steps


def leftovers(target: Target, names: Names | None = None) -> list[str]:
    """What the lab made that still exists (empty after a complete cleanup)."""
    names = names or Names.for_target(target)
    iam = target.client("iam")
    return [f"user/{u}" for u in lab_users(iam, names)] + [f"role/{r}" for r in lab_roles(iam, names)]
