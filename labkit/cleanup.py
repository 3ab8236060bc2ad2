"""Remove everything the lab made, found by its tag and name, in the order IAM requires.

Only users and roles that carry the lab's tag AND the lab's name (prefix, or the configured name)
are touched; with LABKIT_NAME_SUFFIX set, only those that also carry this learner's tag (an
instructor's sweep without a suffix, or `everyone=True`, takes the whole room's). Order: access
keys, inline and attached policies (and group memberships, MFA, console password), then the user;
a role's policies and instance-profile links, then the role; last the lab-local profile that held
the user's key. Every listing is paginated; something that vanished meanwhile (NoSuchEntity) is
what we wanted. Safe to re-run, and complete after a setup that stopped half-way. What cannot be
removed is reported, everything else is still removed, and CleanupIncomplete is raised at the end.
"""

from __future__ import annotations

import configparser
from collections.abc import Callable

from botocore.exceptions import ClientError

from labkit import workspace
from labkit.credentials import mask
from labkit.errors import LabError
from labkit.names import (
    LEARNER_TAG,
    PREFIX,
    ROLE_PROFILE,
    SESSION_PROFILES,
    TAG,
    Names,
    Step,
    error_code,
    pages,
)
from labkit.target import Target

FAILED = "failed"


class CleanupIncomplete(LabError):
    """Some of the lab's resources could not be removed; `steps` says what was done and what not."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        failed = "\n".join(f"  {s}" for s in steps if s.action == FAILED)
        super().__init__(
            "The cleanup could not remove everything the lab made:\n" + failed + "\nEverything else was "
            "removed. Fix what each line says (or remove those by hand in the IAM console), then run "
            "the cleanup again: it only ever touches what carries the lab's tag."
        )


def _ours(tags: list[dict], names: Names, everyone: bool) -> bool:
    pairs = {(t["Key"], t["Value"]) for t in tags}
    if (TAG["Key"], TAG["Value"]) not in pairs:
        return False
    return everyone or not names.learner or (LEARNER_TAG, names.learner) in pairs


def _named(name: str, configured: str) -> bool:
    return name.startswith(PREFIX) or name == configured


def _find(iam, names: Names, everyone: bool, kind: str) -> list[str]:
    key, configured = ("User", names.user) if kind == "user" else ("Role", names.role)
    found = []
    for entity in pages(iam, f"list_{kind}s", f"{key}s"):
        name = entity[f"{key}Name"]
        if not _named(name, configured):
            continue
        try:
            tags = pages(iam, f"list_{kind}_tags", "Tags", **{f"{key}Name": name})
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":  # removed since the listing
                continue
            raise
        if _ours(tags, names, everyone):
            found.append(name)
    return found


def lab_users(iam, names: Names, everyone: bool = False) -> list[str]:
    return _find(iam, names, everyone, "user")


def lab_roles(iam, names: Names, everyone: bool = False) -> list[str]:
    return _find(iam, names, everyone, "role")


class _Remover:
    """Records each removal as a Step; runs it unless dry_run; NoSuchEntity counts as done."""

    def __init__(self, iam, dry_run: bool) -> None:
        self.iam = iam
        self.dry_run = dry_run
        self.steps: list[Step] = []

    def __call__(self, what: str, name: str, action: str, call: Callable, **kwargs) -> bool:
        if self.dry_run:
            self.steps.append(Step(what, name, action))
            return True
        try:
            call(**kwargs)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                error = exc.response.get("Error", {})
                self.steps.append(Step(what, name, FAILED, f"{error.get('Code')}: {error.get('Message')}"))
                return False
        self.steps.append(Step(what, name, action))
        return True

    def listing(self, operation: str, key: str, **kwargs) -> list:
        return pages(self.iam, operation, key, **kwargs)


def _remove_user(remove: _Remover, name: str) -> list[str]:
    """Remove one user and what hangs on it; returns the IDs of the access keys removed."""
    iam, removed_keys = remove.iam, []
    try:
        keys = remove.listing("list_access_keys", "AccessKeyMetadata", UserName=name)
        inline = remove.listing("list_user_policies", "PolicyNames", UserName=name)
        attached = remove.listing("list_attached_user_policies", "AttachedPolicies", UserName=name)
        groups = remove.listing("list_groups_for_user", "Groups", UserName=name)
        devices = remove.listing("list_mfa_devices", "MFADevices", UserName=name)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":  # removed since it was found: nothing left to do
            return []
        raise
    for key in keys:
        key_id = key["AccessKeyId"]
        if remove("access key", mask(key_id), "removed", iam.delete_access_key,
                  UserName=name, AccessKeyId=key_id):
            removed_keys.append(key_id)
    for policy in inline:
        remove("user policy", policy, "removed", iam.delete_user_policy, UserName=name, PolicyName=policy)
    for policy in attached:
        remove("attached policy", policy["PolicyName"], "detached", iam.detach_user_policy,
               UserName=name, PolicyArn=policy["PolicyArn"])
    for group in groups:
        remove("group membership", group["GroupName"], "removed", iam.remove_user_from_group,
               GroupName=group["GroupName"], UserName=name)
    for device in devices:
        remove("MFA device", device["SerialNumber"], "deactivated", iam.deactivate_mfa_device,
               UserName=name, SerialNumber=device["SerialNumber"])
    if not remove.dry_run:
        try:  # a console password, if someone gave the user one (NoSuchEntity when not)
            iam.delete_login_profile(UserName=name)
            remove.steps.append(Step("console password", name, "removed"))
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                error = exc.response["Error"]
                remove.steps.append(Step("console password", name, FAILED, f"{error['Code']}: {error['Message']}"))
    remove("IAM user", name, "removed", iam.delete_user, UserName=name)
    return removed_keys


def _remove_role(remove: _Remover, name: str) -> None:
    iam = remove.iam
    try:
        inline = remove.listing("list_role_policies", "PolicyNames", RoleName=name)
        attached = remove.listing("list_attached_role_policies", "AttachedPolicies", RoleName=name)
        profiles = remove.listing("list_instance_profiles_for_role", "InstanceProfiles", RoleName=name)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return
        raise
    for policy in inline:
        remove("role policy", policy, "removed", iam.delete_role_policy, RoleName=name, PolicyName=policy)
    for policy in attached:
        remove("attached policy", policy["PolicyName"], "detached", iam.detach_role_policy,
               RoleName=name, PolicyArn=policy["PolicyArn"])
    for profile in profiles:
        remove("instance profile link", profile["InstanceProfileName"], "removed",
               iam.remove_role_from_instance_profile, InstanceProfileName=profile["InstanceProfileName"],
               RoleName=name)
    remove("IAM role", name, "removed", iam.delete_role, RoleName=name)


def _local_profiles(removed_keys: list[str], names: Names, user_remains: bool) -> list[str]:
    """Lab-local profiles that held a removed key, and the lab's own profile once its user is gone."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(workspace.credentials_file())
    stale = []
    for section in parser.sections():
        values = parser[section]
        if values.get("aws_access_key_id") in removed_keys:
            stale.append(section)
        elif section == names.profile and not user_remains and not values.get("aws_session_token"):
            stale.append(section)  # the key of a user that no longer exists
    return stale


