# A workshop hub on your own machine, to rehearse before class: everyone logs in with the room's
# password, each user gets a home folder under LABKIT_REHEARSAL_HOMES (so their own ~/.labkit and
# sandbox), everything listens on 127.0.0.1. tests/test_jupyterhub.py runs this same file.
#
#   pip install jupyterhub            # and: npm install -g configurable-http-proxy (or `make proxy`)
#   LABKIT_REHEARSAL_PASSWORD=... jupyterhub -f deploy/rehearsal/jupyterhub_config.py
#
# Then open http://127.0.0.1:8000, log in as two or three learners in separate browser profiles,
# and read the room with scripts/room-status.py (an API token: see docs/workshops.md).
# NOT for a real room: the simple spawner runs every user's server as you, with no isolation.
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub's config loader provides it)

here = Path(os.environ.get("LABKIT_REHEARSAL_DIR", Path.cwd() / "rehearsal-hub"))
here.mkdir(parents=True, exist_ok=True)
homes = Path(os.environ.get("LABKIT_REHEARSAL_HOMES", here / "homes"))

c.JupyterHub.bind_url = os.environ.get("LABKIT_REHEARSAL_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_bind_url = os.environ.get("LABKIT_REHEARSAL_HUB_URL", "http://127.0.0.1:8081")
c.JupyterHub.db_url = f"sqlite:///{here / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(here / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(here / "jupyterhub.pid")

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ.get("LABKIT_REHEARSAL_PASSWORD", "rehearse-the-room")
c.Authenticator.allow_all = True

c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = str(homes / "{username}")
c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab/tree/sts-labkit/01-welcome.ipynb"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
if os.geteuid() == 0:  # containers and CI run as root
    c.Spawner.args = ["--allow-root"]

# The instructor's read-only view of the room (scripts/room-status.py): a service with a token
# that may list users and read their servers' /labkit/status.
token = os.environ.get("LABKIT_REHEARSAL_INSTRUCTOR_TOKEN")
if token:
    c.JupyterHub.services = [{"name": "instructor", "api_token": token}]
    c.JupyterHub.load_roles = [{"name": "instructor", "services": ["instructor"],
                                "scopes": ["list:users", "read:users", "read:servers", "access:servers", "admin:servers"]}]
