"""Signature Version 4 as AWS checks it, with botocore's own signer doing the arithmetic.

`parse` reads who claims to sign a request (from the Authorization header or a presigned URL);
`verify` recomputes the signature over exactly the headers the client signed, and over the body
the server received (S3 alone lets the client name the payload hash: `x-amz-content-sha256`, whose
value `payload.check` then holds to the body); `ChunkSigner` checks the signatures of an
`aws-chunked` body's chunks.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

from botocore.auth import EMPTY_SHA256_HASH, S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-f]+)"
)
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"
MAX_EXPIRES = 604800  # seven days: the longest a presigned URL may be valid
PRESIGN_PARAMS = frozenset({"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                            "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token"})
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class SignedRequest:
    access_key_id: str
    date: str  # yyyymmdd from the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str  # yyyymmddThhmmssZ
    security_token: str | None
    presigned: bool = False
    expires: int | None = None  # presigned URLs: seconds of validity after amz_date

    @property
    def signed_at(self) -> datetime:
        return datetime.strptime(self.amz_date, SIGV4_TIMESTAMP).replace(tzinfo=UTC)

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


class Unsigned(Exception):
    """The request carries no SigV4 signature at all."""


class Malformed(Exception):
    """The request claims a signature but it cannot be read."""


class BadQueryAuth(Exception):
    """A presigned URL's X-Amz-* parameters cannot be used; `message` is AWS's sentence."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(message)
        self.service = service
        self.message = message


def header(environ: dict, name: str) -> str | None:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return environ.get(key) or None
    return environ.get("HTTP_" + key)


def parse(environ: dict) -> SignedRequest:
    auth = header(environ, "Authorization")
    if auth:
        match = _AUTH.match(auth.strip())
        if not match:
            raise Malformed(auth.split(" ", 1)[0])
        scope = match["cred"].split("/")
        if len(scope) != 5:
            raise Malformed("credential scope")
        amz_date = header(environ, "X-Amz-Date") or ""
        if not amz_date:
            raise Malformed("no X-Amz-Date")
        return SignedRequest(
            access_key_id=scope[0],
            date=scope[1],
            region=scope[2],
            service=scope[3],
            signed_headers=tuple(match["signed"].split(";")),
            signature=match["sig"],
            amz_date=amz_date,
            security_token=header(environ, "X-Amz-Security-Token"),
        )
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "X-Amz-Algorithm" in query or "X-Amz-Credential" in query or "X-Amz-Signature" in query:
        return _presigned(query)
    raise Unsigned()


def _presigned(query: dict[str, list[str]]) -> SignedRequest:
    """A presigned URL's parameters, each checked before anything else reads them."""
    scope = (query.get("X-Amz-Credential") or [""])[0].split("/")
    if len(scope) != 5 or query.get("X-Amz-Algorithm") != ["AWS4-HMAC-SHA256"]:
        raise Malformed("presigned URL")
    service = scope[3]
    needed = ("X-Amz-Date", "X-Amz-SignedHeaders", "X-Amz-Signature")
    if any(len(query.get(name, [])) != 1 for name in needed):
        raise BadQueryAuth(service, _missing_message())
    raw = query.get("X-Amz-Expires")
    if raw is None:
        if service == "s3":  # S3 requires it; other services default to the longest validity
            raise BadQueryAuth(service, _missing_message())
        expires = MAX_EXPIRES
    else:
        expires = _expires(service, raw)
    signature = query["X-Amz-Signature"][0]
    if not re.fullmatch(r"[0-9a-f]{64}", signature):
        raise Malformed("signature")
    return SignedRequest(
        access_key_id=scope[0],
        date=scope[1],
        region=scope[2],
        service=service,
        signed_headers=tuple(query["X-Amz-SignedHeaders"][0].split(";")),
        signature=signature,
        amz_date=query["X-Amz-Date"][0],
        security_token=(query.get("X-Amz-Security-Token") or [None])[0],
        presigned=True,
        expires=expires,
    )


def _missing_message() -> str:
    from labkit.sandbox.awserrors import QUERY_AUTH_MISSING

    return QUERY_AUTH_MISSING


