"""AWS's errors, exactly: status, code, message and each protocol's envelope.

One table per kind of error, so wording is easy to correct (sources in
../shared/reference/aws-fidelity.md). Rows marked "uncertain" could not be confirmed from a
primary source: they follow the documented form (the Common Errors page, the S3 Error Responses
page) and are kept here so they are easy to correct.

Envelopes follow the service's protocol in botocore's model: `query` (STS, IAM) answers
`<ErrorResponse>`, `ec2` `<Response><Errors>`, `rest-xml` (S3) `<Error>`, `json` and `rest-json`
a JSON body with `__type` / `x-amzn-ErrorType`.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import NamedTuple
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
    extra: tuple[tuple[str, str], ...] = ()  # S3: further elements of <Error>, in order
    envelope: str | None = None  # answer in this service's envelope (the endpoint's), not the scope's

    def __str__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.status} {self.code}: {self.message}"


def _protocol(service: str) -> str:
    from labkit.sandbox import services

    return services.protocol_of(service)


def _pick(table: dict[str, tuple[int, str, str]], service: str) -> tuple[int, str, str]:
    """The row for `service`, else for its protocol, else the query protocol's ('*')."""
    row = table.get(service)
    if row is None:
        row = table.get(_protocol(service), table["*"])
    return row


# --- authentication and expiry (rows 4a-5d): one table, per service or protocol -----------------
# case -> service, protocol or "*" (STS, IAM and the other query-protocol services)
#      -> (status, code, message); an empty message is given by the caller (clock skew)

_EC2_AUTH = (401, "AuthFailure", "AWS was not able to validate the provided access credentials")
_SIGNATURE = ("The request signature we calculated does not match the signature you provided. "
              "Check your AWS Secret Access Key and signing method. Consult the service "
              "documentation for details.")
