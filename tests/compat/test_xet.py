"""The default client (huggingface_hub 2.4.0 + hf_xet, Xet enabled) against the live server: uploads and downloads
through the Xet CAS, byte-identical whichever way a file goes up (Xet or Git LFS) and comes down (Xet or plain
HTTP), and chunk-level dedup across repos."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    constants,
    file_download,
    hf_hub_download,
    snapshot_download,
)
from sqlalchemy import select

from inhouse.services.largefiles import storage_gc
from inhouse.storage.db.schema import audit_log, xet_files
from tests.support.data import random_bytes
from tests.support.live import LiveServer


@pytest.fixture
def xet_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Xet enabled in huggingface_hub (it reads HF_HUB_DISABLE_XET into this constant at import)."""
    from huggingface_hub.utils import _runtime

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    assert _runtime.is_xet_available()
    yield


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts which download path the client takes (calls go through unchanged)."""
    calls = {"xet_get": 0, "http_get": 0}
    real_xet, real_http = file_download.xet_get, file_download.http_get

    def xet_get(*a, **kw):  # type: ignore[no-untyped-def]
        calls["xet_get"] += 1
        return real_xet(*a, **kw)

    def http_get(*a, **kw):  # type: ignore[no-untyped-def]
        calls["http_get"] += 1
        return real_http(*a, **kw)

    monkeypatch.setattr(file_download, "xet_get", xet_get)
    monkeypatch.setattr(file_download, "http_get", http_get)
    return calls


def text_bytes(n_rows: int, seed: int) -> bytes:
    return b"".join(b"%d,%d,label-%d\n" % (i, (i * 7919 + seed) % 100003, i % 13) for i in range(n_rows))


def audit_actions(server: LiveServer, repo_label: str) -> list[str]:
    with server.stores.db.read() as conn:
        return [r.action for r in conn.execute(select(audit_log.c.action).where(audit_log.c.repo == repo_label))]


def head(server: LiveServer, token: str, repo_id: str, path: str, rev: str = "main",
         prefix: str = "") -> httpx.Response:
    r = httpx.head(f"{server.url}/{prefix}{repo_id}/resolve/{rev}/{path}",
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.headers
    return r


def wait_for_xet(server: LiveServer, token: str, repo_id: str, path: str, timeout: float = 60.0) -> str:
    """Waits until the background converter has moved a file uploaded over LFS into xorbs."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        xet_hash = head(server, token, repo_id, path).headers.get("X-Xet-Hash")
        if xet_hash:
            return xet_hash
        time.sleep(0.2)
    raise AssertionError(f"{path} was not converted into xorbs within {timeout} s")


def download(repo_id: str, path: str, server: LiveServer, token: str, cache: Path, **kw: object) -> bytes:
    got = hf_hub_download(repo_id, path, endpoint=server.url, token=token, cache_dir=cache, **kw)  # type: ignore[arg-type]
    return Path(got).read_bytes()


