"""The project's own promises: dependency lists in step, the two commands, CI, committed files."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!\[ ]", requirement.strip(), maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    text = (ROOT / "environment.yml").read_text()
    listed = {line.strip()[2:].strip() for line in text.splitlines() if line.strip().startswith("- ")}
    pip_listed = {item for item in listed if _name(item) in {_name(w) for w in wanted}}
    assert pip_listed == wanted, f"environment.yml differs: {sorted(pip_listed ^ wanted)}"


def test_readme_quick_start_is_the_two_make_commands():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(make \w+)$", quick, flags=re.M)
    assert commands == ["make lab", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^lab:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_no_full_access_keys_in_tracked_files():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    leaks = []
    for name in files:
        path = ROOT / name
        if name.startswith("tests/") or not path.is_file():
            continue
        if re.search(r"(AKIA|ASIA)[A-Z0-9]{16}", path.read_text(errors="ignore")):
            leaks.append(name)
    assert not leaks, f"full access key IDs in {leaks}"
