"""`labkit check`, `labkit progress` and `labkit catch-up` as a learner or an instructor runs them.

Exit codes of `labkit check`: 0 correct (also with a warning), 1 not yet, 2 unusable input (one
line on stderr). Every CLI exercise ID is run with each of the three; a few through a real
subprocess, the rest through `labkit.cli.main` in-process. Against a private sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.cli import main
from labkit.exercises import CLI_IDS
from labkit.exercises import progress as progress_module
from labkit.lab import Lab
from tests.aws_path import aws_workspace, private_sandbox, sandbox_workspace, snapshot

ACCOUNT, PARTNER = "123456789012", "210987654321"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/labkit-sts-user"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/sts_role"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def private(request):
    return private_sandbox(request.config)


@pytest.fixture(scope="module")
def lab(private):
    with pytest.MonkeyPatch.context() as patch:
        target = sandbox_workspace(patch, private)
        lab = Lab(target, progress=[].append)
        lab.setup()
        yield lab


def labkit(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The `labkit` command in a subprocess, in this test's lab workspace (os.environ)."""
    return subprocess.run([str(BIN / "labkit"), *args], input=stdin, capture_output=True, text=True,
                          env={**os.environ, "LANG": "C.UTF-8"}, timeout=120)


def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, indent=2)


def exports_for(creds) -> str:
    return (f'export AWS_ACCESS_KEY_ID="{creds.access_key_id}"\n'
            f'export AWS_SECRET_ACCESS_KEY="{creds.secret_access_key}"\n'
            f'export AWS_SESSION_TOKEN="{creds.session_token}"\n')


def answers(lab) -> dict[str, tuple[str, str, str]]:
    """For each CLI ID: a correct answer, a wrong one, an unusable one (file contents)."""
    session = lab.assume_role(duration=900).credentials
    return {
        "user-policy": (policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ROLE_ARN}),
                        policy({"Effect": "Alow", "Action": "sts:AssumeRole", "Resource": ROLE_ARN}),
                        '{"Version": "2012-10-17", "Statement": [\n  {"Effect": "Allow",}\n]}'),
        "trust-policy": (policy({"Effect": "Allow", "Principal": {"AWS": USER_ARN}, "Action": "sts:AssumeRole"}),
                         policy({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
                                 "Action": "sts:AssumeRole"}),
                         ""),
        "assume-role": (json.dumps({"RoleArn": ROLE_ARN, "RoleSessionName": "sts-session", "DurationSeconds": 900}),
                        json.dumps({"RoleArn": ROLE_ARN, "RoleSessionName": "sts-session", "DurationSeconds": 7200}),
                        "[1, 2]"),
        "exports": (exports_for(session), exports_for(session).rsplit("export", 1)[0], "\n\n"),
        "switch-role-url": (f"https://signin.aws.amazon.com/switchrole?roleName=sts_role&account={ACCOUNT}\n",
                            f"https://signin.aws.amazon.com/switchrole?roleName=sts_role&account={PARTNER}\n",
                            "   "),
    }


def test_list_prints_the_cli_ids_with_a_description(lab):
    result = labkit("check", "--list")
    assert result.returncode == 0 and result.stderr == ""
    rows = result.stdout.splitlines()
    assert [row.split()[0] for row in rows] == list(CLI_IDS)
    assert all(len(row.split(None, 1)[1]) > 20 for row in rows)


def test_every_id_exits_0_1_2(lab, tmp_path, capsys):
    for exercise_id, (right, wrong, unusable) in answers(lab).items():
        for text, code in ((right, 0), (wrong, 1), (unusable, 2)):
            path = tmp_path / f"{exercise_id}-{code}.txt"
            path.write_text(text)
            assert main(["check", exercise_id, str(path)]) == code, (exercise_id, code, capsys.readouterr())
            out, err = capsys.readouterr()
            if code == 0:
                assert out == "✓ Correct.\n" and err == ""
            elif code == 1:
                assert out.startswith("✗ Not yet: ") and err == ""
            else:
                assert out == "" and err.startswith("labkit: ") and err.count("\n") == 1, err


def test_through_a_subprocess_with_stdin_and_files(lab, tmp_path):
    right, wrong, unusable = answers(lab)["user-policy"]
    passed = labkit("check", "user-policy", "-", stdin=right)
    assert (passed.returncode, passed.stdout, passed.stderr) == (0, "✓ Correct.\n", "")
    failed = labkit("check", "user-policy", "-", stdin=wrong)
    assert failed.returncode == 1 and 'Effect is "Alow"' in failed.stdout
    broken = labkit("check", "user-policy", "-", stdin=unusable)
    assert broken.returncode == 2 and broken.stdout == ""
    assert broken.stderr == ("labkit: the policy is not valid JSON: Expecting property name enclosed in double "
                             "quotes at line 2, column 22. Look for a missing comma, quote or bracket just before "
                             "that point.\n")
    risky = tmp_path / "trust.json"
    risky.write_text(policy({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}))
    warned = labkit("check", "trust-policy", str(risky))
    assert warned.returncode == 0 and warned.stdout.startswith('✓ Correct, but: Statement 1\'s Principal "*"')
    duration = tmp_path / "params.json"
    duration.write_text(json.dumps({"RoleArn": ROLE_ARN, "RoleSessionName": "s1", "DurationSeconds": 60}))
    short = labkit("check", "assume-role", str(duration))
    assert short.returncode == 1 and "DurationSeconds 60 is below 900" in short.stdout


