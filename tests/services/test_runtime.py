"""The app owns its runtime: two apps in one process share no cache, registry, counter or thread, their lifespans
start and stop their own threads, and importing inhouse starts none and leaves no such state at module level."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from inhouse.access.identity import principal_by_token_id
from inhouse.app import InhouseApp, create_app
from inhouse.config import Settings
from inhouse.services import repos as repo_service
from inhouse.services import users
from inhouse.services.context import Stores
from inhouse.services.largefiles import lfs as lfs_service
from inhouse.services.runtime import Runtime, TtlCache
from inhouse.vocabulary import RepoType, TokenRole
from tests.support.data import random_bytes
from tests.support.xet_cas import make_upload

SECRET = "one secret key for both apps " * 2  # what an operator copying a config file between hosts gets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# TtlCache ---------------------------------------------------------------------------------------------------------

def test_a_cache_entry_is_answered_for_its_ttl_then_forgotten() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(max_entries=4, ttl_s=2.0, clock=clock)
    cache.put("a", 1)
    clock.now += 1.9
    assert cache.get("a") == 1
    clock.now += 0.1
    assert cache.get("a") is None and len(cache) == 0


def test_a_full_cache_drops_the_least_recently_used_entry_and_never_grows_past_its_bound() -> None:
    cache: TtlCache[int, int] = TtlCache(max_entries=3)
    for i in range(3):
        cache.put(i, i)
    assert cache.get(0) == 0  # 0 is now the most recently used: 1 goes first
    cache.put(3, 3)
    assert [cache.get(i) for i in range(4)] == [0, None, 2, 3]
    for i in range(10_000):
        cache.put(100 + i, i)
    assert len(cache) == 3


def test_a_cache_holds_at_least_one_entry() -> None:
    with pytest.raises(ValueError):
        TtlCache(max_entries=0)


# two apps in one process ------------------------------------------------------------------------------------------

@asynccontextmanager
async def running(app: InhouseApp) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan started (as uvicorn does), and a client that calls it in-process."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def receive() -> dict[str, Any]:
        return await inbox.get()

    async def send(message: dict[str, Any]) -> None:
        await outbox.put(message)

    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send))
    await inbox.put({"type": "lifespan.startup"})
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                                     base_url=app.settings.public_url) as client:
            yield client
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
        await task


def owner(stores: Stores, name: str) -> tuple[str, Any]:
    """A user with a write token and a model repo; (the token, the repo)."""
    users.create_user(stores, name)
    token, secret = users.create_token(stores, name, role=TokenRole.WRITE)
    p = principal_by_token_id(stores.db, token.id)
    return secret, repo_service.create(stores, p, repo_type=RepoType.MODEL, namespace=name, name="m")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def workers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(("inhouse-xet-convert", "inhouse-xet-prehash"))}


def test_two_apps_in_one_process_share_nothing(tmp_path: Path) -> None:
    before = workers()
    a = create_app(Settings(data_dir=tmp_path / "a", secret_key=SECRET, public_url="http://a.test"))
    b = create_app(Settings(data_dir=tmp_path / "b", secret_key=SECRET, public_url="http://b.test"))
    assert a.runtime is a.stores.runtime and b.runtime is b.stores.runtime and a.runtime is not b.runtime
    for part in vars(a.runtime):  # a flag, or a part not built before the lifespan starts (the dispatcher), aside
        value = getattr(a.runtime, part)
        assert value is not getattr(b.runtime, part) or value is None or isinstance(value, bool), part
    assert workers() == before  # building an app starts nothing: its lifespan does
    hub_token, repo = owner(a.stores, "alice")
    up = make_upload(random_bytes(300_000, 1))
    lfs_data = random_bytes(200_000, 2)
    lfs_oid = hashlib.sha256(lfs_data).hexdigest()

    async def scenario() -> set[threading.Thread]:
        async with running(a) as ca, running(b) as cb:
            started = workers() - before
            assert len([t for t in started if t.name == "inhouse-xet-convert"]) == 2  # one converter each
            assert a.runtime.converter.running and b.runtime.converter.running
            assert a.runtime.dispatcher is not None and b.runtime.dispatcher is not None  # one job dispatcher each
            assert a.runtime.dispatcher is not b.runtime.dispatcher

            r = await ca.get("/api/models/alice/m/xet-write-token/main", headers=bearer(hub_token))
            assert r.status_code == 200, r.text
            xet = r.json()["accessToken"]
            cas = r.json()["casUrl"].removeprefix("http://a.test")
            r = await ca.post(f"{cas}/v1/xorbs/default/{up.xorb_hash}", content=up.xorb, headers=bearer(xet))
            assert r.status_code == 200, r.text
            r = await ca.post(f"{cas}/v1/shards", content=up.shard, headers=bearer(xet))
            assert r.status_code == 200, r.text
            # A checked the token's caller once and keeps it; the shard's file took A's chain hash, not B's
            assert len(a.runtime.cas_callers) == 1 and a.runtime.prehash.used == 1
            assert len(b.runtime.cas_callers) == 0 and b.runtime.prehash.used == 0

            # B signs with the same key, so the token parses; but B checks its caller in its own database, which
            # holds no such token, instead of taking the caller A checked a moment ago (the 404 of A's dedup query)
            query = f"/v1/chunks/default/{'0' * 64}"
            assert (await ca.get(cas + query, headers=bearer(xet))).status_code == 404
            r = await cb.get("/cas" + query, headers=bearer(xet))
            assert r.status_code == 401, r.text
            assert len(b.runtime.cas_callers) == 0 and len(a.runtime.cas_callers) == 1

            # a failed token check counts in the app that saw it
            r = await ca.get("/api/whoami-v2", headers=bearer("hf_" + "x" * 34))
            assert r.status_code == 401
            assert len(a.runtime.auth_throttle) == 1 and len(b.runtime.auth_throttle) == 0

            # an LFS upload to A is converted by A's converter; B's never sees it
            await asyncio.to_thread(lfs_service.store_stream, a.stores, repo, lfs_oid, len(lfs_data), [lfs_data])
            assert await asyncio.to_thread(a.runtime.converter.wait_idle, 60)
            assert a.stores.blobs.local_path(lfs_oid) is None and b.stores.blobs.local_path(lfs_oid) is None
            assert not list((tmp_path / "b" / "xet").rglob("*" + up.xorb_hash + "*"))
            return started

    started = asyncio.run(scenario())
    assert not any(t.is_alive() for t in started)  # each lifespan joined its own threads
    assert not a.runtime.started and not b.runtime.started


def test_cli_stores_get_a_runtime_that_needs_no_start(tmp_path: Path) -> None:
    before = workers()
    stores = Stores.open(Settings(data_dir=tmp_path / "data"))
    try:
        assert isinstance(stores.runtime, Runtime) and not stores.runtime.started
        _, repo = owner(stores, "carol")
        data = random_bytes(100_000, 3)
        oid = hashlib.sha256(data).hexdigest()
        lfs_service.store_stream(stores, repo, oid, len(data), [data])  # no converter: the blob waits
        assert stores.blobs.local_path(oid) is not None
        assert workers() == before
    finally:
        stores.close()


# importing inhouse ------------------------------------------------------------------------------------------------

# Module-level state allowed to stay: names.py's memo of what each code point is (Unicode data, the same for every
# app, filled under this lock), and the lock that guards matplotlib's rcParams, which are one per process whatever
# the apps (evaluations/plots.py: set while an SVG is written).
ALLOWED = {"inhouse.names._SCRIPTS_LOCK", "inhouse.services.evaluations.plots._RC_LOCK"}

_PROBE = r"""
import ast, collections, importlib, json, pathlib, pkgutil, queue, threading, concurrent.futures, sys
import inhouse

before = {t.ident for t in threading.enumerate()}
skip = {"inhouse.__main__", "inhouse.storage.db.migrations.env"}  # they run the CLI and a migration when imported
modules = [m.name for m in pkgutil.walk_packages(inhouse.__path__, "inhouse.") if m.name not in skip]
for name in modules:
    importlib.import_module(name)
started = [t.name for t in threading.enumerate() if t.ident not in before]

kinds = (threading.Thread, concurrent.futures.Executor, type(threading.Lock()), type(threading.RLock()),
         threading.Condition, threading.Event, threading.Semaphore, queue.Queue, collections.OrderedDict)
state = []
for name in modules:
    module = sys.modules[name]
    for attr, value in vars(module).items():
        if isinstance(value, kinds):
            state.append(f"{name}.{attr}")
    source = pathlib.Path(module.__file__).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Global):
            state.append(f"{name}: global {', '.join(node.names)}")
print(json.dumps({"modules": len(modules), "threads": started, "state": state}))
"""


def test_importing_every_module_starts_no_thread_and_keeps_no_per_process_state() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["modules"] > 50
    assert found["threads"] == []
    assert set(found["state"]) <= ALLOWED, sorted(set(found["state"]) - ALLOWED)
