"""The gatekeeper: a WSGI layer in front of moto that lets through only what AWS would accept.

read the signature (its scope names the service) -> check the endpoint agrees -> read the body
(limits, integrity) -> authenticate (SigV4, key status, clock skew, session expiry) -> read the
request once (reading.py) -> authorize that reading (IAM actions from actions.py, evaluation,
trust and session policies) -> STS rules -> moto runs exactly that reading (forwarding.py).
Every refusal is AWS's own error, in the service's envelope.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from labkit.credentials import mask
from labkit.sandbox import (
    actions,
    assume_role,
    awserrors,
    forwarding,
    multidelete,
    payload,
    reading,
    services,
    sigv4,
)
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
from labkit.sandbox.reading import Call

log = logging.getLogger("labkit.sandbox")

SKEW = timedelta(minutes=15)
NO_AUTHORIZATION = {"sts:GetCallerIdentity"}  # AWS answers these for any valid credentials
WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


@dataclass
class Grant:
    """What authorization decided beyond 'allowed': AssumeRole's duration, DeleteObjects' refusals."""

    duration: int | None = None
    denied_keys: list[dict[str, Any]] = field(default_factory=list)


class Gatekeeper:
    def __init__(
        self,
        backends: services.Backends,
        clock: SandboxClock,
        sessions: SessionRegistry,
        faults: Faults,
        control: WSGIApp | None = None,
    ) -> None:
        self.backends = backends
        self.clock = clock
        self.sessions = sessions
        self.faults = faults
        self.control = control
        self.messages = AuthorizationMessages()

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_labkit/") and self.control is not None:
            return self.control(environ, start_response)
        service = _guess_service(environ)
        head = environ.get("REQUEST_METHOD") == "HEAD"
        try:
            signed = self._signed(environ)
            service = signed.service
            served = services.lookup(service)
            if served is None:
                raise awserrors.unsupported_service(service)
            self._check_endpoint(environ, served, signed)
            body = payload.read(environ, service)
            identity = self._authenticate(environ, body, signed)
            body = payload.check(environ, body, signed, identity.secret_access_key)
            self.faults.maybe_throttle(service)
            call = reading.read(environ, body, served, signed.presigned)
            grant = self._authorize(environ, call, identity, signed)
            self.faults.note_write(call)
            if log.isEnabledFor(logging.DEBUG):  # the hot path: no formatting when nobody reads it
                log.debug("%s by %s (%s) -> moto", call.action, identity.arn, mask(identity.access_key_id))
            if call.action == "sts:DecodeAuthorizationMessage":  # moto has no such call; the data is ours
                body = self.messages.decode(call.params.get("EncodedMessage", ""))
                return _respond(start_response, "200 OK", [("Content-Type", "text/xml")], body)
            app = self.backends.app(served)
            if call.action == "sts:AssumeRole":
                return self._assume_role(app, environ, signed, start_response, call, grant.duration or 0)
            if call.action == "s3:DeleteObjects" and grant.denied_keys:
                return self._delete_objects(app, environ, signed, start_response, call, grant.denied_keys)
            status, headers, body = forwarding.run(app, call, environ, signed)
        except AwsError as error:
            return _refuse(start_response, error, service, path, head)
        except Exception as exc:  # a defect here must still answer as AWS does, never with HTML
            log.error("gatekeeper failed: %s", forwarding.where(exc))
            return _refuse(start_response, awserrors.internal_failure(service), service, path, head)
        return _respond(start_response, status, headers, body, head)

    # --- authenticate ---------------------------------------------------------------------------

    def _signed(self, environ: dict) -> sigv4.SignedRequest:
        try:
            return sigv4.parse(environ)
        except sigv4.Unsigned:
            raise awserrors.missing_authentication(_guess_service(environ)) from None
        except sigv4.BadQueryAuth as bad:
            raise awserrors.query_auth_error(bad.service, bad.message) from None
        except sigv4.Malformed:
            raise awserrors.AwsError(
                400, "IncompleteSignature", "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters."
            ) from None

    @staticmethod
    def _check_endpoint(environ: dict, served: services.Service, signed: sigv4.SignedRequest) -> None:
        """The scope's service must be the one the endpoint (the Host) belongs to, as moto routes it."""
        routed = services.backend_for_host(environ.get("HTTP_HOST", ""))
        if routed is not None and routed != served.backend:
            from moto.backends import ALT_BACKEND_NAMES

            endpoint = ALT_BACKEND_NAMES.get(routed, routed)
            raise awserrors.wrong_service(endpoint, served.name, signed.presigned)

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

    def _authorize(self, environ: dict, call: Call, identity: Identity, signed: sigv4.SignedRequest) -> Grant:
        if call.action in NO_AUTHORIZATION:
            return Grant()
        context = self.context(environ, identity, signed)
        if call.action == "sts:AssumeRole":
            return Grant(duration=self._authorize_assume_role(call, identity, context))
        if call.action == "s3:DeleteObjects":  # each key on its own; refused keys are reported
            denied = [entry for entry, check in actions.delete_objects_checks(call)
                      if not authorize(identity, check.action, check.resource, context, call.params).allowed]
            return Grant(denied_keys=denied)
        if call.service == "iam":
            _check_iam_input(call)
        for check in actions.checks(call, identity, signed.region):
            verdict = authorize(identity, check.action, check.resource, context, call.params)
            if not verdict.allowed:
                encoded = None
                if call.service == "ec2" and not re.match(r"(Describe|Get|List)", call.operation):
                    encoded = self.messages.encode(action=check.action, principal_arn=identity.arn,
                                                   principal_id=identity.user_id, resource=check.resource,
                                                   explicit_deny=verdict.explicit_deny)
                raise awserrors.access_denied(call.service, identity.arn, check.action, check.resource,
                                              verdict.reason, encoded)
        return Grant()

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

    def _assume_role(self, app, environ, signed, start_response, call: Call, duration: int):
        status, headers, body = forwarding.run(app, call, environ, signed)
        if status.startswith("200"):
            self._remember_session(body, call, duration)
            if not _has_session_policy(call.params):
                # AWS sends PackedPolicySize only when the call carried a session policy or tags
                body = re.sub(rb"\s*<PackedPolicySize>\d+</PackedPolicySize>", b"", body)
        return _respond(start_response, status, headers, body)

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

    # --- S3 DeleteObjects: the allowed keys go to moto, the others are AccessDenied ----------

    def _delete_objects(self, app, environ, signed, start_response, call: Call, denied: list[dict]):
        allowed = [e for e in call.params.get("Delete", {}).get("Objects", []) if e not in denied]
        status, headers, body = "200 OK", [("Content-Type", "application/xml")], None
        if allowed:
            status, headers, body = forwarding.run(app, multidelete.allowed_only(call, allowed), environ, signed)
            if not status.startswith("200"):
                return _respond(start_response, status, headers, body or b"")
        return _respond(start_response, status, headers, multidelete.merge(body, denied))


