"""The Xet token routes and the CAS, probed with hand-built xorbs and shards: what is right is stored, what is not
is rejected with a clear error and leaves nothing behind; tokens are scoped to one repo, one access level and a
short life; tenants cannot read, reference or discover each other's chunks."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from inhouse.access.identity import Principal
from inhouse.services import users
from inhouse.services.largefiles import xet_tokens
from inhouse.services.signing import Signer, load_or_create_secret
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.schema import tokens as tokens_table
from inhouse.storage.db.schema import xet_files
from inhouse.storage.xet import CompressionScheme, MerkleHash, parse_shard, serialize_shard
from inhouse.storage.xet.dedup import find_chunk
from inhouse.vocabulary import RepoType
from tests.support.data import random_bytes
from tests.support.live import LiveServer
from tests.support.xet_cas import (
    Account,
    account,
    bearer,
    commit_lfs,
    make_upload,
    nothing_stored,
    post_shard,
    post_xorb,
    rejected,
    xet_token,
)


@pytest.fixture(scope="module")
def cas_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own, so that nothing else writes into its xorb store while these tests look at it."""
    srv = LiveServer(tmp_path_factory.mktemp("cas") / "data").start()
    yield srv
    srv.close()


def test_a_hand_built_upload_is_accepted_committed_and_read_back(cas_server: LiveServer, tmp_path: Path) -> None:
    server = cas_server
    a = account(server)
    up = make_upload(random_bytes(700_000, 1) + b"tail" * 50_000)
    tok = xet_token(server, a)
    r = post_xorb(server, tok, up.xorb_hash, up.xorb)
    assert r.status_code == 200 and r.json() == {"was_inserted": True}
    assert post_xorb(server, tok, up.xorb_hash, up.xorb).json() == {"was_inserted": False}
    r = post_shard(server, tok, up.shard)
    assert r.status_code == 200 and r.json() == {"result": 1}
    assert commit_lfs(server, a, a.repo_id, "w.bin", up).status_code == 200
    got = httpx.get(f"{server.url}/{a.repo_id}/resolve/main/w.bin", headers=a.auth)
    assert got.content == up.data and got.headers["X-Xet-Hash"] == up.file_hash

    # a reconstruction (v1 and v2) names signed xorb ranges that give back the bytes
    read = xet_token(server, a, "read")
    for version in (1, 2):
        r = httpx.get(f"{server.url}/cas/v{version}/reconstructions/{up.file_hash}",
                      headers={**bearer(read), "Range": "bytes=100-200099"})
        assert r.status_code == 200, r.text
        plan = r.json()
        assert plan["terms"][0]["hash"] == up.xorb_hash
        if version == 1:
            (fetch,) = plan["fetch_info"][up.xorb_hash]
            url, span = fetch["url"], fetch["url_range"]
        else:
            (fetch,) = plan["xorbs"][up.xorb_hash]
            url, span = fetch["url"], fetch["ranges"][0]["bytes"]
        data = httpx.get(url, headers={"Range": f"bytes={span['start']}-{span['end']}"})  # no credentials needed
        assert data.status_code == 206 and len(data.content) == span["end"] - span["start"] + 1
        assert data.content == up.xorb[span["start"] : span["end"] + 1]
        forged = url.replace("sig=", "sig=0")
        rejected(httpx.get(forged, headers={"Range": f"bytes={span['start']}-{span['end']}"}), 403, "Forbidden",
                 "not valid")
        rejected(httpx.get(url, headers={"Range": f"bytes=0-{len(up.xorb) + 5}"}), 416, "RangeNotSatisfiable")
    r = httpx.get(f"{server.url}/cas/v2/reconstructions/{up.file_hash}",
                  headers={**bearer(read), "Range": f"bytes={len(up.data)}-"})
    rejected(r, 416, "RangeNotSatisfiable")


@pytest.mark.parametrize("damage", ["flipped byte", "truncated", "trailing junk", "wrong hash in url", "empty"])
def test_bad_xorbs_are_rejected_and_leave_nothing(cas_server: LiveServer, damage: str) -> None:
    server = cas_server
    a = account(server)
    up = make_upload(random_bytes(300_000), scheme=CompressionScheme.NONE)
    body, url_hash = up.xorb, up.xorb_hash
    if damage == "flipped byte":
        body = body[:5000] + bytes([body[5000] ^ 1]) + body[5001:]
    elif damage == "truncated":
        body = body[:-100]
    elif damage == "trailing junk":
        body = body + b"\x00\x01\x02"
    elif damage == "wrong hash in url":
        url_hash = make_upload(random_bytes(1000)).xorb_hash
    else:
        body = b""
    r = post_xorb(server, xet_token(server, a), url_hash, body)
    rejected(r, 400, "IntegrityError", "nothing was stored")
    assert nothing_stored(server, up)
    with server.stores.db.read() as conn:
        assert not xet_store.known_xorbs(conn, [url_hash])


