"""Temporary credentials from AssumeRole: parse them, show them masked, export them.

The walk-through runs `aws sts assume-role ...`, copies three values out of the JSON, and
types three `export` lines. This module does the same steps, for every common shell, without
ever printing a secret in full unless asked to render it for a shell.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from labkit import workspace
from labkit.errors import LabError

FORMATS = ("bash", "zsh", "fish", "powershell", "cmd", "dotenv", "json")

ACCESS_KEY_VAR = "AWS_ACCESS_KEY_ID"
SECRET_KEY_VAR = "AWS_SECRET_ACCESS_KEY"
SESSION_TOKEN_VAR = "AWS_SESSION_TOKEN"

# Variables that would change which credentials an SDK or the AWS CLI uses, beside the three
# keys: a profile name (AWS_PROFILE, or the older AWS_DEFAULT_PROFILE), the legacy token name
# botocore still reads, and an expiry botocore would attach to *our* keys.
_CONFLICTING_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
)

_MASK_STARS = 16
_MASK_SHOWN = 4
_MASK_MIN_LENGTH = 16  # below this, showing the last 4 characters would give away too much

_PIPE_HINT = "pipe the output of `aws sts assume-role ...` into `labkit creds export`"
_FIELD_KEYS = {
    "access_key_id": "AccessKeyId",
    "secret_access_key": "SecretAccessKey",
    "session_token": "SessionToken",
}
_SAFE_VALUE = re.compile(r"[A-Za-z0-9+/=_.:,@%-]*")
_PROFILE_NAME = re.compile(r"[A-Za-z0-9_.@+-]+")


def mask(secret: str) -> str:
    """Mask `secret` as `aws configure list` does: `****************ABCD`.

    Only the last four characters stay visible, and only for values of 16 characters or more
    (access keys are usually 20 characters, secret keys usually 40); shorter values become 16
    asterisks.
    """
    if not secret:
        return ""
    if len(secret) < _MASK_MIN_LENGTH:
        return "*" * _MASK_STARS
    return "*" * _MASK_STARS + secret[-_MASK_SHOWN:]


def format_expiration(expiration: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as credential_process expects: `2026-11-28T13:11:40Z`."""
    return expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, repr=False)
class TemporaryCredentials:
    """The three values STS hands out, plus when they stop working (an aware UTC datetime)."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    expiration: datetime | None = None

    def __post_init__(self) -> None:
        for name in ("access_key_id", "secret_access_key", "session_token"):
            _check_value(name, getattr(self, name), optional=name == "session_token")
        if self.expiration is not None:
            object.__setattr__(self, "expiration", _as_utc(self.expiration))

    def __repr__(self) -> str:
        shown = ", ".join(f"{key}={value!r}" for key, value in self.masked().items())
        return f"TemporaryCredentials({shown})"

    __str__ = __repr__

    def masked(self) -> dict[str, str | None]:
        """Every field, with the secrets masked and the expiration as ISO 8601 text."""
        return {
            "access_key_id": mask(self.access_key_id),
            "secret_access_key": mask(self.secret_access_key),
            "session_token": mask(self.session_token) if self.session_token else None,
            "expiration": format_expiration(self.expiration) if self.expiration else None,
        }

    def masked_copy(self) -> TemporaryCredentials:
        """The same credentials with masked values, safe to render for display."""
        return replace(
            self,
            access_key_id=mask(self.access_key_id),
            secret_access_key=mask(self.secret_access_key),
            session_token=mask(self.session_token) if self.session_token else None,
        )

    @classmethod
    def from_assume_role_response(cls, resp: Mapping[str, Any]) -> TemporaryCredentials:
        """From boto3's `sts.assume_role(...)` response (its `Credentials` part)."""
        if not isinstance(resp, Mapping):
            raise LabError(
                "Expected the dictionary that `sts.assume_role(...)` returns, "
                f"got {type(resp).__name__}: pass the whole response."
            )
        if "Credentials" not in resp:
            raise LabError(
                "The AssumeRole response has no 'Credentials' key "
                f"(it has: {_key_list(resp)}): pass the whole response of `sts.assume_role(...)`."
            )
        return cls._from_credentials(resp["Credentials"], where="'Credentials'")

    @classmethod
    def from_json(cls, text: str) -> TemporaryCredentials:
        """From the JSON `aws sts assume-role` prints, or from credential_process JSON."""
        data = _load_json(text)
        if "Credentials" in data:
            return cls._from_credentials(data["Credentials"], where="'Credentials'")
        if "AccessKeyId" in data:
            _check_version(data)
            return cls._from_credentials(data, where="the JSON")
        raise LabError(
            "The JSON has no 'Credentials' and no 'AccessKeyId' "
            f"(it has: {_key_list(data)}): {_PIPE_HINT}, with `--output json`."
        )

    @classmethod
    def _from_credentials(cls, creds: Any, where: str) -> TemporaryCredentials:
        if not isinstance(creds, Mapping):
            raise LabError(f"{where} should be an object with AccessKeyId, SecretAccessKey, ...")
        missing = [key for key in ("AccessKeyId", "SecretAccessKey") if not creds.get(key)]
        if missing:
            raise LabError(
                f"{where} is missing {' and '.join(missing)} "
                f"(it has: {_key_list(creds)}): {_PIPE_HINT}, unchanged."
            )
        expiration = creds.get("Expiration")
        return cls(
            access_key_id=creds["AccessKeyId"],
            secret_access_key=creds["SecretAccessKey"],
            session_token=creds.get("SessionToken") or None,
            expiration=_parse_expiration(expiration) if expiration else None,
        )


