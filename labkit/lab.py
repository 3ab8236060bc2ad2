"""The lab's steps, each safe to re-run: it finds what exists before it creates anything.

    lab = Lab(connect())
    lab.setup(max_session_duration=3600)          # user + key (profile default), role, policies
    session = lab.assume_role(duration=900)       # AssumeRole as the user
    lab.probe_ec2(session.credentials)            # EC2 DescribeInstances with any credentials
    lab.cleanup()                                  # everything the lab made, by tag and name

Every resource carries the lab's tag (labkit=sts-labkit) and the lab's name prefix; the role keeps
the walk-through's name `sts_role` in the sandbox, so its commands work as typed. In a real
account both names start with `labkit-`, and LABKIT_NAME_SUFFIX (e.g. a learner's login) makes
them unique when a whole room shares one account.

Right after the lab changes IAM, AWS may refuse for a few seconds what the change allows (IAM is
eventually consistent). The steps that use the new user, key, role or policies then wait, with a
bounded backoff and a progress line, and say clearly what is still wrong if IAM keeps refusing.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import unquote

from botocore.exceptions import ClientError

from labkit import policies, workspace
from labkit.cleanup import cleanup, leftovers
from labkit.credentials import TemporaryCredentials, mask
from labkit.errors import LabError
from labkit.names import (  # noqa: F401  (re-exported: `from labkit.lab import Names` keeps working)
    LEARNER_TAG,
    MAX_NAME,
    PREFIX,
    SUFFIX_VARIABLE,
    TAG,
    Names,
    Step,
    check_learner,
    error_code,
    pages,
)
from labkit.outcomes import Outcome, attempt
from labkit.target import IAM_WAIT, MAX_BACKOFF, SANDBOX_MARGIN, Target  # noqa: F401

MIN_DURATION, MAX_DURATION = 900, 43200

T = TypeVar("T")


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

    @classmethod
    def from_response(cls, response: dict, duration: int, issued_at: datetime | None = None) -> Session:
        """From the response of `sts.assume_role(...)` with DurationSeconds=`duration`."""
        creds = TemporaryCredentials.from_assume_role_response(response)
        user = response.get("AssumedRoleUser") or {}
        return cls(creds, user.get("Arn", ""), user.get("AssumedRoleId", ""), duration,
                   issued_at or datetime.now(UTC))

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
    iam_wait: float | None = None  # None: IAM_WAIT on AWS; the sandbox's --iam-delay + margin there
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if self.names is None:
            self.names = Names.for_target(self.target)
        if self.target.explain_refusal is None:  # the target's sessions explain AssumeRole refusals
            self.target.explain_refusal = self._assume_problem

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

    # --- remembering when the lab last changed IAM (also across processes: `labkit setup`, then
    # a notebook) --------------------------------------------------------------------------------------

    def _changed(self) -> None:
        self._changed_at = self.now()
        self.target.note_iam_change(self._changed_at)

    def last_change(self) -> float:
        """When (time.time) the lab last changed IAM in this account, here or in another process."""
        return max(self._changed_at, self.target.last_iam_change(self.now()))

    def wait_budget(self) -> float:
        """How long after a change the lab keeps retrying what IAM refuses."""
        if self.iam_wait is not None:
            return float(self.iam_wait)
        return self.target.wait_budget()

    def _patiently(self, what: str, call: Callable[[], T], retry: Callable[[ClientError], bool],
                   diagnose: Callable[[], str | None] | None = None, hint: str = "") -> T:
        """Run `call`; if IAM refuses it soon after the lab changed IAM, retry with a bounded
        backoff (1, 2, 4, 8, 8 ... s) until IAM_WAIT after the change, saying so each time. A
        refusal that a look at the policies explains is raised at once, with that explanation."""
        try:
            return call()
        except ClientError as exc:
            if not retry(exc):
                raise
            refusal = exc
        budget = self.wait_budget()
        deadline = self.last_change() + budget
        if self.now() >= deadline:
            raise refusal
        problem = diagnose() if diagnose else None
        if problem:
            self._explain(refusal, f"{what} is refused because {problem}")
            raise refusal
        started, delay = self.now(), 1.0
        while True:
            code = error_code(refusal)
            remaining = deadline - self.now()
            waited = self.now() - started
            if remaining <= 0:
                self._explain(refusal, f"IAM still refuses {what} after {waited:.0f} s ({code}): "
                              + (hint or "check the policies the lab set up")
                              + "; if they are right, IAM may need longer: run this step again in a minute.")
                raise refusal
            pause = min(delay, remaining)
            self.progress(f"Waiting for IAM to apply the lab's recent changes: {what} was refused ({code}); "
                          f"trying again in {pause:.0f} s ({waited:.0f} s waited so far, at most {budget:.0f} s).")
            self.sleep(pause)
            delay = min(delay * 2, MAX_BACKOFF)
            try:
                result = call()
            except ClientError as exc:
                if not retry(exc):
                    raise
                refusal = exc
                continue
            self.progress(f"IAM has caught up: {what} accepted after {self.now() - started:.0f} s.")
            return result

    def _explain(self, error: ClientError, sentence: str) -> None:
        self.progress(sentence)
        error.add_note(sentence)

    # --- setup -----------------------------------------------------------------------------------------

    def setup(self, max_session_duration: int = 3600) -> list[Step]:
        """The walk-through's situation: user and key, role with trust and EC2 read, user policy."""
        self.target.require_confirmed()
        check_max_session_duration(max_session_duration)
        steps = [self.ensure_user(), self.ensure_access_key()]
        steps.append(self.ensure_role(max_session_duration))
        steps.append(self.ensure_role_policy())
        steps.append(self.ensure_user_policy())
        return steps

    def _owned(self, tags: list[dict], what: str, name: str) -> None:
        if TAG not in [{"Key": t["Key"], "Value": t["Value"]} for t in tags]:
            way_out = ("reset the sandbox with `labkit sandbox reset`" if self.target.is_sandbox
                       else f"set {SUFFIX_VARIABLE} (e.g. to your initials) so the lab uses other names")
            raise LabError(
                f"An IAM {what} named '{name}' already exists and was not made by this lab (it lacks the "
                f"tag {TAG['Key']}={TAG['Value']}), so the lab will neither change nor remove it. "
                f"Remove or rename it yourself, or {way_out}."
            )

    def ensure_user(self) -> Step:
        self.target.require_confirmed()
        try:
            self.iam.get_user(UserName=self.names.user)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            self.iam.create_user(UserName=self.names.user, Tags=self.names.tags)
            self._changed()
            return Step("IAM user", self.names.user, "created")
        self._owned(_tags(self.iam, "list_user_tags", UserName=self.names.user), "user", self.names.user)
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

    def keep_user_key(self, key: dict) -> list[Step]:
        """Keep the key `iam.create_access_key(...)` just returned as the user's profile (`default`
        in the lab's credentials file, mode 0600), and delete the user's other keys, which the lab
        can no longer use (IAM allows 2 keys per user, so re-running the create stays possible)."""
        self.target.require_confirmed()
        if not isinstance(key, dict) or not {"AccessKeyId", "SecretAccessKey"} <= set(key):
            raise LabError("keep_user_key() takes the 'AccessKey' of the create_access_key response: "
                           "iam.create_access_key(UserName=USER)[\"AccessKey\"].")
        if key.get("UserName", self.names.user) != self.names.user:
            raise LabError(f"That key belongs to {key['UserName']}, not to the lab's user {self.names.user}.")
        workspace.write_credentials_profile(self.names.profile, key["AccessKeyId"], key["SecretAccessKey"])
        settings = {"region": self.target.region, "output": "json"}
        if self.target.endpoint:
            settings["endpoint_url"] = self.target.endpoint
        workspace.write_config_profile(self.names.profile, settings)
        steps = [Step("access key", mask(key["AccessKeyId"]), "kept", f"profile {self.names.profile} in "
                      f"{workspace.credentials_file().name} (mode 0600)")]
        for old in self.iam.list_access_keys(UserName=self.names.user)["AccessKeyMetadata"]:
            if old["AccessKeyId"] != key["AccessKeyId"]:
                try:
                    self.iam.delete_access_key(UserName=self.names.user, AccessKeyId=old["AccessKeyId"])
                except ClientError as exc:
                    if error_code(exc) != "NoSuchEntity":
                        raise
                steps.append(Step("access key", mask(old["AccessKeyId"]), "deleted", "an older key of the user"))
        self._changed()
        return steps

    def _new_principal(self, exc: ClientError) -> bool:
        """AWS refuses a trust policy naming a user it created a moment ago ('Invalid principal')."""
        return error_code(exc) == "MalformedPolicyDocument" and "principal" in _message(exc).lower()

    def ensure_role(self, max_session_duration: int = 3600, trust: dict | None = None) -> Step:
        self.target.require_confirmed()
        check_max_session_duration(max_session_duration)
        trust_doc = trust or policies.trust_policy(self.user_arn)
        try:
            role = self.iam.get_role(RoleName=self.names.role)["Role"]
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            self._patiently(
                "CreateRole", lambda: self.iam.create_role(
                    RoleName=self.names.role, AssumeRolePolicyDocument=json.dumps(trust_doc),
                    MaxSessionDuration=max_session_duration, Tags=self.names.tags,
                    Description="sts-labkit: the role the lab's user assumes"),
                self._new_principal, hint=f"check that the user {self.user_arn} exists")
            self._changed()
            return Step("IAM role", self.names.role, "created")
        self._owned(_tags(self.iam, "list_role_tags", RoleName=self.names.role), "role", self.names.role)
        action = "found"
        if _document(role["AssumeRolePolicyDocument"]) != trust_doc:
            self._put_trust(trust_doc)
            action = "updated"
        if role.get("MaxSessionDuration") != max_session_duration:
            self.iam.update_role(RoleName=self.names.role, MaxSessionDuration=max_session_duration)
            action = "updated"
        if action == "updated":
            self._changed()
        return Step("IAM role", self.names.role, action)

    def _put_trust(self, trust: dict) -> None:
        self._patiently(
            "UpdateAssumeRolePolicy",
            lambda: self.iam.update_assume_role_policy(RoleName=self.names.role, PolicyDocument=json.dumps(trust)),
            self._new_principal, hint="check that every principal the trust policy names exists")

    def set_trust_policy(self, trust: dict) -> Step:
        """Replace the role's trust relationship (the lesson on wrong principals uses this)."""
        self.target.require_confirmed()
        self._put_trust(trust)
        self._changed()
        return Step("trust policy", self.names.role, "updated")

    def _ensure_inline(self, what: str, get, put, name: str, document: dict, **owner: str) -> Step:
        try:
            current = _document(get(PolicyName=name, **owner)["PolicyDocument"])
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            current = None
        if current == document:
            return Step(what, name, "found")
        put(PolicyName=name, PolicyDocument=json.dumps(document), **owner)
        self._changed()
        return Step(what, name, "created" if current is None else "updated")

    def ensure_role_policy(self) -> Step:
        self.target.require_confirmed()
        return self._ensure_inline("role policy", self.iam.get_role_policy, self.iam.put_role_policy,
                                   self.names.role_policy, policies.ec2_read_policy(), RoleName=self.names.role)

    def ensure_user_policy(self) -> Step:
        self.target.require_confirmed()
        return self._ensure_inline("user policy", self.iam.get_user_policy, self.iam.put_user_policy,
                                   self.names.user_policy, policies.assume_role_policy(self.role_arn),
                                   UserName=self.names.user)

    def remove_user_policy(self) -> Step:
        """Take the user's sts:AssumeRole policy away (`aws iam delete-user-policy`); setup puts
        it back. The next assume_role() waits for IAM, as after any change the lab makes."""
        self.target.require_confirmed()
        try:
            self.iam.delete_user_policy(UserName=self.names.user, PolicyName=self.names.user_policy)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            return Step("user policy", self.names.user_policy, "absent")
        self._changed()
        return Step("user policy", self.names.user_policy, "removed")

    def max_session_duration(self) -> int:
        try:
            return int(self.iam.get_role(RoleName=self.names.role)["Role"]["MaxSessionDuration"])
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
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
        saved = workspace.read_credentials_profile(self.names.profile) or {}
        as_user = credentials is None or credentials.access_key_id == saved.get("aws_access_key_id")
        caller = self.user_arn if as_user else "the caller"
        issued = datetime.now(UTC)

        def call() -> dict:
            nonlocal issued
            issued = datetime.now(UTC)
            return sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name, DurationSeconds=duration)

        resp = self._patiently(
            "AssumeRole", call, lambda exc: error_code(exc) in ("AccessDenied", "InvalidClientTokenId"),
            diagnose=(lambda: self._assume_problem(role_arn)) if as_user else None,
            hint=f"check that the trust policy of {role_arn} names {caller} and that {caller}'s "
                 f"policy allows sts:AssumeRole on {role_arn}")
        return Session.from_response(resp, duration, issued)

    def _assume_problem(self, role_arn: str) -> str | None:
        """Why the lab user cannot assume `role_arn`, read from the policies; None if they look right."""
        from labkit.iam import (
            Caller,
            Decision,
            PolicyError,
            Request,
            evaluate,
            evaluate_resource_policy,
            names_principal_exactly,
        )

        if role_arn.split(":")[4:5] != [self.account_id]:
            return None  # another account's role: its policies are not ours to read
        role_name = role_arn.rsplit("/", 1)[-1]
        request = Request("sts:AssumeRole", role_arn)
        caller = Caller(self.user_arn, self.account_id)
        try:
            try:
                trust = _document(self.iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"])
            except ClientError as exc:
                if error_code(exc) == "NoSuchEntity":
                    return f"the role {role_arn} does not exist: run the setup step (lab.setup() or `labkit setup`)"
                raise
            if evaluate_resource_policy(trust, caller, request).decision is not Decision.ALLOW:
                named = [s.get("Principal") for s in trust.get("Statement", []) if s.get("Effect") == "Allow"]
                return (f"the trust policy of role {role_name} does not accept {self.user_arn} (its Principal is "
                        f"{json.dumps(named[0] if len(named) == 1 else named)}): name the user there")
            if names_principal_exactly(trust, caller, request):
                return None  # same account, user named in the trust policy: no identity policy needed
            iam, user = self.iam, self.names.user
            if (pages(iam, "list_attached_user_policies", "AttachedPolicies", UserName=user)
                    or pages(iam, "list_groups_for_user", "Groups", UserName=user)):
                return None  # managed policies or groups may allow it: cannot tell from here
            inline = [(n, _document(iam.get_user_policy(UserName=user, PolicyName=n)["PolicyDocument"]))
                      for n in pages(iam, "list_user_policies", "PolicyNames", UserName=user)]
            if evaluate(inline, request).decision is not Decision.ALLOW:
                return (f"no policy of user {user} allows sts:AssumeRole on {role_arn}: give it one "
                        "(iam.put_user_policy, as in notebook 02; or lab.ensure_user_policy())")
        except (ClientError, PolicyError, KeyError, TypeError):
            return None
        return None

    def try_assume_role(self, duration: int = MIN_DURATION, session_name: str | None = None,
                        **kwargs) -> Outcome:
        """AssumeRole; every refusal comes back as an Outcome instead of raised: AWS's (AccessDenied,
        ValidationError, ...) and the lab's own check of the input (a duration of 60 s)."""
        return attempt("AssumeRole", lambda: self.assume_role(duration, session_name, **kwargs), checks=True)

    # --- EC2 probe -------------------------------------------------------------------------------------

    def probe_ec2(self, credentials: TemporaryCredentials | None = None) -> Outcome:
        """DescribeInstances with these credentials (default: the IAM user's own key).

        Right after the lab changed IAM, a refusal that propagation explains is retried: an unknown
        key (AuthFailure) always; UnauthorizedOperation only for a role session (the user's own key
        is meant to be refused)."""
        ec2 = self.client("ec2", credentials)
        session = credentials is not None and bool(credentials.session_token)
        codes = ("AuthFailure", "UnauthorizedOperation") if session else ("AuthFailure",)

        def call() -> list[dict]:
            reservations = self._patiently(
                "DescribeInstances", ec2.describe_instances, lambda exc: error_code(exc) in codes,
                hint="check that the role's policy allows ec2:DescribeInstances")["Reservations"]
            return [
                {"InstanceId": i["InstanceId"], "State": i["State"]["Name"], "Type": i["InstanceType"],
                 "Name": next((t["Value"] for t in i.get("Tags", []) if t["Key"] == "Name"), "")}
                for r in reservations for i in r["Instances"]
            ]

        return attempt("DescribeInstances", call)

    def whoami(self, credentials: TemporaryCredentials | None = None) -> str:
        sts = self.client("sts", credentials)
        return self._patiently("GetCallerIdentity", sts.get_caller_identity,
                               lambda exc: error_code(exc) == "InvalidClientTokenId",
                               hint="check that the access key is active")["Arn"]

    # --- cleanup ---------------------------------------------------------------------------------------

    def cleanup(self, dry_run: bool = False, everyone: bool = False) -> list[Step]:
        """Everything the lab made (this learner's; with `everyone`, every learner's)."""
        return cleanup(self.target, self.names, dry_run=dry_run, everyone=everyone)

    def leftovers(self) -> list[str]:
        return leftovers(self.target, self.names)


def _message(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Message", "")


def _document(value: Any) -> Any:
    """A policy document as IAM returns it (boto3 decodes it; some endpoints send it URL-encoded)."""
    return json.loads(unquote(value)) if isinstance(value, str) else value


def _tags(iam, operation: str, **kwargs) -> list[dict]:
    return pages(iam, operation, "Tags", **kwargs)


def check_duration(duration: int) -> None:
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


SESSION_NAME_CHARS = re.compile(r"[\w+=,.@-]")


def session_name_problem(name: str) -> str | None:
    """Why AWS would refuse `name` as RoleSessionName (2-64 of [\\w+=,.@-]), or None if it is fine."""
    if not name:
        return "Type a session name: 2 to 64 letters, digits or + = , . @ - _ (for example sts-session)."
    if len(name) < 2:
        return f"'{name}' is too short: a session name has at least 2 characters."
    if len(name) > 64:
        return f"The name is {len(name)} characters long: a session name has at most 64."
    bad = sorted({ch for ch in name if not SESSION_NAME_CHARS.fullmatch(ch)})
    if bad:
        shown = ", ".join("space" if ch == " " else repr(ch) for ch in bad)
        return f"Not allowed in a session name: {shown}. Use letters, digits and + = , . @ - _ only."
    return None


def check_session_name(name: str) -> None:
    problem = session_name_problem(name)
    if problem:
        raise LabError(problem)
