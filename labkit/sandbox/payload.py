"""The body of a request: read whole within limits, held to its signed hash, de-chunked.

- `read` takes the body from the WSGI stream: Content-Length bytes, or a chunked transfer (the
  server de-chunks it), at most MAX_BODY; a body too large, cut short or too slow to arrive gets
  AWS's error instead of being dropped or waited for.
- `check` runs after the signature: S3's `x-amz-content-sha256` must be the body's SHA-256, or
  UNSIGNED-PAYLOAD, or a STREAMING-* value with an `aws-chunked` body, decoded here with each
  chunk's signature verified. Other services sign the body itself (sigv4.verify), so a body that
  is not the one signed fails the signature there.
"""

from __future__ import annotations

import hashlib
import io
import re

from werkzeug.serving import WSGIRequestHandler

from labkit.sandbox import awserrors, sigv4
from labkit.sandbox.awserrors import STREAMING
from labkit.sandbox.sigv4 import ChunkSigner, SignedRequest

MAX_BODY = 32 * 1024 * 1024  # bytes: ample for a lab; larger uploads are refused, never cut
READ_TIMEOUT = 10.0  # seconds a connection may stay silent before it is answered or closed
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_CHUNK_HEADER = re.compile(rb"([0-9a-fA-F]{1,16})(?:;chunk-signature=([0-9a-f]{64}))?")
_TRAILER = re.compile(rb"(x-amz-checksum-[a-z0-9]+|x-amz-trailer-signature):([^\r\n]*)")


class RequestHandler(WSGIRequestHandler):
    """The server's connection handler: a client silent for READ_TIMEOUT seconds (in its request
    line, headers or body) is answered RequestTimeout or disconnected, never waited for."""

    timeout = READ_TIMEOUT

    def log_error(self, format: str, *args) -> None:
        if format.startswith("Request timed out"):
            return  # an idle keep-alive connection closing: not an error worth a log line
        super().log_error(format, *args)


def read(environ: dict, service: str) -> bytes:
    """The whole body, put back in the environ as a fresh stream for whoever reads it next."""
    raw_length = environ.get("CONTENT_LENGTH") or ""
    if raw_length and not raw_length.isdigit():
        raise awserrors.incomplete_body(service)
    length = int(raw_length) if raw_length else None
    if length is not None and length > MAX_BODY:
        raise awserrors.body_too_large(service, MAX_BODY)
    stream = environ.get("wsgi.input")
    chunked = length is None and bool(environ.get("wsgi.input_terminated"))
    try:
        if stream is None or not (length or chunked):
            body = b""
        elif length:
            body = stream.read(length)
        else:
            body = stream.read(MAX_BODY + 1)
    except TimeoutError:
        raise awserrors.request_timeout() from None
    except (OSError, ValueError):  # a malformed chunked transfer, a connection cut short
        raise awserrors.incomplete_body(service) from None
    if length is not None and len(body) != length:
        raise awserrors.incomplete_body(service)
    if len(body) > MAX_BODY:
        raise awserrors.body_too_large(service, MAX_BODY)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


def check(environ: dict, body: bytes, signed: SignedRequest, secret_access_key: str) -> bytes:
    """The body the request carries, once it is known to be the one signed (or S3's unsigned)."""
    service = signed.service
    encodings = [e.strip().lower() for e in (sigv4.header(environ, "Content-Encoding") or "").split(",")]
    if service != "s3":
        return body
    sent = sigv4.header(environ, "X-Amz-Content-SHA256")
    if sent in STREAMING:
        if "aws-chunked" not in encodings and not environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH"):
            raise awserrors.incomplete_body(service)
        return _aws_chunked(environ, body, signed, secret_access_key, sent, encodings)
    if "aws-chunked" in encodings:  # chunk framing without a streaming hash: two readings
        raise awserrors.ambiguous(service, "Content-Encoding aws-chunked without a STREAMING "
                                  "x-amz-content-sha256")
    if signed.presigned or sent == sigv4.UNSIGNED_PAYLOAD:
        return body
    if sent is None:
        raise awserrors.content_sha256_missing()
    if not _HEX64.fullmatch(sent):
        raise awserrors.content_sha256_invalid()
    computed = hashlib.sha256(body).hexdigest()
    if sent.lower() != computed:
        raise awserrors.content_sha256_mismatch(sent, computed)
    return body


def _aws_chunked(environ: dict, body: bytes, signed: SignedRequest, secret: str, mode: str,
                 encodings: list[str]) -> bytes:
    """Decode an aws-chunked body; verify chunk (and trailer) signatures when the mode signs them."""
    if "ECDSA" in mode:
        raise awserrors.not_implemented("SigV4a streaming signatures")
    signer = ChunkSigner(signed, secret) if mode.startswith("STREAMING-AWS4-HMAC") else None
    chunks: list[bytes] = []
    pos = 0
    while True:
        end = body.find(b"\r\n", pos)
        header = _CHUNK_HEADER.fullmatch(body, pos, end) if end >= 0 else None
        if header is None or (signer is not None) != (header[2] is not None):
            raise awserrors.incomplete_body("s3")
        size, pos = int(header[1], 16), end + 2
        data = body[pos:pos + size]
        if len(data) != size:
            raise awserrors.incomplete_body("s3")
        if signer is not None and not signer.chunk(data, header[2].decode()):
            raise awserrors.signature_mismatch("s3")
        pos += size
        if size == 0:
            break
        if body[pos:pos + 2] != b"\r\n":
            raise awserrors.incomplete_body("s3")
        pos += 2
        chunks.append(data)
    trailers = _trailers(body[pos:], signer if mode.endswith("TRAILER") else None)
    decoded = b"".join(chunks)
    declared = environ.get("HTTP_X_AMZ_DECODED_CONTENT_LENGTH")
    if declared is not None and declared != str(len(decoded)):
        raise awserrors.incomplete_body("s3")
    for name, value in trailers.items():  # the checksums travel on as the headers they stand for
        environ["HTTP_" + name.upper().replace("-", "_")] = value
    kept = [e for e in encodings if e and e != "aws-chunked"]
    if kept:
        environ["HTTP_CONTENT_ENCODING"] = ", ".join(kept)
    else:
        environ.pop("HTTP_CONTENT_ENCODING", None)
    environ.pop("HTTP_X_AMZ_DECODED_CONTENT_LENGTH", None)
    environ["wsgi.input"] = io.BytesIO(decoded)
    environ["CONTENT_LENGTH"] = str(len(decoded))
    return decoded


def _trailers(rest: bytes, signer: ChunkSigner | None) -> dict[str, str]:
    """The trailing headers after the last chunk ('\\r\\n' alone when there are none)."""
    lines = rest.split(b"\r\n")
    if len(lines) < 2 or lines[-1] != b"" or lines[-2] != b"":
        raise awserrors.incomplete_body("s3")
    found: dict[str, str] = {}
    signature = None
    signed_text = b""
    for line in lines[:-2]:
        match = _TRAILER.fullmatch(line)
        if match is None:
            raise awserrors.incomplete_body("s3")
        name, value = match[1].decode(), match[2].decode().strip()
        if name == "x-amz-trailer-signature":
            signature = value
        else:
            found[name] = value
            signed_text += match[1] + b":" + match[2].strip() + b"\n"
    if signer is not None and found and (signature is None or not signer.trailer(signed_text, signature)):
        raise awserrors.signature_mismatch("s3")
    return found
