"""Who may read what through the Xet CAS, whatever Xet token brought them there: reconstructions and the signed xorb
links they hand out need the right to download from the token's repo (a write token issued to propose a change to a
gated repo reads nothing); shards may name, and dedup answers list, only xorbs the caller may download or uploaded;
an upload's answer does not tell whether another tenant stored the same bytes; a xorb link serves each byte it
signed at most once, whatever Range is asked."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from inhouse.services import users
from inhouse.services.largefiles import xet_tokens
from inhouse.vocabulary import TokenRole
from tests.support.data import random_bytes
from tests.support.live import LiveServer
from tests.support.xet_cas import (
    Account,
    Upload,
    account,
    bearer,
    commit_lfs,
    make_upload,
    post_shard,
    post_xorb,
    rejected,
    xet_token,
)


@pytest.fixture(scope="module")
def cas_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path_factory.mktemp("cas-access") / "data").start()
    yield srv
    srv.close()


def store_file(server: LiveServer, acct: Account, path: str, up: Upload) -> None:
    """Uploads `up` through the CAS with the owner's write token and commits it."""
    tok = xet_token(server, acct)
    assert post_xorb(server, tok, up.xorb_hash, up.xorb).status_code == 200
    assert post_shard(server, tok, up.shard).status_code == 200
    assert commit_lfs(server, acct, acct.repo_id, path, up).status_code == 200


def reconstruction(server: LiveServer, token: dict, file_hash: str, version: int = 2,  # type: ignore[type-arg]
                   **headers: str) -> httpx.Response:
    return httpx.get(f"{server.url}/cas/v{version}/reconstructions/{file_hash}", headers={**bearer(token), **headers})


def dedup(token: dict, chunk_hex: str) -> httpx.Response:  # type: ignore[type-arg]
    return httpx.get(f"{token['casUrl']}/v1/chunks/default/{chunk_hex}", headers=bearer(token))


def test_a_proposer_of_a_gated_repo_reads_nothing_through_the_cas(cas_server: LiveServer) -> None:
    server = cas_server
    owner = account(server)
    server.api(owner.token).update_repo_settings(owner.repo_id, gated="manual")
    secret = make_upload(random_bytes(600_000, 81))
    store_file(server, owner, "weights.bin", secret)
    owner_read = xet_token(server, owner, "read")
    assert reconstruction(server, owner_read, secret.file_hash).status_code == 200

    # anyone with a write token may propose a change, so gets a write token for a pull request
    outsider = account(server)
    attacker = Account(outsider.name, outsider.token, owner.repo_id)
    r = httpx.get(f"{server.url}/api/models/{owner.repo_id}/xet-read-token/main", headers=attacker.auth)
    rejected(r, 403, "GatedRepo")
    propose = xet_token(server, attacker, "write", rev="None", query="?create_pr=1")
    # the file's Xet hash is public (the tree lists it); its reconstruction is not
    (entry,) = [e for e in server.api(outsider.token).list_repo_tree(owner.repo_id) if e.path == "weights.bin"]
    assert entry.xet_hash == secret.file_hash
    for version in (1, 2):
        rejected(reconstruction(server, propose, secret.file_hash, version), 403, "GatedRepo", "restricted")
    # nor a dedup answer naming the repo's xorbs, nor a shard built on them (even knowing every chunk hash)
    rejected(dedup(propose, secret.chunk_hashes[0].to_hex()), 404, "NotFound")
    rejected(post_shard(server, propose, secret.shard), 400, "IntegrityError", "does not hold")

    # a proposal of their own goes through; its answer does not say the repo held that file already
    assert post_xorb(server, propose, secret.xorb_hash, secret.xorb).json() == {"was_inserted": True}
    r = post_shard(server, propose, secret.shard)
    assert r.status_code == 200 and r.json() == {"result": 1}
    # still no reconstruction for them
    rejected(reconstruction(server, propose, secret.file_hash), 403, "GatedRepo")

    # once the owner accepts their access request, they read it like any member
    assert httpx.post(f"{server.url}/api/models/{owner.repo_id}/user-access-request", headers=attacker.auth,
                      json={"fields": {"purpose": "research"}}).status_code == 200
    server.api(owner.token).accept_access_request(owner.repo_id, outsider.name)
    time.sleep(xet_tokens.PRINCIPAL_CACHE_S + 0.5)  # checked callers are reused that long
    assert reconstruction(server, propose, secret.file_hash).status_code == 200


