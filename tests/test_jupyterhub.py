"""A workshop on a local JupyterHub, for real: three learners log in, start their servers through
the hub's REST API, and each runs the core story in their own server's kernel (setup, refused,
assume, allowed, clock advance, expired) against their own sandbox; one learner's keys get AWS's
authentication error from another's sandbox. One of them logs in again in headless Chromium and
types the walk-through in a JupyterLab terminal (screenshot in test-artifacts/hub/). Then
everything is stopped and checked gone: servers, sandboxes, kernels, the hub and its proxy.

The hub: `jupyterhub` with the shared-password authenticator, the simple local-process spawner
(each user gets a home folder under a temp folder, so ~/.labkit and the sandbox are their own; as
root in CI the servers run as root, hence --allow-root), configurable-http-proxy from npm
(`make proxy`), everything on 127.0.0.1. The servers get the spawner's usual environment: no
LABKIT_HOME and no AWS variables from here.
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
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import requests

from tests.jupyter_api import JupyterAPI

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PASSWORD = "workshop-rehearsal"  # the shared password (the authenticator wants 8 characters or more)
INSTRUCTOR_TOKEN = "instructor-" + os.urandom(12).hex()
LEARNERS = ("alice", "bob", "carol")
TYPIST = "alice"  # the learner whose terminal the browser shows
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts" / "hub"
INSTANCES = {"i-5ff1e1b6328409e79", "i-0eb27e9c6ccf74b2e", "i-7485d92d67e4bef85"}


def _proxy() -> str:
    found = shutil.which("configurable-http-proxy")
    local = BIN.parent / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    if found:
        return found
    if local.exists():
        return str(local)
    pytest.fail("configurable-http-proxy is missing, so the hub cannot run: `make proxy` "
                "(scripts/install-configurable-http-proxy) installs it from npm.")


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _wait(check, what: str, timeout: float = 120.0, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout:.0f} s\n{log.read_text()[-4000:] if log else ''}")


REHEARSAL = ROOT / "deploy" / "rehearsal" / "jupyterhub_config.py"
# The instructors' rehearsal hub (deploy/rehearsal/), with this test's ports and proxy.
CONFIG = """
c = get_config()  # noqa
load_subconfig({rehearsal!r})
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
"""


class Hub:
    def __init__(self, root: Path) -> None:
        self.root = root
        port, hub_port, proxy_api_port = _free_ports(3)
        self.url = f"http://127.0.0.1:{port}"
        (root / "jupyterhub_config.py").write_text(CONFIG.format(
            rehearsal=str(REHEARSAL), proxy_api_port=proxy_api_port, proxy=_proxy()))
        self.log = root / "hub.log"
        env = {"PATH": f"{BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin", "HOME": str(root),
               "LANG": "C.UTF-8", "CONFIGPROXY_AUTH_TOKEN": os.urandom(16).hex(),
               "LABKIT_REHEARSAL_DIR": str(root), "LABKIT_REHEARSAL_HOMES": str(root / "homes"),
               "LABKIT_REHEARSAL_URL": self.url, "LABKIT_REHEARSAL_HUB_URL": f"http://127.0.0.1:{hub_port}",
               "LABKIT_REHEARSAL_PASSWORD": PASSWORD, "LABKIT_REHEARSAL_INSTRUCTOR_TOKEN": INSTRUCTOR_TOKEN}
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [str(BIN / "jupyterhub"), "-f", str(root / "jupyterhub_config.py")], cwd=root, env=env,
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        self.admin = requests.Session()
        self.admin.headers["Authorization"] = f"token {INSTRUCTOR_TOKEN}"

    def api(self, method: str, path: str, session: requests.Session | None = None, **kwargs):
        return (session or self.admin).request(method, f"{self.url}/hub/api/{path}", timeout=60, **kwargs)

    def up(self) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"jupyterhub exited ({self.process.returncode}):\n{self.log.read_text()[-4000:]}")
        try:
            return self.api("GET", "").status_code == 200
        except requests.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


class Learner:
    """Logs in through the hub's login form, makes an API token in that login session, starts
    their server with it and talks to it as JupyterLab does."""

    def __init__(self, hub: Hub, name: str) -> None:
        self.hub, self.name = hub, name
        self.browser = requests.Session()
        self.token = ""

    def log_in(self) -> None:
        self.browser.get(f"{self.hub.url}/hub/login", timeout=60).raise_for_status()
        xsrf = self.browser.cookies.get("_xsrf")
        wrong = self.browser.post(f"{self.hub.url}/hub/login", timeout=60, allow_redirects=False,
                                  data={"username": self.name, "password": "not-the-password", "_xsrf": xsrf})
        assert wrong.status_code == 403, wrong.status_code
        response = self.browser.post(f"{self.hub.url}/hub/login", timeout=60, allow_redirects=False,
                                     data={"username": self.name, "password": PASSWORD, "_xsrf": xsrf})
        assert response.status_code == 302, (response.status_code, response.text[:500])
        # a login starts a new session with its own XSRF token: the hub's home page sets it
        self.browser.get(f"{self.hub.url}/hub/home", timeout=60).raise_for_status()
        xsrf = [c.value for c in self.browser.cookies if c.name == "_xsrf"][-1]
        made = self.hub.api("POST", f"users/{self.name}/tokens", session=self.browser,
                            headers={"X-XSRFToken": xsrf}, json={"note": "workshop test"})
        assert made.status_code == 201, (made.status_code, made.text[:500])
        self.token = made.json()["token"]
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {self.token}"

    def start_server(self) -> None:
        response = self.hub.api("POST", f"users/{self.name}/server", session=self.session)
        assert response.status_code in (201, 202), (response.status_code, response.text[:500])

        def ready():
            server = self.hub.api("GET", f"users/{self.name}", session=self.session).json()["servers"].get("")
            return bool(server and server["ready"])

        _wait(ready, f"{self.name}'s server was not ready", log=self.hub.log)
        self.server = JupyterAPI(f"{self.hub.url}/user/{self.name}/", self.token)

    @property
    def home(self) -> Path:
        return self.hub.root / "homes" / self.name

    def status(self) -> dict:
        return self.server.get("labkit/status").json()


def _running(learner: Learner):
    status = learner.status()
    return status if status["sandbox"]["state"] == "running" else None


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    (root / "homes").mkdir()
    hub = Hub(root)
    try:
        _wait(hub.up, "the hub did not answer", log=hub.log)
        yield hub
    finally:
        hub.stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(hub.log, ARTIFACTS / "hub.log")  # the hub's and the servers' log, to read after


STORY = {
    "setup": """
        import boto3
        from botocore.exceptions import ClientError
        from labkit.lab import Lab, Names
        from labkit.sandbox import lifecycle
        from labkit.target import connect

        target = connect()
        lab = Lab(target, Names.for_target(target))
        for step in lab.setup():
            print(step)
        endpoint = lifecycle.require_running().endpoint
        user = boto3.Session(profile_name="default", region_name="us-east-1")  # the lab user's key

        def describe(session):
            try:
                reservations = session.client("ec2", endpoint_url=endpoint).describe_instances()["Reservations"]
            except ClientError as exc:
                return exc.response["Error"]["Code"]
            return sorted(i["InstanceId"] for r in reservations for i in r["Instances"])

        print("ME", user.client("sts", endpoint_url=endpoint).get_caller_identity()["Arn"])
        print("ENDPOINT", endpoint)

        from labkit.jupyter.client import server_status  # what a notebook's first cell can show
        print("SERVER SAYS", server_status()["sandbox"]["endpoint"])
    """,
    "refused": """print("BEFORE", describe(user))""",
    "assume": """
        answer = user.client("sts", endpoint_url=endpoint).assume_role(
            RoleArn=lab.role_arn, RoleSessionName="sts-session", DurationSeconds=900)
        c = answer["Credentials"]
        role = boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                             aws_session_token=c["SessionToken"], region_name="us-east-1")
        print("ASSUMED", answer["AssumedRoleUser"]["Arn"])
    """,
    "allowed": """print("DURING", describe(role))""",
    "clock": """print("CLOCK", lifecycle.advance_clock(901)["offset"])""",
    "expired": """print("AFTER", describe(role))""",
}


def _story(learner: Learner) -> dict[str, str]:
    """The core story in the learner's own kernel; each step's printed lines."""
    kernel = learner.server.kernel()
    try:
        said = {}
        for step, code in STORY.items():
            result = kernel.execute(textwrap.dedent(code))
            assert result.error is None, f"{learner.name}, step {step}: {result}"
            said[step] = result.stdout
        return said
    finally:
        kernel.close()


def _line(text: str, key: str) -> str:
    found = re.search(rf"^{key} (.*)$", text, re.M)
    assert found, f"no {key} line in {text!r}"
    return found.group(1)


@pytest.fixture(scope="module")
def learners(hub) -> dict[str, Learner]:
    """Everyone logs in and starts their server at the same moment, as a room does."""
    clock = _Phases()
    everyone = {name: Learner(hub, name) for name in LEARNERS}
    with ThreadPoolExecutor(len(everyone)) as pool:
        list(pool.map(Learner.log_in, everyone.values()))
        clock("logged in")
        list(pool.map(Learner.start_server, everyone.values()))
        clock("servers ready")
    return everyone


def test_three_learners_each_run_the_story_in_their_own_sandbox(hub, learners):
    learners = [learners[name] for name in LEARNERS]
    clock = _Phases()
    with ThreadPoolExecutor(len(learners)) as pool:
        statuses = list(pool.map(lambda ln: _wait(lambda: _running(ln), f"{ln.name}'s sandbox", log=hub.log),
                                 learners))
        clock("sandboxes running")
        stories = list(pool.map(_story, learners))
        clock("stories told")

    for learner, status, said in zip(learners, statuses, stories, strict=True):
        home = learner.home / ".labkit"
        assert status["home"] == str(home), status
        assert status["sandbox"]["started_by_server"] is True
        assert _line(said["setup"], "ENDPOINT") == status["sandbox"]["endpoint"]
        assert _line(said["setup"], "SERVER SAYS") == status["sandbox"]["endpoint"]
        assert _line(said["setup"], "ME") == "arn:aws:iam::123456789012:user/labkit-sts-user"
        assert _line(said["refused"], "BEFORE") == "UnauthorizedOperation"
        assert _line(said["assume"], "ASSUMED") == "arn:aws:sts::123456789012:assumed-role/sts_role/sts-session"
        assert set(json.loads(_line(said["allowed"], "DURING").replace("'", '"'))) == INSTANCES
        assert float(_line(said["clock"], "CLOCK")) == 901
        assert _line(said["expired"], "AFTER") == "RequestExpired"
        # the learner's notebooks are in their file browser
        listed = learner.server.get("api/contents/sts-labkit").json()
        assert "03-assume-role.ipynb" in {c["name"] for c in listed["content"]}

    endpoints = {s["sandbox"]["endpoint"] for s in statuses}
    pids = {s["sandbox"]["pid"] for s in statuses}
    assert len(endpoints) == len(pids) == 3, statuses

    # alice's user key, presented to bob's sandbox: AWS's authentication error, from bob's kernel
    alice, bob = learners[0], learners[1]
    keys = _credentials(alice.home / ".labkit" / "aws-credentials", "default")
    kernel = bob.server.kernel()
    try:
        result = kernel.execute(textwrap.dedent(f"""
            import boto3
            from botocore.exceptions import ClientError
            from labkit.sandbox import lifecycle
            sts = boto3.client("sts", region_name="us-east-1", endpoint_url=lifecycle.require_running().endpoint,
                               aws_access_key_id={keys[0]!r}, aws_secret_access_key={keys[1]!r})
            try:
                sts.get_caller_identity()
            except ClientError as exc:
                print("CODE", exc.response["Error"]["Code"])
                print("MESSAGE", exc.response["Error"]["Message"])
                print("STATUS", exc.response["ResponseMetadata"]["HTTPStatusCode"])
            else:
                print("CODE none: accepted")
        """))
    finally:
        kernel.close()
    assert _line(result.stdout, "CODE") == "InvalidClientTokenId", result
    assert _line(result.stdout, "MESSAGE") == "The security token included in the request is invalid."
    assert _line(result.stdout, "STATUS") == "403"

    # the instructor reads the room through the hub with one token (scripts/room-status.py)
    room = subprocess.run([sys.executable, str(ROOT / "scripts" / "room-status.py"), hub.url], text=True,
                          capture_output=True, timeout=120, env={**os.environ, "JUPYTERHUB_API_TOKEN": INSTRUCTOR_TOKEN})
    assert room.returncode == 0, room.stderr
    for learner in learners:
        assert re.search(rf"^{learner.name}\s+sandbox\s+running\s+\+901 s\s+none yet$", room.stdout, re.M), room.stdout
    clock("stories told, keys crossed, statuses read")


class _Phases:
    """Prints how long each phase took (pytest shows it with -s, or for a failed test)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, what: str) -> None:
        now = time.monotonic()
        print(f"hub test: {what} after {now - self.last:.1f} s")
        self.last = now


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _credentials(path: Path, profile: str) -> tuple[str, str]:
    import configparser

    parser = configparser.ConfigParser()
    parser.read(path)
    return parser[profile]["aws_access_key_id"], parser[profile]["aws_secret_access_key"]


