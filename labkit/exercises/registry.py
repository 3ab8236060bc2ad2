"""Which exercises there are, in lesson order, and `exercise(id)` to get one.

The table names each exercise's module and class, so `labkit check --list` and `labkit progress`
read it without importing boto3 or the policy engine.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from labkit.errors import LabError


@dataclass(frozen=True)
class Entry:
    id: str
    notebook: str
    title: str
    description: str  # one line, for `labkit check --list`
    cli: bool  # also a `labkit check` ID
    where: str  # "module:Class" under labkit.exercises


EXERCISES: tuple[Entry, ...] = (
    Entry("user-policy", "02", "The user's policy: sts:AssumeRole on the lab's role",
          "the IAM user's identity policy allowing sts:AssumeRole on the lab's role (policy JSON)",
          True, "policies:UserPolicy"),
    Entry("trust-policy", "02", "The role's trust policy: who may assume it",
          "the role's trust policy naming the lab's IAM user (policy JSON)", True, "policies:TrustPolicy"),
    Entry("assume-role", "03", "AssumeRole's parameters, with the duration you picked",
          "AssumeRole parameters: RoleArn, RoleSessionName, DurationSeconds (--cli-input-json JSON)",
          True, "calls:AssumeRoleCall"),
    Entry("exports", "04", "The three export lines for bash",
          "the three bash export lines that hand the session to the AWS CLI (text)", True, "exports:Exports"),
    Entry("session", "04", "A boto3.Session from the AssumeRole response",
          "a boto3.Session built from AssumeRole's Credentials (notebook only)", False, "exports:SessionFromResponse"),
    Entry("predict-ec2", "05", "EC2 before, during and after the session: your prediction",
          "DescribeInstances before / during / after, predicted then compared (notebook only)",
          False, "predict:PredictEc2"),
    Entry("switch-role-url", "06", "The console's switch-role link",
          "the console's switch-role URL for the lab's role and account (text)", True, "console:SwitchRoleUrl"),
)

IDS = tuple(e.id for e in EXERCISES)
CLI_IDS = tuple(e.id for e in EXERCISES if e.cli)


def entry(exercise_id: str) -> Entry:
    for found in EXERCISES:
        if found.id == exercise_id:
            return found
    raise LabError(f"There is no exercise '{exercise_id}': the exercises are {', '.join(IDS)}.")


def exercise(exercise_id: str, lab=None):
    """The exercise `exercise_id` (see IDS), for `lab` (default: the lab of this target, connected
    on first use)."""
    if not isinstance(exercise_id, str):
        raise LabError(f"An exercise is named by its ID, a string such as 'trust-policy', not {exercise_id!r}.")
    found = entry(exercise_id.strip())
    module, cls = found.where.split(":")
    return getattr(importlib.import_module(f"labkit.exercises.{module}"), cls)(lab)
