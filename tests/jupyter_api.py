"""A small client for a running Jupyter server's REST and websocket APIs, as JupyterLab uses them:
terminals (terminado's JSON messages) and kernels (the Jupyter messaging protocol over
/api/kernels/<id>/channels). Used by the server-extension and JupyterHub tests.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
import websocket

ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07|\x1b[()][0-9A-Za-z]|\r")


class JupyterAPI:
    """`base` is the server's URL up to its base_url (http://127.0.0.1:8888/ or .../user/alice/)."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base.rstrip("/") + "/"
        self.token = token
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"token {token}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.http.get(self.base + path, timeout=30, **kwargs)

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        return self.http.post(self.base + path, json=body or {}, timeout=60)

    def delete(self, path: str) -> requests.Response:
        return self.http.delete(self.base + path, timeout=60)

    def _ws(self, path: str) -> websocket.WebSocket:
        url = "ws" + self.base[len("http"):] + path
        return websocket.create_connection(url, header=[f"Authorization: token {self.token}"], timeout=60)

    def terminal(self) -> Terminal:
        response = self.post("api/terminals")
        response.raise_for_status()
        terminal = self.attach(response.json()["name"])
        # wide: no line wrapping in the echo of a long command
        terminal.ws.send(json.dumps(["set_size", 50, 250, 1000, 2000]))
        return terminal

    def attach(self, name: str) -> Terminal:
        """Another client of an open terminal (e.g. one a browser shows): it reads the same output."""
        return Terminal(self, name, self._ws(f"terminals/websocket/{name}"))

    def kernel(self) -> Kernel:
        response = self.post("api/kernels", {"name": "python3"})
        response.raise_for_status()
        kernel_id = response.json()["id"]
        return Kernel(self, kernel_id, self._ws(f"api/kernels/{kernel_id}/channels"))


@dataclass
class Terminal:
    """A JupyterLab terminal: what is typed goes to its shell, what it prints is read back."""

    api: JupyterAPI
    name: str
    ws: websocket.WebSocket
    raw: str = ""  # what the terminal sent
    screen: str = ""  # the same without escape sequences (stripped as a whole: one may span messages)
    _n: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _read(self, deadline: float) -> None:
        self.ws.settimeout(max(0.1, deadline - time.monotonic()))
        message = json.loads(self.ws.recv())
        if message[0] == "stdout":
            self.raw += message[1]
            self.screen = ANSI.sub("", self.raw)

    def run(self, command: str, timeout: float = 90.0) -> tuple[str, int]:
        """Type `command` and Enter; returns (what it printed, its exit status)."""
        n = next(self._n)
        # markers printed around the command; split by quotes in the typed line, so the shell's
        # echo of that line never matches them
        self.ws.send(json.dumps(["stdin", f'echo "@@ST""ART{n}@@"; {command}; echo "@@DO""NE{n} $?@@"\r']))
        marker = re.compile(rf"@@START{n}@@\n(.*?)@@DONE{n} (\d+)@@", re.S)
        start, deadline = len(self.screen), time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._read(deadline)
            found = marker.search(self.screen, start)
            if found:
                return found.group(1), int(found.group(2))
        raise AssertionError(f"no answer to {command!r} within {timeout} s; the terminal shows:\n{self.screen[-3000:]}")

    def wait_for(self, pattern: str, after: int = 0, timeout: float = 90.0) -> str:
        """Read until the screen from `after` on ends with `pattern` (a regex); returns that part."""
        ending = re.compile(f"(?:{pattern})\\Z")
        deadline = time.monotonic() + timeout
        while not ending.search(self.screen[after:]):
            if time.monotonic() > deadline:
                raise AssertionError(f"the terminal did not show {pattern!r} within {timeout} s:\n{self.screen[-3000:]}")
            self._read(deadline)
        return self.screen[after:]

    def close(self) -> None:
        self.ws.close()
        self.api.delete(f"api/terminals/{self.name}")


@dataclass
class Result:
    stdout: str
    stderr: str
    error: dict | None  # ename, evalue of an exception the cell raised

    def __str__(self) -> str:
        return self.stdout + self.stderr + (f"{self.error['ename']}: {self.error['evalue']}" if self.error else "")


@dataclass
class Kernel:
    api: JupyterAPI
    id: str
    ws: websocket.WebSocket
    session: str = field(default_factory=lambda: uuid.uuid4().hex)

    def execute(self, code: str, timeout: float = 120.0) -> Result:
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": self.session,
                       "username": "test", "version": "5.3", "date": datetime.now(UTC).isoformat()},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True},
        }))
        out, err, error, replied, idle = [], [], None, False, False
        deadline = time.monotonic() + timeout
        while not (replied and idle):
            if time.monotonic() > deadline:
                raise AssertionError(f"the kernel did not finish within {timeout} s: {code[:200]!r}")
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            message = json.loads(self.ws.recv())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                (out if content["name"] == "stdout" else err).append(content["text"])
            elif kind in ("execute_result", "display_data"):
                out.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                error = {"ename": content["ename"], "evalue": content["evalue"]}
            elif kind == "execute_reply":
                replied = True
            elif kind == "status" and content["execution_state"] == "idle":
                idle = True
        return Result("".join(out), "".join(err), error)

    def close(self) -> None:
        self.ws.close()
        self.api.delete(f"api/kernels/{self.id}")
