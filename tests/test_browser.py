"""The notebooks in JupyterLab in a real (headless) Chromium, as a learner uses them: notebook 03's
widgets, and an exercise of notebook 02 (a wrong answer typed in, its check, the fix).

JupyterLab runs as a subprocess on a free port with a temp copy of notebooks/ and this test
session's lab workspace, so its kernels use the session's sandbox; one JupyterLab and one browser
serve every test here. Widget state saving is switched on (JupyterLab's "Save Widget State
Automatically"), the setting under which a widget that held a secret would write it into the
.ipynb file. Screenshots of each state go to test-artifacts/browser/.

Chromium comes from the OS (`make browser` / scripts/install-chromium): Playwright cannot download
browsers here. Without it this test fails and says how to install it.
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
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from labkit import lessons, workspace
from labkit.sandbox import lifecycle

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "03-assume-role.ipynb"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
TIMEOUT_MS = 60_000
MASKED = re.compile(r"^\*{16}[A-Za-z0-9+/=]{4}$")
# window.jupyterapp exists because JupyterLab runs with --LabApp.expose_app_in_browser.
KERNEL_READY = """() => {
    const widget = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = widget && widget.sessionContext && widget.sessionContext.session
        && widget.sessionContext.session.kernel;
    return !!kernel && kernel.connectionStatus === 'connected' && kernel.status === 'idle';
}"""
FIRST_CELL_RAN = """() => {
    const cells = window.jupyterapp.shell.currentWidget.content.widgets
        .filter(cell => cell.model.type === 'code');
    return cells.length > 0 && cells[0].model.executionCount !== null;
}"""
ALL_CELLS_RAN = """() => {
    const cells = window.jupyterapp.shell.currentWidget.content.widgets
        .filter(cell => cell.model.type === 'code');
    return cells.length > 0 && cells.every(cell => cell.model.executionCount !== null);
}"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _settings(directory: Path) -> None:
    """User settings for the test's JupyterLab: save widget state; no news or update checks."""
    files = {
        "@jupyter-widgets/jupyterlab-manager/plugin.jupyterlab-settings": {"saveState": True},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
    }
    for name, content in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))


def _start_lab(tmp: Path, port: int) -> subprocess.Popen:
    root = tmp / "notebooks"
    lessons.ensure_copy(root)  # what `make lab` opens: the learner's copy
    _settings(tmp / "settings")
    env = dict(os.environ)  # LABKIT_HOME, AWS_CONFIG_FILE, ... of this test session
    env.update(lifecycle.env_exports())
    env.update({
        "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces"),
        "JUPYTER_CONFIG_DIR": str(tmp / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
        "PATH": str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", ""),
    })
    log = open(tmp / "jupyter.log", "wb")
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               "--IdentityProvider.token=", "--ServerApp.password=", f"--ServerApp.root_dir={root}",
               "--LabApp.news_url=None", "--LabApp.extension_manager=readonly",
               "--LabApp.expose_app_in_browser=True"]
    if os.geteuid() == 0:  # CI containers run as root
        command.append("--allow-root")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"JupyterLab exited ({process.returncode}): {(tmp / 'jupyter.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=2) as response:
                if response.status == 200:
                    return process
        except OSError:
            time.sleep(0.2)
    raise AssertionError("JupyterLab did not answer within 60 s")


