"""A steadier path for a learner: sessions handed out by the target, re-runs that say "already
there", short error messages in a kernel (nbval still sees the cell fail), a stopped or restarted
sandbox named as such, refusals returned alike, the walk-through's profiles cleaned up.

Runs against a private sandbox (as the `sandbox` target), except where a kernel runs a notebook.
"""

from __future__ import annotations

import ast
import json
import os
import time
from pathlib import Path

import nbformat
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from labkit import notebook, workspace
from labkit.cleanup import cleanup, leftovers
from labkit.errors import LabError
from labkit.lab import Lab
from labkit.sandbox import lifecycle
from tests.aws_path import private_sandbox, sandbox_workspace
from tests.test_notebooks_calls import code_of

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.fixture(scope="module")
def private(request):
    return private_sandbox(request.config)


@pytest.fixture
def lab(private, monkeypatch):
    private.reset()
    target = sandbox_workspace(monkeypatch, private)
    lab = Lab(target, progress=[].append)
    lab.setup()
    return lab


# --- sessions from the target ---------------------------------------------------------------------


def test_the_target_hands_out_sessions_as_admin_user_and_role(lab):
    target = lab.target
    assert target.admin_session().client("sts").get_caller_identity()["Arn"].endswith(":user/labkit-admin")
    sts = target.user_session().client("sts")
    assert sts.get_caller_identity()["Arn"] == lab.user_arn
    response = sts.assume_role(RoleArn=lab.role_arn, RoleSessionName="steady", DurationSeconds=900)
    for given in (response, response["Credentials"], lab.assume_role().credentials):
        arn = target.session_from(given).client("sts").get_caller_identity()["Arn"]
        assert ":assumed-role/sts_role/" in arn
    with pytest.raises(LabError, match="takes the response of sts.assume_role"):
        target.session_from("AKIA...")


def test_iam_writes_with_the_admin_session_are_noted(lab):
    target = lab.target
    before = target.last_iam_change()
    time.sleep(0.01)
    target.admin_session().client("iam").tag_user(UserName=lab.names.user, Tags=[{"Key": "k", "Value": "v"}])
    assert target.last_iam_change() > before
    noted = target.last_iam_change()
    target.admin_session().client("iam").list_users()  # a read is not a change
    assert target.last_iam_change() == noted


def test_the_users_session_waits_for_iam_after_a_change(lab, private):
    # IAM's delay counts from the change: long enough that a busy machine still reaches AssumeRole
    # inside it (2 s was not, on a CI machine at load 8)
    private.faults(iam_delay=6)
    lines: list[str] = []
    lab.target.progress = lines.append
    try:
        iam = lab.target.admin_session().client("iam")
        iam.put_user_policy(UserName=lab.names.user, PolicyName=lab.names.user_policy,
                            PolicyDocument=json.dumps(iam.get_user_policy(
                                UserName=lab.names.user, PolicyName=lab.names.user_policy)["PolicyDocument"]))
        sts = lab.target.user_session().client("sts")
        sts.assume_role(RoleArn=lab.role_arn, RoleSessionName="steady", DurationSeconds=900)
        assert lines and lines[0].startswith("Waiting for IAM to apply the lab's recent changes: AssumeRole "
                                             "was refused (AccessDenied); trying again in 1 s")
        # a refusal the policies explain is not waited for
        iam.delete_user_policy(UserName=lab.names.user, PolicyName=lab.names.user_policy)
        iam.update_assume_role_policy(RoleName=lab.names.role, PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                   "Principal": {"AWS": f"arn:aws:iam::{lab.account_id}:root"}}]}))
        lines.clear()
        with pytest.raises(ClientError) as refused:
            sts.assume_role(RoleArn=lab.role_arn, RoleSessionName="steady", DurationSeconds=900)
        assert refused.value.response["Error"]["Code"] == "AccessDenied"
        assert lines == [f"AssumeRole is refused because no policy of user {lab.names.user} allows "
                         f"sts:AssumeRole on {lab.role_arn}: give it one (iam.put_user_policy, as in "
                         "notebook 02; or lab.ensure_user_policy())."]
    finally:
        private.faults(iam_delay=0)
        lab.target.progress = print


# --- re-running a cell ----------------------------------------------------------------------------


def test_a_create_that_finds_the_thing_there_says_so_in_one_line(lab, capsys):
    iam = lab.target.admin_session().client("iam")
    with notebook.created("IAM user", "labkit-steady"):
        iam.create_user(UserName="labkit-steady")
    with notebook.created("IAM user", "labkit-steady"):
        iam.create_user(UserName="labkit-steady")
    with notebook.removed("IAM user", "labkit-steady"):
        iam.delete_user(UserName="labkit-steady")
    with notebook.removed("IAM user", "labkit-steady"):
        iam.delete_user(UserName="labkit-steady")
    assert capsys.readouterr().out.splitlines() == [
        "created  IAM user labkit-steady",
        "already there  IAM user labkit-steady (IAM answered EntityAlreadyExists: it was created before)",
        "removed  IAM user labkit-steady",
        "already gone  IAM user labkit-steady (IAM answered NoSuchEntity)"]
    with pytest.raises(ClientError, match="NoSuchEntity"), notebook.created("IAM role", "x"):
        iam.delete_role(RoleName="labkit-no-such-role")  # other errors are not hidden


