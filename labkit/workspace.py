"""The lab workspace: LABKIT_HOME and the lab-local AWS files (never the learner's ~/.aws).

Every file the lab writes here is written under the workspace's lock, atomically (a unique
temporary name in the same folder, fsync, os.replace) and with mode 0600 from its first byte. The
lab never writes or reads through a symbolic link: a link, or anything that is not a regular file
of this user, where a lab file belongs is refused with a message saying what to remove, and what
it points at is left unchanged.
"""

from __future__ import annotations

import configparser
import errno
import io
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from labkit.errors import LabError

DEFAULT_REGION = "us-east-1"
SANDBOX, AWS = "sandbox", "aws"

FILES_LOCK = ".files.lock"  # held while one of the lab's files is read, changed and written back
SANDBOX_LOCK = ".sandbox.lock"  # held while a sandbox starts or stops in this workspace
LOCK_TIMEOUT = 60.0  # seconds to wait for FILES_LOCK (each holder keeps it a few milliseconds)


def target_kind() -> str:
    """LABKIT_TARGET as the lab reads it everywhere: 'sandbox' (the default) or 'aws'."""
    return (os.environ.get("LABKIT_TARGET") or SANDBOX).strip().lower()


def home() -> Path:
    """The lab workspace folder, created with mode 0700 on first use; a clear LabError if it
    cannot be made or written."""
    path = Path(os.environ.get("LABKIT_HOME") or Path.home() / ".labkit").expanduser().absolute()
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise LabError(_home_problem(path, exc.strerror or str(exc))) from None
    if not path.is_dir():
        raise LabError(_home_problem(path, "it is not a folder"))
    if not os.access(path, os.W_OK | os.X_OK):
        raise LabError(_home_problem(path, "you may not write in it"))
    return path


def _home_problem(path: Path, why: str) -> str:
    return (f"The lab workspace {path} cannot be used ({why}): set LABKIT_HOME to a folder you can "
            "write, e.g. `export LABKIT_HOME=$HOME/.labkit`.")


def state_file() -> Path:
    return home() / "sandbox.json"


def log_file() -> Path:
    return home() / "sandbox.log"


def port_file() -> Path:
    """The port the last sandbox of this workspace listened on (reused when free)."""
    return home() / "sandbox-port"


def config_file() -> Path:
    return home() / "aws-config"


def credentials_file() -> Path:
    return home() / "aws-credentials"


def lab_files() -> list[Path]:
    """The files every sandbox start writes or appends to."""
    return [config_file(), credentials_file(), state_file(), log_file(), port_file()]


# --- the lock ---------------------------------------------------------------------------------------

@contextmanager
def locked(name: str = FILES_LOCK, timeout: float = LOCK_TIMEOUT, waiting_for: str = "",
           folder: Path | None = None) -> Iterator[None]:
    """Hold one of the workspace's locks (re-entrant in a thread; other threads and processes wait).

    `folder` is where the lock lives: the workspace, or the folder of the file being written. The
    lock file is opened without following links (filelock's O_NOFOLLOW) and made 0600."""
    from filelock import FileLock, Timeout

    folder = folder or home()
    lock = FileLock(folder / name, timeout=timeout, mode=0o600, is_singleton=True)
    try:
        lock.acquire()
    except Timeout:
        raise LabError(
            f"Another labkit command has held the lock {folder / name} for {timeout:.0f} s"
            + (f" ({waiting_for})" if waiting_for else "")
            + ": wait for it to finish, or find it with `ps -ef | grep labkit`, then try again."
        ) from None
    except OSError as exc:
        raise LabError(f"Cannot lock {folder / name} ({exc.strerror or exc}): remove it if it is "
                       "not a regular file (`rm` it) and try again.") from None
    try:
        yield
    finally:
        lock.release()


# --- files: read and written without following links ----------------------------------------------

def _not_ours(path: Path, what: str) -> LabError:
    return LabError(
        f"{path} is {what}, not a file the lab wrote: the lab neither reads nor writes through it. "
        f"Remove it (`rm {path}`) and run the command again."
    )


def _check_target(path: Path) -> bool:
    """Is `path` absent (False) or a regular file of this user (True)? Anything else is refused."""
    try:
        found = os.lstat(path)
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(found.st_mode):
        raise _not_ours(path, "a symbolic link")
    if not stat.S_ISREG(found.st_mode):
        raise _not_ours(path, "not a regular file")
    if found.st_uid != os.getuid():
        raise _not_ours(path, f"owned by another user (uid {found.st_uid})")
    return True


