"""EC2's encoded authorization failure messages, and STS DecodeAuthorizationMessage for them.

AWS encrypts the details of a refused mutating EC2 call into an opaque string; only
`sts:DecodeAuthorizationMessage` (with that permission) turns it back into JSON. The sandbox keeps
the details in memory under a random opaque token, so the same two steps work here.
"""

from __future__ import annotations

import json
import secrets
import threading
from xml.sax.saxutils import escape

from labkit.sandbox import awserrors


class AuthorizationMessages:
    def __init__(self) -> None:
        self._messages: dict[str, str] = {}
        self._lock = threading.Lock()

    def encode(self, *, action: str, principal_arn: str, principal_id: str, resource: str,
               explicit_deny: bool) -> str:
        """An opaque token standing for the decoded message AWS would give."""
        decoded = {
            "allowed": False,
            "explicitDeny": explicit_deny,
            "matchedStatements": {"items": []},
            "failures": {"items": []},
            "context": {
                "principal": {"id": principal_id, "arn": principal_arn},
                "action": action,
                "resource": resource,
                "conditions": {"items": []},
            },
        }
        token = secrets.token_urlsafe(192)
        with self._lock:
            self._messages[token] = json.dumps(decoded, separators=(",", ":"))
        return token

    def decode(self, token: str) -> bytes:
        """The DecodeAuthorizationMessage response body, or AWS's error for an unknown message."""
        message = self._messages.get(token or "")
        if message is None:
            raise awserrors.AwsError(400, "InvalidAuthorizationMessageException",
                                     "Invalid authorization message")
        return (
            '<DecodeAuthorizationMessageResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<DecodeAuthorizationMessageResult><DecodedMessage>{escape(message)}</DecodedMessage>"
            "</DecodeAuthorizationMessageResult><ResponseMetadata><RequestId>"
            f"{secrets.token_hex(16)}</RequestId></ResponseMetadata></DecodeAuthorizationMessageResponse>"
        ).encode()

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
