"""Where the lab runs: the local sandbox (default) or a real AWS account (explicit opt-in).

`connect()` reads LABKIT_TARGET (`sandbox` or `aws`) and, for `aws`, LABKIT_AWS_PROFILE (the
named profile that administers the account). Nothing is created in a real account until the
learner has confirmed its account ID (`Target.confirm`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from labkit import workspace
from labkit.errors import LabError

SANDBOX, AWS = workspace.SANDBOX, workspace.AWS
SANDBOX_ADMIN_PROFILE = "labkit-admin"
RETRIES = Config(retries={"mode": "standard", "max_attempts": 6})


@dataclass
class Target:
    kind: str
    admin_profile: str
    region: str = workspace.DEFAULT_REGION
    endpoint: str | None = None
    _confirmed: bool = field(default=False, repr=False)
    _clients: dict = field(default_factory=dict, repr=False)  # the admin's clients, made once

    @property
    def is_sandbox(self) -> bool:
        return self.kind == SANDBOX

    @cached_property
    def admin(self) -> boto3.Session:
        """The session that creates and removes the lab's resources."""
        try:
            return boto3.Session(profile_name=self.admin_profile, region_name=self.region)
        except ProfileNotFound:
            raise LabError(
                f"The AWS profile '{self.admin_profile}' does not exist: set LABKIT_AWS_PROFILE to a "
                "profile from `aws configure list-profiles`."
            ) from None

    def client(self, service: str, session: boto3.Session | None = None):
        """A client for `service` (the admin's unless `session`); retries throttling (standard mode,
        6 attempts)."""
        if session is None:
            if service not in self._clients:
                self._clients[service] = self.admin.client(
                    service, region_name=self.region, endpoint_url=self.endpoint, config=RETRIES)
            return self._clients[service]
        return session.client(service, region_name=self.region, endpoint_url=self.endpoint, config=RETRIES)

    def session_for(self, access_key_id: str, secret_access_key: str, session_token: str | None = None) -> boto3.Session:
        return boto3.Session(aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key,
                             aws_session_token=session_token, region_name=self.region)

    @cached_property
    def caller(self) -> dict:
        try:
            return self.client("sts").get_caller_identity()
        except (ClientError, BotoCoreError) as exc:
            raise LabError(
                f"Cannot reach the {self.kind} target with profile '{self.admin_profile}': {exc}. "
                + ("Start the sandbox with `labkit sandbox start`." if self.is_sandbox
                   else "Check the profile's credentials with `aws sts get-caller-identity --profile "
                        f"{self.admin_profile}`.")
            ) from None

    @property
    def account_id(self) -> str:
        return self.caller["Account"]

    # --- confirmation before anything is created --------------------------------------------------

    def _confirmation_file(self):
        return workspace.home() / "confirmed-account.json"

    @property
    def confirmed(self) -> bool:
        if self.is_sandbox or self._confirmed:
            return True
        try:
            saved = json.loads(self._confirmation_file().read_text())
        except (OSError, ValueError):
            return False
        return saved == {"profile": self.admin_profile, "account": self.account_id}

    def confirm(self, account_id: str) -> str:
        """Confirm, by typing it, the account the lab may create resources in."""
        typed = str(account_id).strip().replace("-", "").replace(" ", "")
        if not (len(typed) == 12 and typed.isdigit()):
            raise LabError(
                f"'{account_id}' is not an AWS account ID: type the 12 digits of the account, e.g. "
                f"`target.confirm(\"{self.account_id}\")` if {self.account_id} is the account you mean. "
                "Nothing was created."
            )
        if typed != self.account_id:
            raise LabError(
                f"'{account_id}' is not the account of profile '{self.admin_profile}' "
                f"(it belongs to {self.account_id}). Nothing was created. Check that this is the "
                "account you mean to use, then confirm with its 12-digit ID."
            )
        workspace.write_private(self._confirmation_file(),
                                json.dumps({"profile": self.admin_profile, "account": typed}))
        self._confirmed = True
        return f"Confirmed: the lab may create its resources in account {typed}."

    def require_confirmed(self) -> None:
        if not self.confirmed:
            raise LabError(
                f"The lab has not been told it may create resources in account {self.account_id} "
                f"(profile '{self.admin_profile}'). Confirm it first: in a notebook run "
                f"`target.confirm(\"{self.account_id}\")`; on the command line add --yes."
            )

    def describe(self) -> str:
        where = f"the local sandbox at {self.endpoint}" if self.is_sandbox else "a real AWS account"
        return f"{where}, account {self.account_id}, as {self.caller['Arn']}"


def connect(kind: str | None = None, profile: str | None = None) -> Target:
    """The target this lab uses: LABKIT_TARGET (default sandbox), started on first use."""
    kind = kind.strip().lower() if kind else workspace.target_kind()
    if kind == SANDBOX:
        from labkit.sandbox import lifecycle

        running = lifecycle.ensure_running()
        os.environ.update(lifecycle.env_exports(running))  # so `!aws ...` cells and terminals agree
        return Target(SANDBOX, SANDBOX_ADMIN_PROFILE, endpoint=running.endpoint)
    if kind == AWS:
        profile = profile or os.environ.get("LABKIT_AWS_PROFILE") or os.environ.get("AWS_PROFILE")
        if not profile:
            raise LabError(
                "LABKIT_TARGET=aws needs a named profile: set LABKIT_AWS_PROFILE to the profile that "
                "administers the account (see the README's 'Real AWS accounts')."
            )
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or workspace.DEFAULT_REGION
        endpoint = os.environ.get("LABKIT_AWS_ENDPOINT_URL")  # only for testing against the sandbox
        return Target(AWS, profile, region=region, endpoint=endpoint)
    raise LabError(f"LABKIT_TARGET='{kind}' is not a target: use 'sandbox' (the default) or 'aws'.")
