"""Read GET /labkit/status from inside a kernel (a notebook's first cell): the lab as the Jupyter
server that runs this kernel sees it.

The server is the kernel's parent process; its URL and token come from the server's runtime file
(jupyter's runtime folder), and under JupyterHub the server's own API token in the environment
authenticates the request.
"""

from __future__ import annotations

import json
import os
import urllib.request


def _server() -> dict | None:
    from jupyter_server.serverapp import list_running_servers

    parent = os.getppid()
    for info in list_running_servers():
        if info.get("pid") == parent:
            return info
    return None


def server_status(timeout: float = 10.0) -> dict | None:
    """The status dict, or None when this Python does not run under a Jupyter server with the
    labkit extension (a plain `python`, nbval's kernels, an old server)."""
    info = _server()
    if info is None:
        return None
    token = os.environ.get("JUPYTERHUB_API_TOKEN") or info.get("token") or ""
    request = urllib.request.Request(info["url"].rstrip("/") + "/labkit/status",
                                     headers={"Authorization": f"token {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None
