"""GET /labkit/status, authenticated and authorized like every Jupyter API."""

from __future__ import annotations

import asyncio
import json

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from labkit.jupyter.status import lab_status


class StatusHandler(ExtensionHandlerMixin, APIHandler):
    auth_resource = "labkit"

    @web.authenticated
    @authorized
    async def get(self) -> None:
        extension = self.extensionapp
        status = await asyncio.to_thread(lab_status, extension.starter.record, extension.notebooks,
                                         extension.workspace_problem)
        self.finish(json.dumps(status))
