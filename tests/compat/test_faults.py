"""Faults lose nothing: half-sent uploads, a data folder opened by the CLI mid-upload, and a server killed with
SIGKILL while commits are in flight."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, snapshot_download

from inhouse.services.largefiles import xet_content
from inhouse.services.context import Stores
from inhouse.storage.db import repos as repo_store
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.storage.git.trees import walk
from tests.support.live import LiveServer


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def lfs_upload_link(server: LiveServer, token: str, repo_id: str, oid: str, size: int,
                    transfers: tuple[str, ...] = ("basic",)) -> dict:  # type: ignore[type-arg]
    r = httpx.post(f"{server.url}/{repo_id}.git/info/lfs/objects/batch", headers=auth(token), timeout=30, json={
        "operation": "upload", "transfers": list(transfers), "objects": [{"oid": oid, "size": size}]})
    assert r.status_code == 200, r.text
    (obj,) = r.json()["objects"]
    return obj["actions"]["upload"]


def open_put(server: LiveServer, href: str, size: int) -> socket.socket:
    """A raw HTTP/1.1 PUT whose headers announce `size` body bytes; the caller sends (some of) the body."""
    url = httpx.URL(href)
    target = url.raw_path.decode()
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    sock.sendall(f"PUT {target} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Length: {size}\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n".encode())
    return sock


def read_status(sock: socket.socket) -> int:
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def uploads_in_tmp(server: LiveServer) -> list[Path]:
    return sorted((server.data_dir / "lfs" / "tmp").glob("upload-*"))


@pytest.fixture(scope="module")
def fault_server(tmp_path_factory: pytest.TempPathFactory):
    """A server of its own, so that the temp folder holds only this module's uploads; 1 KiB multipart parts."""
    srv = LiveServer(tmp_path_factory.mktemp("faults") / "data", env={"INHOUSE_LFS_PART_SIZE": "1024"}).start()
    yield srv
    srv.close()


