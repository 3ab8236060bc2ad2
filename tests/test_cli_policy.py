"""`labkit policy check` / `labkit policy evaluate`, and that the CLI answers as labkit.iam does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labkit import iam
from labkit.cli import main
from labkit.cli.policy import caller_from_arn, request_context
from tests.test_iam_properties import cases

ACCT = "123456789012"
USER = f"arn:aws:iam::{ACCT}:user/alice"
ROLE = f"arn:aws:iam::{ACCT}:role/lab"


def write(tmp_path, name: str, document) -> str:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def trust(principal, **extra) -> dict:
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole", **extra}]}


def test_check_accepts_a_valid_document(tmp_path, capsys):
    path = write(tmp_path, "trust.json", trust({"AWS": USER}))
    assert main(["policy", "check", path, "--kind", "trust"]) == 0
    assert capsys.readouterr().out == "OK: IAM accepts this trust policy.\n"


def test_check_says_what_to_change_and_what_iam_answers(tmp_path, capsys):
    path = write(tmp_path, "identity.json", trust({"AWS": USER}))  # a trust policy as identity
    assert main(["policy", "check", path]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Not valid: Statement 1 has Principal, but identity-based policies")
    assert out[1] == "IAM answers: MalformedPolicyDocument: Policy document should not specify a principal."


def test_check_a_file_that_is_not_there(tmp_path, capsys):
    assert main(["policy", "check", str(tmp_path / "nope.json")]) == 2
    assert capsys.readouterr().err.startswith("labkit: cannot read ")


def test_evaluate_allowed_and_denied(tmp_path, capsys):
    doc = write(tmp_path, "trust.json", trust({"AWS": "*"}, Condition={"ArnEquals": {"aws:PrincipalArn": USER}}))
    assert main(["policy", "evaluate", "--caller", USER, "--action", "sts:AssumeRole",
                 "--resource", ROLE, "--trust", doc]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Allowed: {USER} may perform sts:AssumeRole on {ROLE}")
    assert "Allow: resource-based policy" in out
    bob = f"arn:aws:iam::{ACCT}:user/bob"
    assert main(["policy", "evaluate", "--caller", bob, "--action", "sts:AssumeRole",
                 "--resource", ROLE, "--trust", doc]) == 1
    assert capsys.readouterr().out == (
        f"Denied: User: {bob} is not authorized to perform: sts:AssumeRole on resource: {ROLE}\n")


def test_evaluate_with_an_explicit_deny_as_json(tmp_path, capsys):
    ident = write(tmp_path, "deny.json", {"Version": "2012-10-17", "Statement": [
        {"Sid": "No", "Effect": "Deny", "Action": "sts:*", "Resource": "*"}]})
    doc = write(tmp_path, "trust.json", trust({"AWS": ACCT}))
    assert main(["policy", "evaluate", "--caller", USER, "--action", "sts:AssumeRole", "--resource",
                 ROLE, "--trust", doc, "--identity", ident, "--json"]) == 1
    answer = json.loads(capsys.readouterr().out)
    assert answer["decision"] == "explicit_deny"
    assert answer["reason"] == "with an explicit deny in an identity-based policy"
    assert {"policy_type": "identity-based", "policy": ident, "sid": "No", "statement": 1,
            "effect": "Deny"} in answer["matched"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--caller", "bob"], "is not a user, root or assumed-role ARN"),
    (["--caller", USER, "--context", "{nope"], "--context is not valid JSON"),
    (["--caller", USER, "--context", "[1]"], "--context must be a JSON object"),
])
def test_evaluate_bad_input_is_one_line(argv, message, capsys):
    assert main(["policy", "evaluate", "--action", "sts:AssumeRole", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_evaluate_a_malformed_policy_is_one_line(tmp_path, capsys):
    bad = write(tmp_path, "bad.json", '{"Version": "2012-10-17", "Statement": [')
    assert main(["policy", "evaluate", "--caller", USER, "--action", "s3:GetObject", "--identity", bad]) == 2
    err = capsys.readouterr().err
    assert "is not valid JSON" in err and err.count("\n") == 1


def test_caller_from_a_session_arn_knows_its_role():
    caller = caller_from_arn(f"arn:aws:sts::{ACCT}:assumed-role/lab/s1")
    assert (caller.account, caller.role_arn) == (ACCT, ROLE)
    assert caller_from_arn(f"arn:aws:sts::{ACCT}:assumed-role/lab/s1", f"arn:aws:iam::{ACCT}:role/p/lab").role_arn \
        == f"arn:aws:iam::{ACCT}:role/p/lab"


def test_the_cli_answers_as_labkit_iam_does(tmp_path, capsys):
    """The issue's property "the CLI and in-process answers agree", on generated cases: the same
    documents written to files and read back by `labkit policy evaluate`."""
    checked = 0
    for case in cases(300):
        argv = ["policy", "evaluate", "--caller", case.caller.arn, "--action", case.request.action,
                "--resource", case.request.resource, "--context", json.dumps(case.request.context), "--json"]
        if case.caller.role_arn:
            argv += ["--role-arn", case.caller.role_arn]
        for n, (_, document) in enumerate(case.identity):
            argv += ["--identity", write(tmp_path, f"id{n}.json", document)]
        for n, (_, document) in enumerate(case.session):
            argv += ["--session", write(tmp_path, f"s{n}.json", document)]
        if case.boundary is not None:
            argv += ["--boundary", write(tmp_path, "b.json", case.boundary[1])]
        if case.resource_policy is not None:
            flag = "--trust" if case.trust else "--resource-policy"
            argv += [flag, write(tmp_path, "r.json", case.resource_policy)]
        code = main(argv)
        answer = json.loads(capsys.readouterr().out)
        caller = caller_from_arn(case.caller.arn, case.caller.role_arn)
        request = iam.Request(case.request.action, case.request.resource,
                              request_context(caller, dict(case.request.context)))
        in_process = iam.authorize(request, caller, identity=case.identity, boundary=case.boundary,
                                   session=case.session or None,
                                   **({"trust_policy" if case.trust else "resource_policy": case.resource_policy}
                                      if case.resource_policy is not None else {}))
        assert (answer["decision"], answer["reason"]) == (in_process.decision.value, in_process.reason), case.describe()
        assert code == (0 if in_process.allowed else 1)
        # the keys the CLI adds for the caller (aws:PrincipalType, ...) change no generated decision
        assert case.decide().decision is in_process.decision, case.describe()
        checked += 1
    assert checked == 300


def test_the_installed_command_runs(tmp_path):
    doc = write(tmp_path, "trust.json", trust({"AWS": USER}))
    labkit = str(Path(sys.executable).parent / "labkit")
    out = subprocess.run([labkit, "policy", "evaluate", "--caller", USER,
                          "--action", "sts:AssumeRole", "--resource", ROLE, "--trust", doc, "--json"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["decision"] == "allow"


def test_the_cli_knows_every_kind_of_policy():
    from labkit.cli.policy import KINDS

    assert KINDS == iam.KINDS
