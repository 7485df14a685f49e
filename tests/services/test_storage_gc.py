"""`inhouse storage gc` / `stats` against a live server on SQLite and PostgreSQL: what no ref needs goes, what a
ref needs (or an upload that is not committed yet, within the grace window) stays intact."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import constants, hf_hub_download
from sqlalchemy import select

from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.schema import audit_log, lfs_objects, xet_files
from tests.support.data import random_bytes
from tests.support.live import LiveServer


@pytest.fixture
def gc_server(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path / "data", database_url=database_url).start()
    yield srv
    srv.close()


@pytest.fixture
def xet_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)


def run_cli(server: LiveServer, *args: str) -> dict:  # type: ignore[type-arg]
    env = {**os.environ, "INHOUSE_DATABASE_URL": server.database_url}
    out = subprocess.run([sys.executable, "-m", "inhouse", "storage", *args, "--data", str(server.data_dir),
                          "--json"], check=False, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def xorbs_on_disk(server: LiveServer) -> set[str]:
    return {h for h, _ in server.stores.xorbs.stored()}


def xorbs_of(server: LiveServer, sha256: str) -> set[str]:
    with server.stores.db.read() as conn:
        f = xet_store.file_by_sha256(conn, sha256)
    assert f is not None, sha256
    return f.xorb_hashes()


def has_file(server: LiveServer, sha256: str) -> bool:
    with server.stores.db.read() as conn:
        return conn.execute(select(xet_files.c.file_hash).where(xet_files.c.sha256 == sha256)).first() is not None


def lfs_known(server: LiveServer, sha256: str) -> bool:
    with server.stores.db.read() as conn:
        return conn.execute(select(lfs_objects.c.oid).where(lfs_objects.c.oid == sha256)).first() is not None


def wait_converted(server: LiveServer, sha256: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if has_file(server, sha256) and server.stores.blobs.local_path(sha256) is None:
            return
        time.sleep(0.2)
    raise AssertionError(f"{sha256} was not converted")


def upload_without_commit(server: LiveServer, token: str, repo_id: str, data: bytes, cache: Path,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    import hf_xet

    monkeypatch.setenv("HF_XET_CACHE", str(cache))
    grant = httpx.get(f"{server.url}/api/models/{repo_id}/xet-write-token/main",
                      headers={"Authorization": f"Bearer {token}"}).json()
    session = hf_xet.XetSession(hf_xet.XetConfig().with_config({"telemetry.enabled": False}))
    with session.new_upload_commit(endpoint=grant["casUrl"], token=grant["accessToken"],
                                   token_expiry_unix_secs=grant["exp"]) as commit:
        commit.start_upload_bytes(data, name="pending.bin")


def commit_lfs_file(server: LiveServer, token: str, repo_id: str, path: str, data: bytes) -> httpx.Response:
    lines = [{"key": "header", "value": {"summary": f"add {path}", "description": ""}},
             {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": hashlib.sha256(data).hexdigest(),
                                          "size": len(data)}}]
    return httpx.post(f"{server.url}/api/models/{repo_id}/commit/main",
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
                      content="\n".join(json.dumps(x) for x in lines))


def test_gc_after_deleting_a_branch(gc_server: LiveServer, xet_on, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    server = gc_server
    user = server.make_user()
    token = server.make_token(user)
    api = server.api(token)
    repo_id = f"{user}/r{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id)

    kept = random_bytes(2_500_000, 1)  # on main, through Xet
    api.upload_file(path_or_fileobj=kept, path_in_repo="kept.bin", repo_id=repo_id)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    kept_lfs = random_bytes(1_500_000, 2)  # on main, through the LFS API, converted in the background
    api.upload_file(path_or_fileobj=kept_lfs, path_in_repo="kept-lfs.bin", repo_id=repo_id)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)

    api.create_branch(repo_id, branch="exp")
    shared = kept[:1_200_000] + random_bytes(1_300_000, 3)  # shares its first chunks with kept.bin
    only_exp = random_bytes(1_800_000, 4)
    api.upload_file(path_or_fileobj=shared, path_in_repo="shared.bin", repo_id=repo_id, revision="exp")
    api.upload_file(path_or_fileobj=only_exp, path_in_repo="only.bin", repo_id=repo_id, revision="exp")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    only_exp_lfs = random_bytes(1_100_000, 5)
    api.upload_file(path_or_fileobj=only_exp_lfs, path_in_repo="only-lfs.bin", repo_id=repo_id, revision="exp")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    sha = {name: hashlib.sha256(d).hexdigest() for name, d in
           {"kept": kept, "kept_lfs": kept_lfs, "shared": shared, "only": only_exp, "only_lfs": only_exp_lfs}.items()}
    wait_converted(server, sha["kept_lfs"])
    wait_converted(server, sha["only_lfs"])

    # an upload racing the collector: stored, not committed yet
    pending = random_bytes(900_000, 6)
    upload_without_commit(server, token, repo_id, pending, tmp_path / "xc", monkeypatch)
    assert has_file(server, hashlib.sha256(pending).hexdigest())

    needed = xorbs_of(server, sha["kept"]) | xorbs_of(server, sha["kept_lfs"])
    doomed = (xorbs_of(server, sha["shared"]) | xorbs_of(server, sha["only"]) | xorbs_of(server, sha["only_lfs"])) \
        - needed
    assert doomed and needed <= xorbs_on_disk(server)
    before = run_cli(server, "stats")

    # with the default grace window nothing recent goes, even what no ref names
    report = run_cli(server, "gc")
    assert report["xorbs_deleted"] == 0 and report["files_deleted"] == 0
    api.delete_branch(repo_id, branch="exp")
    report = run_cli(server, "gc")
    assert report["xorbs_deleted"] == 0 and has_file(server, sha["only"])
    # the pending upload is committed after that collection: intact
    assert commit_lfs_file(server, token, repo_id, "pending.bin", pending).status_code == 200

    report = run_cli(server, "gc", "--grace-minutes", "0")
    assert report["xorbs_deleted"] == len(doomed), report
    assert report["files_deleted"] == 3 and report["lfs_objects_forgotten"] == 3
    on_disk = xorbs_on_disk(server)
    assert not doomed & on_disk and needed <= on_disk
    for name in ("shared", "only", "only_lfs"):
        assert not has_file(server, sha[name]) and not lfs_known(server, sha[name]), name
    with server.stores.db.read() as conn:
        assert set(xet_store.known_xorbs(conn, on_disk)) == on_disk  # no file without its row, and back
        actions = [r.action for r in conn.execute(select(audit_log.c.action))]
    assert actions.count("storage.gc") == 3
    after = run_cli(server, "stats")
    assert after["xorb_bytes"] < before["xorb_bytes"]
    assert after["logical_bytes"] == len(kept) + len(kept_lfs) + len(pending)
    assert after["dedup_ratio"] > 0

    # everything still referenced downloads intact, through Xet and over plain HTTP
    for i, disable in enumerate((False, True)):
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", disable)
        for path, data in {"kept.bin": kept, "kept-lfs.bin": kept_lfs, "pending.bin": pending}.items():
            got = hf_hub_download(repo_id, path, endpoint=server.url, token=token, cache_dir=tmp_path / f"c{i}")
            assert Path(got).read_bytes() == data, (path, disable)
    # what was collected can no longer be committed by naming its sha256: it must be uploaded again
    r = commit_lfs_file(server, token, repo_id, "only.bin", only_exp)
    assert r.status_code == 400 and "was not uploaded" in r.json()["error"]
