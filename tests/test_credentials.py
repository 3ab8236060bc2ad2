"""labkit.credentials: parsing AssumeRole output, masking, export formats, environ, profiles."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from labkit import credentials, workspace
from labkit.credentials import (
    FORMATS,
    TemporaryCredentials,
    apply_to_environ,
    credential_process_json,
    exported,
    mask,
    render,
    render_masked,
    restore_environ,
    write_profile,
)
from labkit.errors import LabError

AKID = "ASIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEJr//////////wEaDHmZ+token/with+base64=="
EXPIRES = datetime(2026, 11, 28, 13, 11, 40, tzinfo=UTC)

# The shape the walk-through shows (AWS CLI v1 JSON output, Expiration with a Z).
CLI_OUTPUT = textwrap.dedent(
    f"""\
    {{
        "AssumedRoleUser": {{
            "AssumedRoleId": "AROA3XFRBF535PLBIFPI4:sts-session",
            "Arn": "arn:aws:sts::123456789012:assumed-role/sts_role/sts-session"
        }},
        "Credentials": {{
            "SecretAccessKey": "{SECRET}",
            "SessionToken": "{TOKEN}",
            "Expiration": "2020-02-29T03:29:34Z",
            "AccessKeyId": "{AKID}"
        }}
    }}
    """
)


@pytest.fixture
def creds() -> TemporaryCredentials:
    return TemporaryCredentials(AKID, SECRET, TOKEN, EXPIRES)


@pytest.fixture
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "lab"))
    return tmp_path / "lab"


# --- parsing -------------------------------------------------------------------------------


def test_from_json_reads_the_walk_through_output() -> None:
    parsed = TemporaryCredentials.from_json(CLI_OUTPUT)
    assert parsed.access_key_id == AKID
    assert parsed.secret_access_key == SECRET
    assert parsed.session_token == TOKEN
    assert parsed.expiration == datetime(2020, 2, 29, 3, 29, 34, tzinfo=UTC)
    assert parsed.expiration.tzinfo is UTC


def test_from_json_accepts_offset_expiration() -> None:
    text = CLI_OUTPUT.replace("2020-02-29T03:29:34Z", "2026-11-28T22:11:40+09:00")
    assert TemporaryCredentials.from_json(text).expiration == EXPIRES


def test_from_json_accepts_fractional_seconds() -> None:
    """The AWS CLI against moto prints `2026-11-28T13:21:11.759238Z`."""
    text = CLI_OUTPUT.replace("2020-02-29T03:29:34Z", "2026-11-28T13:11:40.759238Z")
    parsed = TemporaryCredentials.from_json(text)
    assert parsed.expiration.replace(microsecond=0) == EXPIRES
    assert credential_process_json(parsed).endswith('"Expiration": "2026-11-28T13:11:40Z"}')


def test_from_json_accepts_credential_process_form(creds: TemporaryCredentials) -> None:
    assert TemporaryCredentials.from_json(credential_process_json(creds)) == creds


def test_from_json_accepts_query_credentials_output() -> None:
    inner = json.loads(CLI_OUTPUT)["Credentials"]
    assert TemporaryCredentials.from_json(json.dumps(inner)).access_key_id == AKID


def test_from_json_without_token_or_expiration() -> None:
    parsed = TemporaryCredentials.from_json(
        json.dumps({"Version": 1, "AccessKeyId": AKID, "SecretAccessKey": SECRET})
    )
    assert parsed.session_token is None
    assert parsed.expiration is None


def test_from_assume_role_response_with_boto3_datetime() -> None:
    tz = timezone(timedelta(hours=9))
    resp = {
        "Credentials": {
            "AccessKeyId": AKID,
            "SecretAccessKey": SECRET,
            "SessionToken": TOKEN,
            "Expiration": datetime(2026, 11, 28, 22, 11, 40, tzinfo=tz),
        },
        "AssumedRoleUser": {"AssumedRoleId": "x:s", "Arn": "arn:aws:sts::1:assumed-role/r/s"},
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }
    parsed = TemporaryCredentials.from_assume_role_response(resp)
    assert parsed == TemporaryCredentials(AKID, SECRET, TOKEN, EXPIRES)
    assert parsed.expiration.tzinfo is UTC


def test_naive_expiration_is_taken_as_utc() -> None:
    naive = TemporaryCredentials(AKID, SECRET, TOKEN, datetime(2026, 11, 28, 13, 11, 40))
    assert naive.expiration == EXPIRES


@pytest.mark.parametrize("text", ["", "   \n", "\n\n"])
def test_empty_input_says_to_pipe(text: str) -> None:
    with pytest.raises(LabError) as err:
        TemporaryCredentials.from_json(text)
    assert str(err.value) == (
        "No JSON on standard input: pipe the output of `aws sts assume-role ...` "
        "into `labkit creds export`."
    )


def test_malformed_json_gives_line_and_column() -> None:
    with pytest.raises(LabError) as err:
        TemporaryCredentials.from_json('{\n  "Credentials": {\n    "AccessKeyId": \n')
    message = str(err.value)
    assert message.startswith("The input is not valid JSON:")
    assert "line 4, column 1" in message
    assert "aws sts assume-role" in message


def test_text_output_hints_at_output_json() -> None:
    with pytest.raises(LabError, match="--output json"):
        TemporaryCredentials.from_json("CREDENTIALS\tASIA...\t2020-02-29T03:29:34Z\n")


def test_json_without_credentials_names_the_keys() -> None:
    with pytest.raises(LabError) as err:
        TemporaryCredentials.from_json('{"AssumedRoleUser": {}, "PackedPolicySize": 6}')
    message = str(err.value)
    assert "no 'Credentials'" in message
    assert "AssumedRoleUser, PackedPolicySize" in message


def test_credentials_missing_keys_are_named() -> None:
    with pytest.raises(LabError) as err:
        TemporaryCredentials.from_json('{"Credentials": {"SessionToken": "abc"}}')
    assert "missing AccessKeyId and SecretAccessKey" in str(err.value)


def test_json_array_is_rejected() -> None:
    with pytest.raises(LabError, match="JSON object"):
        TemporaryCredentials.from_json("[1, 2]")


def test_bad_expiration_is_explained() -> None:
    with pytest.raises(LabError, match="not an ISO 8601 time"):
        TemporaryCredentials.from_json(CLI_OUTPUT.replace("2020-02-29T03:29:34Z", "tomorrow"))


def test_wrong_credential_process_version() -> None:
    with pytest.raises(LabError, match='"Version": 1'):
        TemporaryCredentials.from_json(
            json.dumps({"Version": 2, "AccessKeyId": AKID, "SecretAccessKey": SECRET})
        )


def test_response_without_credentials() -> None:
    with pytest.raises(LabError, match="it has: ResponseMetadata"):
        TemporaryCredentials.from_assume_role_response({"ResponseMetadata": {}})


def test_values_with_spaces_are_refused() -> None:
    with pytest.raises(LabError, match="SecretAccessKey contains spaces"):
        TemporaryCredentials(AKID, SECRET + "\n")


# --- masking -------------------------------------------------------------------------------


def test_mask_like_aws_configure_list() -> None:
    assert mask(AKID) == "****************MPLE"
    assert mask(SECRET) == "****************EKEY"
    assert mask("short") == "*" * 16
    assert mask("") == ""


def test_repr_and_str_never_show_secrets(creds: TemporaryCredentials) -> None:
    for text in (repr(creds), str(creds), f"{creds}", repr([creds])):
        assert SECRET not in text and TOKEN not in text and AKID not in text
        assert "****************EKEY" in text
        assert "2026-11-28T13:11:40Z" in text


def test_masked_dict(creds: TemporaryCredentials) -> None:
    assert creds.masked() == {
        "access_key_id": "****************MPLE",
        "secret_access_key": "****************EKEY",
        "session_token": "****************64==",
        "expiration": "2026-11-28T13:11:40Z",
    }
    assert TemporaryCredentials(AKID, SECRET).masked()["session_token"] is None


# --- rendering -----------------------------------------------------------------------------


def test_bash_is_the_walk_through_lines(creds: TemporaryCredentials) -> None:
    expected = (
        f'export AWS_ACCESS_KEY_ID="{AKID}"\n'
        f'export AWS_SECRET_ACCESS_KEY="{SECRET}"\n'
        f'export AWS_SESSION_TOKEN="{TOKEN}"'
    )
    assert render(creds, "bash") == expected
    assert render(creds, "zsh") == expected


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (
            "fish",
            f'set -gx AWS_ACCESS_KEY_ID "{AKID}"\n'
            f'set -gx AWS_SECRET_ACCESS_KEY "{SECRET}"\n'
            f'set -gx AWS_SESSION_TOKEN "{TOKEN}"',
        ),
        (
            "powershell",
            f'$Env:AWS_ACCESS_KEY_ID = "{AKID}"\n'
            f'$Env:AWS_SECRET_ACCESS_KEY = "{SECRET}"\n'
            f'$Env:AWS_SESSION_TOKEN = "{TOKEN}"',
        ),
        (
            "cmd",
            f"set AWS_ACCESS_KEY_ID={AKID}\n"
            f"set AWS_SECRET_ACCESS_KEY={SECRET}\n"
            f"set AWS_SESSION_TOKEN={TOKEN}",
        ),
        (
            "dotenv",
            f"AWS_ACCESS_KEY_ID={AKID}\nAWS_SECRET_ACCESS_KEY={SECRET}\nAWS_SESSION_TOKEN={TOKEN}",
        ),
        (
            "json",
            f'{{"Version": 1, "AccessKeyId": "{AKID}", "SecretAccessKey": "{SECRET}", '
            f'"SessionToken": "{TOKEN}", "Expiration": "2026-11-28T13:11:40Z"}}',
        ),
    ],
)
def test_each_format(creds: TemporaryCredentials, fmt: str, expected: str) -> None:
    assert render(creds, fmt) == expected


def test_every_format_is_tested() -> None:
    assert set(FORMATS) == {"bash", "zsh", "fish", "powershell", "cmd", "dotenv", "json"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_token_no_token_line(fmt: str) -> None:
    text = render(TemporaryCredentials(AKID, SECRET), fmt)
    assert "SESSION_TOKEN" not in text and "SessionToken" not in text
    assert AKID in text and SECRET in text


def test_json_without_expiration_omits_it() -> None:
    data = json.loads(credential_process_json(TemporaryCredentials(AKID, SECRET, TOKEN)))
    assert data == {
        "Version": 1,
        "AccessKeyId": AKID,
        "SecretAccessKey": SECRET,
        "SessionToken": TOKEN,
    }


def test_unknown_format_lists_valid_ones(creds: TemporaryCredentials) -> None:
    with pytest.raises(LabError) as err:
        render(creds, "tcsh")
    assert str(err.value) == (
        "Unknown format 'tcsh': choose one of bash, zsh, fish, powershell, cmd, dotenv, json."
    )


def test_format_name_is_case_insensitive(creds: TemporaryCredentials) -> None:
    assert render(creds, "PowerShell") == render(creds, "powershell")


@pytest.mark.parametrize("fmt", FORMATS)
def test_render_masked_hides_every_secret(creds: TemporaryCredentials, fmt: str) -> None:
    text = render_masked(creds, fmt)
    for secret in (AKID, SECRET, TOKEN):
        assert secret not in text
    assert mask(SECRET) in text
    assert text.count("\n") == render(creds, fmt).count("\n")


def test_render_masked_bash_text(creds: TemporaryCredentials) -> None:
    assert render_masked(creds, "bash") == (
        'export AWS_ACCESS_KEY_ID="****************MPLE"\n'
        'export AWS_SECRET_ACCESS_KEY="****************EKEY"\n'
        f'export AWS_SESSION_TOKEN="{mask(TOKEN)}"'
    )


def _bash_echo(script: str) -> list[str]:
    result = subprocess.run(
        [
            "bash",
            "-c",
            'eval "$1"; printf "%s\\n" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" '
            '"${AWS_SESSION_TOKEN-unset}"',
            "bash",
            script,
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    return result.stdout.splitlines()


def test_bash_export_really_works_in_bash(creds: TemporaryCredentials) -> None:
    assert _bash_echo(render(creds, "bash")) == [AKID, SECRET, TOKEN]
    assert _bash_echo(render(TemporaryCredentials(AKID, SECRET), "bash")) == [AKID, SECRET, "unset"]


def test_bash_quoting_of_awkward_values() -> None:
    awkward = TemporaryCredentials("AKID$HOME`x`", "it's\"a\\secret!$(id)", "tok;en|&")
    text = render(awkward, "bash")
    assert _bash_echo(text) == ["AKID$HOME`x`", "it's\"a\\secret!$(id)", "tok;en|&"]


def test_cmd_refuses_unsafe_characters() -> None:
    with pytest.raises(LabError, match="--format powershell"):
        render(TemporaryCredentials(AKID, "abc%PATH%def"), "cmd")


# --- the process environment ---------------------------------------------------------------


def test_apply_and_restore_round_trip(creds: TemporaryCredentials) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": "AKIAOLDOLDOLDOLDOLD1",
        "AWS_PROFILE": "learner",
        "AWS_SECURITY_TOKEN": "stale",
        "HOME": "/home/learner",
    }
    before = dict(env)
    previous = apply_to_environ(creds, env)
    assert env == {
        "AWS_ACCESS_KEY_ID": AKID,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "HOME": "/home/learner",
    }
    assert previous["AWS_PROFILE"] == "learner"
    assert previous["AWS_SECRET_ACCESS_KEY"] is None
    restore_environ(previous, env)
    assert env == before


def test_apply_without_token_removes_a_stale_one() -> None:
    env = {"AWS_SESSION_TOKEN": "old-token"}
    previous = apply_to_environ(TemporaryCredentials(AKID, SECRET), env)
    assert "AWS_SESSION_TOKEN" not in env
    restore_environ(previous, env)
    assert env == {"AWS_SESSION_TOKEN": "old-token"}


def test_exported_context_manager_uses_os_environ(
    creds: TemporaryCredentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in credentials.managed_variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_PROFILE", "learner")
    with exported(creds) as inside:
        assert inside is creds
        assert os.environ["AWS_SECRET_ACCESS_KEY"] == SECRET
        assert "AWS_PROFILE" not in os.environ
    assert os.environ["AWS_PROFILE"] == "learner"
    assert "AWS_ACCESS_KEY_ID" not in os.environ
    assert "AWS_SESSION_TOKEN" not in os.environ


def test_exported_restores_after_an_error(creds: TemporaryCredentials) -> None:
    env: dict[str, str] = {}
    with pytest.raises(RuntimeError), exported(creds, env):
        raise RuntimeError("boom")
    assert env == {}


def test_boto3_uses_the_applied_keys(
    creds: TemporaryCredentials, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A leftover AWS_PROFILE naming a missing profile would break boto3; apply removes it."""
    boto3 = pytest.importorskip("boto3")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none-credentials"))
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile")
    with exported(creds):
        found = boto3.Session().get_credentials().get_frozen_credentials()
    assert (found.access_key, found.secret_key, found.token) == (AKID, SECRET, TOKEN)


