from __future__ import annotations

import boto3
import pytest

from labkit.sandbox import lifecycle


@pytest.fixture(scope="session")
def sandbox():
    """The session's sandbox (started on first use, stopped when the session ends)."""
    return lifecycle.ensure_running()


@pytest.fixture(scope="session")
def admin(sandbox) -> boto3.Session:
    return boto3.Session(profile_name="labkit-admin", region_name="us-east-1")


@pytest.fixture(scope="session")
def partner_admin(sandbox) -> boto3.Session:
    return boto3.Session(profile_name="labkit-partner-admin", region_name="us-east-1")
