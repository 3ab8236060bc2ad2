"""Benchmark the local AWS sandbox: gatekeeper overhead, cold start and memory.

    .venv/bin/python bench/sandbox.py [--requests N] [--warmup N] [--batch N] [--cold-runs N]

1. Latency of a request mix (EC2 DescribeInstances, STS AssumeRole, STS GetCallerIdentity)
   through the gatekeeper (`labkit.sandbox.server`) and through the same moto WSGI app served
   plainly by werkzeug in another process, interleaved in rounds so machine noise hits both.
2. Cold start: `labkit sandbox start` in a fresh LABKIT_HOME until GetCallerIdentity with the
   `labkit-admin` profile answers; repeated, stopped in between.
3. Resident memory (VmRSS) of the sandbox process after the latency run.

Figures are printed next to their targets with PASS or OVER. It exits 0 whether or not a target
is met (it is a benchmark, not a test); it exits 1 only if the benchmark itself fails. Every
process it starts is stopped on the way out. Everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import boto3
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
LABKIT = Path(sys.executable).parent / "labkit"
REGION = "us-east-1"
OPS = ("DescribeInstances", "AssumeRole", "GetCallerIdentity")

TARGET_RATIO = 1.3
TARGET_COLD_S = 3.0
TARGET_RSS_MB = 250.0

USER = "bench-user"
ROLE = "bench-role"
SESSION = "bench"
# DescribeInstances should return the same rows on both servers: the sandbox seeds these
# (labkit.sandbox.accounts.INSTANCES, one reservation each, tagged), so the plain server gets them too.
SEEDED = [("web-1", "t3.micro"), ("web-2", "t3.micro"), ("batch-1", "t3.small")]
SEEDED_IMAGE = "ami-1e749f67"

# The plain moto server: moto's own WSGI app under werkzeug, nothing in front. The port goes to
# stdout. Request lines are silenced as the sandbox silences them, so logging is not what differs.
PLAIN_SERVER = """
import logging, sys
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server
logging.getLogger("werkzeug").setLevel(logging.WARNING)
server = make_server("127.0.0.1", 0, DomainDispatcherApplication(create_backend_app), threaded=True)
print(server.server_port, flush=True)
server.serve_forever()
"""

CLIENT_CONFIG = Config(
    region_name=REGION,
    retries={"total_max_attempts": 1},  # a retry would hide an error and double a sample
    connect_timeout=10,
    read_timeout=60,
)


# --- processes ------------------------------------------------------------------------------------


def _child_env(home: Path | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MOTO_ACCOUNT_ID"}
    if home is not None:
        env.update(_aws_env(home))
    return env


def _aws_env(home: Path) -> dict[str, str]:
    return {
        "LABKIT_HOME": str(home),
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_DEFAULT_REGION": REGION,
    }


def _alive(pid: int) -> bool:
    from labkit.sandbox.lifecycle import process_alive

    return process_alive(pid)


def _kill(pid: int) -> None:
    """SIGTERM, wait up to 10 s, then SIGKILL: for a process this script started."""
    if not pid or not _alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _sandbox_pid(home: Path) -> int:
    try:
        return int(json.loads((home / "sandbox.json").read_text())["pid"])
    except (OSError, ValueError, KeyError):
        return 0


def start_sandbox(home: Path, stack: ExitStack) -> tuple[str, int]:
    """`labkit sandbox start` in `home`; returns (endpoint, pid), registered for stopping."""
    result = subprocess.run(
        [str(LABKIT), "sandbox", "start"], env=_child_env(home), stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    pid = _sandbox_pid(home)
    if pid:
        stack.callback(_stop_sandbox, home, pid)
    if result.returncode != 0 or not pid:
        log = home / "sandbox.log"
        tail = log.read_text()[-2000:] if log.exists() else ""
        raise RuntimeError(f"labkit sandbox start failed ({result.returncode}): {result.stderr}{tail}")
    state = json.loads((home / "sandbox.json").read_text())
    return state["endpoint"], pid


def _stop_sandbox(home: Path, pid: int) -> None:
    if not _alive(pid):
        return
    subprocess.run(
        [str(LABKIT), "sandbox", "stop"], env=_child_env(home), stdin=subprocess.DEVNULL,
        capture_output=True, timeout=30, cwd=ROOT,
    )
    _kill(pid)  # in case stop did not (a no-op when it did)


def start_plain(stack: ExitStack, log_dir: Path) -> tuple[str, int]:
    """The plain moto server in its own process; returns (endpoint, pid), registered for stopping."""
    log = open(log_dir / "plain-moto.log", "ab")
    stack.callback(log.close)
    process = subprocess.Popen(
        [sys.executable, "-c", PLAIN_SERVER], env=_child_env(), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=log, text=True, cwd=log_dir,
    )
    stack.callback(_stop_process, process)
    line = process.stdout.readline().strip() if process.stdout else ""
    if not line.isdigit():
        raise RuntimeError(f"the plain moto server did not start (exit {process.poll()}); see {log.name}")
    return f"http://127.0.0.1:{int(line)}", process.pid


def _stop_process(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    if process.stdout:
        process.stdout.close()


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- the request mix --------------------------------------------------------------------------


def _client(service: str, endpoint: str, keys: dict[str, str]):
    return boto3.session.Session(
        aws_access_key_id=keys["AccessKeyId"],
        aws_secret_access_key=keys["SecretAccessKey"],
        aws_session_token=keys.get("SessionToken"),
        region_name=REGION,
    ).client(service, endpoint_url=endpoint, config=CLIENT_CONFIG)


def build_setup(endpoint: str, admin: dict[str, str] | None, session=None) -> dict[str, Callable[[], object]]:
    """User, key, role (trust names the user) and policies; then one client per operation.

    `session` is a boto3 Session for the admin (the sandbox); otherwise `admin` keys are used
    (the plain server, where any keys do).
    """
    def admin_client(service: str):
        if session is not None:
            return session.client(service, config=CLIENT_CONFIG)
        return _client(service, endpoint, admin or {})

    iam = admin_client("iam")
    user_arn = iam.create_user(UserName=USER)["User"]["Arn"]
    key = iam.create_access_key(UserName=USER)["AccessKey"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole"}],
    }
    role_arn = iam.create_role(
        RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust), MaxSessionDuration=3600
    )["Role"]["Arn"]
    iam.put_role_policy(
        RoleName=ROLE, PolicyName="describe-ec2",
        PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}],
        }),
    )
    iam.put_user_policy(
        UserName=USER, PolicyName="assume-bench-role",
        PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn}],
        }),
    )
    if session is None:  # the sandbox seeds its instances at start; give the plain server the same
        ec2_admin = admin_client("ec2")
        for name, instance_type in SEEDED:
            tags = [{"Key": "Name", "Value": name}, {"Key": "labkit:seeded", "Value": "true"}]
            ec2_admin.run_instances(
                ImageId=SEEDED_IMAGE, MinCount=1, MaxCount=1, InstanceType=instance_type,
                TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
            )

    user_sts = _client("sts", endpoint, key)
    # A new user's key may take a moment in IAM (the sandbox can simulate it): bounded retries.
    for attempt in range(50):
        try:
            creds = user_sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION)["Credentials"]
            break
        except user_sts.exceptions.ClientError:
            if attempt == 49:
                raise
            time.sleep(0.1)
    ec2 = _client("ec2", endpoint, creds)
    session_sts = _client("sts", endpoint, creds)
    reservations = ec2.describe_instances()["Reservations"]
    names = sorted(t["Value"] for r in reservations for i in r["Instances"] for t in i.get("Tags", [])
                   if t["Key"] == "Name")
    if len(reservations) != len(SEEDED) or names != sorted(n for n, _ in SEEDED):
        raise RuntimeError(f"{endpoint}: DescribeInstances shows {names}, expected the seeded {SEEDED}")
    return {
        "DescribeInstances": ec2.describe_instances,
        "AssumeRole": lambda: user_sts.assume_role(RoleArn=role_arn, RoleSessionName=SESSION),
        "GetCallerIdentity": session_sts.get_caller_identity,
    }


def measure(servers: dict[str, dict[str, Callable[[], object]]], requests: int, warmup: int,
            batch: int) -> dict[str, dict[str, list[float]]]:
    """Seconds per call, per server and operation. Rounds alternate servers (and their order)."""
    for calls in servers.values():
        for op in OPS:
            for _ in range(warmup):
                calls[op]()
    samples: dict[str, dict[str, list[float]]] = {name: {op: [] for op in OPS} for name in servers}
    names = list(servers)
    rounds = math.ceil(requests / batch)
    clock = time.perf_counter
    for index in range(rounds):
        n = min(batch, requests - index * batch)
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            for op in OPS:
                call = servers[name][op]
                out = samples[name][op]
                for _ in range(n):
                    t0 = clock()
                    call()
                    out.append(clock() - t0)
    return samples


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "OVER"


# --- cold start -------------------------------------------------------------------------------


def cold_start(runs: int, base: Path) -> list[tuple[float, float]]:
    """(seconds until `labkit sandbox start` returned, seconds until GetCallerIdentity answered)."""
    results = []
    for run in range(runs):
        home = base / f"cold-{run}"
        home.mkdir(mode=0o700)
        env = _aws_env(home)
        with ExitStack() as stack:
            t0 = time.perf_counter()
            start_sandbox(home, stack)
            started = time.perf_counter() - t0
            with mock.patch.dict(os.environ, env):
                sts = boto3.session.Session(profile_name="labkit-admin").client("sts", config=CLIENT_CONFIG)
                for attempt in range(200):  # bounded: 200 x 50 ms at most
                    try:
                        sts.get_caller_identity()
                        break
                    except Exception:
                        if attempt == 199:
                            raise
                        time.sleep(0.05)
                answered = time.perf_counter() - t0
        results.append((started, answered))
    return results


# --- main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="measured requests per operation per server")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured requests per operation per server first")
    parser.add_argument("--batch", type=int, default=10, help="requests per operation in one round")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold starts to time")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.batch < 1 or args.warmup < 0 or args.cold_runs < 1:
        parser.error("--requests, --batch and --cold-runs must be positive, --warmup not negative")

    with tempfile.TemporaryDirectory(prefix="labkit-bench-") as tmp, ExitStack() as stack:
        base = Path(tmp)
        home = base / "latency"
        home.mkdir(mode=0o700)
        endpoint, sandbox_pid = start_sandbox(home, stack)
        plain_endpoint, plain_pid = start_plain(stack, base)
        print(f"sandbox (gatekeeper) {endpoint} pid {sandbox_pid}; plain moto {plain_endpoint} pid {plain_pid}")

        with mock.patch.dict(os.environ, _aws_env(home)):
            admin = boto3.session.Session(profile_name="labkit-admin")
            gate = build_setup(endpoint, None, session=admin)
        plain = build_setup(plain_endpoint, {"AccessKeyId": "testing",
                                             "SecretAccessKey": "testing"})

        print(f"\n1. Latency: {args.requests} requests per operation per server after {args.warmup} warm-up, "
              f"interleaved in rounds of {args.batch}")
        samples = measure({"gatekeeper": gate, "plain": plain}, args.requests, args.warmup, args.batch)
        print(f"   {'operation':<18} {'gate median':>11} {'gate p90':>9} {'plain median':>12} {'plain p90':>9} {'ratio':>6}")
        for op in OPS:
            g, p = samples["gatekeeper"][op], samples["plain"][op]
            print(f"   {op:<18} {statistics.median(g) * 1e3:>8.2f} ms {p90(g) * 1e3:>6.2f} ms "
                  f"{statistics.median(p) * 1e3:>9.2f} ms {p90(p) * 1e3:>6.2f} ms "
                  f"{statistics.median(g) / statistics.median(p):>6.2f}")
        all_g = [s for op in OPS for s in samples["gatekeeper"][op]]
        all_p = [s for op in OPS for s in samples["plain"][op]]
        ratio = statistics.median(all_g) / statistics.median(all_p)
        print(f"   {'whole mix':<18} {statistics.median(all_g) * 1e3:>8.2f} ms {p90(all_g) * 1e3:>6.2f} ms "
              f"{statistics.median(all_p) * 1e3:>9.2f} ms {p90(all_p) * 1e3:>6.2f} ms {ratio:>6.2f}")
        print(f"   ratio of medians (gatekeeper / plain): {ratio:.2f}   target <= {TARGET_RATIO}   "
              f"{verdict(ratio <= TARGET_RATIO)}")
        mix_g = sum(statistics.median(samples["gatekeeper"][op]) for op in OPS)
        mix_p = sum(statistics.median(samples["plain"][op]) for op in OPS)
        print(f"   (one of each operation, sum of medians: {mix_g * 1e3:.2f} ms vs {mix_p * 1e3:.2f} ms, "
              f"ratio {mix_g / mix_p:.2f})")

        rss = rss_mb(sandbox_pid)
        plain_rss = rss_mb(plain_pid)
        stack.close()  # stop both servers before timing cold starts
        print(f"\n2. Cold start: `labkit sandbox start` in a fresh LABKIT_HOME until GetCallerIdentity "
              f"answers ({args.cold_runs} runs)")
        runs = cold_start(args.cold_runs, base)
        for i, (started, answered) in enumerate(runs, 1):
            print(f"   run {i}: {answered:.2f} s   (start command returned after {started:.2f} s)")
        cold = statistics.median(a for _, a in runs)
        print(f"   median: {cold:.2f} s   target <= {TARGET_COLD_S:.0f} s   {verdict(cold <= TARGET_COLD_S)}")

        print("\n3. Memory after the latency run (VmRSS)")
        if rss is None:
            print("   sandbox: unreadable")
        else:
            print(f"   sandbox: {rss:.1f} MB   target <= {TARGET_RSS_MB:.0f} MB   {verdict(rss <= TARGET_RSS_MB)}"
                  + (f"   (plain moto server: {plain_rss:.1f} MB)" if plain_rss is not None else ""))
    return 0


def _terminate(signum, _frame):
    raise SystemExit(128 + signum)  # unwind, so the finally blocks stop the servers


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the benchmark itself failed, not a target
        print(f"bench/sandbox.py: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
