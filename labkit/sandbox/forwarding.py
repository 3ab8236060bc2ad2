"""Hand moto exactly the request that was read: rebuilt from the reading by botocore's serializer.

No byte the gatekeeper did not understand reaches moto. The method, path, query string, headers
and body moto sees are botocore's serialization of `Call.params` for `Call.operation` (what boto3
would send for them), addressed to the service's own moto app (services.Backends): moto never
routes by guesswork. The Authorization header moto gets only tells it the caller's key (so the
account) and region; the signature was checked before. A moto exception, or moto answering with
an HTML page, becomes AWS's InternalFailure in the service's envelope, logged without parameters.
"""

from __future__ import annotations

import functools
import io
import logging
import traceback
from collections.abc import Callable, Iterable
from urllib.parse import unquote_to_bytes, urlencode

from botocore.serialize import create_serializer
from botocore.utils import percent_encode_sequence

from labkit.sandbox import awserrors
from labkit.sandbox.reading import Call
from labkit.sandbox.sigv4 import SignedRequest

log = logging.getLogger("labkit.sandbox")

# What the server says about the connection, kept; everything about the request is rebuilt.
_KEPT = ("SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT",
         "wsgi.version", "wsgi.url_scheme", "wsgi.errors", "wsgi.multithread",
         "wsgi.multiprocess", "wsgi.run_once")
_NO_SIGNATURE = "0" * 64


@functools.cache
def _serializer(protocol: str):
    return create_serializer(protocol, include_validation=False)


def rebuild(call: Call, environ: dict, signed: SignedRequest) -> dict:
    """The WSGI environ of the request botocore would send for `call`, to this server."""
    request = _serializer(call.model.service_model.protocol).serialize_to_request(call.params, call.model)
    path, _, query = request["url_path"].partition("?")
    if request["query_string"]:
        encoded = percent_encode_sequence(request["query_string"])
        query = f"{query}&{encoded}" if query else encoded
    body = request["body"]
    if isinstance(body, dict):
        body = urlencode(list(body.items()), doseq=True)
    if isinstance(body, str):
        body = body.encode("utf-8")
    body = body or b""
    raw_uri = path + (f"?{query}" if query else "")
    rebuilt = {key: environ[key] for key in _KEPT if key in environ}
    rebuilt.update({
        "REQUEST_METHOD": request["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),  # WSGI's str-of-bytes form
        "QUERY_STRING": query,
        "RAW_URI": raw_uri,
        "REQUEST_URI": raw_uri,
        "HTTP_HOST": f"{environ.get('SERVER_NAME', '127.0.0.1')}:{environ.get('SERVER_PORT', '80')}",
        "HTTP_AUTHORIZATION": (f"AWS4-HMAC-SHA256 Credential={signed.access_key_id}/{signed.date}/"
                               f"{signed.region}/{signed.service}/aws4_request, SignedHeaders=host, "
                               f"Signature={_NO_SIGNATURE}"),
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": False,
    })
    for name, value in request["headers"].items():
        key = name.upper().replace("-", "_")
        rebuilt[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = str(value)
    rebuilt["CONTENT_LENGTH"] = str(len(body))
    return rebuilt


def where(exc: BaseException) -> str:
    """The exception's type and the line it came from: never its message, which may hold parameters."""
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    at = f" at {frame.filename.rsplit('site-packages/', 1)[-1]}:{frame.lineno}" if frame else ""
    return type(exc).__name__ + at


def run(app: Callable[[dict, Callable], Iterable[bytes]], call: Call, environ: dict,
        signed: SignedRequest) -> tuple[str, list[tuple[str, str]], bytes]:
    """moto's answer to `call`: status line, headers and the whole body."""
    captured: dict = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers
        return lambda data: None

    try:
        rebuilt = rebuild(call, environ, signed)
        result = app(rebuilt, start_response)
        try:
            body = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
    except Exception as exc:
        log.error("moto failed on %s: %s", call.action, where(exc))
        raise awserrors.internal_failure(call.service) from None
    status = captured.get("status", "500 Internal Server Error")
    headers = captured.get("headers", [])
    if body[:64].lstrip().lower().startswith((b"<!doctype html", b"<html")):
        # Flask's own error page (no route, an unhandled error): moto did not answer this call
        log.error("moto answered %s with an HTML page on %s", status.split(" ", 1)[0], call.action)
        raise awserrors.internal_failure(call.service)
    return status, headers, body
