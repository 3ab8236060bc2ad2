"""A room starting at once: N sandboxes in N lab workspaces, `labkit sandbox start` at the same moment.

    .venv/bin/python bench/crowd.py [--learners 30] [--limit 300]

Each learner gets its own temporary LABKIT_HOME. All N `labkit sandbox start` commands are released
together (a barrier); each learner then calls STS GetCallerIdentity with its `labkit-admin` profile
until the sandbox answers. It prints, for the whole room: how many started and answered, the
failures (with the one line `labkit` printed), the time from the release to `labkit sandbox start`
returning and to the first answered request (min / median / max), the servers' memory (RSS), and
the machine's load. Every sandbox it started is stopped on the way out (and checked with psutil).

It is a benchmark, not a test: it exits 0 when every sandbox answered, 1 otherwise.
"""

from __future__ import annotations

import argparse
import configparser
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

LABKIT = Path(sys.executable).parent / "labkit"
SERVER = "labkit.sandbox.server"


@dataclass
class Learner:
    home: Path
    start_s: float | None = None  # release -> `labkit sandbox start` returned
    answer_s: float | None = None  # release -> first GetCallerIdentity answered
    failure: str = ""
    pid: int | None = None
    rss_mb: float = 0.0
    output: list[str] = field(default_factory=list)


def environment(home: Path) -> dict[str, str]:
    return {"PATH": f"{LABKIT.parent}{os.pathsep}/usr/bin:/bin", "HOME": str(home.parent),
            "LABKIT_HOME": str(home), "LANG": "C.UTF-8"}


def run(learner: Learner, barrier: threading.Barrier, limit: float) -> None:
    barrier.wait()
    released = time.monotonic()
    try:
        started = subprocess.run([str(LABKIT), "sandbox", "start"], capture_output=True, text=True,
                                 env=environment(learner.home), stdin=subprocess.DEVNULL, timeout=limit)
    except subprocess.TimeoutExpired:
        learner.failure = f"`labkit sandbox start` did not return within {limit:.0f} s"
        return
    learner.start_s = time.monotonic() - released
    if started.returncode != 0:
        learner.failure = started.stderr.strip() or f"exit {started.returncode}"
        return
    endpoint = started.stdout.split(" at ", 1)[1].split(" ", 1)[0]
    learner.pid = int(started.stdout.split("(pid ", 1)[1].split(")", 1)[0])
    parser = configparser.ConfigParser()
    parser.read(learner.home / "aws-credentials")
    admin = parser["labkit-admin"]
    keys = Credentials(admin["aws_access_key_id"], admin["aws_secret_access_key"])
    last = ""
    while time.monotonic() - released < limit:
        try:
            if "<GetCallerIdentityResult>" in caller_identity(endpoint, keys):
                learner.answer_s = time.monotonic() - released
                return
            last = "an answer without GetCallerIdentityResult"
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    learner.failure = f"no answer within {limit:.0f} s ({last})"


def caller_identity(endpoint: str, keys: Credentials) -> str:
    """STS GetCallerIdentity, signed with botocore's SigV4 (no client to build: the probe stays light)."""
    request = AWSRequest(method="POST", url=endpoint + "/", data="Action=GetCallerIdentity&Version=2011-06-15",
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(keys, "sts", "us-east-1").add_auth(request)
    prepared = request.prepare()
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    http = urllib.request.Request(prepared.url, data=body, method="POST",
                                  headers=dict(prepared.headers))
    try:
        with urllib.request.urlopen(http, timeout=60) as response:
            return response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.read().decode()


def figures(values: list[float]) -> str:
    if not values:
        return "none"
    return f"min {min(values):.1f} s, median {statistics.median(values):.1f} s, max {max(values):.1f} s"


def stop_all(learners: list[Learner]) -> list[str]:
    """Stop every sandbox; return the homes whose server is still there afterwards (should be none)."""
    for learner in learners:
        if (learner.home / "sandbox.json").exists():
            subprocess.run([str(LABKIT), "sandbox", "stop"], capture_output=True, env=environment(learner.home),
                           stdin=subprocess.DEVNULL, timeout=120)
    homes = {str(learner.home) for learner in learners}
    left = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if SERVER in cmdline and "--home" in cmdline and cmdline[cmdline.index("--home") + 1] in homes:
            left.append(cmdline[cmdline.index("--home") + 1])
            process.kill()  # a server of this benchmark that `stop` missed (reported below)
    return left


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--limit", type=float, default=300.0, help="seconds each learner may take in all")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="labkit-crowd-") as root:
        learners = [Learner(Path(root) / f"learner-{n:02d}" / "labkit") for n in range(args.learners)]
        barrier = threading.Barrier(args.learners)
        threads = [threading.Thread(target=run, args=(learner, barrier, args.limit)) for learner in learners]
        load_before = os.getloadavg()
        print(f"{args.learners} sandboxes, started at the same moment on {os.cpu_count()} cores "
              f"(load average before: {load_before[0]:.1f})")
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for learner in learners:
                if learner.pid and psutil.pid_exists(learner.pid):
                    learner.rss_mb = psutil.Process(learner.pid).memory_info().rss / 2**20
        finally:
            left = stop_all(learners)

    answered = [x.answer_s for x in learners if x.answer_s is not None]
    failures = [x for x in learners if x.failure]
    rss = [x.rss_mb for x in learners if x.rss_mb]
    print(f"answered:               {len(answered)} of {len(learners)}")
    print(f"`sandbox start` returned: {figures([x.start_s for x in learners if x.start_s is not None])}")
    print(f"first answer:           {figures(answered)}")
    if rss:
        print(f"server RSS:             median {statistics.median(rss):.0f} MB, max {max(rss):.0f} MB, "
              f"all {sum(rss) / 1024:.1f} GB")
    print(f"load average after:     {os.getloadavg()[0]:.1f}")
    print(f"failures:               {len(failures)}")
    for learner in failures:
        print(f"  {learner.home.parent.name}: {learner.failure}")
    if left:
        print(f"servers still running after stop (killed): {len(left)}")
    return 0 if not failures and not left else 1


if __name__ == "__main__":
    sys.exit(main())
