"""Helpers for tests that drive the Xet CAS by hand: xorbs and shards built as hf_xet builds them, accounts, Xet
tokens, and the CAS calls."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass

import httpx
from sqlalchemy import select

from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.schema import xet_files
from inhouse.storage.xet import (
    CompressionScheme,
    FileInfo,
    FileSegment,
    MerkleHash,
    Shard,
    XorbEntry,
    build_xorb,
    chunk_boundaries,
    compute_chunk_hash,
    compute_file_hash,
    compute_verification_hash,
    serialize_shard,
)
from tests.support.live import LiveServer


@dataclass
class Upload:
    data: bytes
    xorb_hash: str
    xorb: bytes
    shard: bytes
    file_hash: str
    sha256: str
    chunk_hashes: list[MerkleHash]


def make_upload(data: bytes, *, sha256: bytes | None = None, verification: bool = True,
                scheme: CompressionScheme = CompressionScheme.LZ4) -> Upload:
    """A xorb holding `data` and a shard describing it as one file, as hf_xet would build them."""
    ends = chunk_boundaries(data)
    chunks = [data[a:b] for a, b in zip([0, *ends[:-1]], ends)]
    xorb = build_xorb(chunks, scheme)
    hashes = [(compute_chunk_hash(c), len(c)) for c in chunks]
    file_hash = compute_file_hash(hashes)
    info = FileInfo(file_hash, [FileSegment(xorb.hash, 0, len(chunks), len(data))],
                    [compute_verification_hash([h for h, _ in hashes])] if verification else None,
                    sha256 if sha256 is not None else hashlib.sha256(data).digest())
    shard = serialize_shard(Shard([info], [XorbEntry.from_xorb_info(xorb.info)]))
    return Upload(data, xorb.hash.to_hex(), xorb.data, shard, file_hash.to_hex(), hashlib.sha256(data).hexdigest(),
                  [h for h, _ in hashes])


@dataclass
class Account:
    name: str
    token: str
    repo_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def account(server: LiveServer, *, private: bool = False, role: str = "write") -> Account:
    name = server.make_user()
    token = server.make_token(name, "write")
    repo_id = f"{name}/r{uuid.uuid4().hex[:8]}"
    server.api(token).create_repo(repo_id, private=private)
    return Account(name, token if role == "write" else server.make_token(name, role), repo_id)


def xet_token(server: LiveServer, acct: Account, access: str = "write", rev: str = "main",
              query: str = "") -> dict:  # type: ignore[type-arg]
    r = httpx.get(f"{server.url}/api/models/{acct.repo_id}/xet-{access}-token/{rev}{query}", headers=acct.auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert r.headers["X-Xet-Access-Token"] == body["accessToken"]
    assert r.headers["X-Xet-Cas-Url"] == body["casUrl"]
    if access == "read":
        assert body["casUrl"] == f"{server.url}/cas"
    else:  # one CAS URL per user, so that hf_xet keeps one cache per user (see test_xet_reupload)
        assert re.fullmatch(re.escape(f"{server.url}/cas/u/") + "[0-9a-f]{16}", body["casUrl"]), body["casUrl"]
    assert r.headers["X-Xet-Token-Expiration"] == str(body["exp"])
    return body  # type: ignore[no-any-return]


def bearer(token: dict | str) -> dict[str, str]:  # type: ignore[type-arg]
    return {"Authorization": f"Bearer {token['accessToken'] if isinstance(token, dict) else token}"}


def cas(server: LiveServer, token: dict | str) -> str:  # type: ignore[type-arg]
    """The CAS URL a token names (the plain one for a bare token string)."""
    return str(token["casUrl"]) if isinstance(token, dict) else f"{server.url}/cas"


def post_xorb(server: LiveServer, token: dict | str, xorb_hash: str, body: bytes) -> httpx.Response:  # type: ignore[type-arg]
    return httpx.post(f"{cas(server, token)}/v1/xorbs/default/{xorb_hash}", headers=bearer(token), content=body)


def post_shard(server: LiveServer, token: dict | str, body: bytes) -> httpx.Response:  # type: ignore[type-arg]
    return httpx.post(f"{cas(server, token)}/v1/shards", headers=bearer(token), content=body)


def commit_lfs(server: LiveServer, acct: Account, repo_id: str, path: str, up: Upload) -> httpx.Response:
    lines = [{"key": "header", "value": {"summary": f"add {path}", "description": ""}},
             {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": up.sha256, "size": len(up.data)}}]
    return httpx.post(f"{server.url}/api/models/{repo_id}/commit/main",
                      headers={**acct.auth, "Content-Type": "application/x-ndjson"},
                      content="\n".join(json.dumps(x) for x in lines))


def nothing_stored(server: LiveServer, up: Upload) -> bool:
    with server.stores.db.read() as conn:
        rows = xet_store.known_xorbs(conn, [up.xorb_hash])
        files = conn.execute(select(xet_files.c.file_hash).where(xet_files.c.file_hash == up.file_hash)).all()
    leftovers = list(server.stores.xorbs.tmp.glob("xorb-*"))
    return not rows and not files and not server.stores.xorbs.exists(up.xorb_hash) and not leftovers


def rejected(r: httpx.Response, status: int, code: str, *words: str) -> None:
    assert r.status_code == status, (r.status_code, r.text[:500])
    assert r.headers["X-Error-Code"] == code, r.headers
    for w in words:
        assert w in r.json()["error"], r.json()["error"]
