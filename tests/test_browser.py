"""Notebook 03 in JupyterLab in a real (headless) Chromium: the widgets as a learner uses them.

JupyterLab runs as a subprocess on a free port with a temp copy of notebooks/ and this test
session's lab workspace, so its kernels use the session's sandbox. Widget state saving is switched
on (JupyterLab's "Save Widget State Automatically"), the setting under which a widget that held a
secret would write it into the .ipynb file. Screenshots of each state go to test-artifacts/browser/.

Chromium comes from the OS (`make browser` / scripts/install-chromium): Playwright cannot download
browsers here. Without it this test fails and says how to install it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from labkit import workspace
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
    shutil.copytree(ROOT / "notebooks", root)
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


def test_assume_role_panel_in_jupyterlab(sandbox, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing, so the browser test cannot run: install Chromium with "
                    "`make browser` (scripts/install-chromium) or `apt-get install chromium`.")
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    lifecycle.reset_clock()  # earlier tests may have moved it; this one starts at real time
    port = _free_port()
    lab_process = _start_lab(tmp_path, port)
    saved_path = tmp_path / "notebooks" / NOTEBOOK
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(TIMEOUT_MS)
                shot = lambda name: page.screenshot(path=str(ARTIFACTS / f"{name}.png"))  # noqa: E731

                page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}")
                page.wait_for_function(KERNEL_READY, polling=200)

                # Run > Run All Cells (once more if the kernel was not listening yet), then wait
                # until every cell has run and the kernel is idle again.
                panel = page.locator(".labkit-assume-panel")
                for attempt in (1, 2):
                    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
                    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
                    try:
                        page.wait_for_function(FIRST_CELL_RAN, polling=200, timeout=20_000)
                        break
                    except PlaywrightTimeout:
                        if attempt == 2:
                            raise
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
                browser.close()
    finally:
        _stop_lab(lab_process)
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
