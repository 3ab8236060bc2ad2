"""labkit's Jupyter server extension in a plain `jupyter lab` (not `labkit lab`): enabled by the
install, it starts the learner's sandbox in the background, gives terminals `aws` and `labkit`
pointed at it, serves GET /labkit/status behind Jupyter's authentication, and stops the sandbox
it started when the server stops.

The server runs on 127.0.0.1 with a token, in a fresh HOME and LABKIT_HOME of its own (not the test
session's sandbox), with the environment a hub's spawner would give: no AWS variables, and a PATH
without the venv.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests

from tests.jupyter_api import JupyterAPI

BIN = Path(sys.executable).parent
TOKEN = "labkit-extension-test-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(check, what: str, timeout: float = 90.0, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    tail = log.read_text()[-3000:] if log else ""
    raise AssertionError(f"{what} within {timeout} s\n{tail}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """`jupyter lab` as a hub would start it: own HOME, LABKIT_HOME ~/.labkit, root_dir = HOME."""
    root = tmp_path_factory.mktemp("ext")
    home = root / "home"
    home.mkdir()
    port = _free_port()
    # LABKIT_HOME named: the copy is the workspace's, as on a hub (not my-notebooks/ in this clone)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "LABKIT_HOME": str(home / ".labkit"),
           "JUPYTER_CONFIG_DIR": str(root / "config"), "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
           "JUPYTER_DATA_DIR": str(root / "data")}
    log = root / "jupyter.log"
    command = [str(BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={home}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    with open(log, "w") as out:
        process = subprocess.Popen(command, env=env, cwd=home, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    api = JupyterAPI(f"http://127.0.0.1:{port}/", TOKEN)

    def answers():
        try:
            return api.get("api/status").status_code == 200
        except requests.ConnectionError:
            return process.poll() is not None and pytest.fail(log.read_text()[-3000:])

    try:
        _wait(answers, "jupyter lab did not answer", log=log)
        yield api, process, home, log
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def _running(api: JupyterAPI):
    try:
        status = api.get("labkit/status").json()
    except requests.ConnectionError:
        return None  # not answering yet: _wait keeps asking, and shows the server's log if it never does
    return status if status["sandbox"]["state"] == "running" else None


def test_the_install_enables_the_extension():
    listed = subprocess.run([str(BIN / "jupyter"), "server", "extension", "list"], capture_output=True,
                            text=True, timeout=120)
    text = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)
    assert re.search(r"labkit\.jupyter\s+enabled", text), text
    config = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / "labkit.json"
    assert config.is_file(), "installing the package puts the extension's config in the environment"


def test_the_terminal_rc_gives_a_bare_shell_the_lab(sandbox, tmp_path):
    """What a spawner's environment leaves (no venv on PATH, no AWS variables) is enough."""
    from labkit.jupyter.terminals import shell_command

    shell = shell_command()
    assert shell[1:] == ["--rcfile", f"{os.environ['LABKIT_HOME']}/terminal-bashrc", "-i"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LABKIT_HOME": os.environ["LABKIT_HOME"],
           "TERM": "dumb"}
    probe = ("command -v aws labkit; echo endpoint=$AWS_ENDPOINT_URL; "
             "aws sts get-caller-identity --profile labkit-admin --query Arn --output text")
    result = subprocess.run([*shell[:-1], "-i", "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert f"{BIN}/aws" in result.stdout and f"{BIN}/labkit" in result.stdout, result
    assert f"endpoint={sandbox.endpoint}" in result.stdout
    assert "arn:aws:iam::123456789012:user/labkit-admin" in result.stdout


def test_status_needs_jupyters_authentication(lab):
    api, *_ = lab
    assert requests.get(api.base + "labkit/status", timeout=30).status_code == 403
    forged = requests.get(api.base + "labkit/status", headers={"Authorization": "token nope"}, timeout=30)
    assert forged.status_code == 403


def test_the_sandbox_is_started_in_the_background_by_the_server(lab):
    api, process, home, log = lab
    status = _wait(lambda: _running(api), "the status route did not report a running sandbox", log=log)
    sandbox = status["sandbox"]
    assert status["target"] == "sandbox" and status["home"] == str(home / ".labkit")
    assert sandbox["started_by_server"] is True and sandbox["start_seconds"] > 0
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", sandbox["endpoint"])
    assert set(sandbox["clock"]) == {"now", "offset"}
    # the server's own child, recorded in this LABKIT_HOME
    assert psutil.Process(sandbox["pid"]).ppid() == process.pid
    assert f'"pid": {sandbox["pid"]}' in (home / ".labkit" / "sandbox.json").read_text()
    # begun only once the server was serving (the start hook runs after "is running at")
    text = log.read_text()
    serving = text.index("Jupyter Server")
    serving = text.index("is running at", serving)
    begun = text.index("labkit: starting the sandbox in the background")
    assert serving < begun < text.index("labkit: sandbox started at")
    control_token = json.loads((home / ".labkit" / "sandbox.json").read_text())["token"]
    assert control_token not in json.dumps(status)  # no secret in the status


def test_the_learners_notebooks_are_in_the_file_browser(lab):
    api, _, home, _ = lab
    link = home / "sts-labkit"
    assert link.is_symlink() and link.resolve() == (home / ".labkit" / "notebooks").resolve()
    listed = api.get("api/contents/sts-labkit").json()
    assert {"01-welcome.ipynb", "03-assume-role.ipynb", "07-cleanup.ipynb"} <= {c["name"] for c in listed["content"]}
    assert api.get("labkit/status").json()["notebooks"] == str(home / ".labkit" / "notebooks")


def test_a_terminal_has_aws_and_labkit_pointed_at_the_sandbox(lab):
    api, _, home, log = lab
    status = _wait(lambda: _running(api), "no running sandbox", log=log)
    endpoint = status["sandbox"]["endpoint"]
    terminal = api.terminal()
    try:
        out, rc = terminal.run("command -v aws labkit")
        assert rc == 0 and f"{BIN}/aws" in out and f"{BIN}/labkit" in out, out
        out, rc = terminal.run("aws sts get-caller-identity --profile labkit-admin --query Arn --output text")
        assert rc == 0 and "arn:aws:iam::123456789012:user/labkit-admin" in out, out
        out, rc = terminal.run("labkit env")
        assert rc == 0 and f"export AWS_ENDPOINT_URL={endpoint}" in out, out
        assert f"export AWS_CONFIG_FILE={home}/.labkit/aws-config" in out, out
        out, rc = terminal.run("echo $AWS_ENDPOINT_URL")
        assert out.strip() == endpoint, out
    finally:
        terminal.close()


def test_a_kernel_reads_the_status_from_its_server(lab):
    """What a notebook's first cell can show: labkit.jupyter.client.server_status()."""
    api, _, home, log = lab
    status = _wait(lambda: _running(api), "no running sandbox", log=log)
    kernel = api.kernel()
    try:
        result = kernel.execute("from labkit.jupyter.client import server_status\n"
                                "s = server_status(); print(s['sandbox']['state'], s['sandbox']['endpoint'], s['home'])")
    finally:
        kernel.close()
    assert result.error is None, result
    assert result.stdout.split() == ["running", status["sandbox"]["endpoint"], str(home / ".labkit")]


def test_stopping_the_server_stops_the_sandbox_it_started(lab):
    """SIGINT, as a hub's local-process spawner stops a server (no tty: jupyter_server alone would
    exit without its clean-up); SIGTERM (Kubernetes, systemd) takes the same path."""
    api, process, home, log = lab
    status = _wait(lambda: _running(api), "no running sandbox", log=log)
    pid = status["sandbox"]["pid"]
    os.kill(process.pid, signal.SIGINT)
    process.wait(timeout=60)
    _wait(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE,
          "the sandbox outlived the server", timeout=30, log=log)
    assert not (home / ".labkit" / "sandbox.json").exists()
    assert "labkit: sandbox (pid" in log.read_text()


def test_labkit_lab_is_a_launcher_over_the_extension(tmp_path):
    """`labkit lab` (what `make lab` runs): JupyterLab on the learner's copy, whose terminals run
    the walk-through's commands against the sandbox the extension started."""
    home = tmp_path / "home"
    home.mkdir()
    port = _free_port()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "LABKIT_HOME": str(tmp_path / "labkit"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "lab.log"
    with open(log, "w") as out:
        process = subprocess.Popen([str(BIN / "labkit"), "lab", "--no-browser", f"--port={port}"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        found = _wait(lambda: re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=(\w+)", log.read_text()),
                      "labkit lab printed no URL", log=log)
        api = JupyterAPI(f"http://127.0.0.1:{port}/", found.group(1))
        status = _wait(lambda: _running(api), "no running sandbox", log=log)
        assert status["notebooks"] == str(tmp_path / "labkit" / "notebooks")
        names = {item["name"] for item in api.get("api/contents").json()["content"]}
        assert {"01-welcome.ipynb", "07-cleanup.ipynb"} <= names  # the copy is the root folder
        terminal = api.terminal()
        try:
            out, rc = terminal.run("aws sts get-caller-identity --profile labkit-admin --query Arn --output text")
            assert rc == 0 and "arn:aws:iam::123456789012:user/labkit-admin" in out, out
            out, rc = terminal.run("echo $AWS_ENDPOINT_URL")
            assert out.strip() == status["sandbox"]["endpoint"], out
        finally:
            terminal.close()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    assert not (tmp_path / "labkit" / "sandbox.json").exists()  # stopped with the lab


def test_an_unwritable_lab_workspace_leaves_the_server_running_and_says_why(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where LABKIT_HOME's parent should be")
    port = _free_port()
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
           "LABKIT_HOME": str(blocker / "labkit"), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "jupyter.log"
    command = [str(BIN / "jupyter"), "server", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={home}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    with open(log, "w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        api = JupyterAPI(f"http://127.0.0.1:{port}/", TOKEN)

        def status():
            try:
                return api.get("labkit/status").json()
            except requests.ConnectionError:
                return None

        found = _wait(status, "the server did not answer", log=log)
        assert found["sandbox"]["state"] == "failed"
        assert "LABKIT_HOME" in found["sandbox"]["error"] and "Not a directory" in found["sandbox"]["error"]
        assert api.get("api/contents").status_code == 200  # the server itself works
        assert "Traceback" not in log.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def test_on_a_real_account_the_status_has_no_sandbox(monkeypatch, tmp_path):
    from labkit.jupyter.starter import StartRecord
    from labkit.jupyter.status import lab_status

    monkeypatch.setenv("LABKIT_TARGET", "aws")
    monkeypatch.setenv("LABKIT_HOME", str(tmp_path / "labkit"))
    (tmp_path / "labkit").mkdir()
    (tmp_path / "labkit" / "progress.json").write_text('{"trust-policy": "2026-01-01T00:00:00Z"}')
    status = lab_status(StartRecord(), None)
    assert status["target"] == "aws" and status["sandbox"] == {"state": "not used"}
    assert status["progress"]["passed"] == 1 and status["progress"]["exercises"] == ["trust-policy"]
