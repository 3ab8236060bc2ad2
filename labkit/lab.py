"""The lab's steps, each safe to re-run: it finds what exists before it creates anything.

    lab = Lab(connect())
    lab.setup(max_session_duration=3600)          # user + key (profile default), role, policies
    session = lab.assume_role(duration=900)       # AssumeRole as the user
    lab.probe_ec2(session.credentials)            # EC2 DescribeInstances with any credentials
    lab.cleanup()                                  # everything the lab made, by tag and name

Every resource carries the lab's tag (labkit=sts-labkit) and the lab's name prefix; the role keeps
the walk-through's name `sts_role` in the sandbox, so its commands work as typed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import unquote

from botocore.exceptions import ClientError

from labkit import policies, workspace
from labkit.credentials import TemporaryCredentials
from labkit.errors import LabError
from labkit.outcomes import Outcome, attempt
from labkit.target import Target

TAG = {"Key": "labkit", "Value": "sts-labkit"}
PREFIX = "labkit-"
MIN_DURATION, MAX_DURATION = 900, 43200
IAM_WAIT = 45.0  # seconds to wait for IAM to propagate after the lab changed it (AWS: seconds)


@dataclass(frozen=True)
class Names:
    user: str = "labkit-sts-user"
    role: str = "sts_role"
    user_policy: str = "labkit-assume-role"
    role_policy: str = "labkit-ec2-read"
    profile: str = "default"
    session: str = "sts-session"

    @classmethod
    def for_target(cls, target: Target, **overrides: str) -> Names:
        names = cls(**overrides)
        if not target.is_sandbox and not names.role.startswith(PREFIX):
            names = cls(**{**names.__dict__, "role": PREFIX + names.role})
        return names


@dataclass
class Step:
    """What one setup step did: created, updated or found."""

    what: str
    name: str
    action: str

    def __str__(self) -> str:
        return f"{self.action:>8}  {self.what} {self.name}"


@dataclass
class Session:
    """An assumed-role session: the response's fields, with the secrets masked when shown."""

    credentials: TemporaryCredentials
    arn: str
    assumed_role_id: str
    duration: int
    issued_at: datetime

    @property
    def expiration(self) -> datetime:
        assert self.credentials.expiration is not None
        return self.credentials.expiration

    def fields(self) -> dict:
        masked = self.credentials.masked()
        return {
            "AssumedRoleUser": {"AssumedRoleId": self.assumed_role_id, "Arn": self.arn},
            "Credentials": {
                "AccessKeyId": masked["access_key_id"],
                "SecretAccessKey": masked["secret_access_key"],
                "SessionToken": masked["session_token"],
                "Expiration": masked["expiration"],
            },
        }

    def __str__(self) -> str:
        return json.dumps(self.fields(), indent=4)

    __repr__ = __str__