def test_botocore_accepts_our_credential_process_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3 = pytest.importorskip("boto3")
    future = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    later = TemporaryCredentials(AKID, SECRET, TOKEN, future)
    script = tmp_path / "process.py"
    script.write_text(f"print({credential_process_json(later)!r})\n")
    config = tmp_path / "config"
    config.write_text(f"[profile lab]\ncredential_process = {sys.executable} {script}\n")
    for name in credentials.managed_variables():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    found = boto3.Session(profile_name="lab").get_credentials()
    frozen = found.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (AKID, SECRET, TOKEN)


# --- the lab-local credentials file --------------------------------------------------------


def test_write_profile_is_private_and_keeps_others(
    creds: TemporaryCredentials, lab_home: Path
) -> None:
    workspace.write_credentials_profile("learner", "AKIAOTHER0000000000", "other-secret")
    path = write_profile(creds, "sts-session")
    assert path == lab_home / "aws-credentials"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert workspace.read_credentials_profile("learner") == {
        "aws_access_key_id": "AKIAOTHER0000000000",
        "aws_secret_access_key": "other-secret",
    }
    assert workspace.read_credentials_profile("sts-session") == {
        "aws_access_key_id": AKID,
        "aws_secret_access_key": SECRET,
        "aws_session_token": TOKEN,
    }


def test_write_profile_replaces_and_reads_back(creds: TemporaryCredentials, lab_home: Path) -> None:
    write_profile(TemporaryCredentials("AKIAFIRST0000000000", "first"), "s")
    write_profile(creds, "s")
    assert credentials.read_profile("s") == TemporaryCredentials(AKID, SECRET, TOKEN)


def test_write_profile_to_explicit_path(creds: TemporaryCredentials, tmp_path: Path) -> None:
    target = tmp_path / "creds.ini"
    assert write_profile(creds, "x", path=target) == target
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert credentials.read_profile("x", path=target).session_token == TOKEN


def test_bad_profile_name(creds: TemporaryCredentials, lab_home: Path) -> None:
    with pytest.raises(LabError, match="not a usable profile name"):
        write_profile(creds, "bad name]")


def test_read_missing_profile_says_how_to_write_it(lab_home: Path) -> None:
    with pytest.raises(LabError, match="labkit creds export --profile nope"):
        credentials.read_profile("nope")
