"""The gatekeeper: a WSGI layer in front of moto that lets through only what AWS would accept.

read the signature (its scope names the service) -> check the endpoint agrees -> read the body
(limits, integrity) -> authenticate (SigV4, key status, clock skew, session expiry) -> read the
request once (reading.py) -> what temporary credentials may call (sessions.py) -> authorize that
reading (IAM actions from actions.py; labkit.iam decides with the request context it builds,
authorization.py) -> STS rules (assume_role.py, mfa.py, sessions.py) and IAM's checks of policy
documents (iam_writes.py) -> moto runs exactly that reading (forwarding.py).
Every refusal is AWS's own error, in the service's envelope.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from labkit.credentials import mask
from labkit.iam import RequestContext, Verdict
from labkit.sandbox import (
    actions,
    assume_role,
    authmessages,
    awserrors,
    forwarding,
    iam_writes,
    mfa,
    multidelete,
    payload,
    reading,
    services,
    sessions,
    sigv4,
)
from labkit.sandbox.authmessages import AuthorizationMessages
from labkit.sandbox.authorization import authorize, policy_sources, request_context
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
# AWS answers these for any valid credentials: policies cannot control them
# (GetSessionToken: id_credentials_temp_control-access_getsessiontoken.html).
NO_AUTHORIZATION = {"sts:GetCallerIdentity", "sts:GetSessionToken"}
WSGIApp = Callable[[dict, Callable], Iterable[bytes]]


@dataclass
class Grant:
    """What authorization decided beyond 'allowed': AssumeRole's duration, DeleteObjects' refusals."""

    duration: int | None = None
    denied_keys: list[dict[str, Any]] = field(default_factory=list)
    mfa: bool = False  # GetSessionToken: the caller proved MFA
    documents: list[str] = field(default_factory=list)  # IAM writes: what labkit.iam accepted
    # AssumeRole: when the new session's MFA was proved (None: never), the calling session's
    # transitive tags it inherits, and its source identity (inherited along a chain)
    mfa_at: datetime | None = None
    incoming: dict[str, str] = field(default_factory=dict)
    source_identity: str | None = None


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
        iam_writes.install()

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
            sessions.check_limits(call, identity)
            grant = self._authorize(environ, call, identity, signed)
            self.faults.note_write(call)
            if log.isEnabledFor(logging.DEBUG):  # the hot path: no formatting when nobody reads it
                log.debug("%s by %s (%s) -> moto", call.action, identity.arn, mask(identity.access_key_id))
            if call.action == "sts:DecodeAuthorizationMessage":  # moto has no such call; the data is ours
                body = self.messages.decode(call.params.get("EncodedMessage", ""))
                return _respond(start_response, "200 OK", [("Content-Type", "text/xml")], body)
            if call.action == "sts:GetSessionToken":  # moto's credentials are examples: ours are real
                body = sessions.issue(identity, grant.duration or 0, grant.mfa, self.clock.now(), self.sessions)
                return _respond(start_response, "200 OK", [("Content-Type", "text/xml")], body)
            if call.action == "sts:GetCallerIdentity" and identity.is_user_session:
                return _respond(start_response, "200 OK", [("Content-Type", "text/xml")],
                                sessions.caller_identity(identity))
            app = self.backends.app(served)
            if call.action == "sts:AssumeRole":
                return self._assume_role(app, environ, signed, start_response, call, grant)
            if call.action == "s3:DeleteObjects" and grant.denied_keys:
                return self._delete_objects(app, environ, signed, start_response, call, grant.denied_keys)
            call = sessions.as_the_user(call, identity)
            with iam_writes.accepted(grant.documents):
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
        if identity.temporary != bool(signed.security_token) or (
            identity.temporary and signed.security_token != identity.session_token
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

    def context(self, environ: dict, identity: Identity, signed: sigv4.SignedRequest,
                call: Call | None = None, **changes: Any) -> RequestContext:
        """The request context labkit.iam decides with (authorization.request_context): the
        principal's keys and tags, the session's (aws:TokenIssueTime, MFA, source identity), the
        request's tags, and the service's own keys for this call."""
        params = call.params if call is not None else None
        extra: dict[str, Any] = {}
        if params and params.get("PermissionsBoundary") and call is not None and call.service == "iam":
            extra["iam:PermissionsBoundary"] = params["PermissionsBoundary"]
        context = request_context(
            identity, self.clock.now(), source_ip=environ.get("REMOTE_ADDR", "127.0.0.1"),
            region=signed.region, secure_transport=environ.get("wsgi.url_scheme") == "https",
            params=params, extra=extra,
        )
        return context.with_changes(**changes) if changes else context

    def _authorize(self, environ: dict, call: Call, identity: Identity, signed: sigv4.SignedRequest) -> Grant:
        if call.action == "sts:GetSessionToken":  # no permission needed; MFA and duration checked
            duration = sessions.duration(call.params)
            return Grant(duration=duration, mfa=self._mfa(identity, call.params))
        if call.action in NO_AUTHORIZATION:
            return Grant()
        if call.action == "sts:AssumeRole":
            return self._authorize_assume_role(environ, call, identity, signed)
        context = self.context(environ, identity, signed, call)
        if call.action == "s3:DeleteObjects":  # each key on its own; refused keys are reported
            denied = [entry for entry, check in actions.delete_objects_checks(call)
                      if not authorize(identity, check.action, check.resource, context).allowed]
            return Grant(denied_keys=denied)
        if call.service == "iam":
            _check_iam_input(call)
        for check in actions.checks(call, identity, signed.region):
            verdict = authorize(identity, check.action, check.resource, context)
            if not verdict.allowed:
                encoded = None
                if call.service == "ec2" and not re.match(r"(Describe|Get|List)", call.operation):
                    encoded = self.messages.encode(self.decoded(identity, verdict))
                raise awserrors.access_denied(call.service, identity.arn, check.action, check.resource,
                                              verdict.reason, encoded)
        if call.service == "iam":
            if call.operation == "EnableMFADevice":
                mfa.check_enable(call.params, identity.account, self.clock.now())
            return Grant(documents=iam_writes.check(call))
        return Grant()

    @staticmethod
    def decoded(identity: Identity, verdict: Verdict) -> dict[str, Any]:
        """What DecodeAuthorizationMessage shows for this refusal (authmessages)."""
        principal = {"id": identity.user_id}
        if identity.user_name and not identity.is_session:
            principal["name"] = identity.user_name
        principal["arn"] = identity.arn
        return authmessages.decoded(verdict, principal=principal, sources=policy_sources(identity))

    def _mfa(self, identity: Identity, params: dict[str, Any]) -> bool:
        return mfa.verify(identity, params, self.clock.now(), self.sessions.used_codes)

    def _authorize_assume_role(self, environ: dict, call: Call, identity: Identity,
                               signed: sigv4.SignedRequest) -> Grant:
        p = call.params
        assume_role.validate(p)
        proved = self._mfa(identity, p)
        caller_session = identity.session if identity.temporary else None
        incoming = caller_session.transitive_tags if identity.is_session and caller_session else {}
        assume_role.check_tags(p, incoming)
        source_identity = p.get("SourceIdentity")
        if source_identity is None and caller_session is not None:
            source_identity = caller_session.source_identity  # it persists along a role chain
        extra = {key: p[name] for key, name in (("sts:ExternalId", "ExternalId"),
                                                ("sts:RoleSessionName", "RoleSessionName"))
                 if p.get(name) is not None}
        if source_identity is not None:
            extra["sts:SourceIdentity"] = source_identity
        if p.get("TransitiveTagKeys"):
            extra["sts:TransitiveTagKeys"] = list(p["TransitiveTagKeys"])
        changes: dict[str, Any] = {"extra": extra}
        if proved:  # MFA proved by this call
            changes["mfa_authenticated_at"] = self.clock.now()
        context = self.context(environ, identity, signed, call, **changes)
        if incoming:
            context = context.with_changes(request_tags={**incoming, **context.request_tags})
        self.faults.check_propagation(identity, p.get("RoleArn", ""))
        duration = assume_role.check(identity, p, context, incoming)
        # the new session is MFA-authenticated if this call proved MFA or its caller's session was,
        # since then (aws:MultiFactorAuthAge counts from the proof)
        mfa_at = context.mfa_authenticated_at
        call.mfa = mfa_at is not None
        return Grant(duration=duration, mfa_at=mfa_at, incoming=dict(incoming),
                     source_identity=source_identity)

    # --- AssumeRole: let moto issue, then remember the session ----------------------------------

    def _assume_role(self, app, environ, signed, start_response, call: Call, grant: Grant):
        status, headers, body = forwarding.run(app, call, environ, signed)
        if status.startswith("200"):
            self._remember_session(body, call, grant)
            if not _has_session_policy(call.params):
                # AWS sends PackedPolicySize only when the call carried a session policy or tags
                body = re.sub(rb"\s*<PackedPolicySize>\d+</PackedPolicySize>", b"", body)
        return _respond(start_response, status, headers, body)

    def _remember_session(self, body: bytes, call: Call, grant: Grant) -> None:
        match = re.search(rb"<AccessKeyId>([^<]+)</AccessKeyId>", body)
        if not match:
            return
        key_id = match.group(1).decode()
        p = call.params
        assumed = assumed_session(p["RoleArn"].split(":")[4], key_id)  # issued in the role's account
        if assumed is None:
            return
        issued = aware(assumed.expiration) - timedelta(seconds=grant.duration or 0)  # moto's clock is ours
        self.sessions.add(
            SessionInfo(
                access_key_id=key_id,
                role_arn=p["RoleArn"],
                session_name=p["RoleSessionName"],
                issued_at=issued,
                policy=p.get("Policy"),
                policy_arns=assume_role.policy_arns(p),
                mfa_authenticated_at=grant.mfa_at.replace(microsecond=0) if grant.mfa_at else None,
                source_identity=grant.source_identity,
                tags=assume_role.session_tags(p, grant.incoming),
                transitive_tag_keys=assume_role.transitive_keys(p, grant.incoming),
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
