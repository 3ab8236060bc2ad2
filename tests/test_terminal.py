"""The terminal walk-through, run as typed: every `$ ` command of docs/terminal-walkthrough.md.

One real `bash` (no rc files) gets the doc's commands one by one, with a fresh LABKIT_HOME and HOME,
its own sandbox (`labkit sandbox start` is the doc's first command; the session's sandbox and its
clock are not touched), and nothing of the caller's AWS environment. Each command's output must be
the output the doc shows, up to what changes from run to run (keys, times, ports, pids, paths).
Where the doc shows `export AWS_...="****************ABCD"`, the learner pastes the value from the
assume-role output just above; the runner does the same.

    python tests/test_terminal.py      # run the doc and print what a learner sees (to update it)
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "terminal-walkthrough.md"
BIN = Path(sys.executable).parent
ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/sts_role"
SESSION_ARN = f"arn:aws:sts::{ACCOUNT}:assumed-role/sts_role/sts-session"
USER_ARN = f"arn:aws:iam::{ACCOUNT}:user/labkit-sts-user"
SEED_SENTENCE = "You are not authorized to perform this operation."
EXPIRED = "An error occurred (RequestExpired) when calling the DescribeInstances operation: Request has expired."
INSTANCES = {"i-5ff1e1b6328409e79", "i-0eb27e9c6ccf74b2e", "i-7485d92d67e4bef85"}
COMMAND_TIMEOUT = 60.0
DOC_HOME = "/home/you/.labkit"  # how the doc shows LABKIT_HOME


# --- the doc ---------------------------------------------------------------------------------------

@dataclass
class Example:
    command: str
    shown: str  # the output the doc shows


def doc_examples(text: str | None = None) -> list[Example]:
    """The `$ ` commands of every ```console block, with the output shown under each."""
    text = DOC.read_text() if text is None else text
    examples: list[Example] = []
    for block in re.findall(r"^```console\n(.*?)^```", text, flags=re.S | re.M):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            if not lines[i].startswith("$ "):
                raise AssertionError(f"output before any command in a console block: {lines[i]!r}")
            command = [lines[i][2:]]
            while command[-1].endswith("\\"):
                i += 1
                command.append(lines[i])
            i += 1
            shown = []
            while i < len(lines) and not lines[i].startswith("$ "):
                shown.append(lines[i])
                i += 1
            examples.append(Example("\n".join(command), "\n".join(shown)))
    return examples


# --- a learner's terminal ---------------------------------------------------------------------------

@dataclass
class Result:
    command: str
    rc: int
    out: str
    err: str
    seconds: float = 0.0

    @property
    def shown(self) -> str:
        return self.out + self.err


_PASTE = re.compile(r'^export (AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN)="\*+[^"]*"$')
_FIELD = {"AWS_ACCESS_KEY_ID": "AccessKeyId", "AWS_SECRET_ACCESS_KEY": "SecretAccessKey",
          "AWS_SESSION_TOKEN": "SessionToken"}


@dataclass
class Terminal:
    """One bash process, like a terminal window: variables and `eval`s carry over between commands."""

    root: Path
    results: list[Result] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.home = self.root / "home"
        self.labkit_home = self.root / "labkit"
        self.cwd = self.root / "work"
        for path in (self.home, self.cwd):
            path.mkdir(parents=True, exist_ok=True)
        self.env = {
            "PATH": f"{BIN}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
            "HOME": str(self.home),  # the AWS CLI's role cache goes here, not the real ~/.aws
            "LABKIT_HOME": str(self.labkit_home),
            "LANG": "C.UTF-8",
            "TERM": "dumb",
            "AWS_PAGER": "",
        }
        self.proc = subprocess.Popen(["bash", "--noprofile", "--norc"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=self.cwd,
                                     env=self.env, text=True, bufsize=1)
        self._n = 0

    def paste(self, command: str) -> str:
        """`export AWS_...="****...ABCD"` -> the value from the last assume-role output."""
        match = _PASTE.match(command)
        if not match:
            return command
        response = self.last_assume_role()
        return f'export {match.group(1)}="{response["Credentials"][_FIELD[match.group(1)]]}"'

    def last_assume_role(self) -> dict:
        for result in reversed(self.results):
            try:
                data = json.loads(result.out)
            except ValueError:
                continue
            if isinstance(data, dict) and "AssumedRoleUser" in data:
                return data
        raise AssertionError("no `aws sts assume-role` output to paste from yet")

    def run(self, command: str) -> Result:
        self._n += 1
        out, err, rc = (self.root / f"{self._n}.{name}" for name in ("out", "err", "rc"))
        marker = f"__labkit_step_{self._n}_done__"
        script = (f"{{ {self.paste(command)}\n}} </dev/null >{out} 2>{err}; echo $? >{rc}; "
                  f"echo {marker}\n")
        started = time.monotonic()
        self.proc.stdin.write(script)
        self.proc.stdin.flush()
        noise = []
        while True:
            ready, _, _ = select.select([self.proc.stdout], [], [], COMMAND_TIMEOUT)
            if not ready:
                raise AssertionError(f"`{command}` did not finish within {COMMAND_TIMEOUT:.0f} s")
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"bash exited during `{command}`: {''.join(noise)}")
            if line.strip() == marker:
                break
            noise.append(line)
        result = Result(command, int(rc.read_text()), out.read_text(), err.read_text(),
                        time.monotonic() - started)
        for path in (out, err, rc):
            path.unlink()
        self._learn_secrets(result)
        self.results.append(result)
        return result

    def _learn_secrets(self, result: Result) -> None:
        try:
            data = json.loads(result.out)
        except ValueError:
            data = None
        creds = data.get("Credentials", data) if isinstance(data, dict) else {}
        for key in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
            if isinstance(creds, dict) and creds.get(key):
                self.secrets.add(creds[key])
        for line in (self.labkit_home / "aws-credentials").read_text().splitlines() \
                if (self.labkit_home / "aws-credentials").exists() else []:
            if "=" in line:
                value = line.split("=", 1)[1].strip()
                if len(value) >= 16:
                    self.secrets.add(value)

    def normalize(self, text: str) -> str:
        return normalize(text, self.secrets, self.labkit_home)

    def masked(self, text: str) -> str:
        """Text as the doc may show it: every secret this terminal saw as ****************ABCD."""
        from labkit.credentials import mask

        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, mask(secret))
        return text.replace(str(self.labkit_home), DOC_HOME)

    def close(self) -> None:
        state = self.labkit_home / "sandbox.json"
        if state.exists():  # the doc ends with `labkit sandbox stop`; if a step failed, stop it here
            try:
                os.kill(json.loads(state.read_text())["pid"], signal.SIGKILL)
            except (OSError, ValueError, KeyError):
                pass
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)?")
_MASKED = re.compile(r"\*{16}[A-Za-z0-9+/=]{0,4}")


def normalize(text: str, secrets: set[str] = frozenset(), labkit_home: Path | None = None) -> str:
    """What stays the same from run to run: secrets, times, ports, pids and the home path replaced."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "<secret>")
    text = _MASKED.sub("<secret>", text)
    if labkit_home is not None:
        text = text.replace(str(labkit_home), "~/.labkit")
    text = text.replace(DOC_HOME, "~/.labkit")
    text = re.sub(r'"UserId": "[^":]+"', '"UserId": "<user-id>"', text)
    text = _TIME.sub("<time>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    text = re.sub(r"\bpid \d+", "pid <pid>", text)
    text = re.sub(r"\bAROA[A-Z0-9]{17}\b", "<role-id>", text)
    lines = [line.rstrip() for line in text.replace("\r", "").splitlines()]
    return "\n".join(lines).strip("\n")


def matches(shown: str, actual: str) -> bool:
    """`actual` is what the doc shows; a line `...` in the doc stands for any number of lines."""
    pattern = "\n".join(".*?" if line.strip() == "..." else re.escape(line) for line in shown.split("\n"))
    pattern = pattern.replace("\n.*?\n", "(?:\n.*?)?\n")
    return re.fullmatch(pattern, actual, flags=re.S) is not None


def run_doc(root: Path) -> Terminal:
    terminal = Terminal(root)
    try:
        for example in doc_examples():
            terminal.run(example.command)
    except BaseException:
        terminal.close()
        raise
    return terminal


# --- the tests ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def walk():
    if shutil.which("bash") is None:  # pragma: no cover
        pytest.fail("these tests need bash")
    root = Path(tempfile.mkdtemp(prefix="labkit-terminal-"))
    terminal = run_doc(root)
    yield terminal
    terminal.close()
    shutil.rmtree(root, ignore_errors=True)


def results_for(walk: Terminal, command: str) -> list[Result]:
    found = [r for r in walk.results if r.command == command]
    assert found, f"the doc no longer runs `{command}`"
    return found


DESCRIBE = "aws ec2 describe-instances"
SEED_ASSUME = ("aws sts assume-role \\\n"
               f"    --role-arn          {ROLE_ARN} \\\n"
               "    --role-session-name sts-session \\\n"
               "    --duration-second   900 \\\n"
               "    --profile           default")


def test_every_command_shows_what_the_doc_shows(walk: Terminal) -> None:
    examples = doc_examples()
    assert len(examples) == len(walk.results)
    for example, result in zip(examples, walk.results, strict=True):
        actual = walk.normalize(result.shown)
        assert matches(normalize(example.shown), actual), (
            f"`{example.command}` printed:\n{actual}\n\nbut the doc shows:\n{normalize(example.shown)}")


def test_commands_succeed_unless_the_doc_shows_an_error(walk: Terminal) -> None:
    for result in walk.results:
        if result.command.startswith('eval "$('):
            continue  # eval succeeds even when the command inside fails (see the next test)
        failed = "An error occurred (" in result.err or result.err.startswith("labkit:") and \
            "saved profile" not in result.err
        assert (result.rc != 0) == failed, f"`{result.command}` exit {result.rc}: {result.err}"


def test_doc_secrets_are_masked() -> None:
    text = DOC.read_text()
    assert not re.search(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b", text)
    assert not re.search(r'"(SecretAccessKey|SessionToken)": "(?!\*{16})', text)


def test_before_assume_role_ec2_is_refused(walk: Terminal) -> None:
    before = results_for(walk, DESCRIBE)[0]
    assert before.rc != 0 and before.out == ""
    prefix = "\nAn error occurred (UnauthorizedOperation) when calling the DescribeInstances operation: "
    assert before.err.startswith(prefix + SEED_SENTENCE)
    assert f"User: {USER_ARN} is not authorized to perform: ec2:DescribeInstances" in before.err


def test_the_seed_assume_role_command_works_as_typed(walk: Terminal) -> None:
    (result,) = results_for(walk, SEED_ASSUME)  # `--duration-second`: the CLI takes the prefix
    assert result.rc == 0, result.err
    data = json.loads(result.out)
    assert set(data) >= {"AssumedRoleUser", "Credentials"}
    assert data["AssumedRoleUser"]["Arn"] == SESSION_ARN
    assert data["AssumedRoleUser"]["AssumedRoleId"].endswith(":sts-session")
    creds = data["Credentials"]
    assert set(creds) == {"AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"}
    assert creds["AccessKeyId"].startswith("ASIA")


def test_with_the_three_exports_ec2_works_then_expires(walk: Terminal) -> None:
    during, after = results_for(walk, DESCRIBE)[1:3]
    assert during.rc == 0, during.err
    ids = {i["InstanceId"] for r in json.loads(during.out)["Reservations"] for i in r["Instances"]}
    assert ids == INSTANCES
    (advance,) = results_for(walk, "labkit sandbox clock advance 15m")[:1]
    assert "15 min ahead of real time" in advance.out
    assert after.rc != 0 and after.out == ""
    assert after.err.strip() == EXPIRED


def test_exported_keys_win_over_profile_default_and_explicit_profile_wins_over_them(walk: Terminal) -> None:
    expired, user, user_again = results_for(walk, "aws sts get-caller-identity")[0], \
        results_for(walk, "aws sts get-caller-identity --profile default")[0], \
        results_for(walk, "aws sts get-caller-identity")[1]
    # the exported (expired) session is what a bare command uses, though profile default exists
    assert "An error occurred (ExpiredToken) when calling the GetCallerIdentity operation" in expired.err
    assert json.loads(user.out)["Arn"] == USER_ARN
    assert json.loads(user_again.out)["Arn"] == USER_ARN  # after `unset`: profile default again


def test_creds_export_replaces_the_three_exports(walk: Terminal) -> None:
    evals = [r for r in walk.results if r.command.startswith('eval "$(aws sts assume-role')]
    good = [r for r in evals if "--duration-seconds 900 " in r.command]
    assert good and all(r.rc == 0 and r.out == "" and r.err == "" for r in good)
    whoami = results_for(walk, "aws sts get-caller-identity")[2]
    assert json.loads(whoami.out)["Arn"] == SESSION_ARN


def test_a_refused_assume_role_in_eval_leaves_the_shell_as_it_was(walk: Terminal) -> None:
    (bad,) = [r for r in walk.results if r.command.startswith('eval "$(') and " 7200 " in r.command]
    assert bad.out == "" and bad.rc == 0  # eval of nothing
    assert bad.err.startswith("\nAn error occurred (ValidationError) when calling the AssumeRole "
                              "operation: The requested DurationSeconds exceeds the MaxSessionDuration "
                              "set for this role.\n")
    assert bad.err.rstrip().splitlines()[-1].startswith("labkit: No JSON on standard input")
    # the variables still hold the session from the eval before it: expired 15 min later, and not
    # replaced by profile default (which a cleared AWS_ACCESS_KEY_ID would fall back to)
    assert "(ExpiredToken)" in results_for(walk, "aws sts get-caller-identity")[3].err


@pytest.fixture(scope="module")
def session_json(walk: Terminal, tmp_path_factory) -> tuple[Path, dict]:
    """A real `aws sts assume-role` output from the walk-through, saved as a learner would."""
    data = walk.last_assume_role()
    path = tmp_path_factory.mktemp("creds") / "session.json"
    path.write_text(json.dumps(data, indent=4))
    return path, data["Credentials"]


def bash(script: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": f"{BIN}{os.pathsep}/usr/bin:/bin", "HOME": str(cwd), "LANG": "C.UTF-8",
           "LABKIT_HOME": str(cwd / "labkit")}
    return subprocess.run(["bash", "--noprofile", "--norc", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


PRINT_VARS = 'printf "%s\\n" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY" "$AWS_SESSION_TOKEN"'


def test_creds_export_every_format_from_a_real_response(session_json) -> None:
    path, creds = session_json
    values = [creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]]
    cwd = path.parent
    script = " & ".join(f"labkit creds export --format {fmt} < session.json > {fmt}.out"
                        for fmt in ("bash", "zsh", "fish", "powershell", "cmd", "dotenv", "json"))
    done = bash(script + " & wait", cwd)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    for fmt in ("bash", "zsh"):  # what `eval "$(...)"` does with it
        evaluated = bash(f'eval "$(cat {fmt}.out)"; {PRINT_VARS}', cwd)
        assert evaluated.stdout.splitlines() == values, fmt
    sourced = bash(f"set -a; . ./dotenv.out; set +a; {PRINT_VARS}", cwd)
    assert sourced.stdout.splitlines() == values
    as_json = json.loads((cwd / "json.out").read_text())
    assert [as_json[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")] == values
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    assert (cwd / "fish.out").read_text().splitlines() == [f'set -gx {n} "{v}"' for n, v in zip(names, values, strict=True)]
    assert (cwd / "powershell.out").read_text().splitlines() == [f'$Env:{n} = "{v}"' for n, v in zip(names, values, strict=True)]
    assert (cwd / "cmd.out").read_text().splitlines() == [f"set {n}={v}" for n, v in zip(names, values, strict=True)]


def test_creds_process_from_stdin_is_credential_process_json(session_json) -> None:
    path, creds = session_json
    result = bash("labkit creds process < session.json", path.parent)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["Version"] == 1
    assert (data["AccessKeyId"], data["SecretAccessKey"], data["SessionToken"]) == \
        (creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert data["Expiration"].endswith("Z")


@pytest.mark.parametrize(("script", "says"), [
    ("labkit creds export < /dev/null", "No JSON on standard input"),
    ("echo '{\"Credentials\": ' | labkit creds export", "The input is not valid JSON"),
    ("aws_output='[\"ASIA\"]'; echo \"$aws_output\" | labkit creds export", "Expected a JSON object"),
    ("echo '{\"AssumedRoleUser\": {}}' | labkit creds export", "Credentials"),
    ("labkit creds export --format tcsh < session.json", "Unknown format 'tcsh'"),
    ("labkit creds process --profile nope", "nope"),
])
def test_creds_bad_input_is_one_line(session_json, script: str, says: str) -> None:
    result = bash(script, session_json[0].parent)
    assert result.returncode == 2, result
    assert result.stdout == ""
    assert result.stderr.startswith("labkit: ") and result.stderr.count("\n") == 1, result.stderr
    assert says in result.stderr and "Traceback" not in result.stderr


def test_role_profile_lets_cli_and_boto3_assume_and_renew(walk: Terminal) -> None:
    cli = results_for(walk, "aws sts get-caller-identity --profile sts-role")
    boto3 = [r for r in walk.results if r.command.startswith("python -c") and "sts-role" in r.command]
    assert [json.loads(r.out)["Arn"] for r in cli] == [SESSION_ARN, SESSION_ARN]
    assert boto3 and boto3[0].out.strip() == SESSION_ARN
    # between the two CLI calls the clock moved 15 min: the exported session is refused, the
    # profile's is not, because the CLI assumed the role again (its cache holds the newer one)
    refused = results_for(walk, "aws sts get-caller-identity")[3]
    assert "(ExpiredToken)" in refused.err
    cache = list((walk.home / ".aws" / "cli" / "cache").glob("*.json"))
    assert cache, "the AWS CLI keeps role sessions in ~/.aws/cli/cache (HOME is the test's)"


def test_cleanup_removes_everything_then_has_nothing_to_do(walk: Terminal) -> None:
    first, second = results_for(walk, "labkit cleanup")
    assert first.rc == 0 and "removed  IAM user labkit-sts-user" in first.out
    assert "removed  IAM role sts_role" in first.out
    assert second.out.strip() == f"Nothing to clean up: the lab has no resources in account {ACCOUNT}."


if __name__ == "__main__":  # print the doc's commands with what they print now, secrets masked
    root = Path(tempfile.mkdtemp(prefix="labkit-terminal-"))
    term = run_doc(root)
    try:
        for res in term.results:
            print("$ " + term.masked(term.paste(res.command)))
            shown = term.masked(res.shown).rstrip("\n")
            if shown:
                print(shown)
            print(f"# exit {res.rc}, {res.seconds:.2f} s")
    finally:
        term.close()
        shutil.rmtree(root, ignore_errors=True)