def _respond(start_response: Callable, status: str, headers: list[tuple[str, str]], body: bytes,
             head: bool = False) -> list[bytes]:
    """Send a whole answer; its Content-Length is the body's (a HEAD's is the one moto computed)."""
    kept = [(k, v) for k, v in headers if k.lower() != "transfer-encoding"
            and not (k.lower() == "content-length" and not head)]
    if not head or not any(k.lower() == "content-length" for k, _ in kept):
        kept.append(("Content-Length", str(len(body))))
    start_response(status, kept)
    return [body]


def _refuse(start_response: Callable, error: AwsError, service: str, path: str, head: bool = False) -> list[bytes]:
    log.info("%s %s -> %s %s", service, path, error.status, error.code)
    status, headers, payload_bytes = awserrors.render(error, service)
    if head:  # AWS answers a HEAD with the status and headers only
        headers, payload_bytes = [h for h in headers if h[0].lower() != "content-type"], b""
    return _respond(start_response, f"{status} {_REASONS.get(status, 'Error')}", headers, payload_bytes)


def _has_session_policy(params: dict[str, Any]) -> bool:
    return bool(params.get("Policy") is not None or params.get("PolicyArns") or params.get("Tags"))


def _check_iam_input(call: Call) -> None:
    """Row 3d: MaxSessionDuration is 3600..43200 on CreateRole and UpdateRole."""
    value = call.params.get("MaxSessionDuration")
    if value is None or call.operation not in {"CreateRole", "UpdateRole"}:
        return
    if value < 3600:
        raise awserrors.constraint_errors(
            [f"Value '{value}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600"]
        )
    if value > 43200:
        raise awserrors.constraint_errors(
            [f"Value '{value}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value less than or equal to 43200"]
        )


def _guess_service(environ: dict) -> str:
    """The envelope for a request with no readable scope (it names no service)."""
    query = environ.get("QUERY_STRING", "")
    if "Action=Describe" in query:
        return "ec2"
    return "sts"


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Request Entity Too Large", 429: "Too Many Requests",
            500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}