def test_keeping_a_new_key_retires_the_older_one(lab):
    iam = lab.target.admin_session().client("iam")
    old = lab.user_credentials().access_key_id
    for _ in range(3):  # IAM allows 2 keys per user: re-running the create stays possible
        key = iam.create_access_key(UserName=lab.names.user)["AccessKey"]
        steps = lab.keep_user_key(key)
        assert [s.action for s in steps] == ["kept", "deleted"]
    keys = iam.list_access_keys(UserName=lab.names.user)["AccessKeyMetadata"]
    assert [k["AccessKeyId"] for k in keys] == [key["AccessKeyId"]] != [old]
    assert lab.user_credentials().access_key_id == key["AccessKeyId"]
    assert key["SecretAccessKey"] not in " ".join(str(s) for s in steps)
    with pytest.raises(LabError, match="takes the 'AccessKey'"):
        lab.keep_user_key({"AccessKeyId": "AKIA"})


# --- every refusal alike; short messages ------------------------------------------------------------


def test_try_assume_role_returns_every_refusal_alike(lab):
    for duration, code in ((60, "LabError"), (7200, "ValidationError")):
        outcome = lab.try_assume_role(duration)
        assert not outcome.ok and outcome.code == code
    short = lab.try_assume_role(60)
    assert str(short) == ("AssumeRole: not sent (the lab's check of the input)\n  60 s is too short: "
                          "AssumeRole needs at least 900 seconds (15 minutes).")
    sts = lab.target.user_session().client("sts")
    from labkit.outcomes import attempt

    boto = attempt("AssumeRole", lambda: sts.assume_role(
        RoleArn=lab.role_arn, RoleSessionName="steady", DurationSeconds=60), checks=True)
    assert boto.by_lab and boto.message.startswith("boto3 did not send it: Invalid value for parameter DurationSeconds")
    aws = attempt("AssumeRole", lambda: sts.assume_role(RoleArn=lab.role_arn, RoleSessionName="x y"), checks=True)
    assert not aws.by_lab and aws.code == "ValidationError"  # STS's own check of the session name


def test_short_error_lines_for_what_a_learner_meets(lab):
    sts = lab.target.user_session().client("sts")
    with pytest.raises(ClientError) as refused:
        sts.assume_role(RoleArn=lab.role_arn, RoleSessionName="steady", DurationSeconds=7200)
    assert notebook.short_error(refused.value) == [
        "ValidationError: The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        "-> AWS refused the input itself: change the value the message names."]
    with pytest.raises(ParamValidationError) as invalid:
        sts.assume_role(RoleArn=lab.role_arn, RoleSessionName="steady", DurationSeconds=60)
    lines = notebook.short_error(invalid.value)
    assert lines[0].startswith("boto3 did not send the request: Invalid value for parameter DurationSeconds, "
                               "value: 60, valid min value: 900") and len(lines) == 2
    with pytest.raises(LabError) as lab_check:
        lab.assume_role(duration=60)
    assert notebook.short_error(lab_check.value) == [
        "60 s is too short: AssumeRole needs at least 900 seconds (15 minutes)."]


def test_a_stopped_sandbox_is_named_with_the_command_to_start_it(private, monkeypatch, tmp_path):
    home = tmp_path / "stopped"
    monkeypatch.setenv("LABKIT_HOME", str(home))
    monkeypatch.delenv("LABKIT_TARGET", raising=False)
    stopped = EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")
    assert notebook.short_error(stopped) == [
        "Could not connect to http://127.0.0.1:9/.",
        "-> The sandbox at http://127.0.0.1:9/ is no longer running: start it with `labkit sandbox start`; "
        "a new sandbox has new accounts, so run setup again. In a notebook, running its first cell starts "
        "the sandbox if needed; notebooks 03-06 then set up again by themselves (catch_up), or run notebook 02."]


def test_a_restarted_sandbox_says_its_accounts_were_reset(lab, private, capsys):
    from labkit.target import connect

    built = json.loads((workspace.home() / "sandbox-built.json").read_text())
    assert built == {"started": lifecycle.current().started}
    (workspace.home() / "sandbox-built.json").write_text(json.dumps({"started": "an earlier start"}))
    connect()
    said = capsys.readouterr().out
    assert said.startswith(f"The sandbox was restarted (at {lifecycle.current().started}): its accounts were "
                           "reset, so the user, key and role the lab made are gone. Set up again:")
    unknown = ClientError({"Error": {"Code": "InvalidClientTokenId", "Message":
                                     "The security token included in the request is invalid."}}, "AssumeRole")
    assert notebook.short_error(unknown)[-1] == "-> " + said.strip()
    lab.target.admin_session().client("iam").tag_user(UserName=lab.names.user, Tags=[{"Key": "a", "Value": "b"}])
    connect()  # the lab built again in this sandbox: nothing more to say
    assert capsys.readouterr().out == ""


def test_in_a_kernel_errors_are_two_lines_and_the_cell_still_fails(sandbox, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in (
        "from labkit.target import connect\nfrom labkit.lab import Lab\ntarget = connect()\nlab = Lab(target)",
        "lab.assume_role(duration=60)",
        'target.admin_session().client("iam").get_role(RoleName="labkit-no-such-role")',
    )])
    resources = {"metadata": {"path": str(tmp_path)}}
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True, resources=resources).execute()
    shown = []
    for cell in nb.cells[1:]:
        (error,) = cell.outputs
        assert error.output_type == "error"
        text = "\n".join(error.traceback)
        assert "Traceback" not in text and "site-packages" not in text and len(error.traceback) <= 3
        shown.append(text)
    assert "60 s is too short: AssumeRole needs at least 900 seconds (15 minutes)." in shown[0]
    assert "NoSuchEntity: " in shown[1] and "-> That IAM user, role or policy does not exist." in shown[1]
    # the cell still fails (the kernel answers "error"): nbval and Run All stop at it
    with pytest.raises(CellExecutionError, match="too short"):
        NotebookClient(nb, timeout=60, kernel_name="python3", resources=resources).execute()


