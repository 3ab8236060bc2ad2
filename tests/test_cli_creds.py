"""`labkit creds export` / `labkit creds process`, driven through a parser like the dispatcher's."""

from __future__ import annotations

import argparse
import io
import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from labkit import credentials, workspace
from labkit.cli.creds import add_parser, run
from labkit.credentials import FORMATS, TemporaryCredentials, render

AKID = "ASIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "FwoGZXIvYXdzEJr//////////wEaDHmZ+token/with+base64=="

CLI_OUTPUT = json.dumps(
    {
        "AssumedRoleUser": {
            "AssumedRoleId": "AROA3XFRBF535PLBIFPI4:sts-session",
            "Arn": "arn:aws:sts::123456789012:assumed-role/sts_role/sts-session",
        },
        "Credentials": {
            "SecretAccessKey": SECRET,
            "SessionToken": TOKEN,
            "Expiration": "2026-11-28T13:11:40+00:00",
            "AccessKeyId": AKID,
        },
    },
    indent=4,
)


class _Tty(io.StringIO):
    """A standard input that is a terminal: nothing was piped in."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def lab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "lab"))
    return tmp_path / "lab"


def labkit(monkeypatch: pytest.MonkeyPatch, argv: list[str], stdin: str | io.StringIO = "") -> int:
    """Parse `labkit <argv>` as the dispatcher would and run it with `stdin`."""
    parser = argparse.ArgumentParser(prog="labkit")
    add_parser(parser.add_subparsers())
    args = parser.parse_args(argv)
    monkeypatch.setattr(
        "sys.stdin", stdin if isinstance(stdin, io.StringIO) else io.StringIO(stdin)
    )
    return args.func(args)


def test_export_default_is_bash(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert labkit(monkeypatch, ["creds", "export"], CLI_OUTPUT) == 0
    out, err = capsys.readouterr()
    assert out == (
        f'export AWS_ACCESS_KEY_ID="{AKID}"\n'
        f'export AWS_SECRET_ACCESS_KEY="{SECRET}"\n'
        f'export AWS_SESSION_TOKEN="{TOKEN}"\n'
    )
    assert err == ""


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_each_format(monkeypatch: pytest.MonkeyPatch, capsys, fmt: str) -> None:
    assert labkit(monkeypatch, ["creds", "export", "--format", fmt], CLI_OUTPUT) == 0
    out, err = capsys.readouterr()
    assert out == render(TemporaryCredentials.from_json(CLI_OUTPUT), fmt) + "\n"
    assert err == ""


def test_export_json_is_credential_process(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    labkit(monkeypatch, ["creds", "export", "--format", "json"], CLI_OUTPUT)
    assert json.loads(capsys.readouterr().out) == {
        "Version": 1,
        "AccessKeyId": AKID,
        "SecretAccessKey": SECRET,
        "SessionToken": TOKEN,
        "Expiration": "2026-11-28T13:11:40Z",
    }


def test_no_stdin_json(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert labkit(monkeypatch, ["creds", "export"], "") == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "labkit: No JSON on standard input: pipe the output of `aws sts assume-role ...` "
        "into `labkit creds export`.\n"
    )


def test_terminal_stdin_does_not_wait(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert labkit(monkeypatch, ["creds", "export"], _Tty(CLI_OUTPUT)) == 2
    assert capsys.readouterr().err.startswith("labkit: No JSON on standard input")


def test_malformed_json(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert labkit(monkeypatch, ["creds", "export"], CLI_OUTPUT[:-20]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("labkit: The input is not valid JSON:")
    assert "line" in err and "column" in err
    assert err.count("\n") == 1
    assert "Traceback" not in err


def test_json_without_credentials(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert labkit(monkeypatch, ["creds", "export"], '{"AssumedRoleUser": {}}') == 2
    assert "(it has: AssumedRoleUser)" in capsys.readouterr().err


def test_unknown_format(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert labkit(monkeypatch, ["creds", "export", "--format", "tcsh"], CLI_OUTPUT) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "labkit: Unknown format 'tcsh': choose one of "
        "bash, zsh, fish, powershell, cmd, dotenv, json.\n"
    )


def test_export_profile_writes_0600(monkeypatch: pytest.MonkeyPatch, capsys, lab_home) -> None:
    workspace.write_credentials_profile("learner", "AKIAOTHER0000000000", "other-secret")
    rc = labkit(monkeypatch, ["creds", "export", "--profile", "sts-session"], CLI_OUTPUT)
    assert rc == 0
    out, err = capsys.readouterr()
    path = lab_home / "aws-credentials"
    assert out.startswith('export AWS_ACCESS_KEY_ID="')
    assert "[sts-session]" in err and str(path) in err and "0600" in err
    assert SECRET not in err
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert workspace.read_credentials_profile("sts-session")["aws_session_token"] == TOKEN
    assert workspace.read_credentials_profile("learner") is not None


def test_export_bad_profile_name_writes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys, lab_home
) -> None:
    assert labkit(monkeypatch, ["creds", "export", "--profile", "a b"], CLI_OUTPUT) == 2
    assert "not a usable profile name" in capsys.readouterr().err
    assert not (lab_home / "aws-credentials").exists()


def test_process_from_stdin(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert labkit(monkeypatch, ["creds", "process"], CLI_OUTPUT) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["Version"] == 1 and data["AccessKeyId"] == AKID
    assert data["Expiration"] == "2026-11-28T13:11:40Z"


def test_process_from_profile(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    credentials.write_profile(TemporaryCredentials(AKID, SECRET, TOKEN), "lab")
    assert labkit(monkeypatch, ["creds", "process", "--profile", "lab"], _Tty()) == 0
    assert json.loads(capsys.readouterr().out) == {
        "Version": 1,
        "AccessKeyId": AKID,
        "SecretAccessKey": SECRET,
        "SessionToken": TOKEN,
    }


def test_process_missing_profile(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert labkit(monkeypatch, ["creds", "process", "--profile", "nope"], _Tty()) == 2
    err = capsys.readouterr().err
    assert err.startswith("labkit: There is no profile 'nope'")
    assert err.count("\n") == 1


def test_creds_without_subcommand(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert labkit(monkeypatch, ["creds"]) == 2
    assert "labkit creds export" in capsys.readouterr().err


def test_eval_of_cli_output_sets_the_variables(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    labkit(monkeypatch, ["creds", "export"], CLI_OUTPUT)
    out = capsys.readouterr().out
    result = subprocess.run(
        ["bash", "-c", 'eval "$1"; printf "%s\\n" "$AWS_SESSION_TOKEN"', "bash", out],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
    )
    assert result.stdout == TOKEN + "\n"


def test_dispatcher_contract() -> None:
    """The dispatcher calls `args.func(args)`; our options use creds_* names to avoid clashes."""
    parser = argparse.ArgumentParser(prog="labkit")
    parser.add_argument("--profile", dest="profile", default="top-level")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["creds", "export", "--format", "fish", "--profile", "p"])
    assert args.func is run
    assert (args.command, args.creds_command) == ("creds", "export")
    assert (args.creds_format, args.creds_profile, args.profile) == ("fish", "p", "top-level")


def test_deeply_nested_json_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    assert labkit(monkeypatch, ["creds", "export"], "[" * 100000) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("labkit: The input is nested too deeply to be `aws sts assume-role` output")


def test_export_profile_refuses_a_garbage_or_linked_credentials_file(
    monkeypatch: pytest.MonkeyPatch, capsys, lab_home: Path, tmp_path: Path
) -> None:
    lab_home.mkdir(parents=True)
    path = lab_home / "aws-credentials"
    path.write_text("aws_access_key_id = before any section\n")
    assert labkit(monkeypatch, ["creds", "export", "--profile", "p"], CLI_OUTPUT) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "line 1 comes before any [section] header" in err
    assert path.read_text() == "aws_access_key_id = before any section\n"

    path.unlink()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("[mine]\n")
    path.symlink_to(elsewhere)
    assert labkit(monkeypatch, ["creds", "export", "--profile", "p"], CLI_OUTPUT) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert elsewhere.read_text() == "[mine]\n"
