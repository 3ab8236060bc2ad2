"""`labkit lab` (what `make lab` runs): JupyterLab on 127.0.0.1 with the notebooks. Its terminals and
sandbox come from labkit's server extension: tests/test_server_extension.py."""

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
from pathlib import Path

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_labkit_lab_serves_the_learners_copy_on_loopback(sandbox, tmp_path):
    """`make lab` opens the learner's own copy (made on first start): the lessons and the docs a
    learner needs, no test plumbing; the repository's notebooks are not what JupyterLab saves into."""
    port = _free_port()
    log = tmp_path / "lab.log"
    mine = tmp_path / "my-notebooks"
    env = {**os.environ, "HOME": str(tmp_path), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "JUPYTER_DATA_DIR": str(tmp_path / "data"),
           "LABKIT_NOTEBOOKS": str(mine)}
    with open(log, "w") as out:
        process = subprocess.Popen([str(BIN / "labkit"), "lab", "--no-browser", f"--port={port}"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline, url = time.monotonic() + 60, None
        while time.monotonic() < deadline and url is None:
            found = re.search(rf"http://127\.0\.0\.1:{port}/lab\?token=\w+", log.read_text())
            url = found.group(0) if found else None
            time.sleep(0.5)
        assert url, log.read_text()[-3000:]
        token = url.split("token=")[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token={token}", timeout=30) as resp:
            names = {item["name"] for item in json.loads(resp.read())["content"]}
        lessons = {p.name for p in (Path(__file__).resolve().parents[1] / "notebooks").glob("0*.ipynb")}
        assert names == lessons | {"README.md", "docs"}, names  # no conftest.py
        assert f"Your notebooks: {mine} ({len(lessons) + 1} files copied from the lessons just now)" in log.read_text()
        listening = [line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
                     if line.split()[3] == "0A"]  # state LISTEN
        assert f"0100007F:{port:04X}" in listening  # 127.0.0.1 ...
        assert f"00000000:{port:04X}" not in listening  # ... and not every address
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