_INVALID_TOKEN = "The security token included in the request is invalid."
_EXPIRED_TOKEN = "The security token included in the request is expired"
AUTH_ERRORS: dict[str, dict[str, tuple[int, str, str]]] = {
    "invalid_token": {  # rows 5a, 5d: unknown or inactive key, session token that does not match
        "ec2": _EC2_AUTH,
        "s3": (403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."),
        "json": (400, "UnrecognizedClientException", _INVALID_TOKEN),
        "rest-json": (403, "UnrecognizedClientException", _INVALID_TOKEN),
        "*": (403, "InvalidClientTokenId", _INVALID_TOKEN),
    },
    "signature_mismatch": {  # row 5b: wrong secret key, or a body that is not the one signed
        "ec2": _EC2_AUTH,
        "s3": (403, "SignatureDoesNotMatch", "The request signature we calculated does not match the "
               "signature you provided. Check your key and signing method."),
        "json": (400, "InvalidSignatureException", _SIGNATURE),
        "rest-json": (403, "InvalidSignatureException", _SIGNATURE),
        "*": (403, "SignatureDoesNotMatch", _SIGNATURE),
    },
    "missing_authentication": {  # no signature at all
        "ec2": _EC2_AUTH,
        "s3": (403, "AccessDenied", "Access Denied"),
        "json": (400, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        "rest-json": (403, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        "*": (403, "MissingAuthenticationToken", "Request is missing Authentication Token"),
    },
    "clock_skew": {  # row 5c (empty messages come from clock_skew below)
        "ec2": (400, "RequestExpired", "Request has expired."),
        "s3": (403, "RequestTimeTooSkewed", "The difference between the request time and the current "
               "time is too large."),
        "json": (400, "InvalidSignatureException", ""),
        "rest-json": (403, "InvalidSignatureException", ""),
        "*": (403, "SignatureDoesNotMatch", ""),
    },
    "expired_token": {  # rows 4a-4c: temporary credentials used after their Expiration
        "ec2": (400, "RequestExpired", "Request has expired."),
        "s3": (400, "ExpiredToken", "The provided token has expired."),
        "json": (400, "ExpiredTokenException", _EXPIRED_TOKEN),
        "rest-json": (403, "ExpiredTokenException", _EXPIRED_TOKEN),
        "*": (403, "ExpiredToken", _EXPIRED_TOKEN),
    },
    "throttling": {
        "ec2": (503, "RequestLimitExceeded", "Request limit exceeded."),
        "s3": (503, "SlowDown", "Please reduce your request rate."),
        "json": (400, "ThrottlingException", "Rate exceeded"),
        "rest-json": (429, "TooManyRequestsException", "Rate exceeded"),
        "*": (400, "Throttling", "Rate exceeded"),
    },
}


def _auth_error(case: str, service: str, message: str | None = None) -> AwsError:
    status, code, text = _pick(AUTH_ERRORS[case], service)
    return AwsError(status, code, text or message or "")


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


# --- the signature's form, and where it was sent -------------------------------------------------

def query_auth_error(service: str, message: str) -> AwsError:
    """A presigned URL whose X-Amz-* parameters cannot be used (S3's wording; uncertain elsewhere)."""
    if _protocol(service) == "rest-xml":
        return AwsError(400, "AuthorizationQueryParametersError", message)
    return AwsError(400, "IncompleteSignature", message)


QUERY_AUTH_MISSING = ("Query-string authentication version 4 requires the X-Amz-Algorithm, "
                      "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
                      "X-Amz-Expires parameters.")
EXPIRES_NOT_A_NUMBER = "X-Amz-Expires should be a number"
EXPIRES_NEGATIVE = "X-Amz-Expires must be non-negative"
EXPIRES_TOO_LONG = "X-Amz-Expires must be less than a week (in seconds) that is 604800"


def wrong_service(endpoint: str, scoped: str, presigned: bool) -> AwsError:
    """The credential scope names another service than the endpoint the request was sent to."""
    if _protocol(endpoint) == "rest-xml":
        if presigned:
            return AwsError(400, "AuthorizationQueryParametersError",
                            f'Error parsing the X-Amz-Credential parameter; incorrect service "{scoped}". '
                            f'This endpoint belongs to "{endpoint}".', envelope=endpoint)
        return AwsError(400, "AuthorizationHeaderMalformed",
                        f'The authorization header is malformed; incorrect service "{scoped}". '
                        f'This endpoint belongs to "{endpoint}".', envelope=endpoint)
    status, code, _ = _pick(AUTH_ERRORS["signature_mismatch"], endpoint)
    return AwsError(status, code, f"Credential should be scoped to correct service: '{endpoint}'. ",
                    envelope=endpoint)


def unsupported_service(service: str) -> AwsError:
    """The scope names a service this sandbox does not run (the sandbox's own sentence)."""
    return AwsError(400, "InvalidAction",
                    f"The sandbox does not offer the service '{service}' named in the credential "
                    "scope: it serves the services botocore and moto both know by their signing name.")


# --- integrity of the body ------------------------------------------------------------------------

STREAMING = ("STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
             "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
             "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER")


def content_sha256_mismatch(sent: str, computed: str) -> AwsError:
    return AwsError(400, "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    (("ClientComputedContentSHA256", sent), ("S3ComputedContentSHA256", computed)))


def content_sha256_invalid() -> AwsError:
    return AwsError(400, "InvalidArgument",
                    "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, " + ", ".join(STREAMING[:-1])
                    + f" or {STREAMING[-1]} or a valid sha256 value.",
                    (("ArgumentName", "x-amz-content-sha256"),))


def content_sha256_missing() -> AwsError:
    return AwsError(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")


def incomplete_body(service: str) -> AwsError:
    if _protocol(service) == "rest-xml":
        return AwsError(400, "IncompleteBody",
                        "You did not provide the number of bytes specified by the Content-Length HTTP header")
    return AwsError(400, "IncompleteBody", "The request body terminated unexpectedly")  # uncertain


def body_too_large(service: str, limit: int) -> AwsError:
    if _protocol(service) == "rest-xml":
        return AwsError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size",
                        (("MaxSizeAllowed", str(limit)),))
    return AwsError(413, "RequestEntityTooLarge", f"Request body must be at most {limit} bytes")  # uncertain


def request_timeout() -> AwsError:
    return AwsError(400, "RequestTimeout", "Your socket connection to the server was not read from or "
                    "written to within the timeout period. Idle connections will be closed.")


def not_implemented(what: str) -> AwsError:
    """S3's answer to a header or encoding it does not implement; the sandbox names which."""
    return AwsError(501, "NotImplemented",
                    f"A header you provided implies functionality that is not implemented ({what}).")


# --- reading the request: one reading, or a refusal ----------------------------------------------
# The Common Errors page (https://docs.aws.amazon.com/STS/latest/APIReference/CommonErrors.html)
# for query services; S3's Error Responses page for rest-xml; Coral's codes for JSON (uncertain).

def ambiguous(service: str, why: str) -> AwsError:
    """A request that could be read two ways (the sandbox says which way in `why`)."""
    protocol = _protocol(service)
    if protocol == "rest-xml":
        return AwsError(400, "InvalidRequest", f"The request could be read two ways: {why}.")
    if protocol in ("json", "rest-json"):
        return AwsError(400, "SerializationException", f"The request could be read two ways: {why}.")
    return AwsError(400, "InvalidQueryParameter",
                    f"The AWS query string is malformed or does not adhere to AWS standards: {why}.")


def missing_action(service: str) -> AwsError:
    if _protocol(service) == "ec2":
        return AwsError(400, "MissingAction", "The request must contain the parameter Action")
    return AwsError(400, "MissingAction", "The request is missing an action or a required parameter.")


def unknown_operation(service: str, name: str, version: str) -> AwsError:
    protocol = _protocol(service)
    if protocol == "ec2":
        return AwsError(400, "InvalidAction", f"The action {name} is not valid for this web service.")
    if protocol == "query":
        return AwsError(400, "InvalidAction", f"Could not find operation {name} for version {version}")
    if protocol == "rest-xml":
        return AwsError(405, "MethodNotAllowed", "The specified method is not allowed against this resource.")
    return AwsError(400, "UnknownOperationException", "")


def malformed_body(service: str, why: str) -> AwsError:
    protocol = _protocol(service)
    if protocol == "rest-xml":
        return AwsError(400, "MalformedXML", "The XML you provided was not well-formed or did not "
                        "validate against our published schema")
    if protocol in ("json", "rest-json"):
        return AwsError(400, "SerializationException", why)
    return AwsError(400, "MalformedQueryString", f"The query string contains a syntax error: {why}.")


def bad_parameter(service: str, name: str, value: str, kind: str = "a number") -> AwsError:
    """A parameter that cannot be read as its type (`kind`: "a number", "a boolean"...; uncertain)."""
    protocol = _protocol(service)
    member = name.rsplit(".", 1)[-1]
    if protocol == "ec2":
        return AwsError(400, "InvalidParameterValue", f"Value ({value}) for parameter {member} is invalid.")
    if protocol == "rest-xml":
        return AwsError(400, "InvalidArgument", f"Invalid value for {member}: {value}")
    if protocol in ("json", "rest-json"):
        return AwsError(400, "SerializationException", f"Cannot read {member}: {value!r}")
    camel = member[:1].lower() + member[1:]
    return constraint_errors([f"Value '{value}' at '{camel}' failed to satisfy constraint: Member must be {kind}"])


# --- naming the action ------------------------------------------------------------------------

def unnamed_action(service: str, operation: str) -> AwsError:
    """An operation the sandbox cannot name as an IAM action: refused, never allowed."""
    return AwsError(501, "NotImplemented",
                    f"The sandbox cannot name the IAM action AWS checks for {service}:{operation}, so it "
                    "refuses the call rather than allow it unchecked.")


def internal_failure(service: str) -> AwsError:
    protocol = _protocol(service)
    if protocol == "rest-xml":
        return AwsError(500, "InternalError", "We encountered an internal error. Please try again.")
    if protocol == "ec2":
        return AwsError(500, "InternalError", "An internal error has occurred")
    return AwsError(500, "InternalFailure", "The request processing has failed because of an unknown "
                    "error, exception or failure.")


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
    protocol = _protocol(service)
    # "... because no identity-based policy allows ..." / "... with an explicit deny in ..."
    because = "" if not reason else f" {reason}" if reason.startswith(("because ", "with ")) else f" because {reason}"
    if protocol == "rest-xml":  # S3 quotes the resource
        on_resource = f' on resource: "{resource}"' if resource and resource != "*" else ""
    elif protocol in ("json", "rest-json"):  # JSON services name '*' too
        on_resource = f" on resource: {resource}" if resource else ""
    else:
        on_resource = f" on resource: {resource}" if resource and resource != "*" else ""
    core = f"User: {caller_arn} is not authorized to perform: {action}{on_resource}{because}"
    if protocol == "ec2":
        text = f"You are not authorized to perform this operation. {core}"
        if encoded:
            text += f". Encoded authorization failure message: {encoded}"
        return AwsError(403, "UnauthorizedOperation", text)
    if protocol in ("json", "rest-json"):
        return AwsError(403, "AccessDeniedException", core)
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


# --- IAM writes: what IAM says when it refuses a document or a boundary --------------------------
# MalformedPolicyDocument's texts are labkit.iam's (IAM_MESSAGES); the boundary rows are here.

def malformed_policy(message: str) -> AwsError:
    """400 MalformedPolicyDocument with IAM's text (labkit.iam.PolicyError.iam_message)."""
    return AwsError(400, "MalformedPolicyDocument", message)


class ErrorRow(NamedTuple):
    """One error the sandbox answers with, and how sure its wording is.

    ``uncertain`` is True when the message's wording is not in AWS's documentation: it was found
    in real outputs quoted elsewhere (``source`` names them) or inferred from a neighbouring
    operation's. The status and code may still be documented (``source`` says so). Correct a row
    here when AWS's own words turn up; the tests compare against these rows' texts.
    """

    status: int
    code: str
    message: str
    uncertain: bool
    source: str


IAM_WRITE_ERRORS: dict[str, ErrorRow] = {
    "no_such_boundary": ErrorRow(
        404, "NoSuchEntity", "Policy {arn} does not exist or is not attachable.", True,
        "A boundary naming a policy that does not exist. Code and status: the Errors of "
        "API_CreateUser.html, API_PutUserPermissionsBoundary.html, API_PutRolePermissionsBoundary.html. "
        "Text: AttachRolePolicy's, as real outputs quote it (aws/aws-cdk#3379, pulumi/pulumi#7419); "
        "that the boundary operations word it the same way is assumed."),
    "bad_boundary": ErrorRow(
        400, "InvalidInput", "ARN {arn} is not valid.", True,
        "A PermissionsBoundary that is not a policy ARN. Code and status: InvalidInput, 400, in the "
        "same operations' Errors. Text: AttachRolePolicy's for a malformed policy ARN as tools quote "
        "it (hashicorp/terraform-provider-aws#1337); assumed for the boundary operations."),
    "invalid_authentication_code": ErrorRow(
        403, "InvalidAuthenticationCode", "Authentication code for device is not valid.", True,
        "EnableMFADevice with codes that are not two consecutive codes of the device. Code and "
        "status: API_EnableMFADevice.html, Errors. Text: found in no source (a placeholder in IAM's style)."),
}


def iam_write_error(case: str, **values: str) -> AwsError:
    row = IAM_WRITE_ERRORS[case]
    return AwsError(row.status, row.code, row.message.format(**values))


# --- STS sessions: MFA and what temporary credentials may not call ------------------------------
# API_GetSessionToken.html: "An incorrect MFA code causes the API to return an access denied
# error" (AccessDenied is documented; none of the texts below are).
STS_SESSION_ERRORS: dict[str, ErrorRow] = {
    "invalid_code": ErrorRow(
        403, "AccessDenied", "MultiFactorAuthentication failed with invalid MFA one time pass code. ", True,
        "A wrong or already-used TokenCode on AssumeRole / GetSessionToken. Text: real outputs "
        "(lonelyplanet/aws-mfa#21, step-security/wait-for-secrets#216); one tool compares it "
        "exactly, with the trailing space kept here. That a reused code gets the same text is assumed."),
    "unknown_device": ErrorRow(
        403, "AccessDenied",
        "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial "
        "number is valid and associated with this user.", True,
        "A SerialNumber that is not one of the caller's devices. Text: the AWS CLI's output, with its "
        "double space (aws/aws-cli#6325, broamski/aws-mfa#46)."),
    "session_credentials": ErrorRow(
        403, "AccessDenied", "Cannot call {operation} with session credentials", True,
        "GetSessionToken / GetFederationToken called with temporary credentials (real outputs: "
        "bustle/aws-sudo#6, re:Post). id_credentials_temp_request.html documents that "
        "GetSessionToken's credentials cannot call STS except AssumeRole and GetCallerIdentity; the "
        "same sentence with the other operations' names is assumed."),
    "iam_without_mfa": ErrorRow(
        403, "InvalidClientTokenId", "The security token included in the request is invalid", True,
        "GetSessionToken's credentials without MFA calling IAM (id_credentials_temp_request.html "
        "documents the limit, not the error). Text and envelope: a raw IAM response in "
        "aws/aws-cli#8918; also 99designs/aws-vault#15 and #1056. No final full stop."),
    "transitive_conflict": ErrorRow(
        400, "InvalidParameterValue",
        "One of the specified transitive tag keys can't be set because it conflicts with a transitive "
        "tag key from the calling session.", True,
        "id_session-tags.html, 'Chaining roles with session tags': the call 'will fail'. Code and "
        "text: LocalStack's."),
    "transitive_not_tagged": ErrorRow(
        400, "InvalidParameterValue", "The specified transitive tag key must be included in the requested tags.",
        True, "A TransitiveTagKeys entry that is not one of the call's Tags. Code and text: LocalStack's."),
}


def sts_session_error(case: str, **values: str) -> AwsError:
    row = STS_SESSION_ERRORS[case]
    return AwsError(row.status, row.code, row.message.format(**values))


def mfa_error(case: str) -> AwsError:
    return sts_session_error(case)


# --- envelopes ----------------------------------------------------------------------------------

def render(error: AwsError, service: str) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, headers and body in the envelope of `service`'s protocol (or `error.envelope`'s)."""
    service = error.envelope or service
    protocol = _protocol(service)
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id), ("x-amz-request-id", request_id)]
    if protocol in ("json", "rest-json"):
        if protocol == "json":
            payload = {"__type": error.code, "message": error.message}
            content_type = "application/x-amz-json-1.1"
        else:
            payload = {"Type": "Service" if error.status >= 500 else "User", "message": error.message}
            content_type = "application/json"
        body = json.dumps(payload).encode()
        headers += [("Content-Type", content_type), ("x-amzn-ErrorType", error.code)]
        return error.status, headers, body
    code, message = escape(error.code), escape(error.message)
    if protocol == "ec2":
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error>"
            f"</Errors><RequestID>{request_id}</RequestID></Response>"
        )
    elif protocol == "rest-xml":
        extra = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in error.extra)
        text = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message>{extra}"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        )
    else:
        ns = NAMESPACES.get(service, "")
        xmlns = f' xmlns="{ns}"' if ns else ""
        kind = "Receiver" if error.status >= 500 else "Sender"
        text = (
            f"<ErrorResponse{xmlns}><Error><Type>{kind}</Type><Code>{code}</Code>"
            f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        )
    headers.append(("Content-Type", "text/xml"))
    return error.status, headers, text.encode()
