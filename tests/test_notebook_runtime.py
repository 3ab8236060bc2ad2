"""labkit.notebook: the helpers the lesson notebooks call, against the session's sandbox."""

from __future__ import annotations

import time

import pytest

from labkit import notebook, policies, workspace
from labkit.errors import LabError
from labkit.lab import Lab, Names
from labkit.outcomes import Outcome
from labkit.target import connect

ROLE_ARN = "arn:aws:iam::123456789012:role/sts_role"
USER_ARN = "arn:aws:iam::123456789012:user/labkit-sts-user"
TRUST_MESSAGE = f"User: {USER_ARN} is not authorized to perform: sts:AssumeRole on resource: {ROLE_ARN}"


def denied(message: str, code: str = "AccessDenied") -> Outcome:
    return Outcome("AssumeRole", False, code=code, message=message)


# --- pure helpers --------------------------------------------------------------------------------


def test_refused_by_reads_which_check_failed_from_the_message():
    assert "TRUST check" in notebook.refused_by(denied(TRUST_MESSAGE))
    identity = TRUST_MESSAGE + " because no identity-based policy allows the sts:AssumeRole action"
    assert "IDENTITY check" in notebook.refused_by(denied(identity))
    explicit = TRUST_MESSAGE + " with an explicit deny in an identity-based policy"
    assert "IDENTITY check" in notebook.refused_by(denied(explicit))
    resource = TRUST_MESSAGE + " with an explicit deny in a resource-based policy"
    assert "explicitly denies" in notebook.refused_by(denied(resource))
    assert "Neither" in notebook.refused_by(Outcome("AssumeRole", True))
    assert "ValidationError" in notebook.refused_by(denied("bad", code="ValidationError"))


def test_policy_table_lines_up_every_field(capsys):
    notebook.show_policy(policies.trust_policy(USER_ARN))
    out = capsys.readouterr().out
    json_part, table = out.split("\n\n")
    assert policies.load(json_part, kind="trust") == policies.trust_policy(USER_ARN)
    lines = table.splitlines()
    assert [line.split()[0] for line in lines] == ["Field", "Version", "Sid", "Effect", "Principal", "Action"]
    value_column = lines[0].index("Value")
    assert all(line[value_column - 2:value_column] == "  " for line in lines)
    assert lines[4][value_column:].startswith('{"AWS": "' + USER_ARN + '"}')


def test_show_lists_items_or_says_nothing(capsys):
    notebook.show(["a", 1])
    notebook.show([])
    assert capsys.readouterr().out == "a\n1\n(nothing)\n"


def test_show_error_prints_the_labs_check_or_says_it_was_accepted(capsys):
    def bad():
        raise LabError("Change this.")

    notebook.show_error(bad)
    notebook.show_error(lambda: 42)
    assert capsys.readouterr().out == "LabError: Change this.\nNo error: the call was accepted.\n"


def test_until_repeats_until_the_expected_outcome_and_returns_the_last_one(monkeypatch):
    outcomes = iter([Outcome("X", True), Outcome("X", True), denied("no")])
    calls = []

    def call():
        calls.append(1)
        return next(outcomes)

    assert notebook.until(call, ok=False, timeout=5, delay=0.01).code == "AccessDenied"
    assert len(calls) == 3
    pauses, real_sleep = [], time.sleep
    monkeypatch.setattr(notebook.time, "sleep", lambda s: (pauses.append(s), real_sleep(s)))
    last = notebook.until(lambda: Outcome("X", True), ok=False, timeout=0.2, delay=0.05)
    assert last.ok  # never the expected outcome: the last one, once the timeout is spent
    assert pauses and sum(pauses) < 0.2  # no pause begins that would end past the timeout


# --- against the sandbox -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lab(sandbox):
    names = Names(user="labkit-nbtest-user", role="labkit-nbtest-role", user_policy="labkit-nbtest-assume",
                  role_policy="labkit-nbtest-ec2", profile="labkit-nbtest", session="nbtest")
    lab = Lab(connect(), names, progress=lambda message: None)
    lab.setup()
    return lab


def test_refused_by_names_the_check_that_refused_a_real_call(lab):
    lab.set_trust_policy(policies.trust_policy("arn:aws:iam::123456789012:user/labkit-nbtest-nobody"))
    try:
        trust = notebook.until(lambda: lab.try_assume_role(), ok=False, delay=0.5)
        assert trust.code == "AccessDenied" and trust.message.endswith(":role/labkit-nbtest-role")
        assert "TRUST check" in notebook.refused_by(trust)
        lab.set_trust_policy(policies.account_trust_policy(lab.account_id))
        lab.remove_user_policy()
        identity = notebook.until(lambda: lab.try_assume_role(), ok=False, delay=0.5)
        assert "IDENTITY check" in notebook.refused_by(identity)
    finally:
        lab.setup()
    assert notebook.until(lambda: lab.try_assume_role(), ok=True).ok


def test_remove_user_policy_then_setup_puts_it_back(lab):
    assert lab.remove_user_policy().action == "removed"
    assert lab.remove_user_policy().action == "absent"
    assert lab.iam.list_user_policies(UserName=lab.names.user)["PolicyNames"] == []
    lab.ensure_user_policy()
    assert lab.iam.list_user_policies(UserName=lab.names.user)["PolicyNames"] == [lab.names.user_policy]


def test_lab_files_point_the_cli_at_the_lab_files():
    assert notebook.lab_files() == (f"AWS_CONFIG_FILE={workspace.config_file()} "
                                    f"AWS_SHARED_CREDENTIALS_FILE={workspace.credentials_file()}")
