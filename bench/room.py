"""A room of learners on one machine: each with their own sandbox, started together, each running
the core story with boto3; then where a sandbox's start time and memory go.

    .venv/bin/python bench/room.py [--learners N] [--cold-runs N] [--no-explain] [--no-lab]

1. Room: N lab workspaces (own LABKIT_HOME each); `labkit sandbox start` in all of them at the
   same moment; each learner's time from launch to the first answered GetCallerIdentity
   (min / median / max), then every learner at once runs the core story with boto3: setup (user,
   key, role, policies), refused (DescribeInstances as the user: UnauthorizedOperation), assume
   (AssumeRole), allowed (DescribeInstances with the session: the 3 instances), clock advance
   (the sandbox's control endpoint, 901 s), expired (RequestExpired), cleanup. Each outcome is
   checked; anything else is a failure (must be 0). Per call: p50 / p95 / p99. Per learner: RSS,
   PSS and USS of the sandbox after the story (psutil; PSS shares common pages fairly, so the
   PSS total is what the room really uses).
2. Cold start: one sandbox at a time in a fresh workspace, launch to first answer, median of
   --cold-runs; and that sandbox's RSS after the core story. Targets: <= 1.5 s, <= 120 MB.
3. Where it goes (unless --no-explain): what the sandbox's app loads (moto modules, services),
   `python -X importtime` of building it (the slowest imports), the resident memory and CPU time
   after each loading stage in a fresh process, and two remedies measured the same way: moto's
   EC2 instance-type offerings of the lab's region only (moto reads every region's at import),
   and EC2's region list without loading EC2's whole botocore service model (moto lists regions
   at import through three fresh boto3 Sessions, each of which loads it).
4. A learner's whole lab (unless --no-lab): `jupyter lab` with labkit's extension in a fresh
   HOME, the core story run in a kernel and a terminal opened, then RSS/PSS of every process of
   that learner (server, sandbox, kernel, terminal): what a hub must size per learner.

Figures move with machine load: compare runs on a quiet machine. Exits 0 whether or not a
target is met; 1 if a learner failed or the benchmark itself broke. Every sandbox it starts is
stopped on the way out; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import configparser
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import psutil
from botocore.config import Config
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
LABKIT = Path(sys.executable).parent / "labkit"
REGION = "us-east-1"
TARGET_COLD_S = 1.5
TARGET_RSS_MB = 120.0
START_LIMIT_S = 300.0  # the bench's own bound on one start (the lab's limit is lifecycle's)
CLIENT_CONFIG = Config(region_name=REGION, retries={"total_max_attempts": 1}, connect_timeout=10,
                       read_timeout=120)
CONTROL_HEADER = "X-Labkit-Control-Token"
INSTANCES = 3  # the sandbox seeds three
USER, ROLE, SESSION = "room-user", "room-role", "room-session"


# --- one learner's sandbox --------------------------------------------------------------------------


@dataclass
class Learner:
    home: Path
    start_s: float | None = None  # launch -> `labkit sandbox start` returned
    answer_s: float | None = None  # launch -> first answered GetCallerIdentity
    endpoint: str = ""
    pid: int = 0
    failures: list[str] = field(default_factory=list)
    calls: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    memory: dict[str, float] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
        env["LABKIT_HOME"] = str(self.home)
        return env

    def state(self) -> dict:
        return json.loads((self.home / "sandbox.json").read_text())

    def keys(self, profile: str) -> tuple[str, str]:
        parser = configparser.ConfigParser(interpolation=None)
        parser.read(self.home / "aws-credentials")
        return parser[profile]["aws_access_key_id"], parser[profile]["aws_secret_access_key"]

    def client(self, service: str, keys: tuple[str, ...]):
        session = boto3.session.Session(aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
                                        aws_session_token=keys[2] if len(keys) > 2 else None,
                                        region_name=REGION)
        return session.client(service, endpoint_url=self.endpoint, config=CLIENT_CONFIG)

    def start(self, barrier: threading.Barrier | None = None) -> None:
        """`labkit sandbox start`, then GetCallerIdentity as the admin until it answers."""
        if barrier is not None:
            barrier.wait()
        t0 = time.perf_counter()
        try:
            result = subprocess.run([str(LABKIT), "sandbox", "start"], env=self.env(), cwd=ROOT,
                                    stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                    timeout=START_LIMIT_S)
        except subprocess.TimeoutExpired:
            self.failures.append(f"start: no answer within {START_LIMIT_S:.0f} s")
            return
        self.start_s = time.perf_counter() - t0
        if result.returncode != 0:
            self.failures.append(f"start: {(result.stderr or result.stdout).strip()[-300:]}")
            return
        state = self.state()
        self.endpoint, self.pid = state["endpoint"], int(state["pid"])
        sts = self.client("sts", self.keys("labkit-admin"))
        deadline = time.perf_counter() + 60
        while True:
            try:
                sts.get_caller_identity()
                break
            except Exception as exc:  # not answering yet
                if time.perf_counter() > deadline:
                    self.failures.append(f"first answer: {exc}")
                    return
                time.sleep(0.02)
        self.answer_s = time.perf_counter() - t0

    def stop(self) -> None:
        """`labkit sandbox stop`; SIGKILL if the process is still there (only our own pid)."""
        if not self.pid:
            return
        subprocess.run([str(LABKIT), "sandbox", "stop"], env=self.env(), cwd=ROOT, stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
        try:
            process = psutil.Process(self.pid)
            if process.is_running() and "labkit.sandbox.server" in " ".join(process.cmdline()):
                process.wait(timeout=10)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)

    # --- the core story -----------------------------------------------------------------------

    def timed(self, name: str, call: Callable[[], object]) -> object:
        t0 = time.perf_counter()
        try:
            return call()
        finally:
            self.calls[name].append(time.perf_counter() - t0)

    def refused_with(self, name: str, call: Callable[[], object]) -> str:
        try:
            self.timed(name, call)
        except ClientError as exc:
            return exc.response["Error"]["Code"]
        return "allowed"

    def expect(self, step: str, seen: object, wanted: object) -> None:
        if seen != wanted:
            self.failures.append(f"{step}: got {seen!r}, expected {wanted!r}")

    def story(self) -> None:
        if self.failures or not self.endpoint:
            return
        try:
            self._story()
        except Exception as exc:  # a learner's broken story is a failure, not a crash of the bench
            self.failures.append(f"story: {type(exc).__name__}: {exc}")

    def _story(self) -> None:
        iam = self.client("iam", self.keys("labkit-admin"))
        user_arn = self.timed("iam:CreateUser", lambda: iam.create_user(UserName=USER))["User"]["Arn"]
        key = self.timed("iam:CreateAccessKey", lambda: iam.create_access_key(UserName=USER))["AccessKey"]
        trust = {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}]}
        role_arn = self.timed("iam:CreateRole", lambda: iam.create_role(
            RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=3600))["Role"]["Arn"]
        ec2_read = {"Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}]}
        self.timed("iam:PutRolePolicy", lambda: iam.put_role_policy(
            RoleName=ROLE, PolicyName="ec2-read", PolicyDocument=json.dumps(ec2_read)))
        may_assume = {"Version": "2012-10-17",
                      "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}]}
        self.timed("iam:PutUserPolicy", lambda: iam.put_user_policy(
            UserName=USER, PolicyName="assume-role", PolicyDocument=json.dumps(may_assume)))
        user = (key["AccessKeyId"], key["SecretAccessKey"])

        refused = self.refused_with("ec2:DescribeInstances (refused)",
                                    self.client("ec2", user).describe_instances)
        self.expect("refused", refused, "UnauthorizedOperation")

        sts = self.client("sts", user)  # clients are made before the clock starts, as for every call
        answer = self.timed("sts:AssumeRole", lambda: sts.assume_role(
            RoleArn=role_arn, RoleSessionName=SESSION, DurationSeconds=900))
        c = answer["Credentials"]
        role = (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
        ec2 = self.client("ec2", role)
        reservations = self.timed("ec2:DescribeInstances (allowed)", ec2.describe_instances)["Reservations"]
        self.expect("allowed", sum(len(r["Instances"]) for r in reservations), INSTANCES)

        self.timed("control: clock advance", lambda: self.control("clock/advance?seconds=901"))
        self.expect("expired", self.refused_with("ec2:DescribeInstances (expired)", ec2.describe_instances),
                    "RequestExpired")

        self.timed("iam:DeleteRolePolicy", lambda: iam.delete_role_policy(RoleName=ROLE, PolicyName="ec2-read"))
        self.timed("iam:DeleteRole", lambda: iam.delete_role(RoleName=ROLE))
        self.timed("iam:DeleteUserPolicy", lambda: iam.delete_user_policy(UserName=USER, PolicyName="assume-role"))
        self.timed("iam:DeleteAccessKey", lambda: iam.delete_access_key(UserName=USER, AccessKeyId=key["AccessKeyId"]))
        self.timed("iam:DeleteUser", lambda: iam.delete_user(UserName=USER))
        self.control("clock/reset")

    def control(self, path: str) -> dict:
        request = urllib.request.Request(f"{self.endpoint}/_labkit/{path}", method="POST",
                                         headers={CONTROL_HEADER: self.state()["token"]})
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def measure_memory(self) -> None:
        try:
            info = psutil.Process(self.pid).memory_full_info()
        except (psutil.Error, OSError) as exc:
            self.failures.append(f"memory: {exc}")
            return
        self.memory = {"rss": info.rss / 2**20, "pss": getattr(info, "pss", 0) / 2**20,
                       "uss": info.uss / 2**20}


# --- figures ---------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "OVER"


def spread(values: list[float], unit: str = "s") -> str:
    if not values:
        return "(none)"
    return (f"min {min(values):.2f} {unit}, median {statistics.median(values):.2f} {unit}, "
            f"max {max(values):.2f} {unit}")


def room(n: int, base: Path, stack: ExitStack) -> list[Learner]:
    learners = [Learner(base / f"learner-{i:02d}") for i in range(n)]
    for learner in learners:
        learner.home.mkdir(mode=0o700)
        stack.callback(learner.stop)
    barrier = threading.Barrier(n)
    with ThreadPoolExecutor(n) as pool:
        list(pool.map(lambda ln: ln.start(barrier), learners))
        list(pool.map(Learner.story, learners))
    for learner in learners:
        if learner.pid:
            learner.measure_memory()
    return learners


def report_room(learners: list[Learner]) -> int:
    n = len(learners)
    print(f"\n1. Room: {n} learners, each with their own sandbox, started at the same moment")
    print(f"   `labkit sandbox start` returned: {spread([ln.start_s for ln in learners if ln.start_s])}")
    print(f"   launch -> first answer:          {spread([ln.answer_s for ln in learners if ln.answer_s])}")
    print(f"\n   {'learner':<11} {'first answer':>12} {'RSS':>9} {'PSS':>9} {'USS':>9}")
    for learner in learners:
        memory = learner.memory or {"rss": math.nan, "pss": math.nan, "uss": math.nan}
        answer = f"{learner.answer_s:.2f} s" if learner.answer_s else "-"
        print(f"   {learner.home.name:<11} {answer:>12} {memory['rss']:>6.0f} MB {memory['pss']:>6.0f} MB "
              f"{memory['uss']:>6.0f} MB")
    measured = [ln.memory for ln in learners if ln.memory]
    if measured:
        print(f"   {'total':<11} {'':>12} {sum(m['rss'] for m in measured):>6.0f} MB "
              f"{sum(m['pss'] for m in measured):>6.0f} MB {sum(m['uss'] for m in measured):>6.0f} MB"
              f"   (PSS total = what the room uses; RSS counts shared pages in every learner)")
    calls: dict[str, list[float]] = defaultdict(list)
    for learner in learners:
        for name, samples in learner.calls.items():
            calls[name].extend(samples)
    print(f"\n   {'call (all learners at once)':<34} {'n':>4} {'p50':>9} {'p95':>9} {'p99':>9}"
          "   (one Python process drives every learner's boto3: client time is in the figures)")
    for name, samples in calls.items():
        print(f"   {name:<34} {len(samples):>4} {percentile(samples, 50) * 1e3:>6.0f} ms "
              f"{percentile(samples, 95) * 1e3:>6.0f} ms {percentile(samples, 99) * 1e3:>6.0f} ms")
    everything = [s for samples in calls.values() for s in samples]
    if everything:
        print(f"   {'every call':<34} {len(everything):>4} {percentile(everything, 50) * 1e3:>6.0f} ms "
              f"{percentile(everything, 95) * 1e3:>6.0f} ms {percentile(everything, 99) * 1e3:>6.0f} ms")
    failures = [(ln.home.name, f) for ln in learners for f in ln.failures]
    print(f"\n   failures: {len(failures)} (must be 0)")
    for name, failure in failures:
        print(f"     {name}: {failure}")
    return len(failures)


def cold(runs: int, base: Path, stack: ExitStack) -> tuple[list[float], float | None, int]:
    """Launch -> first answer, one sandbox at a time; RSS after the story of the first one."""
    times, rss, failures = [], None, 0
    for run in range(runs):
        learner = Learner(base / f"cold-{run}")
        learner.home.mkdir(mode=0o700)
        learner.start()
        if learner.answer_s is not None:
            times.append(learner.answer_s)
        if run == 0:
            learner.story()
            learner.measure_memory()
            rss = learner.memory.get("rss")
        failures += len(learner.failures)
        for failure in learner.failures:
            print(f"   cold run {run}: {failure}")
        learner.stop()
    return times, rss, failures


# --- where the time and memory go -------------------------------------------------------------------

STAGES = r"""
import json, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
out = []
def stage(name, load):
    wall, cpu = time.perf_counter(), time.process_time()
    load()
    out.append({"stage": name, "rss": rss(), "cpu": time.process_time() - cpu, "wall": time.perf_counter() - wall,
                "moto": len([m for m in sys.modules if m.startswith("moto.")])})