def _stop_lab(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def _sandbox_now() -> datetime:
    return datetime.fromisoformat(lifecycle.clock()["now"].replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def jupyterlab(sandbox, tmp_path_factory):
    """(port, folder, browser): JupyterLab on a copy of the notebooks, and headless Chromium."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing, so the browser test cannot run: install Chromium with "
                    "`make browser` (scripts/install-chromium) or `apt-get install chromium`.")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    tmp = tmp_path_factory.mktemp("jupyterlab")
    port = _free_port()
    lab_process = _start_lab(tmp, port)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                yield port, tmp, browser
            finally:
                browser.close()
    finally:
        _stop_lab(lab_process)


def test_assume_role_panel_in_jupyterlab(jupyterlab):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    lifecycle.reset_clock()  # earlier tests may have moved it; this one starts at real time
    port, tmp_path, browser = jupyterlab
    saved_path = tmp_path / "notebooks" / NOTEBOOK
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.set_default_timeout(TIMEOUT_MS)
            shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"{name}.png"))  # noqa: E731

            page.goto(f"http://127.0.0.1:{port}/lab/workspaces/panel/tree/{NOTEBOOK}")
            page.wait_for_function(KERNEL_READY, polling=200)

            panel = page.locator(".labkit-assume-panel")
            _begin_run_all(page, PlaywrightTimeout)
            expect(panel).to_be_visible()
            page.wait_for_function(KERNEL_READY, polling=200)
            panel.scroll_into_view_if_needed()

            # The panel's picker: type 3600 into the slider's readout.
            readout = panel.locator(".widget-readout").first
            readout.click()
            page.keyboard.press("Control+a")
            page.keyboard.type("3600")
            page.keyboard.press("Enter")
            expect(panel.get_by_text("1 h", exact=True)).to_be_visible()

            probe = panel.get_by_role("button", name="Probe EC2")
            badge = panel.locator(".labkit-probe-badge")
            probe.click()
            expect(badge).to_contain_text("UnauthorizedOperation")
            expect(badge).to_contain_text("refused")
            shot("01-before-assume-refused")

            panel.get_by_role("button", name="Assume role").click()
            expiration = panel.locator(".labkit-expiration")
            expect(expiration).to_be_visible()
            expires = datetime.fromisoformat(expiration.inner_text().replace("Z", "+00:00"))
            ahead = expires - _sandbox_now()
            assert timedelta(minutes=55) < ahead < timedelta(hours=1, seconds=2), ahead
            for cls in ("labkit-access-key", "labkit-secret-key", "labkit-session-token"):
                assert MASKED.match(panel.locator(f".{cls}").inner_text()), cls
            arn = panel.locator(".labkit-arn").inner_text()
            assert arn.endswith(":assumed-role/sts_role/sts-session"), arn

            # The countdown ticks in the browser: two readings a few seconds apart differ.
            seconds = panel.locator(".labkit-countdown input").first
            expect(seconds).not_to_have_value("0")
            page.wait_for_function(
                "el => Number(el.value) < 3600", arg=seconds.element_handle(), timeout=10_000)
            first = int(seconds.input_value())
            shot("02-assumed-countdown-a")
            page.wait_for_timeout(3000)
            second = int(seconds.input_value())
            shot("03-assumed-countdown-b")
            assert 0 < second < first <= 3600, (first, second)
            assert 1 <= first - second <= 6, (first, second)

            probe.click()
            expect(badge).to_contain_text("allowed")
            shot("04-probe-allowed")

            # Past the Expiration on the sandbox clock: the probe gets RequestExpired.
            panel.get_by_role("button", name="+1 h").click()
            panel.get_by_role("button", name="+15 min").click()
            expect(panel.get_by_text("1 h 15 min ahead of real time")).to_be_visible()
            expect(panel.locator(".labkit-countdown")).to_contain_text("expired")
            probe.click()
            expect(badge).to_contain_text("RequestExpired")
            expect(badge).to_contain_text("Request has expired.")
            shot("05-after-expiry")

            # Reveal, then save from JupyterLab with widget state saving on.
            panel.get_by_role("button", name="reveal").click()
            expect(panel.get_by_text("--profile sts-session").first).to_be_visible()
            shot("06-revealed")
            before = saved_path.stat().st_mtime_ns
            page.locator(".jp-Notebook").first.click(position={"x": 5, "y": 5})
            page.keyboard.press("Control+s")
            deadline = time.monotonic() + 30
            while saved_path.stat().st_mtime_ns == before and time.monotonic() < deadline:
                time.sleep(0.2)
            assert saved_path.stat().st_mtime_ns != before, "JupyterLab did not save the notebook"
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"))
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
            print("Cell errors in the browser:", errors.all_inner_texts())
            print("Prompts:", page.locator(".jp-InputArea-prompt").all_inner_texts())
            print("Status:", page.locator(".jp-StatusBar-Widget").all_inner_texts())
            raise
        finally:
            page.close()
    finally:
        lifecycle.reset_clock()

    text = saved_path.read_text()
    saved = json.loads(text)
    state = saved["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json")
    assert state, "the saved notebook has no widget state: the check below would prove nothing"
    session = workspace.read_credentials_profile("sts-session")
    user = workspace.read_credentials_profile("default")
    assert session and user
    masked_secret = "*" * 16 + session["aws_secret_access_key"][-4:]
    assert masked_secret in text  # the card's state was saved, with the key masked
    for secret in (session["aws_secret_access_key"], session["aws_access_key_id"],
                   session["aws_session_token"], user["aws_secret_access_key"]):
        assert secret not in text

EXERCISE_NOTEBOOK = "02-policy-and-trust.ipynb"
WRONG_TRUST = """trust_policy = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}"""
RIGHT_TRUST = """trust_policy = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": lab.user_arn},
            "Action": "sts:AssumeRole",
        }
    ],
}"""


def _begin_run_all(page, PlaywrightTimeout) -> None:
    """Run > Run All Cells, once more if the kernel was not listening yet (the first cell did not run)."""
    for attempt in (1, 2):
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
        try:
            page.wait_for_function(FIRST_CELL_RAN, polling=200, timeout=TIMEOUT_MS)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise


def _run_all(page, PlaywrightTimeout) -> None:
    """Run > Run All Cells, then wait until every cell has run and the kernel is idle."""
    _begin_run_all(page, PlaywrightTimeout)
    page.wait_for_function(ALL_CELLS_RAN, polling=300, timeout=2 * TIMEOUT_MS)
    page.wait_for_function(KERNEL_READY, polling=200)


def _type_into(page, cell, text: str) -> None:
    """Replace a code cell's text as a learner would: click in, select all, type (pasted as one
    input, so the editor's bracket auto-closing does not add to it)."""
    from playwright.sync_api import expect

    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    expect(cell.locator(".cm-editor.cm-focused")).to_be_visible()  # editing, not selecting cells
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    expect(cell.locator(".cm-content")).to_have_text("")
    page.keyboard.insert_text(text)


