"""The sandbox's accounts and who administers them; the EC2 instances a learner will see.

No unauthenticated path: at start each account gets an administrator whose keys are written to
the lab-local credentials file (mode 0600). Everything after that is signed and authorized.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from moto.ec2.models import ec2_backends
from moto.iam.models import iam_backends
from moto.moto_api._internal import mock_random

MAIN_ACCOUNT = "123456789012"
PARTNER_ACCOUNT = "210987654321"  # a second account, for cross-account AssumeRole
ADMIN_USER = "labkit-admin"
REGION = "us-east-1"
ADMIN_POLICY = json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
)

# profile name -> account
ADMIN_PROFILES = {"labkit-admin": MAIN_ACCOUNT, "labkit-partner-admin": PARTNER_ACCOUNT}

# A few instances so "EC2 access during the session" shows real rows. Seeded IDs: the same every run.
INSTANCES = [("web-1", "t3.micro"), ("web-2", "t3.micro"), ("batch-1", "t3.small")]
IMAGE_ID = "ami-1e749f67"  # one of moto's bundled Ubuntu images
INSTANCE_SEED = 2020


@dataclass
class AdminKey:
    profile: str
    account: str
    access_key_id: str
    secret_access_key: str


def create_admin(account: str, profile: str, keep: AdminKey | None = None) -> AdminKey:
    """An administrator with an access key; `keep` reinstalls the same key after a reset."""
    backend = iam_backends[account]["aws"]
    backend.create_user(REGION, ADMIN_USER, path="/")
    backend.put_user_policy(ADMIN_USER, "AdministratorAccess", ADMIN_POLICY)
    key = backend.create_access_key(ADMIN_USER)
    if keep is not None:
        del backend.access_keys[key.access_key_id]
        key.access_key_id = keep.access_key_id
        key.secret_access_key = keep.secret_access_key
        backend.access_keys[key.access_key_id] = key
    return AdminKey(profile, account, key.access_key_id, key.secret_access_key)


def seed_instances() -> None:
    """Three running instances in the main account, with the same IDs every time."""
    backend = ec2_backends[MAIN_ACCOUNT][REGION]
    state = mock_random.getstate()
    mock_random.seed(INSTANCE_SEED)
    try:
        for name, instance_type in INSTANCES:
            backend.run_instances(IMAGE_ID, 1, None, [], **_run_args(name, instance_type))
    finally:
        mock_random.setstate(state)


def _run_args(name: str, instance_type: str) -> dict:
    """The keyword arguments moto's RunInstances handler builds from a request (moto 5.2)."""
    return {
        "instance_type": instance_type, "is_instance_type_default": False, "placement": None,
        "placement_hostid": None, "region_name": REGION, "subnet_id": None, "key_name": None,
        "security_group_ids": [], "nics": [], "private_ip": None, "associate_public_ip": None,
        "tags": {"instance": {"Name": name, "labkit:seeded": "true"}}, "ebs_optimized": False,
        "disable_api_stop": False, "instance_market_options": {},
        "instance_initiated_shutdown_behavior": None, "launch_template": {},
        "hibernation_options": {}, "iam_instance_profile_name": None,
        "iam_instance_profile_arn": None, "monitoring_state": "disabled",
        "ipv6_address_count": None, "metadata_options": {}, "client_token": "ABCDE",
    }


def bootstrap(keep: dict[str, AdminKey] | None = None) -> dict[str, AdminKey]:
    keys = {
        profile: create_admin(account, profile, (keep or {}).get(profile))
        for profile, account in ADMIN_PROFILES.items()
    }
    seed_instances()
    return keys
