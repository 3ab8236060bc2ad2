"""The gatekeeper: a WSGI layer in front of moto that lets through only what AWS would accept.

authenticate (SigV4, key status, clock skew, session expiry) -> authorize (IAM evaluation,
trust policies, session policies) -> STS rules -> moto. Every refusal is AWS's own error.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any

from labkit.credentials import mask
from labkit.sandbox import assume_role, awserrors, sigv4
from labkit.sandbox.actions import Call, read_call, resource_for, tagging_actions
from labkit.sandbox.authmessages import AuthorizationMessages
from labkit.sandbox.authorization import authorize
from labkit.sandbox.awserrors import AwsError
from labkit.sandbox.clock import SandboxClock
from labkit.sandbox.faults import Faults
from labkit.sandbox.principals import (
    Identity,
    SessionInfo,
    SessionRegistry,
    assumed_session,
    aware,
    find,
)

log = logging.getLogger("labkit.sandbox")

SKEW = timedelta(minutes=15)
NO_AUTHORIZATION = {"sts:GetCallerIdentity"}  # AWS answers these for any valid credentials
WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


class Gatekeeper:
    def __init__(
        self,
        app: WSGIApp,
        clock: SandboxClock,
        sessions: SessionRegistry,
        faults: Faults,
        control: WSGIApp | None = None,
    ) -> None:
        self.app = app
        self.clock = clock
        self.sessions = sessions
        self.faults = faults
        self.control = control
        self.messages = AuthorizationMessages()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_labkit/") and self.control is not None:
            return self.control(environ, start_response)
        body = _read_body(environ)
        service = "sts"
        try:
            if path.startswith("/moto-api"):
                raise awserrors.missing_authentication("sts")
            signed = self._signed(environ)
            service = signed.service
            identity = self._authenticate(environ, body, signed)
            environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)  # the account comes from the credentials only
            self.faults.maybe_throttle(service)
            call = read_call(environ, body, service)
            duration = self._authorize(environ, call, identity, signed)
        except AwsError as error:
            log.info("%s %s -> %s %s", service, path, error.status, error.code)
            status, headers, payload = awserrors.render(error, service)
            start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
            return [payload]
        self.faults.note_write(call)
        if log.isEnabledFor(logging.DEBUG):  # the hot path: no formatting when nobody reads it
            log.debug("%s %s by %s (%s) -> moto", service, call.action, identity.arn, mask(identity.access_key_id))
        if call.action == "sts:AssumeRole":
            return self._assume_role(environ, start_response, call, duration)
        if call.action == "sts:DecodeAuthorizationMessage":  # moto has no such call; the data is ours
            try:
                body = self.messages.decode(call.params.get("EncodedMessage", ""))
            except AwsError as error:
                status, headers, payload = awserrors.render(error, service)
                start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
                return [payload]
            start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)

    # --- authenticate ---------------------------------------------------------------------------

    def _signed(self, environ: dict) -> sigv4.SignedRequest:
        try:
            return sigv4.parse(environ)
        except sigv4.Unsigned:
            raise awserrors.missing_authentication(_guess_service(environ)) from None
        except sigv4.Malformed:
            raise awserrors.AwsError(
                400, "IncompleteSignature", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."
            ) from None

    def _authenticate(self, environ: dict, body: bytes, signed: sigv4.SignedRequest) -> Identity:
        service = signed.service
        identity = find(signed.access_key_id, self.sessions)
        if identity is None:
            raise awserrors.invalid_token(service)
        if identity.is_session != bool(signed.security_token) or (
            identity.is_session and signed.security_token != identity.session_token
        ):
            raise awserrors.invalid_token(service)
        self._check_skew(signed)
        if not sigv4.verify(environ, body, signed, identity.secret_access_key):
            raise awserrors.signature_mismatch(service)
        if identity.status != "Active":
            raise awserrors.invalid_token(service)
        if identity.expiration is not None and self.clock.now() >= identity.expiration:
            raise awserrors.expired_token(service)
        return identity

    def _check_skew(self, signed: sigv4.SignedRequest) -> None:
        """Row 5c. Clients sign with their real clock, so compare with real time."""
        try:
            signed_at = signed.signed_at
        except ValueError:
            raise awserrors.AwsError(400, "IncompleteSignature", "Date must be in ISO-8601 'basic format'.") from None
        now = self.clock.real_now().replace(microsecond=0)
        if signed.presigned:
            if now > signed_at + timedelta(seconds=signed.expires or 0):
                raise awserrors.AwsError(403, "AccessDenied", "Request has expired")
            return
        fmt = sigv4.SIGV4_TIMESTAMP
        if signed_at < now - SKEW:
            raise awserrors.clock_skew(
                signed.service, signed.amz_date, now.strftime(fmt), (now - SKEW).strftime(fmt), True
            )
        if signed_at > now + SKEW:
            raise awserrors.clock_skew(
                signed.service, signed.amz_date, now.strftime(fmt), (now + SKEW).strftime(fmt), False
            )

    # --- authorize ------------------------------------------------------------------------------

    def context(self, environ: dict, identity: Identity, signed: sigv4.SignedRequest) -> dict[str, Any]:
        now = self.clock.now()
        ctx: dict[str, Any] = {
            "aws:CurrentTime": now,
            "aws:EpochTime": int(now.timestamp()),
            "aws:SecureTransport": False,
            "aws:SourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
            "aws:RequestedRegion": signed.region,
            "aws:PrincipalArn": identity.principal_arn,
            "aws:PrincipalAccount": identity.account,
            "aws:PrincipalType": "AssumedRole" if identity.is_session else "User",
            "aws:userid": identity.user_id,
            "aws:ViaAWSService": False,
        }
        if identity.user_name:
            ctx["aws:username"] = identity.user_name
        session = identity.session
        if identity.is_session and session is not None:
            ctx["aws:TokenIssueTime"] = session.issued_at
            ctx["aws:MultiFactorAuthPresent"] = session.mfa_authenticated_at is not None
            if session.mfa_authenticated_at is not None:
                ctx["aws:MultiFactorAuthAge"] = int((now - session.mfa_authenticated_at).total_seconds())
            if session.source_identity:
                ctx["aws:SourceIdentity"] = session.source_identity
        return ctx

    def _authorize(self, environ: dict, call: Call, identity: Identity, signed: sigv4.SignedRequest) -> int | None:
        if call.action in NO_AUTHORIZATION:
            return None
        context = self.context(environ, identity, signed)
        if call.action == "sts:AssumeRole":
            return self._authorize_assume_role(call, identity, context)
        if call.service == "iam":
            _check_iam_input(call)
        resource = resource_for(call, identity, signed.region, environ)
        for action in [call.action, *tagging_actions(call)]:
            verdict = authorize(identity, action, resource, context, call.params)
            if not verdict.allowed:
                encoded = None
                if call.service == "ec2" and not re.match(r"(Describe|Get|List)", call.operation):
                    encoded = self.messages.encode(action=action, principal_arn=identity.arn,
                                                   principal_id=identity.user_id, resource=resource,
                                                   explicit_deny=verdict.explicit_deny)
                raise awserrors.access_denied(call.service, identity.arn, action, resource, verdict.reason, encoded)
        return None

    def _authorize_assume_role(self, call: Call, identity: Identity, context: dict[str, Any]) -> int:
        p = call.params
        mfa = assume_role.mfa_verified(identity, p, self.clock.now())
        if identity.is_session and context.get("aws:MultiFactorAuthPresent"):
            mfa = True  # a session that was itself opened with MFA carries it on
        if mfa:
            context["aws:MultiFactorAuthPresent"] = True
            context.setdefault("aws:MultiFactorAuthAge", 0)
        for key, name in (("sts:ExternalId", "ExternalId"), ("sts:RoleSessionName", "RoleSessionName"),
                          ("sts:SourceIdentity", "SourceIdentity")):
            if p.get(name) is not None:
                context[key] = p[name]
        self.faults.check_propagation(identity, p.get("RoleArn", ""))
        duration = assume_role.check(identity, p, context)
        call.mfa = mfa
        return duration

    # --- AssumeRole: let moto issue, then remember the session ----------------------------------

    def _assume_role(self, environ, start_response, call: Call, duration: int):
        captured: dict[str, Any] = {}

        def capture(status, headers, exc_info=None):
            captured.update(status=status, headers=headers)
            return lambda data: None  # the body is returned below, after it is corrected

        body = b"".join(self.app(environ, capture))
        status = captured.get("status", "500 Internal Server Error")
        if status.startswith("200"):
            self._remember_session(body, call, duration)
            if not _has_session_policy(call.params):
                # AWS sends PackedPolicySize only when the call carried a session policy or tags
                body = re.sub(rb"\s*<PackedPolicySize>\d+</PackedPolicySize>", b"", body)
        headers = [(k, v) for k, v in captured.get("headers", []) if k.lower() != "content-length"]
        start_response(status, headers + [("Content-Length", str(len(body)))])
        return [body]

    def _remember_session(self, body: bytes, call: Call, duration: int) -> None:
        match = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", body)
        if not match:
            return
        key_id = match.group(1).decode()
        p = call.params
        assumed = assumed_session(p["RoleArn"].split(":")[4], key_id)  # issued in the role's account
        if assumed is None:
            return
        issued = aware(assumed.expiration) - timedelta(seconds=duration)  # moto's clock is ours
        self.sessions.add(
            SessionInfo(
                access_key_id=key_id,
                role_arn=p["RoleArn"],
                session_name=p["RoleSessionName"],
                issued_at=issued,
                policy=p.get("Policy"),
                policy_arns=assume_role.policy_arns(p),
                mfa_authenticated_at=issued if call.mfa else None,
                source_identity=p.get("SourceIdentity"),
                tags=assume_role.session_tags(p),
            ),
            assumed,
        )


def _has_session_policy(params: dict[str, str]) -> bool:
    return any(k == "Policy" or k.startswith(("PolicyArns.", "Tags.")) for k in params)


def _check_iam_input(call: Call) -> None:
    """Row 3d: MaxSessionDuration is 3600..43200 on CreateRole and UpdateRole."""
    raw = call.params.get("MaxSessionDuration")
    if raw is None or call.operation not in {"CreateRole", "UpdateRole"}:
        return
    try:
        value = int(raw)
    except ValueError:
        raise awserrors.constraint_errors(
            [f"Value '{raw}' at 'maxSessionDuration' failed to satisfy constraint: Member must be a number"]
        ) from None
    if value < 3600:
        raise awserrors.constraint_errors(
            [f"Value '{value}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600"]
        )
    if value > 43200:
        raise awserrors.constraint_errors(
            [f"Value '{value}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200"]
        )


def _read_body(environ: dict) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ.get("wsgi.input")
    body = stream.read(length) if stream is not None and length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def _guess_service(environ: dict) -> str:
    query = environ.get("QUERY_STRING", "")
    if "Action=Describe" in query:
        return "ec2"
    return "sts"


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 500: "Internal Server Error", 503: "Service Unavailable"}
