"""The sandbox's control endpoint (`/_labkit/...`): clock, reset, faults, status.

Only callers holding the control token from the state file (mode 0600) may use it.
"""

from __future__ import annotations

import hmac
import json

from werkzeug.wrappers import Request, Response

from labkit.sandbox.clock import SandboxClock
from labkit.sandbox.lifecycle import TOKEN_HEADER


class ControlApp:
    def __init__(self, clock: SandboxClock, sessions, faults) -> None:
        self.clock = clock
        self.sessions = sessions
        self.faults = faults
        self.token: str | None = None
        self.admin_keys: dict = {}
        self.messages = None  # the gatekeeper's AuthorizationMessages

    def __call__(self, environ, start_response):
        request = Request(environ)
        given = request.headers.get(TOKEN_HEADER, "")
        if not self.token or not hmac.compare_digest(given, self.token):
            return _json({"error": "a valid control token is required"}, 403)(environ, start_response)
        route = request.path.removeprefix("/_labkit/")
        handler = getattr(self, "do_" + route.replace("/", "_"), None)
        if handler is None:
            return _json({"error": f"no such control path: {request.path}"}, 404)(environ, start_response)
        try:
            return _json(handler(request))(environ, start_response)
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)(environ, start_response)

    def _clock(self) -> dict:
        return {
            "now": self.clock.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
            "offset": self.clock.offset,
        }

    def do_status(self, request: Request) -> dict:
        return {"clock": self._clock(), "faults": self.faults.settings()}

    def do_clock(self, request: Request) -> dict:
        return self._clock()

    def do_clock_advance(self, request: Request) -> dict:
        seconds = float(request.args.get("seconds", "nan"))
        if not seconds >= 0:
            raise ValueError("seconds must be a number >= 0")
        self.clock.advance(seconds)
        return self._clock()

    def do_clock_reset(self, request: Request) -> dict:
        self.clock.reset()
        return self._clock()

    def do_faults(self, request: Request) -> dict:
        self.faults.configure(request.args.get("iam_delay"), request.args.get("throttle"))
        return self.faults.settings()

    def do_reset(self, request: Request) -> dict:
        """Forget everything, then recreate the administrators with the same keys."""
        from moto.moto_api._internal.models import moto_api_backend

        from labkit.sandbox import accounts

        moto_api_backend.reset()
        self.sessions.clear()
        if self.messages is not None:
            self.messages.clear()
        self.faults.reset()
        self.clock.reset()
        self.admin_keys = accounts.bootstrap(keep=self.admin_keys)
        return {"reset": True, "clock": self._clock()}


def _json(payload: dict, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")