def test_bad_shards_are_rejected_and_record_nothing(cas_server: LiveServer) -> None:
    server = cas_server
    a = account(server)
    tok = xet_token(server, a)
    up = make_upload(random_bytes(400_000))
    assert post_xorb(server, tok, up.xorb_hash, up.xorb).status_code == 200

    rejected(post_shard(server, tok, b"not a shard at all" * 10), 400, "IntegrityError", "magic")
    rejected(post_shard(server, tok, up.shard[:-60]), 400, "IntegrityError", "truncated")
    wrong_sha = make_upload(up.data, sha256=hashlib.sha256(b"something else").digest())
    rejected(post_shard(server, tok, wrong_sha.shard), 400, "IntegrityError", "hashes to")
    unverified = make_upload(up.data, verification=False)
    rejected(post_shard(server, tok, unverified.shard), 400, "IntegrityError", "verification")
    shard = parse_shard(up.shard, allow_footer=False)
    shard.files[0].verification_hashes = [MerkleHash(bytes(32))]
    rejected(post_shard(server, tok, serialize_shard(shard)), 400, "IntegrityError", "verification hash")
    other = make_upload(random_bytes(200_000))  # its xorb was never uploaded
    rejected(post_shard(server, tok, other.shard), 400, "IntegrityError", "does not hold", "upload that xorb first")
    with server.stores.db.read() as conn:
        assert conn.execute(select(xet_files.c.file_hash).where(xet_files.c.file_hash == up.file_hash)).all() == []
    # nothing was registered for the repo: committing the file fails
    r = commit_lfs(server, a, a.repo_id, "w.bin", up)
    rejected(r, 400, "BadRequest", "was not uploaded")
    # the right shard then goes through
    assert post_shard(server, tok, up.shard).status_code == 200


def test_tokens_are_scoped_to_their_repo_and_access_level(cas_server: LiveServer) -> None:
    server = cas_server
    a, b = account(server), account(server, private=True)
    up_a = make_upload(random_bytes(300_000, 11))
    up_b = make_upload(random_bytes(300_000, 12))
    tok_a, tok_b = xet_token(server, a), xet_token(server, b)
    for tok, up in ((tok_a, up_a), (tok_b, up_b)):
        assert post_xorb(server, tok, up.xorb_hash, up.xorb).status_code == 200
        assert post_shard(server, tok, up.shard).status_code == 200
    assert commit_lfs(server, b, b.repo_id, "b.bin", up_b).status_code == 200

    # A's upload only counts for A's repo: B (who may write to their own repo) cannot commit it there
    rejected(commit_lfs(server, b, b.repo_id, "a.bin", up_a), 400, "BadRequest", "was not uploaded to this repo")
    # A's read token does not reconstruct B's file
    read_a = xet_token(server, a, "read")
    r = httpx.get(f"{server.url}/cas/v2/reconstructions/{up_b.file_hash}", headers=bearer(read_a))
    rejected(r, 404, "NotFound")
    # A cannot build a file from B's private xorb, even knowing every chunk hash (the verification hash checks)
    stolen = make_upload(up_b.data)
    rejected(post_shard(server, tok_a, stolen.shard), 400, "IntegrityError", "does not hold")
    with server.stores.db.read() as conn:
        assert xet_store.repos_holding(conn, [up_b.xorb_hash])[up_b.xorb_hash] == {
            repo_store.find_repo(conn, RepoType.MODEL, *b.repo_id.split("/"))[0].id}
    # and the dedup query does not tell A that B holds that chunk
    first_chunk = up_b.chunk_hashes[0].to_hex()
    rejected(httpx.get(f"{server.url}/cas/v1/chunks/default/{first_chunk}", headers=bearer(tok_a)), 404,
             "NotFound")
    # B's own other repo gets a keyed answer: it can recognise chunks it has, but no raw chunk hash is revealed
    b2 = f"{b.name}/other-{uuid.uuid4().hex[:6]}"
    server.api(b.token).create_repo(b2)
    tok_b2 = xet_token(server, Account(b.name, b.token, b2))
    r = httpx.get(f"{server.url}/cas/v1/chunks/default/{first_chunk}", headers=bearer(tok_b2))
    assert r.status_code == 200
    answer = parse_shard(r.content)
    assert answer.footer is not None and answer.footer.hmac_key is not None
    assert find_chunk(answer, up_b.chunk_hashes[0]) == [(MerkleHash.from_hex(up_b.xorb_hash), 0)]
    assert not any(bytes(h) in r.content for h in up_b.chunk_hashes)
    again = httpx.get(f"{server.url}/cas/v1/chunks/default/{first_chunk}", headers=bearer(tok_b2)).content
    assert parse_shard(again).footer.hmac_key != answer.footer.hmac_key  # a fresh key per answer

    # a read token cannot write; nothing is stored
    up = make_upload(random_bytes(100_000, 13))
    rejected(post_xorb(server, read_a, up.xorb_hash, up.xorb), 403, "Forbidden", "xet-write-token")
    rejected(post_shard(server, read_a, up.shard), 403, "Forbidden")
    assert nothing_stored(server, up)