def _walkthrough_profiles(role_arns: set[str]) -> list[tuple[str, str]]:
    """(kind, profile) the walk-through's steps left in the lab's own files: a session's keys
    (sts-session), a credential_process profile (sts-process), and the role profile of
    `labkit setup` (sts-role) when its role is one of `role_arns` (being removed, or gone)."""
    found = []
    creds = configparser.ConfigParser(interpolation=None)
    creds.read(workspace.credentials_file())
    config = configparser.ConfigParser(interpolation=None)
    config.read(workspace.config_file())
    for profile in SESSION_PROFILES:
        if creds.has_section(profile) or config.has_section(f"profile {profile}"):
            found.append(("session profile", profile))
    section = f"profile {ROLE_PROFILE}"
    if config.has_section(section) and config[section].get("role_arn") in role_arns:
        found.append(("CLI profile", ROLE_PROFILE))
    return found


def _forget_profiles(role_arns: set[str], dry_run: bool) -> list[Step]:
    steps = []
    for what, profile in _walkthrough_profiles(role_arns):
        if not dry_run:
            workspace.remove_credentials_profile(profile)
            workspace.remove_config_profile(profile)
        steps.append(Step(what, profile, "removed"))
    return steps


def cleanup(target: Target, names: Names | None = None, dry_run: bool = False,
            everyone: bool = False) -> list[Step]:
    """Everything the lab created in the target, removed (or, with dry_run, listed).

    Raises CleanupIncomplete (a LabError, with `.steps`) if anything could not be removed."""
    names = names or Names.for_target(target)
    if not dry_run:
        target.require_confirmed()
    iam = target.client("iam")
    remove = _Remover(iam, dry_run)
    users = lab_users(iam, names, everyone)
    removed_keys: list[str] = []
    for user in users:
        removed_keys += _remove_user(remove, user)
    roles = lab_roles(iam, names, everyone)
    for role in roles:
        _remove_role(remove, role)
    user_failed = any(s.what == "IAM user" and s.action == FAILED for s in remove.steps)
    remains = user_failed or _exists(iam, names.user, users)
    for profile in _local_profiles(removed_keys, names, user_remains=remains):
        if not dry_run:
            workspace.remove_credentials_profile(profile)
            workspace.remove_config_profile(profile)
        remove.steps.append(Step("lab-local profile", profile, "removed"))
    role_arns = {f"arn:aws:iam::{target.account_id}:role/{r}" for r in roles
                 if not any(s.what == "IAM role" and s.name == r and s.action == FAILED for s in remove.steps)}
    remove.steps += _forget_profiles(role_arns | _gone_role_arns(iam, target, names), dry_run)
    steps = remove.steps
    if dry_run:
        return [Step(s.what, s.name, "would be " + s.action) for s in steps]
    if any(s.action == FAILED for s in steps):
        raise CleanupIncomplete(steps)
    return steps


def _exists(iam, user: str, removed: list[str]) -> bool:
    """Does the lab's user still exist (not one of those just removed, and not absent)?"""
    if user in removed:
        return False
    try:
        iam.get_user(UserName=user)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return False
        raise
    return True


def _gone_role_arns(iam, target: Target, names: Names) -> set[str]:
    """The lab role's ARN when that role no longer exists (its role profile is then stale)."""
    try:
        iam.get_role(RoleName=names.role)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return {f"arn:aws:iam::{target.account_id}:role/{names.role}"}
        raise
    return set()


def leftovers(target: Target, names: Names | None = None, everyone: bool = False) -> list[str]:
    """What the lab made that still exists (empty after a complete cleanup)."""
    names = names or Names.for_target(target)
    iam = target.client("iam")
    found = [f"user/{u}" for u in lab_users(iam, names, everyone)]
    roles = lab_roles(iam, names, everyone)
    found += [f"role/{r}" for r in roles]
    stale = _local_profiles([], names, user_remains=_exists(iam, names.user, []))
    found += [f"lab-local profile {p}" for p in stale]
    gone = _gone_role_arns(iam, target, names)
    return found + [f"{what} {p}" for what, p in _walkthrough_profiles(gone)]