def _expires(service: str, values: list[str]) -> int:
    from labkit.sandbox import awserrors

    if len(values) != 1:
        raise BadQueryAuth(service, _missing_message())
    raw = values[0]
    if re.fullmatch(r"-\d{1,20}", raw):
        raise BadQueryAuth(service, awserrors.EXPIRES_NEGATIVE)
    if not re.fullmatch(r"\d{1,20}", raw):  # '1e12', '', '0x10', ' 5': not a number to S3
        raise BadQueryAuth(service, awserrors.EXPIRES_NOT_A_NUMBER)
    value = int(raw)
    if value > MAX_EXPIRES:
        raise BadQueryAuth(service, awserrors.EXPIRES_TOO_LONG)
    return value


def raw_url(environ: dict) -> str:
    host = header(environ, "Host") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
    path = path.split("?", 1)[0]
    query = environ.get("QUERY_STRING", "")
    return f"http://{host}{path}" + (f"?{query}" if query else "")


def _unsigned_query(query: str) -> str:
    return "&".join(p for p in query.split("&") if not p.startswith("X-Amz-Signature="))


def _signer(signed: SignedRequest, secret_access_key: str) -> SigV4Auth:
    signer_class = S3SigV4Auth if signed.service == "s3" else SigV4Auth
    return signer_class(
        Credentials(signed.access_key_id, secret_access_key, signed.security_token),
        signed.service,
        signed.region,
    )


def verify(environ: dict, body: bytes, signed: SignedRequest, secret_access_key: str) -> bool:
    """Recompute the signature with botocore over what the client signed; compare in constant time.

    The payload line of the canonical request is the hash of the body received, except for S3,
    where it is what the client sent in `x-amz-content-sha256` (checked against the body after
    this), or UNSIGNED-PAYLOAD for presigned URLs. (botocore's presigner for other services signs
    the hash of the body, empty once its parameters moved to the query string.)
    """
    url = raw_url(environ)
    if signed.presigned:
        base, _, query = url.partition("?")
        url = base + "?" + _unsigned_query(query)
    headers = {}
    for name in signed.signed_headers:
        value = header(environ, name)
        if value is None:
            return False
        headers[name] = value
    signer = _signer(signed, secret_access_key)
    request = AWSRequest(method=environ["REQUEST_METHOD"], url=url, headers=headers, data=b"")
    request.context["timestamp"] = signed.amz_date
    canonical = signer.canonical_request(request).rsplit("\n", 1)[0]
    if signed.service == "s3":
        payload = UNSIGNED_PAYLOAD if signed.presigned else (header(environ, "X-Amz-Content-SHA256") or UNSIGNED_PAYLOAD)
    else:
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256_HASH
    canonical += "\n" + payload
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, signed.signature)


class ChunkSigner:
    """The chained signatures of an `aws-chunked` body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)."""

    def __init__(self, signed: SignedRequest, secret_access_key: str) -> None:
        self._signer = _signer(signed, secret_access_key)
        self._request = AWSRequest(method="PUT", url="http://s3")
        self._request.context["timestamp"] = signed.amz_date
        self._head = f"{signed.amz_date}\n{signed.scope}\n"
        self.previous = signed.signature

    def chunk(self, data: bytes, signature: str) -> bool:
        to_sign = ("AWS4-HMAC-SHA256-PAYLOAD\n" + self._head + self.previous + "\n"
                   + EMPTY_SHA256_HASH + "\n" + hashlib.sha256(data).hexdigest())
        return self._check(to_sign, signature)

    def trailer(self, text: bytes, signature: str) -> bool:
        to_sign = ("AWS4-HMAC-SHA256-TRAILER\n" + self._head + self.previous + "\n"
                   + hashlib.sha256(text).hexdigest())
        return self._check(to_sign, signature)

    def _check(self, to_sign: str, signature: str) -> bool:
        expected = self._signer.signature(to_sign, self._request)
        ok = hmac.compare_digest(expected, signature)
        self.previous = signature
        return ok