def test_upload_file_goes_through_xet_and_downloads_both_ways(server: LiveServer, user, api, repo_id: str,
                                                              xet_on, spy, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    token = user[1]
    api.create_repo(repo_id)
    data = random_bytes(3_000_000, 1) + text_bytes(40_000, 1)  # incompressible, then compressible
    src = tmp_path / "weights.bin"
    src.write_bytes(data)
    info = api.upload_file(path_or_fileobj=str(src), path_in_repo="weights.bin", repo_id=repo_id)
    assert "xet.upload" in audit_actions(server, repo_id)  # the shard came through the CAS, not the LFS API

    h = head(server, token, repo_id, "weights.bin")
    sha = hashlib.sha256(data).hexdigest()
    assert h.headers["X-Linked-Etag"] == f'"{sha}"' and h.headers["X-Linked-Size"] == str(len(data))
    assert h.headers["X-Repo-Commit"] == info.oid
    xet_hash = h.headers["X-Xet-Hash"]
    route = f"/api/models/{repo_id}/xet-read-token/{info.oid}"
    assert h.headers["X-Xet-Refresh-Route"] == route
    assert h.headers["Link"] == f'<{server.url}{route}>; rel="xet-auth"'
    (entry,) = [e for e in api.list_repo_tree(repo_id) if e.path == "weights.bin"]
    assert entry.xet_hash == xet_hash and entry.lfs.sha256 == sha
    (entry,) = api.get_paths_info(repo_id, ["weights.bin"])
    assert entry.xet_hash == xet_hash

    assert download(repo_id, "weights.bin", server, token, tmp_path / "c1") == data
    assert spy == {"xet_get": 1, "http_get": 0}

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # plain HTTP: bytes rebuilt from the xorbs
    assert download(repo_id, "weights.bin", server, token, tmp_path / "c2") == data
    assert spy == {"xet_get": 1, "http_get": 1}
    r = httpx.get(f"{server.url}/{repo_id}/resolve/main/weights.bin",
                  headers={"Authorization": f"Bearer {token}", "Range": "bytes=2999990-3000100"})
    assert r.status_code == 206 and r.content == data[2999990:3000101]
    assert r.headers["Content-Range"] == f"bytes 2999990-3000100/{len(data)}"


def test_upload_folder_and_snapshot_download(server: LiveServer, user, api, repo_id: str, xet_on, spy,
                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = user[1]
    api.create_repo(repo_id)
    folder = tmp_path / "folder"
    expected: dict[str, bytes] = {}
    for i in range(60):
        expected[f"small/file_{i:02d}.txt"] = f"small file {i}\n".encode() * (i + 1)
    for i in range(4):
        expected[f"shards/part-{i}.bin"] = random_bytes(1_500_000 + 250_000 * i, 10 + i)
    expected["data/table.csv"] = text_bytes(650_000, 7)  # ~13 MB of text: over the 10 MiB regular-file limit
    expected["shards/copy-of-part-0.bin"] = expected["shards/part-0.bin"]  # identical content, another path
    for rel, content in expected.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(content)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id)

    tree = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True) if hasattr(e, "size")}
    large = {p for p, e in tree.items() if e.lfs is not None}
    assert {p for p in expected if p.startswith("shards/") or p == "data/table.csv"} <= large
    assert all(tree[p].xet_hash for p in large)

    snap = Path(snapshot_download(repo_id, endpoint=server.url, token=token, cache_dir=tmp_path / "s1"))
    for rel, content in expected.items():
        assert (snap / rel).read_bytes() == content, rel
    assert spy["xet_get"] >= len(large) - 1  # (the duplicate shares a blob in the cache)

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    plain = Path(snapshot_download(repo_id, endpoint=server.url, token=token, cache_dir=tmp_path / "s2"))
    for rel, content in expected.items():
        assert (plain / rel).read_bytes() == content, rel


def test_create_commit_mixes_xet_lfs_and_regular_operations(server: LiveServer, user, api, repo_id: str, xet_on,
                                                            tmp_path: Path) -> None:
    import io

    token = user[1]
    api.create_repo(repo_id)
    a, b, c = random_bytes(2_000_000, 20), random_bytes(1_200_000, 21), random_bytes(900_000, 22)
    (tmp_path / "a.bin").write_bytes(a)
    api.create_commit(repo_id, commit_message="first", operations=[
        CommitOperationAdd("a.bin", str(tmp_path / "a.bin")),  # a path: Xet
        CommitOperationAdd("b.bin", b),  # bytes: Xet
        CommitOperationAdd("c.bin", io.BytesIO(c)),  # a binary buffer: hf_xet refuses it, the client uses LFS
        CommitOperationAdd("notes.txt", b"regular\n"),
    ])
    api.create_commit(repo_id, commit_message="second", operations=[
        CommitOperationDelete("notes.txt"), CommitOperationAdd("a2.bin", a + b"tail")])
    files = set(api.list_repo_files(repo_id))
    assert files == {".gitattributes", "a.bin", "b.bin", "c.bin", "a2.bin"}
    wait_for_xet(server, token, repo_id, "c.bin")
    for path, content in {"a.bin": a, "b.bin": b, "c.bin": c, "a2.bin": a + b"tail"}.items():
        assert download(repo_id, path, server, token, tmp_path / "cache") == content, path