def read_private(path: Path) -> str | None:
    """The text of one of the lab's files, or None if it does not exist. Never follows a link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _not_ours(path, "a symbolic link") from None
        raise LabError(f"Cannot read {path} ({exc.strerror}): check the lab workspace's permissions.") from None
    with os.fdopen(fd, "rb") as fh:
        found = os.fstat(fh.fileno())
        if not stat.S_ISREG(found.st_mode):
            raise _not_ours(path, "not a regular file")
        data = fh.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise LabError(f"{path} is not text (UTF-8): move it aside (`mv {path} {path}.bad`) and run "
                       "the command again.") from None


def write_private(path: Path, text: str) -> None:
    """Write one of the lab's files: mode 0600 from its first byte, under the workspace's lock, via a
    unique temporary file that is fsynced and then renamed over it. Refuses links and foreign files."""
    path = Path(path)
    with locked(folder=path.parent):
        _check_target(path)
        try:
            fd = _temporary(path)
        except OSError as exc:
            raise LabError(f"Cannot write {path} ({exc.strerror}): check that the lab workspace "
                           f"{path.parent} is yours and writable.") from None
        tmp = fd[1]
        try:
            with os.fdopen(fd[0], "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            _unlink_quietly(tmp)
            raise LabError(f"Cannot write {path} ({exc.strerror}): nothing was changed; free some "
                           "space or fix the folder's permissions and try again.") from None
        except BaseException:
            _unlink_quietly(tmp)
            raise
        _sync_folder(path.parent)


def _temporary(path: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")  # 0600, O_EXCL


def _unlink_quietly(path: str | Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def open_log() -> int:
    """The sandbox log, opened for appending (0600, never through a link): a file descriptor."""
    path = log_file()
    _check_target(path)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _not_ours(path, "a symbolic link") from None
        raise LabError(f"Cannot write {path} ({exc.strerror}): check the lab workspace's permissions.") from None
    os.fchmod(fd, 0o600)
    return fd


def remove_private(path: Path) -> None:
    """Remove one of the lab's files (a link in its place is refused, not removed)."""
    with locked(folder=path.parent):
        if _check_target(path):
            _unlink_quietly(path)


def secure() -> None:
    """Make the workspace private again: the folder 0700; each file in it 0600 (an executable 0700)
    and each folder in it 0700, which keeps what is inside those folders private too.

    Only the workspace's own entries are changed (no walk down a tree: LABKIT_HOME set to a home
    folder stays cheap and keeps its inner modes). Links are neither followed nor changed: each
    entry is opened with O_NOFOLLOW and changed through its descriptor."""
    root = home()
    os.chmod(root, 0o700)
    with os.scandir(root) as entries:
        for entry in entries:
            _restrict(Path(entry.path))


def _restrict(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return  # a link, gone meanwhile, or unreadable: left alone
    try:
        found = os.fstat(fd)
        mode = stat.S_IMODE(found.st_mode)
        if stat.S_ISDIR(found.st_mode):
            wanted = 0o700
        elif stat.S_ISREG(found.st_mode):
            wanted = mode & 0o700 | 0o600
        else:
            return
        if found.st_uid == os.getuid() and mode != wanted:
            os.fchmod(fd, wanted)
    finally:
        os.close(fd)


# --- the lab-local AWS files ------------------------------------------------------------------------

def _read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    text = read_private(path)
    if text:
        try:
            parser.read_string(text, source=str(path))
        except configparser.Error as exc:
            raise LabError(_ini_problem(path, exc)) from None
    return parser


def _ini_problem(path: Path, exc: configparser.Error) -> str:
    if isinstance(exc, configparser.MissingSectionHeaderError):
        why = f"line {exc.lineno} comes before any [section] header"
    elif isinstance(exc, configparser.ParsingError) and exc.errors:
        lineno, _ = exc.errors[0]
        why = f"line {lineno} is not `name = value`"
    elif isinstance(exc, configparser.DuplicateSectionError | configparser.DuplicateOptionError):
        why = f"[{exc.section}] is there twice (line {exc.lineno})"
    else:
        why = " ".join(str(exc).split())[:120]
    return (f"{path} is not a valid AWS settings file ({why}): fix it, or move it aside "
            f"(`mv {path} {path}.bad`) and restart the sandbox (`labkit sandbox stop`, "
            "`labkit sandbox start`) to write the lab's profiles again.")


def check_lab_files() -> None:
    """Refuse to go on if a lab file is a link or foreign, or an AWS file does not parse."""
    for path in lab_files():
        _check_target(path)
    _read_ini(config_file())
    _read_ini(credentials_file())


def _write_ini(path: Path, parser: configparser.ConfigParser) -> None:
    buf = io.StringIO()
    parser.write(buf)
    write_private(path, buf.getvalue())


@contextmanager
def _editing(path: Path) -> Iterator[configparser.ConfigParser]:
    """Read, change and write back an AWS file as one step: no other writer in between."""
    with locked(folder=path.parent):
        parser = _read_ini(path)
        yield parser
        _write_ini(path, parser)


def write_credentials_profile(
    profile: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
    path: Path | None = None,
) -> Path:
    """Add or replace one profile in the lab-local credentials file; other profiles are kept."""
    path = path or credentials_file()
    with _editing(path) as parser:
        parser[profile] = {
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
        }
        if session_token:
            parser[profile]["aws_session_token"] = session_token
    return path


def remove_credentials_profile(profile: str, path: Path | None = None) -> bool:
    path = path or credentials_file()
    with locked(folder=path.parent):
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
    section = "default" if profile == "default" else f"profile {profile}"
    with _editing(path) as parser:
        parser[section] = settings
    return path


def remove_config_profile(profile: str, path: Path | None = None) -> bool:
    path = path or config_file()
    section = "default" if profile == "default" else f"profile {profile}"
    with locked(folder=path.parent):
        parser = _read_ini(path)
        if not parser.has_section(section):
            return False
        parser.remove_section(section)
        _write_ini(path, parser)
    return True