def test_unusable_invocations_are_one_line_and_exit_2(lab, tmp_path):
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe\x00policy")
    folder = tmp_path / "folder"
    folder.mkdir()
    for args, says in ((["check"], "give the exercise and the file"),
                       (["check", "trust-policy"], "give the exercise and the file"),
                       (["check", "nope", "x"], "There is no exercise 'nope'"),
                       (["check", "session", "x"], "'session' is checked in notebook 04 only"),
                       (["check", "predict-ec2", "x"], "checked in notebook 05 only"),
                       (["check", "trust-policy", str(tmp_path / "missing.json")], "cannot read"),
                       (["check", "trust-policy", str(folder)], "cannot read"),
                       (["check", "trust-policy", str(binary)], "is not UTF-8 text"),
                       (["check", "--list", "trust-policy"], "--list takes no exercise ID")):
        result = labkit(*args)
        assert result.returncode == 2, (args, result)
        assert result.stdout == "" and result.stderr.startswith("labkit: ") and says in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_no_secret_is_printed_in_full(lab, tmp_path, capsys):
    user = lab.user_credentials()
    session = lab.assume_role(duration=900).credentials
    path = tmp_path / "exports.sh"
    path.write_text(f'export AWS_ACCESS_KEY_ID="{user.access_key_id}"\nexport AWS_SECRET_ACCESS_KEY='
                    f'"{user.secret_access_key}"\nexport AWS_SESSION_TOKEN="{session.session_token}"\n')
    assert main(["check", "exports", str(path)]) == 1
    out = capsys.readouterr().out
    assert "long-term key" in out and "*" * 16 + user.access_key_id[-4:] in out
    for secret in (user.access_key_id, user.secret_access_key, session.session_token):
        assert secret not in out


def test_progress_shows_what_check_recorded(lab, tmp_path):
    progress_module.forget()
    empty = labkit("progress")
    assert empty.returncode == 0 and empty.stdout.startswith("Exercises passed: 0 of 7\n")
    path = tmp_path / "url.txt"
    path.write_text(f"https://signin.aws.amazon.com/switchrole?roleName=sts_role&account={ACCOUNT}")
    assert labkit("check", "switch-role-url", str(path)).returncode == 0
    text = labkit("progress")
    assert "Exercises passed: 1 of 7" in text.stdout and "✓ 06  switch-role-url" in text.stdout
    assert str(progress_module.path()) in text.stdout
    data = json.loads(labkit("progress", "--json").stdout)
    assert data["passed"] == 1 and data["total"] == 7 and data["learner"]
    done = {e["id"]: e["passed_at"] for e in data["exercises"]}
    assert done["switch-role-url"] == progress_module.passed()["switch-role-url"]
    assert [k for k, v in done.items() if v] == ["switch-role-url"]


def test_catch_up_on_the_command_line(lab, private):
    private.iam().delete_role_policy(RoleName="sts_role", PolicyName="labkit-ec2-read")
    first = labkit("catch-up", "05")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Catching up for notebook 05")
    assert "created  role policy labkit-ec2-read" in first.stdout and "Done: 1 change(s)" in first.stdout
    again = labkit("catch-up", "05")
    assert again.returncode == 0 and "Nothing to change" in again.stdout
    bad = labkit("catch-up", "12")
    assert bad.returncode == 2 and "'12' is not one of the lab's notebooks" in bad.stderr


def test_catch_up_on_a_real_account_asks_first(private, tmp_path, monkeypatch):
    aws_workspace(monkeypatch, tmp_path / "home", private, private.admin_keys())
    iam = private.iam()
    before = snapshot(iam)
    refused = labkit("catch-up", "03")
    assert refused.returncode == 2 and refused.stderr.startswith("labkit: Nothing was changed")
    assert "--yes" in refused.stderr and snapshot(iam) == before
    done = labkit("catch-up", "03", "--yes")
    assert done.returncode == 0, done.stderr
    assert f"Confirmed: the lab may create its resources in account {ACCOUNT}" in done.stdout
    assert "created  IAM role labkit-sts_role" in done.stdout
    assert labkit("catch-up", "04").returncode == 0  # confirmed once, remembered
    assert main(["cleanup", "--yes"]) == 0