def test_file_uploaded_over_lfs_downloads_through_xet(server: LiveServer, user, api, repo_id: str, xet_on, spy,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = user[1]
    api.create_repo(repo_id)
    data = random_bytes(2_500_000, 30) + text_bytes(20_000, 3)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    api.upload_file(path_or_fileobj=data, path_in_repo="lfs.bin", repo_id=repo_id)
    assert "xet.upload" not in audit_actions(server, repo_id)
    # served from the verified blob at once, then moved into xorbs in the background
    assert download(repo_id, "lfs.bin", server, token, tmp_path / "c0") == data
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)
    xet_hash = wait_for_xet(server, token, repo_id, "lfs.bin")
    sha = hashlib.sha256(data).hexdigest()
    assert server.stores.blobs.local_path(sha) is None  # the blob is gone: xorbs are the one format
    spy.update(xet_get=0, http_get=0)
    assert download(repo_id, "lfs.bin", server, token, tmp_path / "c1") == data
    assert spy == {"xet_get": 1, "http_get": 0}
    # the same bytes through the Git LFS batch API's download action
    batch = httpx.post(f"{server.url}/{repo_id}.git/info/lfs/objects/batch",
                       headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.git-lfs+json"},
                       json={"operation": "download", "objects": [{"oid": sha, "size": len(data)}]}).json()
    href = batch["objects"][0]["actions"]["download"]["href"]
    assert httpx.get(href).content == data
    # and its Xet file id is the one a Xet upload of the same bytes computes: uploading them again is a no-op
    api.upload_file(path_or_fileobj=data, path_in_repo="again.bin", repo_id=repo_id)
    (entry,) = api.get_paths_info(repo_id, ["again.bin"])
    assert entry.xet_hash == xet_hash


