"""The deployment files stay ready to copy: Binder's environment lists the kit's dependencies, the
image pins every version (and the pins satisfy pyproject.toml), Zero to JupyterHub's values keep
the start-up free of postStart and the memory sized as docs/workshops.md says. Docker, Kubernetes
and Binder cannot run here: these checks are what can be checked without them."""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
RUNTIME = [Requirement(r) for r in PROJECT["dependencies"]]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "deploy" / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"deploy/constraints.txt: {line!r} is not pinned with =="
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_binder_environment_gives_python_and_postbuild_the_kit():
    """The dependencies come from pyproject.toml through postBuild's install, never repeated."""
    environment = yaml.safe_load((ROOT / "binder" / "environment.yml").read_text())
    assert environment["dependencies"][0] == "python=3.11" and "pip" in environment["dependencies"]
    assert not any(isinstance(item, dict) for item in environment["dependencies"]), "no pip list here"
    assert SpecifierSet(PROJECT["requires-python"]).contains("3.11")


def test_binder_postbuild_installs_the_kit_and_stops_on_error():
    post_build = ROOT / "binder" / "postBuild"
    assert os.access(post_build, os.X_OK)
    text = post_build.read_text()
    assert "set -euo pipefail" in text and "jupyter server extension list" in text
    assert re.search(r"pip install (--no-cache-dir )?\.$", text, re.M), "postBuild installs the kit with its dependencies"


def test_the_image_pins_every_version_and_they_satisfy_pyproject():
    pins = _pins()
    for requirement in RUNTIME:
        name = requirement.name.lower()
        assert name in pins, f"deploy/constraints.txt does not pin {name}"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {requirement}"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    hub = re.search(r"ARG JUPYTERHUB_VERSION=(\S+)", dockerfile).group(1)
    assert pins["jupyterhub"] == hub, "the image's jupyterhub and its constraints disagree"


def test_the_dockerfile_is_pinned_and_has_no_browser():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    base = re.search(r"^FROM (\S+)", dockerfile, re.M).group(1)
    assert re.fullmatch(r"python:3\.1[1-9]\.\d+-slim-\w+", base), f"unpinned base image {base}"
    assert "chromium" not in dockerfile.lower().replace("no chromium", "")
    assert 'CMD ["jupyterhub-singleuser"]' in dockerfile
    for copied in re.findall(r"^COPY (\S+) ", dockerfile, re.M):
        assert (ROOT / copied).exists(), f"the Dockerfile copies {copied}, which is missing"


def test_zero_to_jupyterhub_values():
    values = yaml.safe_load((ROOT / "deploy" / "z2jh" / "values.yaml").read_text())
    singleuser = values["singleuser"]
    assert "lifecycleHooks" not in singleuser, "start-up must not rely on postStart"
    assert singleuser["cmd"] == "jupyterhub-singleuser"
    units = {"M": 1, "G": 1024}
    memory = {k: int(v[:-1]) * units[v[-1]] for k, v in singleuser["memory"].items()}
    assert 400 <= memory["guarantee"] <= memory["limit"], memory  # ~390 MB measured per learner
    assert values["cull"]["enabled"] is True and values["cull"]["timeout"] > 0
    lesson = singleuser["defaultUrl"].rsplit("/", 1)[-1]
    assert (ROOT / "notebooks" / lesson).exists(), singleuser["defaultUrl"]
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] == "shared-password"
    assert len(values["hub"]["config"]["SharedPasswordAuthenticator"]["user_password"]) >= 8
