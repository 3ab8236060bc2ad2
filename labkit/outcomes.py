"""The result of one AWS call as a learner sees it: it worked, or AWS's own error, explained."""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from labkit.errors import LabError

# What each error code means for a learner of this lab. AWS's own code and message are always
# shown as received; this is only the plain-words line underneath. Each fact, with its AWS page:
# docs/sources.md ("Errors").
EXPLANATIONS = {
    "UnauthorizedOperation": "EC2 refused: no policy of the caller allows this action, or a Deny (in "
    "a policy, a permissions boundary or an organization's SCP) blocks it. The message says which.",
    "AccessDenied": "Refused: a policy check failed. If the message ends in \"because no "
    "identity-based policy allows ...\", the caller's own policy is missing; \"with an explicit deny "
    "in ...\" means a Deny statement of that kind of policy refused it; if it stops after the role "
    "ARN (as AWS sends it today), the role's trust policy does not accept the caller (or the role "
    "does not exist).",
    "RequestExpired": "EC2 refused the request as expired: either the temporary credentials are past "
    "their Expiration (assume the role again), or the request's time is more than 15 minutes away "
    "from AWS's clock (check your computer's clock).",
    "ExpiredToken": "The session token is past its Expiration: assume the role again.",
    "ValidationError": "AWS refused the input itself: change the value the message names.",
    "InvalidClientTokenId": "AWS does not know these credentials (deleted, inactive or mistyped, or a "
    "temporary key sent without its session token).",
    "AuthFailure": "EC2 could not validate these credentials (unknown, inactive, a wrong secret, or a "
    "temporary key sent without its session token).",
    "SignatureDoesNotMatch": "The secret key does not match the access key, or the clock is off.",
    "Throttling": "Too many requests at once: the lab retries by itself.",
    "NoSuchEntity": "That IAM user, role or policy does not exist.",
    "EntityAlreadyExists": "Something with that name exists already: use it, or choose another name.",
    "DeleteConflict": "IAM removes nothing that still has parts attached: remove its access keys "
    "and policies first, then the user or role itself.",
    "LimitExceeded": "An IAM quota was reached (an IAM user may have at most 2 access keys): delete "
    "one you no longer use.",
    "MalformedPolicyDocument": "IAM could not read the policy document: fix the element the message "
    "names.",
}


@dataclass
class Outcome:
    operation: str
    ok: bool
    value: Any = None
    code: str | None = None
    message: str | None = None
    status: int | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    by_lab: bool = False  # refused by the lab's own check of the input, before anything was sent

    @property
    def explanation(self) -> str | None:
        return EXPLANATIONS.get(self.code or "")

    def summary(self) -> str:
        if self.ok:
            return f"{self.operation}: allowed"
        if self.by_lab:
            return f"{self.operation}: not sent (the lab's check of the input)"
        return f"{self.operation}: refused with {self.code}"

    def __str__(self) -> str:
        if self.ok:
            return self.summary()
        if self.by_lab:
            return f"{self.summary()}\n  {self.message}"
        lines = [f"{self.operation}: refused", f"  An error occurred ({self.code}) when calling the "
                 f"{self.operation} operation: {self.message}"]
        if self.explanation:
            lines.append(f"  -> {self.explanation}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        if self.ok:
            return f"<b style='color:#1a7f37'>✔ {html.escape(self.operation)}: allowed</b>"
        if self.by_lab:
            return (f"<b style='color:#cf222e'>✘ {html.escape(self.summary())}</b><br>"
                    f"{html.escape(self.message or '')}")
        parts = [f"<b style='color:#cf222e'>✘ {html.escape(self.operation)}: refused with "
                 f"<code>{html.escape(self.code or '')}</code></b>",
                 f"<pre style='white-space:pre-wrap'>{html.escape(self.message or '')}</pre>"]
        if self.explanation:
            parts.append(f"<i>{html.escape(self.explanation)}</i>")
        return "<br>".join(parts)


def refusal(operation: str, exc: ClientError) -> Outcome:
    """AWS's refusal of one call, exactly as AWS sent it."""
    error = exc.response.get("Error", {})
    return Outcome(operation, False, code=error.get("Code"), message=error.get("Message"),
                   status=exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def attempt(operation: str, call: Callable[[], Any], checks: bool = False) -> Outcome:
    """Run one AWS call; an AWS error becomes a refused Outcome, exactly as AWS sent it.

    With `checks`, a refusal before sending (the lab's LabError, boto3's parameter validation)
    is an Outcome too (`by_lab`), so that every refusal is handled the same way."""
    try:
        return Outcome(operation, True, call())
    except ClientError as exc:
        return refusal(operation, exc)
    except ParamValidationError as exc:
        report = str(exc.kwargs.get("report", exc)).strip()
        if checks:
            return Outcome(operation, False, code="ParamValidationError", by_lab=True,
                           message=f"boto3 did not send it: {report}")
        raise LabError(f"boto3 refused to send {operation}: {report}") from None
    except LabError as exc:
        if not checks:
            raise
        return Outcome(operation, False, code="LabError", message=str(exc), by_lab=True)
