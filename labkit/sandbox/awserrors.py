"""AWS's errors, exactly: status, code, message and each service's envelope.

One table, so wording is easy to correct (sources in ../shared/reference/aws-fidelity.md).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from xml.sax.saxutils import escape

NAMESPACES = {
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
}


@dataclass(frozen=True)
class AwsError(Exception):
    """An error the sandbox answers with instead of passing the request to moto."""

    status: int
    code: str
    message: str

    def __str__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.status} {self.code}: {self.message}"


# --- authentication and expiry (rows 4a-5d): one table, per service ----------------------------
# case -> service ("*" = STS, IAM and the other query-protocol services) -> (status, code, message)

_EC2_AUTH = (401, "AuthFailure", "AWS was not able to validate the provided access credentials")
_SIGNATURE = ("The request signature we calculated does not match the signature you provided. "
              "Check your AWS Secret Access Key and signing method. Consult the service "
              "documentation for details.")
AUTH_ERRORS: dict[str, dict[str, tuple[int, str, str]]] = {
    "invalid_token": {  # rows 5a, 5d: unknown or inactive key, session token that does not match
        "ec2": _EC2_AUTH,
        "s3": (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
        "*": (403, "InvalidClientTokenId", "The security token included in the request is invalid."),
    },
    "signature_mismatch": {  # row 5b: wrong secret key
        "ec2": _EC2_AUTH,
        "s3": (403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
               "signature you provided. Check your key and signing method."),
        "*": (403, "SignatureDoesNotMatch", _SIGNATURE),
    },
    "missing_authentication": {  # no signature at all
        "ec2": _EC2_AUTH,
        "s3": (403, "AccessDenied", "Access Denied"),
        "*": (403, "MissingAuthenticationToken", "Request is missing Authentication Token"),
    },
    "clock_skew": {  # row 5c ("*" gets its message from clock_skew below)
        "ec2": (400, "RequestExpired", "Request has expired."),
        "s3": (403, "RequestTimeTooSkewed", "The difference between the request time and the current "
               "time is too large."),
        "*": (403, "SignatureDoesNotMatch", ""),
    },
    "expired_token": {  # rows 4a-4c: temporary credentials used after their Expiration
        "ec2": (400, "RequestExpired", "Request has expired."),
        "s3": (400, "ExpiredToken", "The provided token has expired."),
        "*": (403, "ExpiredToken", "The security token included in the request is expired"),
    },
    "throttling": {
        "ec2": (503, "RequestLimitExceeded", "Request limit exceeded."),
        "*": (400, "Throttling", "Rate exceeded"),
    },
}


def _auth_error(case: str, service: str, message: str | None = None) -> AwsError:
    table = AUTH_ERRORS[case]
    status, code, text = table.get(service, table["*"])
    return AwsError(status, code, message if message is not None and service not in table else text)


def invalid_token(service: str) -> AwsError:
    return _auth_error("invalid_token", service)


def signature_mismatch(service: str) -> AwsError:
    return _auth_error("signature_mismatch", service)


def missing_authentication(service: str) -> AwsError:
    return _auth_error("missing_authentication", service)


def expired_token(service: str) -> AwsError:
    return _auth_error("expired_token", service)


def throttling(service: str) -> AwsError:
    return _auth_error("throttling", service)


def clock_skew(service: str, signed: str, server: str, bound: str, too_old: bool) -> AwsError:
    """Row 5c: a request signed more than 15 minutes away from the server's clock."""
    if too_old:
        text = f"Signature expired: {signed} is now earlier than {bound} ({server} - 15 min.)"
    else:
        text = f"Signature not yet current: {signed} is still later than {bound} ({server} + 15 min.)"
    return _auth_error("clock_skew", service, text)


# --- authorization (rows 1, 2a-2c) -------------------------------------------------------------

def access_denied(
    service: str,
    caller_arn: str,
    action: str,
    resource: str | None,
    reason: str | None,
    encoded: str | None = None,
) -> AwsError:
    """Identity-policy denial. `reason` is AWS's clause, e.g. 'because no identity-based policy allows
    the X action' or 'with an explicit deny in a session policy' (no "because" then)."""
    on_resource = f" on resource: {resource}" if resource and resource != "*" else ""
    because = "" if not reason else f" {reason}" if reason.startswith(("because ", "with ")) else f" because {reason}"
    core = f"User: {caller_arn} is not authorized to perform: {action}{on_resource}{because}"
    if service == "ec2":
        text = f"You are not authorized to perform this operation. {core}"
        if encoded:
            text += f". Encoded authorization failure message: {encoded}"
        return AwsError(403, "UnauthorizedOperation", text)
    if service == "s3":
        return AwsError(403, "AccessDenied", f"{core}")
    return AwsError(403, "AccessDenied", core)


def no_identity_policy_allows(action: str) -> str:
    return f"no identity-based policy allows the {action} action"


def explicit_deny_in(kind: str = "identity-based") -> str:
    return f"with an explicit deny in an {kind} policy"


def no_session_policy_allows(action: str) -> str:
    return f"no session policy allows the {action} action"


# --- validation (rows 3a-3d) --------------------------------------------------------------------

def validation(message: str) -> AwsError:
    return AwsError(400, "ValidationError", message)


def constraint_errors(problems: list[str]) -> AwsError:
    """AWS's 'N validation error(s) detected: ...' form."""
    n = len(problems)
    noun = "validation error" if n == 1 else "validation errors"
    return validation(f"{n} {noun} detected: " + "; ".join(problems))


# --- envelopes ----------------------------------------------------------------------------------

def render(error: AwsError, service: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body in the envelope `service` uses."""
    request_id = str(uuid.uuid4())
    code, message = escape(error.code), escape(error.message)
    if service == "ec2":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        )
    elif service == "s3":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        )
    else:
        ns = NAMESPACES.get(service, "")
        xmlns = f' xmlns="{ns}"' if ns else ""
        kind = "Receiver" if error.status >= 500 else "Sender"
        body = (
            f"<ErrorResponse{xmlns}><Error><Type>{kind}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    headers = [
        ("Content-Type", "text/xml"),
        ("x-amzn-RequestId", request_id),
        ("x-amz-request-id", request_id),
    ]
    return error.status, headers, body.encode()