def _check_value(name: str, value: Any, optional: bool) -> None:
    """A credential value must be a non-empty string without spaces or control characters."""
    if value is None and optional:
        return
    label = _FIELD_KEYS[name]
    if not isinstance(value, str) or not value:
        raise LabError(f"{label} must be a non-empty string: copy it from the AssumeRole output.")
    if any(ch.isspace() or not ch.isprintable() for ch in value):
        raise LabError(
            f"{label} contains spaces, line breaks or control characters: "
            "copy it again from the AssumeRole output, without extra characters."
        )


def _as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already (as STS reports)."""
    if not isinstance(moment, datetime):
        raise LabError(f"Expiration must be a date and time, got {type(moment).__name__}.")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_expiration(value: Any) -> datetime:
    """A datetime (boto3) or ISO 8601 text (`2020-02-29T03:29:34Z`, `...+00:00`) in UTC."""
    if isinstance(value, datetime):
        return _as_utc(value)
    if isinstance(value, str):
        try:
            return _as_utc(datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise LabError(
        f"Expiration {value!r} is not an ISO 8601 time such as 2020-02-29T03:29:34Z: "
        "pass the AssumeRole output unchanged."
    )


def _load_json(text: str) -> dict[str, Any]:
    """Parse `text` as a JSON object, with messages that say what to do instead."""
    if not text or not text.strip():
        raise LabError(f"No JSON on standard input: {_PIPE_HINT}.")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = (
            " (it looks like `--output text` or `table`: add `--output json`)"
            if not text.lstrip().startswith(("{", "["))
            else ""
        )
        raise LabError(
            f"The input is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
            f"{hint}; {_PIPE_HINT}, unchanged."
        ) from None
    if not isinstance(data, dict):
        raise LabError(
            f"Expected a JSON object ({{...}}), got a JSON {type(data).__name__}: "
            f"{_PIPE_HINT}, without `--query`."
        )
    return data


def _check_version(data: Mapping[str, Any]) -> None:
    """credential_process JSON declares Version 1; anything else is not that format."""
    version = data.get("Version", 1)
    if version != 1:
        raise LabError(
            f'credential_process JSON must have "Version": 1, not {version!r}: change it to 1.'
        )


def _key_list(data: Mapping[str, Any]) -> str:
    return ", ".join(str(key) for key in data) or "no keys"


# --- rendering ---------------------------------------------------------------------------


def _pairs(creds: TemporaryCredentials) -> list[tuple[str, str]]:
    """(variable, value) in the walk-through's order; no token line when there is no token."""
    pairs = [(ACCESS_KEY_VAR, creds.access_key_id), (SECRET_KEY_VAR, creds.secret_access_key)]
    if creds.session_token:
        pairs.append((SESSION_TOKEN_VAR, creds.session_token))
    return pairs


def _posix_quote(value: str) -> str:
    """Double quotes as the walk-through writes them; single quotes if the value needs it."""
    if _SAFE_VALUE.fullmatch(value.replace("*", "")):
        return f'"{value}"'
    return shlex.quote(value)


def _fish_quote(value: str) -> str:
    if _SAFE_VALUE.fullmatch(value.replace("*", "")):
        return f'"{value}"'
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _powershell_quote(value: str) -> str:
    if _SAFE_VALUE.fullmatch(value.replace("*", "")):
        return f'"{value}"'
    return "'" + value.replace("'", "''") + "'"


def _cmd_value(value: str) -> str:
    if any(ch in value for ch in '%!^&|<>"'):
        raise LabError(
            'A credential contains a character cmd.exe cannot set safely (% ! ^ & | < > "): '
            "use --format powershell instead."
        )
    return value


def _dotenv_value(value: str) -> str:
    if _SAFE_VALUE.fullmatch(value.replace("*", "")):
        return value
    if "'" not in value:
        return f"'{value}'"
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _render_lines(pairs: list[tuple[str, str]], fmt: str) -> list[str]:
    if fmt in ("bash", "zsh"):
        return [f"export {name}={_posix_quote(value)}" for name, value in pairs]
    if fmt == "fish":
        return [f"set -gx {name} {_fish_quote(value)}" for name, value in pairs]
    if fmt == "powershell":
        return [f"$Env:{name} = {_powershell_quote(value)}" for name, value in pairs]
    if fmt == "cmd":
        return [f"set {name}={_cmd_value(value)}" for name, value in pairs]
    return [f"{name}={_dotenv_value(value)}" for name, value in pairs]


def check_format(fmt: str) -> str:
    """The format name, lower-cased, or a LabError listing the valid ones."""
    name = str(fmt).strip().lower()
    if name not in FORMATS:
        raise LabError(f"Unknown format {fmt!r}: choose one of {', '.join(FORMATS)}.")
    return name


