"""The lab workspace: LABKIT_HOME and the lab-local AWS files (never the learner's ~/.aws)."""

from __future__ import annotations

import configparser
import os
from pathlib import Path

DEFAULT_REGION = "us-east-1"
SANDBOX, AWS = "sandbox", "aws"


def target_kind() -> str:
    """LABKIT_TARGET as the lab reads it everywhere: 'sandbox' (the default) or 'aws'."""
    return (os.environ.get("LABKIT_TARGET") or SANDBOX).strip().lower()


def home() -> Path:
    """The lab workspace folder, created with mode 0700 on first use."""
    path = Path(os.environ.get("LABKIT_HOME") or Path.home() / ".labkit").expanduser()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def state_file() -> Path:
    return home() / "sandbox.json"


def config_file() -> Path:
    return home() / "aws-config"


def credentials_file() -> Path:
    return home() / "aws-credentials"


def write_private(path: Path, text: str) -> None:
    """Write a file that may hold secrets: mode 0600 from its first byte, replaced atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    if path.exists():
        parser.read(path)
    return parser


def _write_ini(path: Path, parser: configparser.ConfigParser) -> None:
    import io

    buf = io.StringIO()
    parser.write(buf)
    write_private(path, buf.getvalue())


def write_credentials_profile(
    profile: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    path: Path | None = None,
) -> Path:
    """Add or replace one profile in the lab-local credentials file; other profiles are kept."""
    path = path or credentials_file()
    parser = _read_ini(path)
    parser[profile] = {
        "aws_access_key_id": access_key_id,
        "aws_secret_access_key": secret_access_key,
    }
    if session_token:
        parser[profile]["aws_session_token"] = session_token
    _write_ini(path, parser)
    return path


def remove_credentials_profile(profile: str, path: Path | None = None) -> bool:
    path = path or credentials_file()
    parser = _read_ini(path)
    if not parser.has_section(profile):
        return False
    parser.remove_section(profile)
    _write_ini(path, parser)
    return True


def read_credentials_profile(profile: str, path: Path | None = None) -> dict[str, str] | None:
    parser = _read_ini(path or credentials_file())
    return dict(parser[profile]) if parser.has_section(profile) else None


def write_config_profile(profile: str, settings: dict[str, str], path: Path | None = None) -> Path:
    """Add or replace one profile in the lab-local config file (`[profile NAME]`, or `[default]`)."""
    path = path or config_file()
    parser = _read_ini(path)
    section = "default" if profile == "default" else f"profile {profile}"
    parser[section] = settings
    _write_ini(path, parser)
    return path


def remove_config_profile(profile: str, path: Path | None = None) -> bool:
    path = path or config_file()
    parser = _read_ini(path)
    section = "default" if profile == "default" else f"profile {profile}"
    if not parser.has_section(section):
        return False
    parser.remove_section(section)
    _write_ini(path, parser)
    return True
