"""MFA codes as STS checks them: TOTP (RFC 6238) with pyotp, on the sandbox clock, each code once.

AssumeRole and GetSessionToken take `SerialNumber` and `TokenCode`. The code must be the one the
user's MFA device shows now (30-second steps, one step of drift either way, as authenticator apps
and AWS allow), and a code that was already accepted for that device and time step is refused
again: AWS answers both with the same AccessDenied ("MultiFactorAuthentication failed with invalid
MFA one time pass code."). A serial number that is not one of the caller's devices gets AWS's
"unable to validate MFA code" AccessDenied. Texts: awserrors.STS_SESSION_ERRORS.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import pyotp
from pyotp.utils import strings_equal

from labkit.sandbox import awserrors
from labkit.sandbox.principals import Identity, iam

DRIFT = 1  # time steps accepted either side of the current one
_SIX_DIGITS = re.compile(r"\d{6}")


class UsedCodes:
    """The (device, time step) pairs whose code STS already accepted: a code works once."""

    def __init__(self) -> None:
        self._used: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    def claim(self, serial: str, step: int) -> bool:
        """Mark the step's code used; False when it already was."""
        with self._lock:
            if (serial, step) in self._used:
                return False
            self._used.add((serial, step))
            return True

    def clear(self) -> None:
        with self._lock:
            self._used.clear()


def matching_step(seed_base32: str, code: str, at: datetime) -> int | None:
    """The time step (within DRIFT of `at`) whose TOTP code is `code`, or None (pyotp)."""
    try:
        totp = pyotp.TOTP(seed_base32)
        now = totp.timecode(at)
        for step in sorted(range(now - DRIFT, now + DRIFT + 1), key=lambda s: abs(s - now)):
            if strings_equal(totp.generate_otp(step), code):
                return step
    except (ValueError, TypeError):  # not a base32 seed
        return None
    return None


def code_at(seed_base32: str, at: datetime) -> str:
    """The code a device with this seed shows at `at` (what an authenticator app displays)."""
    return pyotp.TOTP(seed_base32).at(at)


def verify(identity: Identity, params: Mapping[str, Any], now: datetime, used: UsedCodes) -> bool:
    """Did the caller prove MFA? False when the call carries no SerialNumber and TokenCode.

    Raises AwsError (AccessDenied) for a device that is not the caller's, a wrong code or a code
    already used, as STS does. Only an IAM user (its long-term keys or a GetSessionToken session)
    has MFA devices.
    """
    serial, code = params.get("SerialNumber"), params.get("TokenCode")
    if not serial or not code:
        return False
    device = _device_of(identity, serial)
    if device is None:
        raise awserrors.mfa_error("unknown_device")
    if device is _HARDWARE:  # a device the sandbox holds no seed for: any six digits, once
        step = int(now.timestamp()) // 30 if _SIX_DIGITS.fullmatch(code) else None
    else:
        step = matching_step(device, code, now)
    if step is None or not used.claim(serial, step):
        raise awserrors.mfa_error("invalid_code")
    return True


def check_enable(params: Mapping[str, Any], account: str, now: datetime) -> None:
    """EnableMFADevice for a virtual device: AuthenticationCode1 and AuthenticationCode2 must be two
    consecutive codes of that device, the second one current (API_EnableMFADevice.html); else
    InvalidAuthenticationCode (awserrors.IAM_WRITE_ERRORS)."""
    serial = params.get("SerialNumber") or ""
    device = iam(account).virtual_mfa_devices.get(serial)
    if device is None:  # not a virtual device of this account: moto answers as it does
        return
    seed = device.base32_string_seed
    seed = seed.decode() if isinstance(seed, bytes) else seed
    second = matching_step(seed, str(params.get("AuthenticationCode2") or ""), now)
    first = matching_step(seed, str(params.get("AuthenticationCode1") or ""), now - timedelta(seconds=30))
    if second is None or first is None or first != second - 1:
        raise awserrors.iam_write_error("invalid_authentication_code")


_HARDWARE = object()


def _device_of(identity: Identity, serial: str):
    """The seed of the caller's virtual device `serial`, _HARDWARE for another kind, None if the
    caller has no such device."""
    if identity.is_session or not identity.user_name:
        return None
    backend = iam(identity.account)
    user = backend.users.get(identity.user_name)
    if user is None or serial not in user.mfa_devices:
        return None
    virtual = backend.virtual_mfa_devices.get(serial)
    if virtual is None:
        return _HARDWARE
    seed = virtual.base32_string_seed
    return seed.decode() if isinstance(seed, bytes) else seed
