"""The composition root: create_app(settings) wires stores → services → web."""

from __future__ import annotations

import asyncio
import logging
import uuid

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from inhouse.config import Settings
from inhouse.errors import InhouseError, MethodNotAllowed, NotFound, RequestTimeout
from inhouse.services import audit as audit_service
from inhouse.services.largefiles import lfs as lfs_service
from inhouse.services.context import Stores
from inhouse.services.evaluations.handler import handlers as evaluation_handlers
from inhouse.services.runtime import Runtime
from inhouse.services.signing import Signer, load_or_create_secret
from inhouse.web.body_timeout import BodyTimeout
from inhouse.web.context import Ctx
from inhouse.web.hosts import AllowedHosts
from inhouse.web.proxies import TrustedProxies
from inhouse.web import api as web_api
from inhouse.web import hub as web_hub
from inhouse.web.responses import error_response, json_response
from inhouse.web.routing import Router

log = logging.getLogger("inhouse")


class InhouseApp:
    """The ASGI application. Build it with `create_app`; the CLI and the tests build it the same way.

    It owns its runtime (`self.runtime`, also `self.stores.runtime`): every cache, registry and background thread
    of this app, started and stopped by its lifespan, so that two apps in one process share nothing."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.runtime = Runtime(settings)
        self.stores = Stores.open(settings, self.runtime)
        self.runtime.job_handlers.update(evaluation_handlers(self.stores))  # before the lifespan starts them
        lfs_service.clean_stale_parts(self.stores)
        self.signer = Signer(load_or_create_secret(settings.data_dir, settings.secret_key))
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.hosts = None if settings.public_url else AllowedHosts(settings.allowed_hosts)
        self.router = Router()
        web_hub.register_all(self.router)
        web_api.register_all(self.router)

    async def _checkpoint(self) -> None:
        if not self.settings.audit_enabled:
            return
        try:
            await asyncio.to_thread(audit_service.checkpoint, self.stores)
        except Exception:  # a failed checkpoint must not stop the server; the next one retries
            log.exception("could not sign an audit checkpoint")

    async def _checkpoint_every_interval(self) -> None:
        """Signs the audit log's head every settings.audit_checkpoint_interval_s when it moved."""
        while True:
            await asyncio.sleep(max(1, self.settings.audit_checkpoint_interval_s))
            await self._checkpoint()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            checkpoints: asyncio.Task[None] | None = None
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    checkpoints = asyncio.create_task(self._checkpoint_every_interval())
                    # the prehash executor, and the converter (LFS blobs → xorbs), which looks at every blob left
                    await asyncio.to_thread(self.runtime.start, self.stores)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    if checkpoints is not None:
                        checkpoints.cancel()
                    await asyncio.to_thread(self.runtime.stop)
                    await self._checkpoint()  # a last signed head at shutdown
                    self.stores.close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        self.proxies.apply(scope)
        body = BodyTimeout(receive, idle_s=self.settings.body_idle_timeout_s,
                           min_bytes_per_s=self.settings.body_min_bytes_per_s)
        request = Request(scope, body.receive)
        request_id = uuid.uuid4().hex
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1").split("?", 1)[0] if raw_path else scope["path"]
        method = scope["method"]
        handler, params, other = self.router.match(method, path)
        ctx: Ctx | None = None  # the error handler builds redirects and URLs from it
        try:
            if self.hosts is not None:
                self.hosts.check(scope)
            if handler is None:
                if other:
                    raise MethodNotAllowed(f"Method {method} is not allowed on {path}; see the API reference in the README.")
                raise NotFound(f"Nothing is served at {path}; see the API reference in the README.")
            ctx = Ctx(request, params, self.stores, self.signer, request_id)
            response = await handler(ctx)
        except InhouseError as err:
            response = error_response(err, request_id, head=method == "HEAD", ctx=ctx)
            if isinstance(err, RequestTimeout):
                response.headers["Connection"] = "close"  # the rest of a stalled body is not waited for
        except Exception:  # noqa: BLE001 - the last line of defence: log it, answer 500 with the request id
            log.exception("unhandled error on %s %s (request %s)", method, path, request_id)
            response = json_response(
                {"error": f"Internal error; report request id {request_id} to your inhouse administrator."}, 500,
            )
        response.headers["X-Request-Id"] = request_id
        body.stop()
        await response(scope, body.receive, send)


def create_app(settings: Settings) -> InhouseApp:
    return InhouseApp(settings)