def test_half_sent_lfs_put_then_disconnect_leaves_no_object_and_no_temp_file(fault_server):
    server = fault_server
    repo_id, token = server.make_repo()
    data = os.urandom(256 * 1024)
    oid = hashlib.sha256(data).hexdigest()
    href = lfs_upload_link(server, token, repo_id, oid, len(data))["href"]
    assert uploads_in_tmp(server) == []

    sock = open_put(server, href, len(data))
    sock.sendall(data[: len(data) // 2])
    wait_for(lambda: len(uploads_in_tmp(server)) == 1, what="the server to start writing the upload")
    sock.close()  # the client goes away half-way
    wait_for(lambda: uploads_in_tmp(server) == [], what="the half upload to be removed")
    assert server.stored(oid) is None
    r = httpx.post(f"{server.url}/api/models/{repo_id}/commit/main", headers=auth(token), timeout=30,
                   content=(b'{"key":"header","value":{"summary":"half"}}\n'
                            b'{"key":"lfsFile","value":{"path":"w.bin","algo":"sha256","oid":"%s","size":%d}}'
                            % (oid.encode(), len(data))))
    assert r.status_code == 400 and "was not uploaded" in r.headers["X-Error-Message"]
    # the same link still works for a complete upload
    assert httpx.put(href, content=data, timeout=30).status_code == 200
    assert server.stored(oid) == data


def test_half_sent_multipart_part_leaves_no_part_behind(fault_server):
    server = fault_server
    repo_id, token = server.make_repo()
    data = os.urandom(3000)
    oid = hashlib.sha256(data).hexdigest()
    upload = lfs_upload_link(server, token, repo_id, oid, len(data), ("basic", "multipart"))
    part_dirs = lambda: list((server.data_dir / "lfs" / "tmp").glob(f"mp-{oid}-*"))  # noqa: E731
    sock = open_put(server, upload["header"]["1"], 1024)
    sock.sendall(data[:500])
    wait_for(lambda: any(d.glob(".part-1.*") for d in part_dirs()), what="the part to start")
    sock.close()
    wait_for(lambda: not any(any(d.iterdir()) for d in part_dirs()), what="the half part to be removed")
    r = httpx.post(upload["href"], json={"oid": oid, "parts": [{"partNumber": n, "etag": "x"} for n in (1, 2, 3)]},
                   timeout=30)
    assert r.status_code == 400
    assert server.stored(oid) is None


def test_cli_opening_the_data_folder_does_not_break_an_upload_in_flight(fault_server):
    """An administrator running `inhouse users list` (or creating a token) while someone uploads must not delete
    the upload's temp file from under the running server."""
    server = fault_server
    repo_id, token = server.make_repo()
    data = os.urandom(128 * 1024)
    oid = hashlib.sha256(data).hexdigest()
    href = lfs_upload_link(server, token, repo_id, oid, len(data))["href"]
    sock = open_put(server, href, len(data))
    try:
        sock.sendall(data[:1000])
        wait_for(lambda: len(uploads_in_tmp(server)) == 1, what="the server to start writing the upload")
        env = {**os.environ, "INHOUSE_DATABASE_URL": server.database_url}
        out = subprocess.run([sys.executable, "-m", "inhouse", "users", "list", "--data", str(server.data_dir)],
                             env=env, capture_output=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert len(uploads_in_tmp(server)) == 1, "the CLI removed a live upload's temp file"
        sock.sendall(data[1000:])
        assert read_status(sock) == 200
    finally:
        sock.close()
    assert server.stored(oid) == data


# SIGKILL while commits are in flight -----------------------------------------------------------------------------

def _check_every_ref_is_whole(stores: Stores) -> int:
    """Every ref of every repo points at a commit whose whole tree (and every large file it names) is readable."""
    from inhouse.storage.db.schema import repos as repos_table
    from sqlalchemy import select

    checked = 0
    with stores.db.read() as conn:
        repo_ids = [r.id for r in conn.execute(select(repos_table.c.id))]
        for rid in repo_ids:
            for ref, target in repo_store.list_refs(conn, rid):
                commit = stores.objects.commit(conn, target)
                for path, entry in walk(stores.objects, conn, commit.tree):
                    if entry.is_tree:
                        continue
                    _, body = stores.objects.get(conn, entry.sha)
                    ptr = LfsPointer.parse(body)
                    if ptr is not None:
                        content = b"".join(xet_content.read_lfs(stores, ptr.oid))  # blob or xorbs
                        assert len(content) == ptr.size, (ref, path)
                        assert hashlib.sha256(content).hexdigest() == ptr.oid, (ref, path)
                    checked += 1
    return checked


def test_sigkill_during_commits_loses_no_acknowledged_commit(tmp_path, database_url, monkeypatch):
    """Six clients commit (small and large files) while the server is SIGKILLed and restarted on the same address;
    the clients carry on (their own retries reach the restarted server). Afterwards every ref is whole and every
    commit a client was told succeeded is there."""
    server = LiveServer(tmp_path / "data", database_url=database_url).start()
    try:
        repo_id, token = server.make_repo()
        acked: list[tuple[str, bytes, str]] = []  # (path, content, commit oid) the client got a success for
        busy = [False] * 6  # which writers are inside a create_commit call
        lock = threading.Lock()
        stop = threading.Event()

        def writer(n: int) -> None:
            api = server.api(token)
            j = 0
            while not stop.is_set():
                # every third file is large (the Xet path: xorbs, shard, then the commit)
                path = f"t{n}/f{j}.bin" if j % 3 == 2 else f"t{n}/f{j}.txt"
                content = os.urandom(4096) if path.endswith(".bin") else f"{n}-{j}-{uuid.uuid4()}".encode()
                j += 1
                busy[n] = True
                try:
                    info = api.create_commit(repo_id, operations=[CommitOperationAdd(path, content)],
                                             commit_message=f"{n}/{j}")
                except Exception:  # noqa: BLE001 - the server died under us: this commit may or may not exist
                    time.sleep(0.1)
                    continue
                finally:
                    busy[n] = False
                with lock:
                    acked.append((path, content, info.oid))

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
        for t in threads:
            t.start()
        try:
            wait_for(lambda: len(acked) >= 8, timeout=60, what="some commits")
            in_flight = sum(busy)
            server.kill()
            at_kill = len(acked)
            port = server.port
            monkeypatch.setitem(LiveServer.start.__globals__, "free_port", lambda: port)
            server.start()  # same data folder, same database, same address
            assert server.port == port
            wait_for(lambda: len(acked) >= at_kill + 6, timeout=60, what="commits after the restart")
        finally:
            stop.set()
            for t in threads:
                t.join(60)
        assert not any(t.is_alive() for t in threads)
        assert in_flight >= 1, "the kill interrupted no commit: the test proved nothing"

        stores = Stores.open(server.settings)
        try:
            assert _check_every_ref_is_whole(stores) >= len(acked)
        finally:
            stores.close()
        api = server.api(token)
        history = {c.commit_id for c in api.list_repo_commits(repo_id)}
        assert {oid for _, _, oid in acked} <= history
        snap = Path(snapshot_download(repo_id, endpoint=server.url, token=token, cache_dir=tmp_path / "cache"))
        for path, content, _ in acked:
            assert (snap / path).read_bytes() == content, path
        assert list((server.data_dir / "lfs" / "tmp").glob("upload-*")) == []
        api.upload_file(path_or_fileobj=b"after", path_in_repo="after.txt", repo_id=repo_id)
        assert "after.txt" in api.list_repo_files(repo_id)
    finally:
        server.close()
