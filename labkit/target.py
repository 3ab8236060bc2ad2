"""Where the lab runs: the local sandbox (default) or a real AWS account (explicit opt-in).

`connect()` reads LABKIT_TARGET (`sandbox` or `aws`) and, for `aws`, LABKIT_AWS_PROFILE (the
named profile that administers the account). Nothing is created in a real account until the
learner has confirmed its account ID (`Target.confirm`).

It hands out plain boto3 sessions, so that a notebook makes the lesson's AWS calls itself:

    iam = target.admin_session().client("iam")        # the administrator who builds the lab
    sts = target.user_session().client("sts")         # the lab's IAM user (its key, profile default)
    ec2 = target.session_from(credentials).client("ec2")   # a role session's temporary keys

What is not the lesson stays out of sight: IAM writes made with the admin session are noted, and
for a short while after one (IAM is eventually consistent), the user's and the sessions' clients
retry a refusal that IAM's propagation explains, saying so in one line each time.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound

from labkit import workspace
from labkit.errors import LabError

SANDBOX, AWS = workspace.SANDBOX, workspace.AWS
SANDBOX_ADMIN_PROFILE = "labkit-admin"
RETRIES = Config(retries={"mode": "standard", "max_attempts": 6})
IAM_WAIT = 45.0  # seconds to wait for IAM to propagate after the lab changed it (AWS: seconds)
SANDBOX_MARGIN = 3.0  # on top of the sandbox's simulated --iam-delay
MAX_BACKOFF = 8.0  # longest pause between two attempts while waiting for IAM
IAM_WRITES = ("Create", "Put", "Attach", "Update", "Add", "Delete", "Detach", "Remove", "Tag")
USER_PROFILE = "default"  # the lab user's key in the lab's credentials file (Names.profile)
_CHANGES_FILE = "iam-changes.json"


@dataclass
class Target:
    kind: str
    admin_profile: str
    region: str = workspace.DEFAULT_REGION
    endpoint: str | None = None
    _confirmed: bool = field(default=False, repr=False)
    _clients: dict = field(default_factory=dict, repr=False)  # the admin's clients, made once
    # Why AWS refused AssumeRole on this role ARN, read from the policies (set by labkit.lab.Lab):
    # a refusal the policies explain is not waited for.
    explain_refusal: Callable[[str], str | None] | None = field(default=None, repr=False)
    progress: Callable[[str], None] = field(default=print, repr=False)

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

    # --- sessions for notebooks: the lesson's calls are made with these -----------------------------

    def admin_session(self) -> boto3.Session:
        """A boto3 session as the administrator (the lab's admin profile); IAM writes are noted."""
        session = boto3.Session(profile_name=self.admin_profile, region_name=self.region)
        session.events.register("after-call.iam", self._note_write)
        return self._patient(session)

    def user_session(self, profile: str = USER_PROFILE) -> boto3.Session:
        """A boto3 session as the lab's IAM user, with its long-term key (profile `default` in the
        lab's credentials file), patient with IAM right after the lab changed it."""
        from labkit import workspace as ws

        saved = ws.read_credentials_profile(profile)
        if not saved:
            raise LabError(f"There is no profile '{profile}' in the lab's credentials file, so the lab has "
                           "no key for its IAM user: create one in notebook 02 (or run `labkit setup`).")
        return self._patient(self.session_for(saved["aws_access_key_id"], saved["aws_secret_access_key"]))

    def session_from(self, credentials: Any) -> boto3.Session:
        """A boto3 session from temporary credentials: an AssumeRole response, its `Credentials`,
        or a TemporaryCredentials."""
        from labkit.credentials import TemporaryCredentials

        if isinstance(credentials, Mapping):
            credentials = TemporaryCredentials.from_assume_role_response(
                credentials if "Credentials" in credentials else {"Credentials": credentials})
        if not isinstance(credentials, TemporaryCredentials):
            raise LabError("session_from() takes the response of sts.assume_role(...), its "
                           f"'Credentials', or TemporaryCredentials; not {type(credentials).__name__}.")
        return self._patient(self.session_for(credentials.access_key_id, credentials.secret_access_key,
                                              credentials.session_token), temporary=bool(credentials.session_token))

    # --- IAM is eventually consistent: note the lab's changes, wait a little after them ------------

    def _changes_key(self) -> str:
        return f"{self.kind} {self.endpoint or ''} {self.account_id}"

    def note_iam_change(self, at: float | None = None) -> None:
        """Remember (in the lab workspace, for every process) that IAM was just changed here."""
        from labkit import workspace as ws

        path = ws.home() / _CHANGES_FILE
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            saved = {}
        if not isinstance(saved, dict):
            saved = {}
        saved[self._changes_key()] = time.time() if at is None else at
        ws.write_private(path, json.dumps(saved))
        if self.is_sandbox:
            _remember_sandbox()

    def last_iam_change(self, now: float | None = None) -> float:
        """When (time.time) IAM was last changed here by the lab, in any process; 0 if never."""
        from labkit import workspace as ws

        try:
            saved = float(json.loads((ws.home() / _CHANGES_FILE).read_text()).get(self._changes_key(), 0))
        except (OSError, ValueError, TypeError, AttributeError):
            return 0.0
        return 0.0 if saved > (time.time() if now is None else now) else saved  # a clock ahead of ours

    def wait_budget(self) -> float:
        """How long after a change refusals are retried: the sandbox's simulated delay, or IAM_WAIT."""
        if not self.is_sandbox:
            return IAM_WAIT
        from labkit.sandbox import lifecycle

        try:
            delay = float((lifecycle.status() or {}).get("faults", {}).get("iam_delay", 0.0))
        except (LabError, TypeError, ValueError):
            return 0.0
        return delay + SANDBOX_MARGIN if delay else 0.0

    def _note_write(self, parsed=None, model=None, **_kwargs) -> None:
        if model is not None and model.name.startswith(IAM_WRITES) and not (parsed or {}).get("Error"):
            self.note_iam_change()

    def _patient(self, session: boto3.Session, temporary: bool = False) -> boto3.Session:
        session.events.register("needs-retry", functools.partial(self._retry_while_iam_catches_up,
                                                                 temporary=temporary))
        return session

    def _retry_while_iam_catches_up(self, response=None, operation=None, attempts: int = 1,
                                    request_dict=None, temporary: bool = False, **_kwargs) -> float | None:
        """botocore's needs-retry hook: seconds to wait before trying again, or None. `temporary`:
        the session's keys are a role session's (an EC2 refusal may then be IAM catching up)."""
        if response is None or operation is None:
            return None
        error = (response[1] or {}).get("Error", {})
        code = error.get("Code", "")
        # a trust policy naming a user created seconds ago, not yet known to IAM everywhere
        new_principal = (code == "MalformedPolicyDocument" and "principal" in error.get("Message", "").lower()
                         and operation.name in ("CreateRole", "UpdateAssumeRolePolicy"))
        retryable = {"InvalidClientTokenId", "AuthFailure"}
        if operation.name == "AssumeRole" and not temporary:  # the lab user's own call
            retryable.add("AccessDenied")
        if temporary:
            retryable.add("UnauthorizedOperation")
        if code not in retryable and not new_principal:
            return None
        now = time.time()
        remaining = self.last_iam_change(now) + self.wait_budget() - now
        if remaining <= 0:
            return None
        if operation.name == "AssumeRole" and code == "AccessDenied" and self.explain_refusal:
            body = (request_dict or {}).get("body")
            role_arn = body.get("RoleArn") if isinstance(body, Mapping) else None
            problem = self.explain_refusal(role_arn) if role_arn else None
            if problem:
                self.progress(f"AssumeRole is refused because {problem}.")
                return None
        pause = min(2.0 ** (attempts - 1), MAX_BACKOFF, remaining)
        self.progress(f"Waiting for IAM to apply the lab's recent changes: {operation.name} was refused "
                      f"({code}); trying again in {pause:.0f} s (at most {remaining:.0f} s more).")
        return pause

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


# --- the sandbox the lab last built in: stopped or restarted since? (read from its state file) ------

_BUILT_FILE = "sandbox-built.json"


def _remember_sandbox() -> None:
    from labkit.sandbox import lifecycle

    running = lifecycle.current()
    if running is not None:
        workspace.write_private(workspace.home() / _BUILT_FILE, json.dumps({"started": running.started}))


def _built_in() -> str | None:
    try:
        return json.loads((workspace.home() / _BUILT_FILE).read_text()).get("started")
    except (OSError, ValueError, AttributeError):
        return None


NOTEBOOK_SETUP = ("In a notebook, running its first cell starts the sandbox if needed; notebooks 03-06 "
                  "then set up again by themselves (catch_up), or run notebook 02.")


def sandbox_problem(connection_failed: bool = False, endpoint: str | None = None) -> str | None:
    """Why the sandbox may explain a failure, in the sandbox's own words (labkit.sandbox.lifecycle,
    which reads its state file): stopped, answering elsewhere, or restarted since the lab made its
    user, key and role there (a new sandbox has new accounts). None when none of these applies."""
    from labkit.sandbox import lifecycle

    running = lifecycle.current()
    if running is None or connection_failed:
        return f"{lifecycle.diagnose(endpoint or os.environ.get('AWS_ENDPOINT_URL'))} {NOTEBOOK_SETUP}"
    built = _built_in()
    if built is not None and lifecycle.restarted_since(built):
        return (f"The sandbox was restarted (at {running.started}): its accounts were reset, so the "
                "user, key and role the lab made are gone. Set up again: run notebook 02, or "
                "`catch_up(\"03\")` here (notebooks 03-06 do it in their first cell), or `labkit setup` "
                "in a terminal.")
    return None


def connect(kind: str | None = None, profile: str | None = None) -> Target:
    """The target this lab uses: LABKIT_TARGET (default sandbox), started on first use.

    In a notebook it also switches on short error messages (labkit.notebook), and says so when
    the sandbox was restarted since the lab built its user and role there."""
    if "IPython" in sys.modules:  # a notebook: AWS's errors in two lines, not a traceback
        from labkit.notebook import install_short_errors

        install_short_errors()
    kind = kind.strip().lower() if kind else workspace.target_kind()
    if kind == SANDBOX:
        from labkit.sandbox import lifecycle

        running = lifecycle.ensure_running()
        os.environ.update(lifecycle.env_exports(running))  # so `!aws ...` cells and terminals agree
        notice = sandbox_problem()
        if notice:
            print(notice)
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