def test_an_exercise_in_jupyterlab_says_what_is_wrong_then_passes(jupyterlab):
    """Notebook 02 as the learner gets it: a wrong trust policy typed into the exercise cell, its
    check run (the message names what is wrong), the policy fixed, the check passes."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    port, _root, browser = jupyterlab
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(TIMEOUT_MS)
    shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"{name}.png"))  # noqa: E731
    try:
        # a workspace of its own: the panel test's notebook is not reopened beside this one, where
        # Run > Run All Cells could reach it instead (JupyterLab restores a workspace's open tabs)
        page.goto(f"http://127.0.0.1:{port}/lab/workspaces/exercise/tree/{EXERCISE_NOTEBOOK}")
        page.wait_for_function(KERNEL_READY, polling=200)
        _run_all(page, PlaywrightTimeout)
        # The cells by their place in the notebook (the exercise's text is about to change), shown.
        place = page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
            .findIndex(cell => cell.model.sharedModel.getSource().startsWith('trust_policy = {'))""")
        assert place > 0
        page.evaluate("""async (place) => {
            const notebook = window.jupyterapp.shell.currentWidget.content;
            notebook.activeCellIndex = place;
            await notebook.scrollToItem(place, 'center');
        }""", place)
        notebook = page.locator(".jp-NotebookPanel:visible")  # not another notebook's tab
        exercise = notebook.locator(f'.jp-Cell[data-windowed-list-index="{place}"]')
        check = notebook.locator(f'.jp-Cell[data-windowed-list-index="{place + 1}"]')
        expect(check.locator(".cm-content")).to_contain_text('exercise("trust-policy", lab)')
        expect(check.locator(".jp-OutputArea")).to_contain_text("Not yet")  # the blank skeleton
        expect(check.locator(".jp-OutputArea")).to_contain_text("Using the lab's solution for trust_policy")

        _type_into(page, exercise, WRONG_TRUST)
        exercise.scroll_into_view_if_needed()
        page.keyboard.press("Shift+Enter")  # runs the exercise cell, moves to the check
        page.keyboard.press("Shift+Enter")  # runs the check
        verdict = check.locator(".jp-OutputArea")
        expect(verdict).to_contain_text("✗ Not yet")
        expect(verdict).to_contain_text("210987654321")
        text = verdict.inner_text()
        assert "Principal" in text and "Traceback" not in text, text
        check.scroll_into_view_if_needed()
        shot("07-exercise-not-yet")

        _type_into(page, exercise, RIGHT_TRUST)
        exercise.scroll_into_view_if_needed()
        page.keyboard.press("Shift+Enter")
        page.keyboard.press("Shift+Enter")
        expect(verdict).to_contain_text("✓ Correct")
        expect(verdict).to_contain_text("Using your trust_policy: it passes the check.")
        expect(verdict).not_to_contain_text("Not yet")
        check.scroll_into_view_if_needed()
        shot("08-exercise-correct")
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "failure-exercise.png"))
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        print("Cell errors in the browser:", errors.all_inner_texts())
        print("Cells not run:", page.evaluate("""() => window.jupyterapp.shell.currentWidget.content.widgets
            .filter(c => c.model.type === 'code' && c.model.executionCount === null)
            .map(c => c.model.sharedModel.getSource().slice(0, 60))"""))
        raise
    finally:
        page.close()