def test_tokens_of_one_repo_do_not_read_or_name_another_repos_content(cas_server: LiveServer) -> None:
    server = cas_server
    a, b = account(server), account(server, private=True)
    up_b = make_upload(random_bytes(400_000, 82))
    store_file(server, b, "b.bin", up_b)
    for access in ("read", "write"):  # whatever kind of token of repo A
        tok = xet_token(server, a, access)
        rejected(reconstruction(server, tok, up_b.file_hash), 404, "NotFound")
    write_a = xet_token(server, a)
    rejected(dedup(write_a, up_b.chunk_hashes[0].to_hex()), 404, "NotFound")
    rejected(post_shard(server, write_a, up_b.shard), 400, "IntegrityError", "does not hold")
    # B's owner losing access to nothing: their own other repo may name B's xorbs (they uploaded them)
    b2 = Account(b.name, b.token, f"{b.name}/second-{uuid.uuid4().hex[:6]}")
    server.api(b.token).create_repo(b2.repo_id, private=True)
    assert post_shard(server, xet_token(server, b2), up_b.shard).status_code == 200


def test_was_inserted_does_not_reveal_what_another_tenant_stored(cas_server: LiveServer) -> None:
    server = cas_server
    victim = account(server, private=True)
    secret = make_upload(random_bytes(500_000, 83))
    store_file(server, victim, "secret.bin", secret)
    guesser = account(server)
    tok = xet_token(server, guesser)
    # the same bytes, which the server holds for someone else: answered as new
    assert post_xorb(server, tok, secret.xorb_hash, secret.xorb).json() == {"was_inserted": True}
    # the guesser's own second upload is not new to them
    assert post_xorb(server, tok, secret.xorb_hash, secret.xorb).json() == {"was_inserted": False}
    fresh = make_upload(random_bytes(200_000, 84))
    assert post_xorb(server, tok, fresh.xorb_hash, fresh.xorb).json() == {"was_inserted": True}
    # and the victim's file is still intact
    assert server.stored(secret.sha256) == secret.data


def signed_link(server: LiveServer, token: dict, up: Upload) -> tuple[str, int, int]:  # type: ignore[type-arg]
    r = reconstruction(server, token, up.file_hash, 1)
    assert r.status_code == 200, r.text
    (fetch,) = r.json()["fetch_info"][up.xorb_hash]
    return fetch["url"], fetch["url_range"]["start"], fetch["url_range"]["end"]


