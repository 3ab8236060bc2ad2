#!/usr/bin/env python3
"""Make the lesson notebooks fit to commit: outputs only where nbval checks them, no secrets.

    .venv/bin/python scripts/clean-notebooks.py                 # clean every notebook in notebooks/
    .venv/bin/python scripts/clean-notebooks.py --execute       # run them first (fresh lab), then clean
    .venv/bin/python scripts/clean-notebooks.py --check         # only report; exit 1 if not clean
    .venv/bin/python scripts/clean-notebooks.py notebooks/05-*.ipynb

--execute runs the notebooks in file order against a fresh sandbox in a temporary LABKIT_HOME,
as the test session does, so the committed outputs are the ones nbval will compare with.
Cleaning keeps the outputs of cells tagged `nbval-check-output` (numbered 1, 2, ... in order),
drops all other outputs, saved widget state and execution metadata, and refuses (exit 1) to
write a notebook whose outputs or code hold a full access key, secret key or session token.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CHECK = "NBVAL_CHECK_OUTPUT"
CHECK_TAG = "nbval-check-output"  # the cell tag nbval reads as the comment above; learners see no comment


def is_checked(cell) -> bool:
    """Does nbval compare this cell's output (its tag, or the comment marker)?"""
    return CHECK_TAG in cell.get("metadata", {}).get("tags", []) or CHECK in cell.get("source", "")

# What must never be committed (tests/test_notebooks_clean.py checks the same).
ACCESS_KEY = re.compile(r"(?<![A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")
SECRET_KEY = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])")
SESSION_TOKEN = re.compile(r"[A-Za-z0-9+/]{100,}={0,2}")


def secrets_in(text: str) -> list[str]:
    """Full credentials found in `text`, masked for the report."""
    found = []
    for pattern in (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN):
        for match in pattern.finditer(text):
            value = match.group(0)
            if pattern is SECRET_KEY and not (re.search(r"\d", value) and re.search(r"[a-z]", value)
                                              and re.search(r"[A-Z]", value)):
                continue  # a 40-character word or path, not a random secret
            found.append("****" + value[-4:])
    return found


def output_text(output: dict) -> str:
    if output.get("output_type") == "stream":
        return output.get("text", "")
    data = output.get("data", {})
    parts = [v if isinstance(v, str) else "".join(v) if isinstance(v, list) else json.dumps(v)
             for k, v in data.items() if not k.startswith("image/")]
    if output.get("output_type") == "error":
        parts.append("\n".join(output.get("traceback", [])))
    return "\n".join(parts)


def clean(nb: nbformat.NotebookNode) -> list[str]:
    """Clean `nb` in place; return the problems that forbid committing it."""
    problems = []
    checked = 0
    nb.metadata.pop("widgets", None)
    for index, cell in enumerate(nb.cells):
        for key in ("execution", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if cell.cell_type != "code":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
            continue
        if is_checked(cell):  # nbval compares only cells that look run: number them 1, 2, ...
            checked += 1
            cell.execution_count = checked
        else:
            cell.execution_count = None
            cell.outputs = []
        for output in cell.outputs:
            if output.get("output_type") == "execute_result":
                output["execution_count"] = cell.execution_count
            if output.get("output_type") == "error":
                problems.append(f"cell {index}: its committed output is an error")
            if any(k.startswith("image/") or k.startswith("application/vnd.jupyter.widget")
                   for k in output.get("data", {})):
                problems.append(f"cell {index}: a checked cell may only show text")
        texts = [cell.source] + [output_text(o) for o in cell.outputs]
        for secret in secrets_in("\n".join(texts)):
            problems.append(f"cell {index}: a full credential ({secret}) is in its code or output")
    return problems


def execute(paths: list[Path]) -> None:
    """Run the notebooks in order against a fresh sandbox in a temporary LABKIT_HOME."""
    with tempfile.TemporaryDirectory(prefix="labkit-notebooks-") as home:
        env = dict(os.environ, LABKIT_HOME=home, AWS_CONFIG_FILE=f"{home}/aws-config",
                   AWS_SHARED_CREDENTIALS_FILE=f"{home}/aws-credentials")
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        for name in ("LABKIT_TARGET", "AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                     "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            env.pop(name, None)
        try:
            for path in paths:
                started = time.monotonic()
                subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook",
                                "--execute", "--inplace", "--log-level=WARN", str(path)],
                               env=env, cwd=path.parent, check=True)
                print(f"executed {path.name} in {time.monotonic() - started:.1f} s")
        finally:
            subprocess.run([sys.executable, "-m", "labkit", "sandbox", "stop"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: notebooks/*.ipynb)")
    parser.add_argument("--execute", action="store_true", help="run them first, in a fresh lab")
    parser.add_argument("--check", action="store_true", help="only report, change nothing")
    args = parser.parse_args(argv)
    paths = sorted(p.resolve() for p in args.paths) or sorted(NOTEBOOKS.glob("*.ipynb"))
    if args.execute and not args.check:
        execute(paths)
    status = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nb)
        problems = clean(nb)
        for problem in problems:
            print(f"{path.name}: {problem}", file=sys.stderr)
        after = nbformat.writes(nb)
        if problems:
            status = 1
        elif args.check and after != before:
            print(f"{path.name}: not clean (run scripts/clean-notebooks.py)", file=sys.stderr)
            status = 1
        elif not args.check and after != before:
            nbformat.write(nb, path)
            print(f"cleaned {path.name}")
    return status


if __name__ == "__main__":
    sys.exit(main())
