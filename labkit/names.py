"""What the lab calls things, shared by its steps (`labkit.lab`) and its cleanup (`labkit.cleanup`).

Every user and role the lab creates carries the lab's tag (labkit=sts-labkit) and the lab's name;
in the sandbox the walk-through's own names (`sts_role`), in a real account with the `labkit-`
prefix, and with `-<LABKIT_NAME_SUFFIX>` when a whole room shares one account.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

from botocore.exceptions import ClientError

from labkit.errors import LabError

TAG = {"Key": "labkit", "Value": "sts-labkit"}
LEARNER_TAG = "labkit-learner"  # second tag, with LABKIT_NAME_SUFFIX: whose resources these are
PREFIX = "labkit-"
SUFFIX_VARIABLE = "LABKIT_NAME_SUFFIX"
MAX_NAME = 64  # IAM user and role names
_SUFFIX = re.compile(r"[A-Za-z0-9._@-]{1,32}")

# Profiles the walk-through's steps write into the lab's own AWS files, besides the user's key:
# the role profile of `labkit setup`, a session's keys (notebook 04, the panel's "reveal") and a
# credential_process profile that reads them (notebook 04). `labkit cleanup` removes them.
ROLE_PROFILE = "sts-role"
SESSION_PROFILES = ("sts-session", "sts-process")


@dataclass(frozen=True)
class Names:
    user: str = "labkit-sts-user"
    role: str = "sts_role"
    user_policy: str = "labkit-assume-role"
    role_policy: str = "labkit-ec2-read"
    profile: str = "default"
    session: str = "sts-session"
    learner: str = ""  # LABKIT_NAME_SUFFIX: appended to user and role, and tagged, in a real account

    @classmethod
    def for_target(cls, target, **overrides: str) -> Names:
        """The names in this target. Sandbox: the walk-through's. Real account: `labkit-` prefix
        on user and role, plus `-<suffix>` when LABKIT_NAME_SUFFIX (or `learner=`) is set."""
        learner = overrides.pop("learner", None)
        if learner is None:
            learner = os.environ.get(SUFFIX_VARIABLE, "").strip()
        names = cls(**overrides)
        if target.is_sandbox:
            return names
        user, role = (n if n.startswith(PREFIX) else PREFIX + n for n in (names.user, names.role))
        if learner:
            check_learner(learner)
            end = f"-{learner}"  # names recorded by an earlier run already carry it
            user, role = (n if n.endswith(end) else n + end for n in (user, role))
        for what, name in (("user", user), ("role", role)):
            if len(name) > MAX_NAME:
                raise LabError(f"The IAM {what} name '{name}' is {len(name)} characters long; IAM allows "
                               f"{MAX_NAME}. Use a shorter {SUFFIX_VARIABLE}.")
        return replace(names, user=user, role=role, learner=learner)

    @property
    def tags(self) -> list[dict[str, str]]:
        """The tags every user and role the lab creates carries."""
        return [TAG] + ([{"Key": LEARNER_TAG, "Value": self.learner}] if self.learner else [])


def check_learner(suffix: str) -> str:
    if not _SUFFIX.fullmatch(suffix):
        raise LabError(f"{SUFFIX_VARIABLE}='{suffix}' cannot be part of an IAM name: use 1 to 32 letters, "
                       "digits or . _ @ - (for example the learner's login, alice or seat-07).")
    return suffix


@dataclass
class Step:
    """What one step did: created, updated, found, removed (or, in cleanup, failed and why)."""

    what: str
    name: str
    action: str
    detail: str = ""

    def __str__(self) -> str:
        line = f"{self.action:>8}  {self.what} {self.name}"
        return f"{line}: {self.detail}" if self.detail else line


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def pages(iam, operation: str, key: str, **kwargs) -> list:
    """Every item of a paginated IAM listing."""
    return [item for page in iam.get_paginator(operation).paginate(**kwargs) for item in page[key]]
