"""The AWS services the sandbox serves: botocore's model of each, and moto's app that runs it.

A request names its service in its SigV4 credential scope (the signing name, e.g. `s3`). The
sandbox serves a service when botocore has a model by that name signed with that name, and moto
has a backend for it. Each service's moto app is created on first use, so a sandbox loads only
the services a lab calls. Models, routers and apps are cached: they are read on every request.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

WSGIApp = Callable[[dict, Callable], Iterable[bytes]]

# Hosts that name no service: moto routes their requests by the credential scope alone.
LOOPBACK_HOSTS = ("127.", "localhost", "[::1]")


@dataclass(frozen=True)
class Service:
    """One service as the sandbox serves it."""

    name: str  # the signing name in the credential scope, and botocore's name for it
    model: Any  # moto.core.model.ServiceModel: botocore's model with moto's extras
    backend: str  # moto's backend, e.g. "awslambda" for lambda

    @property
    def protocol(self) -> str:
        return str(self.model.protocol)

    @property
    def api_version(self) -> str:
        return str(self.model.api_version)


def _dispatcher():
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return DomainDispatcherApplication(create_backend_app)


@functools.cache
def _host_router():
    return _dispatcher()


@functools.lru_cache(maxsize=256)
def backend_for_host(host: str) -> str | None:
    """The moto backend moto itself would route `host` to (None: it routes by the scope)."""
    host = host.lower()
    if host.startswith(LOOPBACK_HOSTS):
        return None
    return _host_router().get_backend_for_host(host)


@functools.lru_cache(maxsize=64)
def lookup(name: str) -> Service | None:
    """The service a credential scope names, or None when the sandbox does not serve it."""
    from botocore.exceptions import DataNotFoundError
    from moto.core.utils import get_service_model
    from moto.moto_server.werkzeug_app import SIGNING_ALIASES

    if not name or not name.replace("-", "").isalnum() or name != name.lower():
        return None
    try:
        model = get_service_model(name)
    except DataNotFoundError:
        return None
    if model.signing_name != name:
        return None
    backend = backend_for_host(f"{SIGNING_ALIASES.get(name, name)}.us-east-1.amazonaws.com")
    if backend is None:
        return None
    return Service(name, model, backend)


def protocol_of(name: str) -> str:
    """The protocol a service's errors are written in ('query' for what the sandbox does not serve)."""
    service = lookup(name)
    return service.protocol if service is not None else "query"


class Backends:
    """moto's app for each service, created on first use and reused."""

    def __init__(self) -> None:
        self._apps: dict[str, WSGIApp] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def app(self, service: Service) -> WSGIApp:
        app = self._apps.get(service.backend)
        if app is None:
            with self._lock:
                lock = self._locks.setdefault(service.backend, threading.Lock())
            with lock:  # one service's app being made never holds up another's requests
                app = self._apps.get(service.backend)
                if app is None:
                    app = self._create(service.backend)
                    self._apps[service.backend] = app
        return app

    def warm(self, names: tuple[str, ...]) -> None:
        """Load these services' models, action names and moto apps ahead of their first request
        (run in a thread at start: the lab's first EC2 call should not wait a second for them)."""
        from labkit.sandbox import actions

        for name in names:
            service = lookup(name)
            if service is None:
                continue
            actions.action_name(name, service.model.operation_names[0])
            self.app(service)

    @staticmethod
    def _create(backend: str) -> WSGIApp:
        from moto.moto_server.werkzeug_app import create_backend_app

        flask_app = create_backend_app(backend)  # type: ignore[arg-type]
        flask_app.config["PROPAGATE_EXCEPTIONS"] = True  # the gatekeeper answers AWS's InternalFailure
        return flask_app

    def loaded(self) -> list[str]:
        return sorted(self._apps)