WALKTHROUGH = [
    ("labkit setup >/dev/null && echo setup done", "setup done"),
    ("aws ec2 describe-instances --query 'Reservations[].Instances[].InstanceId' --output text 2>&1 | cut -c1-110",
     "UnauthorizedOperation"),
    ("eval \"$(aws sts assume-role --role-arn arn:aws:iam::123456789012:role/sts_role "
     "--role-session-name sts-session --duration-second 900 --profile default | labkit creds export --format bash)\"",
     None),
    ("aws sts get-caller-identity --query Arn --output text", "assumed-role/sts_role/sts-session"),
    ("aws ec2 describe-instances --query 'Reservations[].Instances[].InstanceId' --output text", "i-"),
    ("labkit sandbox clock advance 15m", "moved forward"),
    ("aws ec2 describe-instances 2>&1 | cut -c1-110", "RequestExpired"),
]


def test_a_learners_terminal_in_the_browser(hub, learners):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Chromium with `make browser` (scripts/install-chromium).")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)
    learner = learners[TYPIST]
    _wait(lambda: _running(learner), "the sandbox", log=hub.log)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.set_default_timeout(60_000)
            try:
                _type_walkthrough(hub, learner, page, expect)
            except Exception:
                page.screenshot(path=str(ARTIFACTS / "failed.png"))
                raise
        finally:
            browser.close()