remedies = set(sys.argv[1].split("+"))
stage("python + werkzeug + boto3", lambda: __import__("werkzeug.serving") and __import__("boto3"))
stage("+ moto.core", lambda: __import__("moto.core.models"))
stage("+ moto IAM + STS models", lambda: (__import__("moto.iam.models"), __import__("moto.sts.models")))
if "one-region" in remedies:
    # instance-type offerings of the lab's region only (moto reads every region's at import)
    import moto.utilities.utils as utils
    real = utils.load_resource
    def one_region(path, *args, **kwargs):
        if "instance_type_offerings" in path and not path.rsplit("/", 1)[-1].startswith("us-east-1."):
            return []
        return real(path, *args, **kwargs)
    utils.load_resource = one_region
if "regions" in remedies:
    # the region list from botocore's endpoint data, as get_available_regions returns it, without
    # loading EC2's whole service model (moto lists regions with three fresh boto3 Sessions)
    import boto3.session, botocore.session
    resolver = botocore.session.get_session()._get_internal_component("endpoint_resolver")
    def regions(self, service_name, partition_name="aws", allow_non_regional=False):
        return resolver.get_available_endpoints(service_name, partition_name, allow_non_regional)
    boto3.session.Session.get_available_regions = regions
stage("+ moto EC2 models", lambda: __import__("moto.ec2.models"))
stage("+ moto S3 models", lambda: __import__("moto.s3.models"))
from labkit.sandbox.server import build_app
stage("build_app() (the sandbox's app)", build_app)
from labkit.sandbox import accounts
stage("accounts.bootstrap() (admins, instances)", accounts.bootstrap)
print(json.dumps(out))
"""
REMEDIES = {
    "none": "as the sandbox loads today",
    "one-region": "EC2 instance-type offerings of us-east-1 only",
    "regions": "EC2's region list without loading EC2's service model",
    "one-region+regions": "both",
}


def explain(base: Path) -> None:
    print("\n3. Where a sandbox's start and memory go")
    probe = subprocess.run(
        [sys.executable, "-c", "import sys\nfrom labkit.sandbox.server import build_app\nbuild_app()\n"
         "mods = [m for m in sys.modules if m.startswith('moto.')]\n"
         "print(len(mods), ' '.join(sorted({m.split('.')[1] for m in mods})))"],
        capture_output=True, text=True, cwd=base, timeout=300)
    count, _, services = probe.stdout.strip().partition(" ")
    print(f"   build_app() loads {count} moto modules, of these moto packages: {services}")

    timed = subprocess.run([sys.executable, "-X", "importtime", "-c",
                            "from labkit.sandbox.server import build_app; build_app()"],
                           capture_output=True, text=True, cwd=base, timeout=300)
    rows = []
    for line in timed.stderr.splitlines():
        found = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if found:
            rows.append((int(found.group(2)), int(found.group(1)), len(found.group(3)), found.group(4)))
    total = sum(self_us for _, self_us, _, _ in rows) / 1e6
    by_top: dict[str, float] = defaultdict(float)
    for _, self_us, _, name in rows:
        top = name.split(".")[0]
        key = ".".join(name.split(".")[:2]) if top == "moto" else top
        by_top[key] += self_us / 1e6
    print(f"   python -X importtime, building the app: {total:.2f} s of imports in all; by package (self time):")
    for name, seconds in sorted(by_top.items(), key=lambda kv: -kv[1])[:8]:
        print(f"     {seconds:>6.2f} s  {name}")
    print("   slowest moto and labkit imports (cumulative, nested ones included):")
    slowest = [row for row in sorted(rows, reverse=True) if row[3].startswith(("moto.", "labkit."))]
    for cumulative, _, _, name in slowest[:10]:
        print(f"     {cumulative / 1e6:>6.2f} s  {name}")

    stages: dict[str, list[dict]] = {}
    for remedy in REMEDIES:
        out = subprocess.run([sys.executable, "-c", STAGES, remedy], capture_output=True, text=True, cwd=base,
                             timeout=300)
        if out.returncode != 0:
            print(f"   (stage probe '{remedy}' failed: {out.stderr.strip()[-300:]})")
            continue
        stages[remedy] = json.loads(out.stdout)
    if "none" not in stages:
        return
    print(f"\n   {'stage of a start (fresh process, as today)':<42} {'RSS':>8} {'CPU':>8} {'moto modules':>13}")
    for row in stages["none"]:
        print(f"   {row['stage']:<42} {row['rss']:>5.0f} MB {row['cpu']:>6.2f} s {row['moto']:>13}")
    print(f"\n   {'measured remedy (same stages)':<58} {'ready: RSS':>11} {'CPU':>8}")
    for remedy, what in REMEDIES.items():
        if remedy in stages:
            rows_ = stages[remedy]
            cpu = sum(row["cpu"] for row in rows_)
            print(f"   {what:<58} {rows_[-1]['rss']:>8.0f} MB {cpu:>6.2f} s")


# --- a learner's whole lab --------------------------------------------------------------------------

LAB_STORY = """
import boto3
from botocore.exceptions import ClientError
from labkit.lab import Lab, Names
from labkit.sandbox import lifecycle
from labkit.target import connect
target = connect()
lab = Lab(target, Names.for_target(target))
lab.setup()
endpoint = lifecycle.require_running().endpoint
user = boto3.Session(profile_name="default", region_name="us-east-1")
def describe(session):
    try:
        return len(session.client("ec2", endpoint_url=endpoint).describe_instances()["Reservations"])
    except ClientError as exc:
        return exc.response["Error"]["Code"]
