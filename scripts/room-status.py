#!/usr/bin/env python3
"""The room at a glance, for an instructor: every learner's lab as their server reports it
(GET /user/<name>/labkit/status through the hub): sandbox state, how far its clock is ahead,
exercises passed.

    JUPYTERHUB_API_TOKEN=... scripts/room-status.py https://hub.example.org
    scripts/room-status.py http://127.0.0.1:8000 --token-file ~/.room-token

The token needs the scopes list:users, read:users, read:servers and access:servers (an admin's token, or a
service's: see docs/workshops.md). It uses only Python's standard library.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request


def get(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def row(name: str, status: dict | None, problem: str = "") -> str:
    if status is None:
        return f"{name:<20} {problem}"
    sandbox = status.get("sandbox") or {}
    clock = sandbox.get("clock") or {}
    ahead = f"+{clock['offset']:.0f} s" if clock.get("offset") else ("real time" if clock else "-")
    progress = status.get("progress") or {}
    count, total = progress.get("passed", 0), progress.get("total")
    passed = "none yet" if not count else f"{count} of {total} passed" if total else f"{count} passed"
    return f"{name:<20} {status.get('target', '?'):<8} {sandbox.get('state', '?'):<13} {ahead:<10} {passed}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("hub", help="the hub's URL, e.g. https://hub.example.org")
    parser.add_argument("--token-file", help="a file holding the API token (default: $JUPYTERHUB_API_TOKEN)")
    args = parser.parse_args(argv)
    if args.token_file:
        token = open(os.path.expanduser(args.token_file)).read().strip()
    else:
        token = os.environ.get("JUPYTERHUB_API_TOKEN", "")
    if not token:
        parser.error("no API token: set JUPYTERHUB_API_TOKEN or give --token-file")
    hub = args.hub.rstrip("/")
    try:
        users = get(f"{hub}/hub/api/users", token)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"room-status: the hub at {hub} did not list its users ({exc}); check the URL and "
              "that the token may list:users.", file=sys.stderr)
        return 2
    print(f"{'learner':<20} {'target':<8} {'sandbox':<13} {'clock':<10} exercises")
    for user in sorted(users, key=lambda u: u["name"]):
        server = (user.get("servers") or {}).get("")
        if not server or not server.get("ready"):
            print(row(user["name"], None, "no server running"))
            continue
        try:
            status = get(f"{hub}{server['url']}labkit/status", token)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            print(row(user["name"], None, f"status not readable ({exc})"))
            continue
        print(row(user["name"], status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