def test_file_uploaded_through_xet_downloads_over_plain_http_and_lfs(server: LiveServer, user, api, repo_id: str,
                                                                     xet_on, spy, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    token = user[1]
    api.create_repo(repo_id)
    data = text_bytes(200_000, 9) + random_bytes(700_000, 9)
    api.upload_file(path_or_fileobj=data, path_in_repo="x.bin", repo_id=repo_id)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    assert download(repo_id, "x.bin", server, token, tmp_path / "c") == data
    assert spy == {"xet_get": 0, "http_get": 1}
    sha = hashlib.sha256(data).hexdigest()
    batch = httpx.post(f"{server.url}/{repo_id}.git/info/lfs/objects/batch",
                       headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.git-lfs+json"},
                       json={"operation": "download", "objects": [{"oid": sha, "size": len(data)}]}).json()
    assert httpx.get(batch["objects"][0]["actions"]["download"]["href"]).content == data
    # an LFS client uploading the same object to this repo is told it is already there
    up = httpx.post(f"{server.url}/{repo_id}.git/info/lfs/objects/batch",
                    headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.git-lfs+json"},
                    json={"operation": "upload", "objects": [{"oid": sha, "size": len(data)}]}).json()
    assert "actions" not in up["objects"][0]


def fresh_client_upload(server: LiveServer, token: str, repo_id: str, path: str, data: bytes, cache: Path,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Uploads through a new hf_xet session with an empty cache (so it knows nothing of earlier uploads), then
    commits the file with an lfsFile line, as huggingface_hub does."""
    import json

    import hf_xet

    monkeypatch.setenv("HF_XET_CACHE", str(cache))
    auth = {"Authorization": f"Bearer {token}"}
    grant = httpx.get(f"{server.url}/api/models/{repo_id}/xet-write-token/main", headers=auth).json()
    session = hf_xet.XetSession(hf_xet.XetConfig().with_config({"telemetry.enabled": False}))
    with session.new_upload_commit(endpoint=grant["casUrl"], token=grant["accessToken"],
                                   token_expiry_unix_secs=grant["exp"]) as commit:
        handle = commit.start_upload_bytes(data, name=path)
    assert handle.result().xet_info.sha256 == hashlib.sha256(data).hexdigest()
    lines = [{"key": "header", "value": {"summary": f"add {path}", "description": ""}},
             {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": hashlib.sha256(data).hexdigest(),
                                          "size": len(data)}}]
    r = httpx.post(f"{server.url}/api/models/{repo_id}/commit/main", headers={**auth,
                   "Content-Type": "application/x-ndjson"}, content="\n".join(json.dumps(x) for x in lines))
    assert r.status_code == 200, r.text


def test_variant_upload_dedups_against_another_repo_of_the_same_user(server: LiveServer, user, api, xet_on,
                                                                     tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    name, token = user
    base_repo, variant_repo = f"{name}/base-{uuid.uuid4().hex[:6]}", f"{name}/variant-{uuid.uuid4().hex[:6]}"
    api.create_repo(base_repo)
    api.create_repo(variant_repo, private=True)
    base = random_bytes(6_000_000, 40)
    api.upload_file(path_or_fileobj=base, path_in_repo="model.bin", repo_id=base_repo)
    before = storage_gc.stats(server.stores).xorb_bytes
    # only the server's global dedup answer can tell this client which chunks exist already
    variant = base[:3_000_000] + random_bytes(300_000, 41) + base[3_000_000:]
    fresh_client_upload(server, token, variant_repo, "model.bin", variant, tmp_path / "fresh", monkeypatch)
    grown = storage_gc.stats(server.stores).xorb_bytes - before
    assert grown < 300_000 + 4 * 131_072, grown  # the new bytes and a few chunks around the edit
    assert download(variant_repo, "model.bin", server, token, tmp_path / "c") == variant


def test_dataset_push_to_hub_and_load_dataset(hub_endpoint: str, server: LiveServer, user, repo_id: str,
                                              xet_on) -> None:
    from datasets import Dataset, load_dataset

    token = user[1]
    ds = Dataset.from_dict({"id": list(range(5000)), "text": [f"row {i} ✓" for i in range(5000)],
                            "x": [float(i) / 3 for i in range(5000)]})
    ds.push_to_hub(repo_id, token=token)
    assert "xet.upload" in audit_actions(server, f"datasets/{repo_id}")
    assert load_dataset(repo_id, split="train").to_list() == ds.to_list()
    assert list(load_dataset(repo_id, split="train", streaming=True)) == ds.to_list()


def test_model_push_to_hub_and_from_pretrained(hub_endpoint: str, server: LiveServer, user, repo_id: str,
                                               xet_on) -> None:
    import torch
    from transformers import AutoModel, BertConfig, BertModel

    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                 intermediate_size=37, max_position_embeddings=64)).eval()
    model.push_to_hub(repo_id, token=user[1])
    assert "xet.upload" in audit_actions(server, repo_id)
    loaded = AutoModel.from_pretrained(repo_id).eval()
    for (name, want), (_, got) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(want, got), name


def test_xet_hashes_in_the_database_match_the_files(server: LiveServer, user, api, repo_id: str, xet_on) -> None:
    """Each recorded Xet file carries the sha256 of its content (it was recomputed, not taken on trust)."""
    api.create_repo(repo_id)
    data = random_bytes(1_000_000, 50)
    api.upload_file(path_or_fileobj=data, path_in_repo="f.bin", repo_id=repo_id)
    (entry,) = api.get_paths_info(repo_id, ["f.bin"])
    with server.stores.db.read() as conn:
        row = conn.execute(select(xet_files).where(xet_files.c.file_hash == entry.xet_hash)).one()
    assert row.sha256 == hashlib.sha256(data).hexdigest() and row.size == len(data)


def test_xet_downloads_of_private_files_are_audited_like_http_ones(server: LiveServer, user, api, repo_id: str,
                                                                   xet_on, spy, tmp_path: Path) -> None:
    import json

    token = user[1]
    api.create_repo(repo_id, private=True)
    data = random_bytes(400_000, 60)
    info = api.upload_file(path_or_fileobj=data, path_in_repo="dir/secret.bin", repo_id=repo_id)
    assert download(repo_id, "dir/secret.bin", server, token, tmp_path / "c") == data
    assert spy == {"xet_get": 1, "http_get": 0}
    with server.stores.db.read() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.repo == repo_id,
                                                    audit_log.c.action == "file.download")).all()
    (row,) = rows
    details = json.loads(row.details)
    assert (row.path, row.revision, row.actor) == ("dir/secret.bin", info.oid, user[0])
    assert details["via"] == "xet" and details["sha256"] == hashlib.sha256(data).hexdigest()