seen = [describe(user)]
c = user.client("sts", endpoint_url=endpoint).assume_role(
    RoleArn=lab.role_arn, RoleSessionName="sts-session", DurationSeconds=900)["Credentials"]
role = boto3.Session(aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                     aws_session_token=c["SessionToken"], region_name="us-east-1")
seen.append(describe(role))
lifecycle.advance_clock(901)
seen.append(describe(role))
print(seen)
"""


def whole_lab(base: Path) -> int:
    """Part 4. Returns the number of failures."""
    sys.path.insert(0, str(ROOT))
    from tests.jupyter_api import JupyterAPI

    print("\n4. A learner's whole lab: jupyter lab + labkit's extension, the story in a kernel, a terminal")
    home = base / "lab-home"
    home.mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    token = os.urandom(16).hex()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LABKIT_", "JUPYTER"))}
    env.update({"HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / ".jupyter")})
    command = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1",
               f"--port={port}", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={home}"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = open(base / "lab.log", "wb")
    server = subprocess.Popen(command, env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, start_new_session=True)
    api = JupyterAPI(f"http://127.0.0.1:{port}/", token)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if api.get("labkit/status").json()["sandbox"]["state"] == "running":
                    break
            except Exception:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                print(f"   the lab did not come up; see {base / 'lab.log'}")
                return 1
            time.sleep(0.5)
        kernel = api.kernel()
        result = kernel.execute(LAB_STORY, timeout=300)
        terminal = api.terminal()
        out, rc = terminal.run("aws sts get-caller-identity --profile labkit-admin --query Arn --output text")
        ok = "['UnauthorizedOperation', 3, 'RequestExpired']" in result.stdout and rc == 0
        if not ok:
            print(f"   the story or the terminal failed: {result} / {out}")
        processes = [psutil.Process(server.pid), *psutil.Process(server.pid).children(recursive=True)]
        rows = []
        for process in processes:
            try:
                info = process.memory_full_info()
                name = " ".join(process.cmdline())
            except psutil.Error:
                continue
            kind = ("sandbox" if "labkit.sandbox.server" in name else "kernel" if "ipykernel" in name
                    else "jupyter server" if process.pid == server.pid else "terminal shell" if "bash" in name
                    else name[:40])
            rows.append((kind, info.rss / 2**20, info.pss / 2**20))
        print(f"   {'process':<16} {'RSS':>9} {'PSS':>9}")
        for kind, rss, pss in rows:
            print(f"   {kind:<16} {rss:>6.0f} MB {pss:>6.0f} MB")
        print(f"   {'one learner':<16} {sum(r[1] for r in rows):>6.0f} MB {sum(r[2] for r in rows):>6.0f} MB"
              "   (a container per learner pays the RSS total; learners sharing a machine, the PSS)")
        terminal.close()
        kernel.close()
        return 0 if ok else 1
    finally:
        server.send_signal(signal.SIGINT)  # the extension stops the sandbox it started
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


# --- main -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--learners", type=int, default=10, help="learners in the room (default 10)")
    parser.add_argument("--cold-runs", type=int, default=3, help="one-at-a-time cold starts to time (default 3)")
    parser.add_argument("--no-explain", action="store_true", help="skip part 3 (where time and memory go)")
    parser.add_argument("--no-lab", action="store_true", help="skip part 4 (a learner's whole lab)")
    args = parser.parse_args(argv)
    if not 1 <= args.learners <= 200 or not 1 <= args.cold_runs <= 20:
        parser.error("--learners must be 1 to 200 and --cold-runs 1 to 20")

    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start "
          "(figures from a busy machine are not comparable)")
    with tempfile.TemporaryDirectory(prefix="labkit-room-") as tmp, ExitStack() as stack:
        base = Path(tmp)
        learners = room(args.learners, base, stack)
        failures = report_room(learners)
        stack.close()  # the room's sandboxes stopped before the one-at-a-time starts

        print(f"\n2. Cold start, one sandbox at a time ({args.cold_runs} runs)")
        times, rss, cold_failures = cold(args.cold_runs, base, stack)
        failures += cold_failures
        if times:
            median = statistics.median(times)
            print(f"   launch -> first answer: {spread(times)}   target <= {TARGET_COLD_S} s median: "
                  f"{verdict(median <= TARGET_COLD_S)}")
        if rss is not None:
            print(f"   sandbox RSS after the core story: {rss:.0f} MB   target <= {TARGET_RSS_MB:.0f} MB: "
                  f"{verdict(rss <= TARGET_RSS_MB)}")
        if not args.no_explain:
            explain(base)
        if not args.no_lab:
            failures += whole_lab(base)
        print(f"\nload average {os.getloadavg()[0]:.1f} at the end")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