# --- cleanup, clock, widgets --------------------------------------------------------------------------


def test_cleanup_removes_the_walkthroughs_profiles(lab):
    session = lab.assume_role()
    from labkit import credentials

    credentials.write_profile(session.credentials, "sts-session")
    workspace.write_config_profile("sts-process", {"credential_process": "labkit creds process --profile sts-session"})
    workspace.write_config_profile("sts-role", {"role_arn": lab.role_arn, "source_profile": "default"})
    workspace.write_config_profile("mine", {"region": "eu-west-1"})  # not the lab's: kept
    assert {"session profile sts-session", "session profile sts-process"} <= set(leftovers(lab.target))
    steps = [(s.what, s.name, s.action) for s in cleanup(lab.target, dry_run=True)]
    assert ("CLI profile", "sts-role", "would be removed") in steps
    steps = [(s.what, s.name, s.action) for s in cleanup(lab.target)]
    for expected in (("session profile", "sts-session", "removed"), ("session profile", "sts-process", "removed"),
                     ("CLI profile", "sts-role", "removed")):
        assert expected in steps
    assert leftovers(lab.target) == []
    config = workspace.config_file().read_text()
    assert "sts-" not in config and "[profile mine]" in config


def test_a_story_notebook_starts_on_real_time(lab, capsys):
    lifecycle.advance_clock(4500)
    try:
        line = notebook.real_clock(lab.target)
        assert line == ("The sandbox clock was 1 h 15 min ahead of real time (moved forward in an earlier "
                        "lesson); it is back on real time now (`labkit sandbox clock reset`).")
        assert int(float(lifecycle.clock()["offset"])) == 0
        assert notebook.real_clock(lab.target) == "Sandbox clock: real time."
    finally:
        lifecycle.reset_clock()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_cell_overwrites_a_value_the_learner_chose_in_a_widget(path):
    for node in ast.walk(code_of(nbformat.read(path, as_version=4))):
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        for target in targets:
            assert not (isinstance(target, ast.Attribute) and target.attr == "value"), ast.unparse(node)


@pytest.mark.parametrize("name", ["03-assume-role", "04-export-credentials", "05-ec2-before-during-after"])
def test_each_story_notebook_puts_the_sandbox_clock_on_real_time_first(name):
    nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    first = [c.source for c in nb.cells if c.cell_type == "code"][0]
    assert "real_clock(target)" in first


def test_the_lab_imports_no_sandbox_internals():
    source = (ROOT / "labkit" / "lab.py").read_text()
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    imported |= {f"{node.module}.{a.name}" for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.ImportFrom) and node.module == "labkit.sandbox" for a in node.names}
    assert {m for m in imported if m and m.startswith("labkit.sandbox")} <= {"labkit.sandbox",
                                                                             "labkit.sandbox.lifecycle"}
    assert "labkit.cleanup" in imported  # at the top: no import loop with labkit.cleanup any more
    assert os.path.exists(ROOT / "labkit" / "names.py")
