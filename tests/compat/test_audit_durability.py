"""No read of a private artifact without its record, and no change without its record, under load and when the
server is killed: real huggingface_hub downloads, raw resolve GETs, SIGKILL and restart on the same data, on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import HfHubHTTPError
from sqlalchemy import select

from inhouse.services import audit as audit_service
from inhouse.storage.db.schema import audit_log
from tests.support.live import LiveServer

MiB = 1024 * 1024


@pytest.fixture
def srv(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    s = LiveServer(tmp_path / "data", database_url=database_url, env={"INHOUSE_AUDIT_CHECKPOINT_INTERVAL_S": "3600"})
    try:
        yield s.start()
    finally:
        s.close()


def _entries(srv: LiveServer, repo: str, action: str) -> list[dict]:  # type: ignore[type-arg]
    with srv.stores.db.read() as conn:
        q = select(audit_log).where(audit_log.c.repo == repo, audit_log.c.action == action).order_by(audit_log.c.seq)
        return [dict(r._mapping) for r in conn.execute(q)]


def _private_repo(srv: LiveServer, files: dict[str, bytes]) -> tuple[str, str]:
    owner = srv.make_user()
    token = srv.make_token(owner, "write")
    api = srv.api(token)
    repo = f"{owner}/vault-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo, private=True)
    for name, data in files.items():
        api.upload_file(path_or_fileobj=data, path_in_repo=name, repo_id=repo)
    return repo, token


def test_fifty_concurrent_downloads_leave_fifty_entries(srv: LiveServer, tmp_path: Path) -> None:
    weights = os.urandom(256 * 1024)
    repo, token = _private_repo(srv, {"model.safetensors": weights})

    def download(i: int) -> bytes:
        path = hf_hub_download(repo, "model.safetensors", endpoint=srv.url, token=token,
                               cache_dir=tmp_path / f"cache{i}")  # each its own cache: every call downloads
        return Path(path).read_bytes()

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(download, range(50)))
    assert all(r == weights for r in results)
    downloads = _entries(srv, repo, "file.download")
    assert len(downloads) == 50
    assert len({e["request_id"] for e in downloads}) == 50  # one entry per request, none merged or doubled
    owner = repo.split("/")[0]
    assert all(e["actor"] == owner and e["path"] == "model.safetensors" and e["outcome"] == "ok"
               and e["ip"] == "127.0.0.1" and len(e["revision"]) == 40 for e in downloads)
    assert len(_entries(srv, repo, "file.metadata")) == 50  # the client's HEAD before each download
    report = audit_service.verify(srv.stores)
    assert report.ok, report.problems


def test_kill_during_downloads_loses_no_entry_of_a_completed_download(srv: LiveServer) -> None:
    weights = os.urandom(8 * MiB)
    repo, token = _private_repo(srv, {"weights.bin": weights})
    url = f"{srv.url}/{repo}/resolve/main/weights.bin"
    lock = threading.Lock()
    counts = {"sent": 0, "completed": 0, "broken": 0}
    stop = threading.Event()

    def worker() -> None:
        with httpx.Client(headers={"authorization": f"Bearer {token}"}, timeout=30) as client:
            while not stop.is_set():
                with lock:
                    counts["sent"] += 1
                try:
                    with client.stream("GET", url) as r:
                        body = b"".join(r.iter_bytes())
                    ok = r.status_code == 200 and body == weights
                except httpx.HTTPError:
                    ok = False
                with lock:
                    counts["completed" if ok else "broken"] += 1
                if not ok:
                    return  # the server is gone

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while counts["completed"] < 40 and time.time() < deadline:
        time.sleep(0.01)
    srv.kill()  # SIGKILL while downloads are in flight
    stop.set()
    for t in threads:
        t.join(60)
    assert counts["completed"] >= 40 and counts["broken"] >= 1, counts  # some were cut off mid-flight

    srv.start()  # same data folder, same database
    recorded = len(_entries(srv, repo, "file.download"))
    assert counts["completed"] <= recorded <= counts["sent"], (recorded, counts)
    report = audit_service.verify(srv.stores)
    assert report.ok, report.problems
    r = httpx.get(f"{srv.url}/{repo}/resolve/main/weights.bin",  # the restarted server (a new port) goes on
                  headers={"authorization": f"Bearer {token}"})  # recording
    assert r.status_code == 200 and len(_entries(srv, repo, "file.download")) == recorded + 1


def test_no_change_without_its_record(srv: LiveServer) -> None:
    repo, token = _private_repo(srv, {"a.txt": b"first"})
    api = srv.api(token)
    first = api.list_repo_commits(repo)[0].commit_id
    api.upload_file(path_or_fileobj=b"second", path_in_repo="b.txt", repo_id=repo)
    before = _entries(srv, repo, "commit")
    assert len(before) == 2

    with pytest.raises(HfHubHTTPError) as stale:
        api.upload_file(path_or_fileobj=b"lost", path_in_repo="c.txt", repo_id=repo, parent_commit=first)
    assert stale.value.response.status_code == 412
    assert _entries(srv, repo, "commit") == before  # the refused commit left no record
    assert "c.txt" not in api.list_repo_files(repo)

    done = api.upload_file(path_or_fileobj=b"kept", path_in_repo="c.txt", repo_id=repo)
    after = _entries(srv, repo, "commit")
    assert after[:2] == before and len(after) == 3  # the successful one left exactly one
    details = json.loads(after[2]["details"])
    assert details["commit"] == done.oid and details["changes"] == [{"op": "add", "path": "c.txt"}]
    assert after[2]["revision"] == "refs/heads/main" and after[2]["actor"] == repo.split("/")[0]
    assert audit_service.verify(srv.stores).ok