def test_stopping_the_servers_and_the_hub_leaves_nothing_running(hub, learners):
    """A server stopped through the hub (SIGINT from the spawner) stops its sandbox; the hub's
    shutdown stops the proxy. Nothing the hub started is left."""
    statuses = {name: _wait(lambda ln=learner: _running(ln), f"{name}'s sandbox", log=hub.log)
                for name, learner in learners.items()}
    started = {p.pid: " ".join(p.cmdline()) for p in psutil.Process(hub.process.pid).children(recursive=True)}
    assert any("configurable-http-proxy" in command for command in started.values())
    assert sum("jupyterhub-singleuser" in command for command in started.values()) == len(learners)
    assert sum("labkit.sandbox.server" in command for command in started.values()) == len(learners)
    with ThreadPoolExecutor(len(learners)) as pool:
        stopped = list(pool.map(lambda name: hub.api("DELETE", f"users/{name}/server").status_code, learners))
    assert set(stopped) <= {202, 204}, stopped
    for name, status in statuses.items():
        pid = status["sandbox"]["pid"]
        _wait(lambda p=pid: not _alive(p), f"{name}'s sandbox outlived their server", log=hub.log)
        assert not (learners[name].home / ".labkit" / "sandbox.json").exists()
        assert "stopped with the server" in hub.log.read_text()
    hub.stop()
    for pid, command in started.items():
        _wait(lambda p=pid: not _alive(p), f"{command[:120]} outlived the hub", timeout=30)


