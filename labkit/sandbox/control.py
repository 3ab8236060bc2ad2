"""The sandbox's control endpoint (`/_labkit/...`): clock, reset, faults, status.

Only callers holding the control token from the state file (mode 0600) may use it.
"""

from __future__ import annotations

import hmac
import json
import logging
import math

from werkzeug.wrappers import Request, Response

from labkit.sandbox.clock import SandboxClock
from labkit.sandbox.lifecycle import MAX_IAM_DELAY, TOKEN_HEADER

ROUTES = ("status", "clock", "clock/advance", "clock/reset", "faults", "reset")


class ControlApp:
    def __init__(self, clock: SandboxClock, sessions, faults) -> None:
        self.clock = clock
        self.sessions = sessions
        self.faults = faults
        self.token: str | None = None
        self.admin_keys: dict = {}
        self.messages = None  # the gatekeeper's AuthorizationMessages

    def __call__(self, environ, start_response):
        return self._answer(Request(environ))(environ, start_response)

    def _answer(self, request: Request) -> Response:
        if not self._authorized(request.headers.get(TOKEN_HEADER, "")):
            return _json({"error": "a valid control token is required"}, 403)
        route = request.path.removeprefix("/_labkit/")
        handler = getattr(self, "do_" + route.replace("/", "_"), None)
        if handler is None or route not in ROUTES:
            return _json({"error": f"no such control path: {request.path}"}, 404)
        try:
            return _json(handler(request))
        except ValueError as exc:
            return _json({"error": str(exc)}, 400)
        except Exception:  # never werkzeug's HTML 500: the caller reads JSON
            logging.getLogger("labkit.sandbox").exception("control %s failed", route)
            return _json({"error": f"'{route}' failed inside the sandbox: see sandbox.log"}, 500)

    def _authorized(self, given: str) -> bool:
        """The token, compared in constant time as bytes: any header value (non-ASCII too) is a
        plain no, never an error."""
        if not self.token:
            return False
        try:
            return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self.token.encode())
        except (TypeError, UnicodeError):
            return False

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
        self.clock.advance(_number(request, "seconds"))
        return self._clock()

    def do_clock_reset(self, request: Request) -> dict:
        self.clock.reset()
        return self._clock()

    def do_faults(self, request: Request) -> dict:
        iam_delay = _number(request, "iam_delay", optional=True)
        throttle = _number(request, "throttle", optional=True)
        if iam_delay is not None and not 0 <= iam_delay <= MAX_IAM_DELAY:
            raise ValueError(f"iam_delay must be 0 to {MAX_IAM_DELAY:.0f} seconds, not {iam_delay:g}")
        if throttle is not None and not 0 <= throttle <= 1:
            raise ValueError(f"throttle must be a share from 0 to 1, not {throttle:g}")
        self.faults.configure(iam_delay, throttle)
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


def _number(request: Request, name: str, optional: bool = False) -> float | None:
    """A finite number from the query string; ValueError (a 400) for anything else."""
    text = request.args.get(name)
    if text is None and optional:
        return None
    try:
        value = float(text or "")
    except (ValueError, OverflowError):
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {(text or '')[:40]!r}")
    return value


def _json(payload: dict, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")
