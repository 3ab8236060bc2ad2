"""Signature Version 4 as AWS checks it, with botocore's own signer doing the arithmetic.

`parse` reads who claims to sign a request (from the Authorization header or a presigned URL);
`verify` recomputes the signature over exactly the headers the client signed.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs

from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<sig>[0-9a-f]+)"
)
SIGV4_TIMESTAMP = "%Y%m%dT%H%M%SZ"


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


class Unsigned(Exception):
    """The request carries no SigV4 signature at all."""


class Malformed(Exception):
    """The request claims a signature but it cannot be read."""


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
    if query.get("X-Amz-Algorithm") == ["AWS4-HMAC-SHA256"]:
        try:
            scope = query["X-Amz-Credential"][0].split("/")
            return SignedRequest(
                access_key_id=scope[0],
                date=scope[1],
                region=scope[2],
                service=scope[3],
                signed_headers=tuple(query["X-Amz-SignedHeaders"][0].split(";")),
                signature=query["X-Amz-Signature"][0],
                amz_date=query["X-Amz-Date"][0],
                security_token=(query.get("X-Amz-Security-Token") or [None])[0],
                presigned=True,
                expires=int((query.get("X-Amz-Expires") or ["604800"])[0]),
            )
        except (KeyError, IndexError, ValueError) as exc:
            raise Malformed("presigned URL") from exc
    raise Unsigned()


def raw_url(environ: dict) -> str:
    host = header(environ, "Host") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO", "/")
    path = path.split("?", 1)[0]
    query = environ.get("QUERY_STRING", "")
    return f"http://{host}{path}" + (f"?{query}" if query else "")


def _unsigned_query(query: str) -> str:
    return "&".join(p for p in query.split("&") if not p.startswith("X-Amz-Signature="))


def verify(environ: dict, body: bytes, signed: SignedRequest, secret_access_key: str) -> bool:
    """Recompute the signature with botocore over what the client signed; compare in constant time."""
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
    signer_class = S3SigV4Auth if signed.service == "s3" else SigV4Auth
    signer = signer_class(
        Credentials(signed.access_key_id, secret_access_key, signed.security_token),
        signed.service,
        signed.region,
    )
    request = AWSRequest(method=environ["REQUEST_METHOD"], url=url, headers=headers, data=body)
    request.context["timestamp"] = signed.amz_date
    canonical = signer.canonical_request(request)
    if signed.presigned and signed.service == "s3":
        # S3 presigned URLs carry no payload hash: the last line is the literal UNSIGNED-PAYLOAD
        canonical = canonical.rsplit("\n", 1)[0] + "\nUNSIGNED-PAYLOAD"
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    return hmac.compare_digest(expected, signed.signature)