def _type_walkthrough(hub: Hub, learner: Learner, page, expect) -> None:
    """Log in through the hub's form, open a terminal from JupyterLab's File menu, type the
    walk-through there (a websocket client attached to the same terminal reads what it shows),
    and take the screenshot."""
    page.goto(f"{hub.url}/hub/login")
    page.fill("input[name=username]", TYPIST)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(re.compile(rf"/user/{TYPIST}/lab"))
    expect(page.locator(".jp-DirListing-item", has_text="01-welcome.ipynb")).to_be_visible()
    before = {t["name"] for t in learner.server.get("api/terminals").json()}
    page.locator(".lm-MenuBar-item", has_text="File").first.click()
    page.locator(".lm-Menu-item", has_text="New").first.hover()
    page.locator(".lm-Menu-item:visible", has_text="Terminal").first.click()
    terminal = page.locator(".jp-Terminal .xterm-screen").first
    expect(terminal).to_be_visible()
    opened = _wait(lambda: {t["name"] for t in learner.server.get("api/terminals").json()} - before,
                   "no terminal was opened", log=hub.log)
    reader = learner.server.attach(opened.pop())
    try:
        terminal.click()
        reader.wait_for(r"[#$] ")
        for command, expected in WALKTHROUGH:
            seen = len(reader.screen)
            page.keyboard.type(command + "\n")
            # its echo (the end of the typed line), then its output, then the next prompt; a prompt
            # redrawn before the echo (the browser resizing the terminal) does not count
            out = reader.wait_for(re.escape(command[-12:]) + r"\n[\s\S]*[#$] ", after=seen)
            if expected:
                assert expected in out, (command, out)
        news = page.get_by_role("button", name="No", exact=True)  # JupyterLab's "notified about news?"
        if news.count():
            news.first.click()
        page.wait_for_timeout(500)
        page.screenshot(path=str(ARTIFACTS / "terminal-walkthrough.png"))
    finally:
        reader.ws.close()