@dataclass
class Lab:
    target: Target
    names: Names = field(default=None)  # type: ignore[assignment]
    progress: Callable[[str], None] = print
    _changed_at: float = 0.0

    def __post_init__(self) -> None:
        if self.names is None:
            self.names = Names.for_target(self.target)

    # --- names and ARNs ------------------------------------------------------------------------------

    @property
    def account_id(self) -> str:
        return self.target.account_id

    @property
    def user_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:user/{self.names.user}"

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/{self.names.role}"

    @property
    def iam(self):
        return self.target.client("iam")

    def _changed(self) -> None:
        self._changed_at = time.monotonic()

    # --- setup -----------------------------------------------------------------------------------------

    def setup(self, max_session_duration: int = 3600) -> list[Step]:
        """The walk-through's situation: user and key, role with trust and EC2 read, user policy."""
        self.target.require_confirmed()
        steps = [self.ensure_user(), self.ensure_access_key()]
        steps.append(self.ensure_role(max_session_duration))
        steps.append(self.ensure_role_policy())
        steps.append(self.ensure_user_policy())
        return steps

    def _owned(self, tags: list[dict], what: str, name: str) -> None:
        if TAG not in [{"Key": t["Key"], "Value": t["Value"]} for t in tags]:
            raise LabError(
                f"An IAM {what} named '{name}' already exists and was not made by this lab, so the lab "
                f"will not change it. Choose another name (e.g. --{what}-name) or remove it yourself."
            )

    def ensure_user(self) -> Step:
        self.target.require_confirmed()
        try:
            self.iam.get_user(UserName=self.names.user)
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchEntity":
                raise
            self.iam.create_user(UserName=self.names.user, Tags=[TAG])
            self._changed()
            return Step("IAM user", self.names.user, "created")
        self._owned(self.iam.list_user_tags(UserName=self.names.user)["Tags"], "user", self.names.user)
        return Step("IAM user", self.names.user, "found")

    def ensure_access_key(self) -> Step:
        """The user's access key, kept as profile `default` in the lab-local credentials file."""
        self.target.require_confirmed()
        keys = self.iam.list_access_keys(UserName=self.names.user)["AccessKeyMetadata"]
        saved = workspace.read_credentials_profile(self.names.profile)
        saved_id = saved.get("aws_access_key_id") if saved else None
        if saved_id and any(k["AccessKeyId"] == saved_id for k in keys):
            return Step("access key", f"profile {self.names.profile}", "found")
        for key in keys:  # keys whose secret the lab no longer has are of no use: replace them
            self.iam.delete_access_key(UserName=self.names.user, AccessKeyId=key["AccessKeyId"])
        key = self.iam.create_access_key(UserName=self.names.user)["AccessKey"]
        workspace.write_credentials_profile(self.names.profile, key["AccessKeyId"], key["SecretAccessKey"])
        settings = {"region": self.target.region, "output": "json"}
        if self.target.endpoint:
            settings["endpoint_url"] = self.target.endpoint
        workspace.write_config_profile(self.names.profile, settings)
        self._changed()
        return Step("access key", f"profile {self.names.profile}", "created")

    def ensure_role(self, max_session_duration: int = 3600, trust: dict | None = None) -> Step:
        self.target.require_confirmed()
        check_max_session_duration(max_session_duration)
        trust_doc = trust or policies.trust_policy(self.user_arn)
        try:
            role = self.iam.get_role(RoleName=self.names.role)["Role"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchEntity":
                raise
            self.iam.create_role(RoleName=self.names.role, AssumeRolePolicyDocument=json.dumps(trust_doc),
                                 MaxSessionDuration=max_session_duration, Tags=[TAG],
                                 Description="sts-labkit: the role the lab's user assumes")
            self._changed()
            return Step("IAM role", self.names.role, "created")
        self._owned(self.iam.list_role_tags(RoleName=self.names.role)["Tags"], "role", self.names.role)
        action = "found"
        current = role["AssumeRolePolicyDocument"]
        if isinstance(current, str):
            current = json.loads(unquote(current))
        if current != trust_doc:
            self.iam.update_assume_role_policy(RoleName=self.names.role, PolicyDocument=json.dumps(trust_doc))
            action = "updated"
        if role.get("MaxSessionDuration") != max_session_duration:
            self.iam.update_role(RoleName=self.names.role, MaxSessionDuration=max_session_duration)
            action = "updated"
        if action == "updated":
            self._changed()
        return Step("IAM role", self.names.role, action)

    def set_trust_policy(self, trust: dict) -> Step:
        """Replace the role's trust relationship (the lesson on wrong principals uses this)."""
        self.target.require_confirmed()
        self.iam.update_assume_role_policy(RoleName=self.names.role, PolicyDocument=json.dumps(trust))
        self._changed()
        return Step("trust policy", self.names.role, "updated")

    def ensure_role_policy(self) -> Step:
        self.target.require_confirmed()
        self.iam.put_role_policy(RoleName=self.names.role, PolicyName=self.names.role_policy,
                                 PolicyDocument=json.dumps(policies.ec2_read_policy()))
        self._changed()
        return Step("role policy", self.names.role_policy, "put")

    def ensure_user_policy(self) -> Step:
        self.target.require_confirmed()
        self.iam.put_user_policy(UserName=self.names.user, PolicyName=self.names.user_policy,
                                 PolicyDocument=json.dumps(policies.assume_role_policy(self.role_arn)))
        self._changed()
        return Step("user policy", self.names.user_policy, "put")

    def max_session_duration(self) -> int:
        try:
            return int(self.iam.get_role(RoleName=self.names.role)["Role"]["MaxSessionDuration"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchEntity":
                raise LabError(f"The role '{self.names.role}' does not exist yet: run the setup step first.") from None
            raise

    # --- the user's own credentials -----------------------------------------------------------------

    def user_credentials(self) -> TemporaryCredentials:
        """The IAM user's long-term key (profile default), for calls made as the user."""
        saved = workspace.read_credentials_profile(self.names.profile)
        if not saved:
            raise LabError(f"There is no profile '{self.names.profile}' in the lab's credentials file: "
                           "run the setup step first (lab.setup() or `labkit setup`).")
        return TemporaryCredentials(saved["aws_access_key_id"], saved["aws_secret_access_key"])

    def client(self, service: str, credentials: TemporaryCredentials | None = None):
        credentials = credentials or self.user_credentials()
        session = self.target.session_for(credentials.access_key_id, credentials.secret_access_key,
                                          credentials.session_token)
        return self.target.client(service, session)

    # --- AssumeRole ------------------------------------------------------------------------------------

    def assume_role(self, duration: int = MIN_DURATION, session_name: str | None = None,
                    role_arn: str | None = None, credentials: TemporaryCredentials | None = None) -> Session:
        """AssumeRole as the user (or `credentials`); waits for IAM right after the lab changed it."""
        check_duration(duration)
        session_name = session_name or self.names.session
        check_session_name(session_name)
        sts = self.client("sts", credentials)
        role_arn = role_arn or self.role_arn
        deadline = time.monotonic() + IAM_WAIT
        delay, attempt_no = 1.0, 1
        while True:
            try:
                issued = datetime.now(UTC)
                resp = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=duration)
                break
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
                recent = time.monotonic() - self._changed_at < IAM_WAIT
                if code not in ("AccessDenied", "InvalidClientTokenId") or not recent or time.monotonic() + delay > deadline:
                    raise
                self.progress(f"Waiting for IAM to catch up with the lab's changes (attempt {attempt_no} "
                              f"refused with {code}; retrying in {delay:.0f} s)...")
                time.sleep(delay)
                delay, attempt_no = min(delay * 2, 8.0), attempt_no + 1
        creds = TemporaryCredentials.from_assume_role_response(resp)
        user = resp["AssumedRoleUser"]
        return Session(creds, user["Arn"], user["AssumedRoleId"], duration, issued)

    def try_assume_role(self, duration: int = MIN_DURATION, session_name: str | None = None,
                        **kwargs) -> Outcome:
        """AssumeRole, with AWS's refusal returned as an Outcome instead of raised."""
        return attempt("AssumeRole", lambda: self.assume_role(duration, session_name, **kwargs))

    # --- EC2 probe -------------------------------------------------------------------------------------

    def probe_ec2(self, credentials: TemporaryCredentials | None = None) -> Outcome:
        """DescribeInstances with these credentials (default: the IAM user's own key)."""
        ec2 = self.client("ec2", credentials)

        def call() -> list[dict]:
            reservations = ec2.describe_instances()["Reservations"]
            return [
                {"InstanceId": i["InstanceId"], "State": i["State"]["Name"], "Type": i["InstanceType"],
                 "Name": next((t["Value"] for t in i.get("Tags", []) if t["Key"] == "Name"), "")}
                for r in reservations for i in r["Instances"]
            ]

        return attempt("DescribeInstances", call)

    def whoami(self, credentials: TemporaryCredentials | None = None) -> str:
        return self.client("sts", credentials).get_caller_identity()["Arn"]

    # --- cleanup ---------------------------------------------------------------------------------------

    def cleanup(self, dry_run: bool = False) -> list[Step]:
        from labkit.cleanup import cleanup

        return cleanup(self.target, self.names, dry_run=dry_run)


def check_duration(duration: int, maximum: int = MAX_DURATION) -> None:
    if not isinstance(duration, int) or isinstance(duration, bool):
        raise LabError(f"The duration must be a whole number of seconds, not {duration!r}.")
    if duration < MIN_DURATION:
        raise LabError(f"{duration} s is too short: AssumeRole needs at least {MIN_DURATION} seconds (15 minutes).")
    if duration > MAX_DURATION:
        raise LabError(f"{duration} s is too long: no role allows more than {MAX_DURATION} seconds (12 hours).")


def check_max_session_duration(seconds: int) -> None:
    if not isinstance(seconds, int) or not 3600 <= seconds <= 43200:
        raise LabError(f"MaxSessionDuration {seconds!r} is out of range: a role's maximum session is "
                       "from 3600 s (1 hour) to 43200 s (12 hours).")


def check_session_name(name: str) -> None:
    import re

    if not 2 <= len(name) <= 64 or not re.fullmatch(r"[\w+=,.@-]+", name):
        raise LabError(f"'{name}' is not a valid session name: use 2 to 64 letters, digits or the "
                       "characters + = , . @ - _ (no spaces).")
