"""Where moto's data differs from AWS's, corrected once when the sandbox loads moto.

- Every timestamp moto makes (Expiration, CreateDate, ...) reads the sandbox clock.
- IAM user and group IDs look like AWS's (`AIDA...`, `AGPA...`: 21 characters with the account
  encoded), as GetCallerIdentity's UserId shows them, instead of moto's lowercase random strings.
"""

from __future__ import annotations

import sys

from labkit.sandbox.clock import SandboxClock


def use_sandbox_clock(clock: SandboxClock) -> None:
    """Make every moto timestamp read the sandbox clock (call after moto's models are imported)."""
    import moto.core.utils as core_utils

    original = core_utils.utcnow
    core_utils.utcnow = clock.utcnow_naive
    for name, module in list(sys.modules.items()):
        if name.startswith("moto") and getattr(module, "utcnow", None) is original:
            module.utcnow = clock.utcnow_naive


def aws_shaped_ids() -> None:
    from moto.iam import models
    from moto.iam.utils import generate_access_key_id_from_account_id

    def shaped(cls, prefix: str) -> None:
        original = cls.__init__

        def __init__(self, account_id: str, *args, **kwargs) -> None:
            original(self, account_id, *args, **kwargs)
            self.id = generate_access_key_id_from_account_id(account_id, prefix=prefix, total_length=21)

        cls.__init__ = __init__

    shaped(models.User, "AIDA")
    shaped(models.Group, "AGPA")


def apply(clock: SandboxClock) -> None:
    use_sandbox_clock(clock)
    aws_shaped_ids()
