"""S3 DeleteObjects as AWS authorizes it: s3:DeleteObject for each key on its own.

A key the caller may not delete is not deleted: AWS answers 200 with an `<Error>` for that key
(AccessDenied) in the DeleteResult and deletes the others. Only the allowed keys reach moto.
"""

from __future__ import annotations

import copy
from typing import Any
from xml.sax.saxutils import escape

from labkit.sandbox.reading import Call

S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def allowed_only(call: Call, allowed: list[dict[str, Any]]) -> Call:
    """The same call with only the entries the caller may delete."""
    params = copy.deepcopy(call.params)
    params["Delete"]["Objects"] = allowed
    return Call(call.service, call.operation, params, call.mfa, call.model)


def denied_errors(denied: list[dict[str, Any]]) -> bytes:
    parts = []
    for entry in denied:
        version = f"<VersionId>{escape(entry['VersionId'])}</VersionId>" if entry.get("VersionId") else ""
        parts.append(f"<Error><Key>{escape(entry.get('Key', ''))}</Key>{version}<Code>AccessDenied</Code>"
                     "<Message>Access Denied</Message></Error>")
    return "".join(parts).encode()


def merge(moto_body: bytes | None, denied: list[dict[str, Any]]) -> bytes:
    """moto's DeleteResult for the allowed keys, with the denied keys' errors added."""
    errors = denied_errors(denied)
    if moto_body and b"</DeleteResult>" in moto_body:
        head, _, tail = moto_body.rpartition(b"</DeleteResult>")
        return head + errors + b"</DeleteResult>" + tail
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="{S3_NAMESPACE}">'.encode()
            + errors + b"</DeleteResult>")