def render(creds: TemporaryCredentials, fmt: str) -> str:
    """The text that sets these credentials in `fmt` (see FORMATS); no trailing newline.

    This text holds the secrets in full: print it for a shell to `eval`, never display it
    in a notebook (use `render_masked`).
    """
    name = check_format(fmt)
    if name == "json":
        return credential_process_json(creds)
    return "\n".join(_render_lines(_pairs(creds), name))


def render_masked(creds: TemporaryCredentials, fmt: str) -> str:
    """The same text as `render`, with every secret masked: safe to display."""
    return render(creds.masked_copy(), fmt)


def credential_process_json(creds: TemporaryCredentials) -> str:
    """The JSON a `credential_process` command prints (Version 1, Expiration in UTC with Z)."""
    data: dict[str, Any] = {
        "Version": 1,
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
    }
    if creds.session_token:
        data["SessionToken"] = creds.session_token
    if creds.expiration:
        data["Expiration"] = format_expiration(creds.expiration)
    return json.dumps(data)


# --- the running Python process (a notebook kernel) ---------------------------------------


def managed_variables() -> tuple[str, ...]:
    """Every variable `apply_to_environ` may set or remove."""
    return (ACCESS_KEY_VAR, SECRET_KEY_VAR, SESSION_TOKEN_VAR, *_CONFLICTING_VARS)


def apply_to_environ(
    creds: TemporaryCredentials, environ: MutableMapping[str, str] | None = None
) -> dict[str, str | None]:
    """Put `creds` into the environment, as the walk-through's three `export` lines do.

    Also removes AWS_PROFILE and the like. botocore reads environment keys before any
    profile unless a profile is passed explicitly, but a leftover AWS_PROFILE naming a
    profile that does not exist makes every client fail, and learners then cannot tell which
    credentials are in use. A stale AWS_SESSION_TOKEN is removed when `creds` have none.

    Returns the previous values (None for unset) for `restore_environ`.
    """
    env = os.environ if environ is None else environ
    previous = {name: env.get(name) for name in managed_variables()}
    for name in (SESSION_TOKEN_VAR, *_CONFLICTING_VARS):
        env.pop(name, None)
    for name, value in _pairs(creds):
        env[name] = value
    return previous


def restore_environ(
    previous: Mapping[str, str | None], environ: MutableMapping[str, str] | None = None
) -> None:
    """Undo `apply_to_environ`: restore each value, and unset what was unset before."""
    env = os.environ if environ is None else environ
    for name, value in previous.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value


@contextmanager
def exported(
    creds: TemporaryCredentials, environ: MutableMapping[str, str] | None = None
) -> Iterator[TemporaryCredentials]:
    """`with exported(creds): ...` runs the block with `creds` in the environment."""
    previous = apply_to_environ(creds, environ)
    try:
        yield creds
    finally:
        restore_environ(previous, environ)


# --- the lab-local credentials file -------------------------------------------------------


def check_profile_name(profile: str) -> str:
    """A profile name usable as an INI section and on the command line."""
    if not isinstance(profile, str) or not _PROFILE_NAME.fullmatch(profile):
        raise LabError(
            f"{profile!r} is not a usable profile name: use letters, digits and - _ . @ +, "
            "for example sts-session."
        )
    return profile


def write_profile(creds: TemporaryCredentials, profile: str, path: Path | None = None) -> Path:
    """Add or replace `[profile]` in the lab-local credentials file (mode 0600; others kept)."""
    check_profile_name(profile)
    try:
        return workspace.write_credentials_profile(
            profile,
            creds.access_key_id,
            creds.secret_access_key,
            creds.session_token,
            path=path,
        )
    except OSError as exc:
        target = path or workspace.credentials_file()
        raise LabError(
            f"Could not write {target}: {exc.strerror or exc}; check that LABKIT_HOME is writable."
        ) from None


def read_profile(profile: str, path: Path | None = None) -> TemporaryCredentials:
    """The credentials stored as `[profile]` in the lab-local credentials file."""
    check_profile_name(profile)
    target = path or workspace.credentials_file()
    stored = workspace.read_credentials_profile(profile, path=target)
    if stored is None:
        raise LabError(
            f"There is no profile {profile!r} in {target}: write it first with "
            f"`labkit creds export --profile {profile}`."
        )
    if not stored.get("aws_access_key_id") or not stored.get("aws_secret_access_key"):
        raise LabError(
            f"Profile {profile!r} in {target} lacks aws_access_key_id or aws_secret_access_key: "
            f"write it again with `labkit creds export --profile {profile}`."
        )
    return TemporaryCredentials(
        access_key_id=stored["aws_access_key_id"],
        secret_access_key=stored["aws_secret_access_key"],
        session_token=stored.get("aws_session_token") or None,
    )


__all__ = [
    "FORMATS",
    "TemporaryCredentials",
    "apply_to_environ",
    "check_format",
    "credential_process_json",
    "exported",
    "format_expiration",
    "mask",
    "read_profile",
    "render",
    "render_masked",
    "restore_environ",
    "write_profile",
]