def test_a_xorb_link_serves_each_signed_byte_once_whatever_range_is_asked(cas_server: LiveServer) -> None:
    server = cas_server
    owner = account(server)
    up = make_upload(random_bytes(300_000, 85))
    store_file(server, owner, "w.bin", up)
    url, start, end = signed_link(server, xet_token(server, owner, "read"), up)
    length = end - start + 1
    span = f"{start}-{end}"

    r = httpx.get(url, headers={"Range": "bytes=" + ",".join([span] * 100)})  # the span 100 times
    assert r.status_code == 206 and r.content == up.xorb[start : end + 1]
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{len(up.xorb)}"
    mid = start + length // 2
    r = httpx.get(url, headers={"Range": f"bytes={start}-{mid},{start + 10}-{end},{mid}-{mid + 5}"})  # overlapping
    assert r.status_code == 206 and r.content == up.xorb[start : end + 1]
    r = httpx.get(url, headers={"Range": f"bytes={start}-{mid},{mid + 1}-{end}"})  # adjacent
    assert r.status_code == 206 and r.content == up.xorb[start : end + 1]
    # two separate pieces come as two parts, each once
    r = httpx.get(url, headers={"Range": f"bytes={start}-{start + 9},{end - 9}-{end},{start}-{start + 9}"})
    assert r.status_code == 206 and r.headers["content-type"].startswith("multipart/byteranges")
    assert r.content.count(b"Content-Range") == 2 and len(r.content) < 2 * 10 + 400
    # too many ranges, ranges outside what was signed, absurd numbers: refused before anything is read
    rejected(httpx.get(url, headers={"Range": "bytes=" + ",".join([span] * 2000)}), 400, "BadRequest", "at most")
    rejected(httpx.get(url, headers={"Range": f"bytes={start}-{end + 1}"}), 416, "RangeNotSatisfiable")
    rejected(httpx.get(url, headers={"Range": "bytes=0-" + "9" * 5000}), 400, "BadRequest")
    rejected(httpx.get(url, headers={"Range": "items=0-5"}), 400, "BadRequest")


def test_a_xorb_link_stops_when_its_token_is_revoked(cas_server: LiveServer) -> None:
    server = cas_server
    owner = account(server, private=True)
    up = make_upload(random_bytes(200_000, 86))
    store_file(server, owner, "p.bin", up)
    tok, secret = users.create_token(server.stores, owner.name, role=TokenRole.READ)
    reader = Account(owner.name, secret, owner.repo_id)
    url, start, end = signed_link(server, xet_token(server, reader, "read"), up)
    assert httpx.get(url).content == up.xorb[start : end + 1]
    # the link names the token and repo it was signed for: changing them breaks the signature
    rejected(httpx.get(url.replace("&t=", "&t=1")), 403, "Forbidden", "not valid")
    users.revoke_token(server.stores, tok.id)
    time.sleep(xet_tokens.PRINCIPAL_CACHE_S + 0.5)
    rejected(httpx.get(url), 403, "Forbidden", "no longer valid")


def test_a_refused_cas_caller_of_a_private_repo_is_audited(cas_server: LiveServer) -> None:
    """A Xet read token outlives its holder's membership: the CAS refuses it then, and the refusal is evidence,
    recorded like every denied attempt on a protected repo."""
    import json

    from inhouse.services import orgs as org_service
    from inhouse.vocabulary import Role

    server = cas_server
    owner = server.make_user()
    owner_token = server.make_token(owner, "write")
    org = f"o{uuid.uuid4().hex[:8]}"
    org_service.create_org(server.stores, org, admin=owner)
    leaver = server.make_user()
    org_service.set_member(server.stores, org, leaver, Role.READ)
    repo_id = f"{org}/secret-{uuid.uuid4().hex[:6]}"
    server.api(owner_token).create_repo(repo_id, private=True)
    store_file(server, Account(owner, owner_token, repo_id), "w.bin", up := make_upload(random_bytes(300_000, 7)))
    leaver_read = xet_token(server, Account(leaver, server.make_token(leaver, "read"), repo_id), "read")
    assert reconstruction(server, leaver_read, up.file_hash).status_code == 200

    org_service.remove_member(server.stores, org, leaver)
    time.sleep(xet_tokens.PRINCIPAL_CACHE_S + 0.5)  # checked callers are reused that long
    rejected(reconstruction(server, leaver_read, up.file_hash), 404, "RepoNotFound")

    admin = server.make_user(admin=True)
    r = httpx.get(f"{server.url}/api/audit", params={"repo": repo_id, "format": "jsonl"},
                  headers={"Authorization": f"Bearer {server.make_token(admin, 'read')}"}, timeout=30)
    denied = [e for e in map(json.loads, r.text.splitlines()) if e["outcome"] == "denied"]
    assert [(e["action"], e["actor"]) for e in denied] == [("access.download", leaver)]
