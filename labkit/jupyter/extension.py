"""The `labkit` Jupyter server extension (an ExtensionApp, enabled by installing the package).

    link   (before the server builds its terminal manager): terminals run bash with the lab's rc
           file, unless ServerApp.terminado_settings already names a shell_command
    load   the venv's bin folder first on the server's PATH and, for the sandbox target, the
           lab-local AWS files in its environment (kernels and terminals inherit them); the
           learner's notebook copy in place; GET /labkit/status
    start  (once the server answers) the sandbox started or reused in a background thread; when
           it answers, AWS_ENDPOINT_URL for kernels and terminals opened from then on
    stop   the sandbox stopped if this server started it

Settings (jupyter config, e.g. c.LabkitExtension.start_sandbox = False): see the traits below.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Enum

from labkit import lessons, workspace
from labkit.errors import LabError
from labkit.jupyter import learner, terminals
from labkit.jupyter.starter import SandboxStarter


class LabkitExtension(ExtensionApp):
    name = "labkit"
    description = "sts-labkit: the learner's sandbox, terminals and status in any Jupyter server"
    load_other_extensions = True

    start_sandbox = Bool(True, help="Start (or reuse) the learner's sandbox when the server starts "
                         "(the sandbox target only).").tag(config=True)
    stop_sandbox = Bool(True, help="Stop the sandbox with the server, if this server started it.").tag(config=True)
    configure_terminals = Bool(True, help="Terminals run bash with the lab's PATH and AWS settings.").tag(config=True)
    notebooks_link = Enum(["auto", "always", "never"], "auto", help=(
        f"Link '{learner.LINK_NAME}' in the server's root folder to the learner's notebook copy: 'auto' "
        "does it when the root folder is the user's home (a hub, Binder) and the copy is hidden there."
    )).tag(config=True)

    starter: SandboxStarter
    notebooks: str | None = None
    workspace_problem: str | None = None  # LABKIT_HOME could not be made: the lab stays off

    def _link_jupyter_server_extension(self, serverapp) -> None:
        super()._link_jupyter_server_extension(serverapp)
        try:
            workspace.home()
        except (OSError, LabError) as exc:
            self.workspace_problem = (f"the lab workspace (LABKIT_HOME) cannot be made: {exc}; set LABKIT_HOME "
                                      "to a folder you may write")
            self.log.warning("labkit: %s. The server runs without the lab.", self.workspace_problem)
            return
        if self.configure_terminals and "shell_command" not in serverapp.terminado_settings:
            command = terminals.shell_command()
            if command is not None:
                serverapp.terminado_settings = {**serverapp.terminado_settings, "shell_command": command}

    def initialize_settings(self) -> None:
        self.starter = SandboxStarter(on_ready=self._sandbox_ready, logger=self.log)
        self._graceful_sigint()
        if self.workspace_problem:
            return
        self._environment()
        self._notebooks()

    def _graceful_sigint(self) -> None:
        """SIGINT stops the server cleanly (extensions' stop hooks included) when no terminal is there
        to confirm: a hub's local-process spawner stops a server with SIGINT, and jupyter_server
        answers it with a bare KeyboardInterrupt unless stdin is a tty, skipping every clean-up, so
        the learner's sandbox would outlive the server. (JupyterHub's own mixin does the same.)"""
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, self.serverapp._signal_stop)

    def initialize_handlers(self) -> None:
        from labkit.jupyter.handlers import StatusHandler

        self.handlers.append((r"/labkit/status", StatusHandler))

    def _environment(self) -> None:
        bin_dir = terminals.bin_dir()
        path = os.environ.get("PATH", "")
        if bin_dir not in path.split(os.pathsep):
            os.environ["PATH"] = bin_dir + os.pathsep + path
        if workspace.target_kind() == workspace.SANDBOX:
            os.environ.update({
                "AWS_CONFIG_FILE": str(workspace.config_file()),
                "AWS_SHARED_CREDENTIALS_FILE": str(workspace.credentials_file()),
                "AWS_DEFAULT_REGION": workspace.DEFAULT_REGION,
            })

    def _notebooks(self) -> None:
        try:
            copy = learner.ensure_learner_copy()
        except (OSError, LabError) as exc:
            self.log.warning("labkit: the learner's notebook copy could not be made: %s", exc)
            return
        self.notebooks = str(copy)
        os.environ[lessons.COPY_VARIABLE] = str(copy)  # `labkit notebooks` in a terminal names this copy
        root = Path(self.serverapp.root_dir)
        wanted = self.notebooks_link == "always" or (
            self.notebooks_link == "auto" and root.resolve() == Path.home().resolve())
        if wanted:
            try:
                link = learner.show_in(root, copy)
            except OSError as exc:
                self.log.warning("labkit: could not link the notebooks into %s: %s", root, exc)
            else:
                if link is not None:
                    self.log.info("labkit: the lessons are in %s (-> %s)", link, copy)

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        if self.start_sandbox and not self.workspace_problem and workspace.target_kind() == workspace.SANDBOX:
            self.starter.begin()

    def _sandbox_ready(self, running) -> None:
        """From the start thread: the endpoint goes into the environment on the server's loop."""
        self.serverapp.io_loop.add_callback(os.environ.__setitem__, "AWS_ENDPOINT_URL", running.endpoint)

    async def stop_extension(self) -> None:
        import asyncio

        if self.stop_sandbox and hasattr(self, "starter"):
            await asyncio.to_thread(self.starter.finish)

    def current_activity(self):
        return None  # the sandbox is not the learner's activity: it must not keep a culled server up
