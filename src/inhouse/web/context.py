"""Ctx: what a handler gets — the request, its route parameters, the caller, and the stores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import anyio.to_thread
from starlette.requests import Request

from inhouse.access.identity import Principal, authenticate
from inhouse.config import Settings
from inhouse.errors import BadRequest, PayloadTooLarge
from inhouse.services.context import Stores
from inhouse.services.signing import Signer
from inhouse.vocabulary import RepoType
from inhouse.web.credentials import Credentials, read_credentials
from inhouse.web.jsonbody import parse_json
from inhouse.web.params import check_query, unquote_strict

T = TypeVar("T")


class Ctx:
    def __init__(self, request: Request, params: dict[str, str], stores: Stores, signer: Signer, request_id: str):
        self.request = request
        self.throttle = stores.runtime.auth_throttle  # the app's: failed token checks per client address
        self.raw = params
        self.params = {k: unquote_strict(v) for k, v in params.items()}  # 400 for %00 or invalid UTF-8
        check_query(request)
        self.stores = stores
        self.signer = signer
        self.request_id = request_id
        self._principal: Principal | None = None

    @property
    def settings(self) -> Settings:
        return self.stores.settings

    @property
    def base_url(self) -> str:
        """The absolute base URL the client used (or the configured public URL). The app answered only a Host it
        allows (web/hosts.py), and believed X-Forwarded-* only from a trusted proxy (web/proxies.py)."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        host = self.request.headers.get("host")
        if not host:
            server = self.request.scope.get("server")
            address, port = server if server else (self.settings.host, self.settings.port)
            host = f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
        return f"{self.request.url.scheme}://{host}"

    @property
    def repo_type(self) -> RepoType:
        """The type the route's `/api/{plural}/` or `/{prefix}/` names (the router admits only the three)."""
        plural = self.params.get("plural") or self.params.get("prefix")
        return RepoType.from_plural(plural) if plural else RepoType.MODEL

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Runs blocking service code off the event loop."""
        return await anyio.to_thread.run_sync(lambda: fn(*args, **kwargs))

    @property
    def credentials(self) -> Credentials:
        """What the request presented in its Authorization header (web/credentials.py)."""
        return read_credentials(self.request.headers.get("authorization"))

    async def principal(self) -> Principal:
        if self._principal is None:
            client = self.request.client
            presented = self.credentials
            self._principal = await self.run(
                authenticate, self.stores.db, presented.secret, malformed=presented.malformed,
                ip=client.host if client else None, request_id=self.request_id, throttle=self.throttle,
            )
        return self._principal

    async def body(self, limit: int) -> bytes:
        declared = self.request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"The request body is {declared} bytes; the limit here is {limit} bytes.")
        chunks = []
        size = 0
        async for chunk in self.request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The request body exceeds the limit of {limit} bytes.")
            chunks.append(chunk)
        return b"".join(chunks)

    async def json(self, *, required: bool = True) -> Any:
        raw = await self.body(self.settings.max_json_bytes)
        if not raw.strip():
            if required:
                raise BadRequest("Expected a JSON body.")
            return {}
        return parse_json(raw)  # depth, NaN/Infinity, NUL and lone surrogates refused with a 400

    async def json_object(self, *, required: bool = True) -> dict[str, Any]:
        data = await self.json(required=required)
        if not isinstance(data, dict):
            raise BadRequest("Expected a JSON object as the request body.")
        return data

    def query_bool(self, name: str, default: bool = False) -> bool:
        v = self.request.query_params.get(name)
        if v is None:
            return default
        return v.lower() in ("1", "true", "yes", "on")

    def query_list(self, name: str) -> list[str]:
        return self.request.query_params.getlist(name) + self.request.query_params.getlist(f"{name}[]")