def test_forged_expired_and_revoked_tokens_are_refused(cas_server: LiveServer) -> None:
    server = cas_server
    a = account(server)
    tok = xet_token(server, a)
    up = make_upload(random_bytes(100_000, 21))

    parts = tok["accessToken"].split(".")
    longer = ".".join([parts[0], parts[1], str(int(parts[2]) + 3600), parts[3]])
    rejected(post_xorb(server, longer, up.xorb_hash, up.xorb), 401, "Unauthorized", "not valid")
    rejected(post_xorb(server, "garbage", up.xorb_hash, up.xorb), 401, "Unauthorized", "not valid")
    rejected(httpx.post(f"{server.url}/cas/v1/xorbs/default/{up.xorb_hash}", content=up.xorb), 401, "Unauthorized")

    signer = Signer(load_or_create_secret(server.data_dir))
    with server.stores.db.read() as conn:
        repo, _ = repo_store.find_repo(conn, RepoType.MODEL, *a.repo_id.split("/"))
        token_id = conn.execute(select(tokens_table.c.id).where(tokens_table.c.user_id == repo.owner_id)).scalar()
    expired, _ = xet_tokens.issue(signer, Principal(user_id=repo.owner_id, token_id=token_id), repo,
                                  xet_tokens.WRITE, xet_tokens.Action.WRITE, ttl_s=-5)
    rejected(post_xorb(server, expired, up.xorb_hash, up.xorb), 401, "Unauthorized", "expired")
    assert nothing_stored(server, up)

    # revoking the hub token that asked for a Xet token stops that Xet token too
    other = account(server)
    xtok = xet_token(server, other)
    assert post_xorb(server, xtok, up.xorb_hash, up.xorb).status_code == 200
    with server.stores.db.read() as conn:
        tid = conn.execute(select(tokens_table.c.id).where(tokens_table.c.user_id == repo_store.find_repo(
            conn, RepoType.MODEL, *other.repo_id.split("/"))[0].owner_id)).scalar()
    users.revoke_token(server.stores, tid)
    time.sleep(xet_tokens.PRINCIPAL_CACHE_S + 0.5)  # the CAS re-checks the hub token that often
    rejected(post_shard(server, xtok, up.shard), 401, "Unauthorized")


def test_token_routes_check_permissions(cas_server: LiveServer) -> None:
    server = cas_server
    owner = account(server, private=True)
    outsider = account(server)
    url = f"{server.url}/api/models/{owner.repo_id}/xet-read-token/main"
    rejected(httpx.get(url, headers=outsider.auth), 404, "RepoNotFound")
    rejected(httpx.get(url), 401, "RepoNotFound")
    reader = Account(owner.name, server.make_token(owner.name, "read"), owner.repo_id)
    assert xet_token(server, reader, "read")["accessToken"]
    r = httpx.get(f"{server.url}/api/models/{owner.repo_id}/xet-write-token/main", headers=reader.auth)
    rejected(r, 403, "Forbidden")
    public = account(server)
    anon = httpx.get(f"{server.url}/api/models/{public.repo_id}/xet-read-token/main")
    assert anon.status_code == 200 and anon.json()["accessToken"]
    rejected(httpx.get(f"{server.url}/api/models/{public.repo_id}/xet-write-token/main"), 401, "Unauthorized")
    # anyone who may read a public repo may propose a change: a write token for a pull request
    proposer = Account(outsider.name, outsider.token, public.repo_id)
    rejected(httpx.get(f"{server.url}/api/models/{public.repo_id}/xet-write-token/main", headers=proposer.auth),
             403, "Forbidden")
    assert xet_token(server, proposer, "write", rev="None", query="?create_pr=1")["accessToken"]
