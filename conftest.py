"""Every test session gets its own lab workspace and a fresh sandbox, shared by tests and notebooks."""

from __future__ import annotations

import os
import tempfile

_home: tempfile.TemporaryDirectory | None = None


def pytest_configure(config) -> None:
    global _home
    if os.environ.get("LABKIT_TEST_KEEP_HOME"):
        return
    _home = tempfile.TemporaryDirectory(prefix="labkit-test-")
    os.environ["LABKIT_HOME"] = _home.name
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("LABKIT_TARGET", None)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ["AWS_CONFIG_FILE"] = os.path.join(_home.name, "aws-config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(_home.name, "aws-credentials")


def pytest_unconfigure(config) -> None:
    if _home is None:
        return
    from labkit.errors import LabError
    from labkit.sandbox import lifecycle

    try:
        lifecycle.stop()
    except LabError:
        pass
    _home.cleanup()


_skipped: list[str] = []


def pytest_runtest_logreport(report) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session, exitstatus) -> None:
    """In CI a skipped test is a failure: something the tests need was not installed."""
    if _skipped and os.environ.get("CI") and exitstatus == 0:
        session.exitstatus = 1
        print(f"\nCI: {len(_skipped)} test(s) skipped, which CI counts as failed: {_skipped[:5]}")
