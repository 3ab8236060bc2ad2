"""labkit's Jupyter server extension: the lab in any Jupyter (`labkit lab`, `jupyter lab`,
`jupyterhub-singleuser`, Binder).

Installing the package enables it (jupyter-config/jupyter_server_config.d/labkit.json). At server
start it starts or reuses the learner's sandbox in the background, gives terminals the venv's
`aws` and `labkit` and the lab's AWS settings, puts the learner's notebook copy in place, and
serves GET /labkit/status. See labkit/jupyter/extension.py.
"""

from __future__ import annotations


def _jupyter_server_extension_points() -> list[dict]:
    from labkit.jupyter.extension import LabkitExtension

    return [{"module": "labkit.jupyter.extension", "app": LabkitExtension}]
