"""What the lesson notebooks use around their boto3 calls: showing, re-running safely, short errors.

The lesson's AWS calls are written out in the notebooks (`iam.create_role(...)`,
`sts.assume_role(...)`); this module keeps what is not the lesson:

    with created("IAM user", USER):              # a re-run says "already there" instead of failing
        iam.create_user(UserName=USER, Tags=TAGS)
    show_response(response)                       # an AssumeRole response, secrets masked
    until(lambda: attempt(...), ok=False)         # IAM changes take a moment to arrive on AWS

and, in a Jupyter kernel, a short display for the errors a learner meets (a refusal from AWS, a
parameter boto3 would not send, a lab check, a stopped sandbox): AWS's code and message and one
line of explanation, instead of a traceback (`install_short_errors`, called by `connect()`).

Everything here prints plain text (nbval compares it) and never prints a secret in full.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
)

from labkit import policies
from labkit.credentials import format_expiration, mask
from labkit.errors import LabError
from labkit.outcomes import EXPLANATIONS, Outcome
from labkit.target import IAM_WAIT

SHORT_ERRORS = (LabError, ClientError, ParamValidationError, EndpointConnectionError, NoCredentialsError)
_RED, _BOLD, _RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"


def show(items: Iterable[Any]) -> None:
    """One line per item (setup or cleanup steps, limits, ...); says so when there is none."""
    lines = [str(item) for item in items]
    print("\n".join(lines) if lines else "(nothing)")


def policy_table(document: dict) -> str:
    """Each field of a policy document, its value and what it means, as a text table."""
    rows = [("Field", "Value", "Meaning")] + policies.explain(document)
    width = [max(len(r[i]) for r in rows) for i in (0, 1)]
    return "\n".join(f"{f:<{width[0]}}  {v:<{width[1]}}  {m}".rstrip() for f, v, m in rows)


def show_policy(document: dict) -> None:
    """The document as JSON (as you would paste it into the console), then the field table."""
    print(policies.to_json(document))
    print()
    print(policy_table(document))


def show_error(call: Callable[[], Any]) -> None:
    """Run `call` and print how it was refused: the lab's own check (LabError) or AWS's answer."""
    try:
        call()
    except LabError as exc:
        print(f"LabError: {exc}")
        return
    except ClientError as exc:
        error = exc.response.get("Error", {})
        print(Outcome(exc.operation_name, False, code=error.get("Code"), message=error.get("Message")))
        return
    print("No error: the call was accepted.")


# --- re-running a cell that creates or removes something ----------------------------------------


@contextmanager
def created(what: str, name: str) -> Iterator[None]:
    """Around a create call: "created", or, when IAM answers EntityAlreadyExists (the cell ran
    before), "already there" in one line instead of an error. Any other error goes on as it is."""
    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "EntityAlreadyExists":
            raise
        print(f"already there  {what} {name} (IAM answered EntityAlreadyExists: it was created before)")
        return
    print(f"created  {what} {name}")


@contextmanager
def removed(what: str, name: str) -> Iterator[None]:
    """Around a delete call: "removed", or "already gone" when IAM answers NoSuchEntity."""
    try:
        yield
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
            raise
        print(f"already gone  {what} {name} (IAM answered NoSuchEntity)")
        return
    print(f"removed  {what} {name}")


# --- showing an AssumeRole response ----------------------------------------------------------------


def masked_response(response: Mapping[str, Any]) -> dict:
    """An AssumeRole response as `aws sts assume-role` prints it, with the three secrets masked."""
    if not isinstance(response, Mapping) or "Credentials" not in response:
        raise LabError("Expected the response of sts.assume_role(...): a dict with 'Credentials'.")
    creds = response["Credentials"]
    shown: dict[str, Any] = {}
    if "AssumedRoleUser" in response:
        shown["AssumedRoleUser"] = dict(response["AssumedRoleUser"])
    expiration = creds.get("Expiration")
    shown["Credentials"] = {
        "AccessKeyId": mask(creds.get("AccessKeyId", "")),
        "SecretAccessKey": mask(creds.get("SecretAccessKey", "")),
        "SessionToken": mask(creds.get("SessionToken", "")),
        "Expiration": format_expiration(expiration) if isinstance(expiration, datetime) else expiration,
    }
    return shown


def show_response(response: Mapping[str, Any]) -> None:
    """Print an AssumeRole response as JSON, the secrets masked (`****************ABCD`)."""
    print(json.dumps(masked_response(response), indent=4))


# --- lessons that change IAM and expect a refusal -------------------------------------------------


def until(call: Callable[[], Outcome], ok: bool, timeout: float = IAM_WAIT, delay: float = 2.0) -> Outcome:
    """Repeat `call` until its outcome is allowed (ok=True) or refused (ok=False), or `timeout`.

    IAM changes reach STS after a few seconds on AWS, so a change the lesson just made may not
    show yet; the sandbox applies them at once, so there the first call decides. The last
    outcome is returned as it is, whatever it is.
    """
    deadline = time.monotonic() + timeout
    outcome = call()
    while outcome.ok != ok and time.monotonic() + delay < deadline:
        time.sleep(delay)
        outcome = call()
    return outcome


def refused_by(outcome: Outcome) -> str:
    """Which of AssumeRole's two checks refused it, read from AWS's own message."""
    if outcome.ok:
        return "Neither check refused it: the call was allowed."
    message = outcome.message or ""
    if outcome.code != "AccessDenied":
        return f"Not a permission check: {outcome.code} is about the request itself."
    if "identity-based policy" in message:
        return ("The IDENTITY check refused it: the caller's own (identity-based) policy does not allow "
                "sts:AssumeRole on this role. Fix the user's policy.")
    if "resource-based policy" in message:
        return "The TRUST check refused it: the role's trust policy explicitly denies the caller."
    return ("The TRUST check refused it (the message stops after the role ARN): the role's trust "
            "policy does not name the caller, or the role does not exist. Fix the trust policy.")


def lab_files() -> str:
    """`AWS_CONFIG_FILE=... AWS_SHARED_CREDENTIALS_FILE=...` for `!aws` lines: the lab's own files,
    where its profiles live (the sandbox's kernel already uses them; a real account's would not)."""
    from labkit import workspace

    return f"AWS_CONFIG_FILE={workspace.config_file()} AWS_SHARED_CREDENTIALS_FILE={workspace.credentials_file()}"


# --- the sandbox's clock at the start of a story ---------------------------------------------------


def real_clock(target) -> str:
    """Start a story on real time: the sandbox clock, if an earlier lesson moved it forward, is put
    back (as `labkit sandbox clock reset` does). Returns and prints one line saying which."""
    if not target.is_sandbox:
        line = "Clock: AWS's own (real time)."
    else:
        from labkit.durations import describe_duration
        from labkit.sandbox import lifecycle

        offset = int(float(lifecycle.clock().get("offset", 0)))
        if offset > 0:
            lifecycle.reset_clock()
            line = (f"The sandbox clock was {describe_duration(offset)} ahead of real time (moved forward "
                    "in an earlier lesson); it is back on real time now (`labkit sandbox clock reset`).")
        else:
            line = "Sandbox clock: real time."
    print(line)
    return line


# --- short errors in a notebook ----------------------------------------------------------------------


def _sandbox_line(exc: BaseException) -> str | None:
    """A sentence about the sandbox when it explains `exc`: stopped, or restarted since."""
    from labkit import workspace

    if workspace.target_kind() != workspace.SANDBOX:
        return None
    from labkit.target import sandbox_problem

    failed = isinstance(exc, EndpointConnectionError)
    try:
        return sandbox_problem(connection_failed=failed, endpoint=exc.kwargs.get("endpoint_url") if failed else None)
    except LabError as problem:  # the lab workspace itself is unusable: that is the thing to say
        return str(problem)


def short_error(exc: BaseException) -> list[str]:
    """The one to three lines a learner sees for `exc` (no traceback, never a full secret)."""
    if isinstance(exc, LabError):
        return [str(exc)]
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        lines = [f"{code}: {message}" if message else code,
                 f"(AWS refused {exc.operation_name}; this is its own error code and message.)"]
        explanation = explain(code, message)
        if explanation:
            lines[1] = f"-> {explanation}"
        if code in ("InvalidClientTokenId", "AuthFailure", "SignatureDoesNotMatch"):
            sandbox = _sandbox_line(exc)
            if sandbox:
                lines.append(f"-> {sandbox}")
        return lines
    if isinstance(exc, ParamValidationError):
        report = str(exc.kwargs.get("report", exc)).strip()
        return [f"boto3 did not send the request: {report}",
                "-> boto3 checks every parameter against the API's model before sending: change the "
                "value it names."]
    if isinstance(exc, EndpointConnectionError):
        sandbox = _sandbox_line(exc)
        return [f"Could not connect to {exc.kwargs.get('endpoint_url', 'the endpoint')}.",
                f"-> {sandbox}" if sandbox else "-> Check the network, the region and any AWS_ENDPOINT_URL."]
    if isinstance(exc, NoCredentialsError):
        return ["boto3 found no credentials for this client.",
                "-> Make the client from a session the lab hands out (target.admin_session(), "
                "target.user_session(), target.session_from(response))."]
    return [f"{type(exc).__name__}: {exc}"]


def explain(code: str, message: str = "") -> str | None:
    """One line of what an AWS error code means here (AWS's own text is shown as it came)."""
    if code == "MalformedPolicyDocument" and "principal" in message.lower():
        return ("IAM does not know a principal the policy names: check the ARN; a user or role made "
                "seconds ago can take a moment to be known (run the cell again).")
    return EXPLANATIONS.get(code)


def _short_traceback(shell, etype, value, tb, tb_offset=None) -> list[str]:
    lines = short_error(value)
    stb = [f"{_RED}{_BOLD}{lines[0]}{_RESET}"] + lines[1:]
    shell._showtraceback(etype, value, stb)
    return stb


def install_short_errors() -> bool:
    """In an IPython kernel, show SHORT_ERRORS as short_error() lines instead of a traceback.
    (The cell still fails, as it should: nbval and "Run All" stop there.) False outside IPython."""
    ipython = _ipython()
    if ipython is None:
        return False
    if getattr(ipython, "_labkit_short_errors", False):
        return True
    ipython.set_custom_exc(SHORT_ERRORS, _short_traceback)
    ipython._labkit_short_errors = True
    return True


def _ipython():
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython

    return get_ipython()
