"""Repository operations through the real huggingface_hub client against a live server: super_squash_history,
list_lfs_files / permanently_delete_lfs_files (a leaked file leaves: its content deleted from disk and unreachable
by resolve, the LFS batch API and Xet reconstruction, while a repo still holding it keeps it), duplicate_repo (a
fork sharing storage), copy_files of large files across repos without sending them again; who may do each, and
bad input."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import (
    BadRequestError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from sqlalchemy import select

from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.schema import audit_log, lfs_objects
from tests.support.live import LiveServer

BIG = 200_000  # *.bin files are large files (the default .gitattributes)


def _rand(n: int = BIG) -> bytes:
    return os.urandom(n)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _owner(server: LiveServer, *, private: bool = False) -> tuple[str, str, str]:
    """(user, write token, repo id) of a fresh user and repo."""
    name = server.make_user()
    token = server.make_token(name, "write")
    repo_id = f"{name}/r{uuid.uuid4().hex[:8]}"
    server.api(token).create_repo(repo_id, private=private)
    return name, token, repo_id


def _download(server: LiveServer, token: str | None, repo_id: str, path: str, tmp: Path,
              revision: str | None = None) -> bytes:
    local = server.api(token).hf_hub_download(repo_id, path, revision=revision, cache_dir=tmp / uuid.uuid4().hex)
    return Path(local).read_bytes()


def _audit(server: LiveServer, action: str, repo_id: str) -> list[dict]:  # type: ignore[type-arg]
    with server.stores.db.read() as conn:
        rows = conn.execute(select(audit_log).where(audit_log.c.action == action,
                                                    audit_log.c.repo == repo_id)
                            .order_by(audit_log.c.seq)).mappings().all()
    return [{**r, "details": json.loads(r["details"])} for r in rows]


def _stored_files(server: LiveServer) -> set[str]:
    """Every large-file content file on disk (LFS blobs and xorbs)."""
    return {str(p) for p in server.data_dir.rglob("*") if p.is_file() and
            ("lfs" in p.relative_to(server.data_dir).parts[:1] or "xet" in p.relative_to(server.data_dir).parts[:1])
            and "tmp" not in p.parts}


@pytest.fixture(params=["server", "pg_server"])
def live(request: pytest.FixtureRequest) -> LiveServer:
    """The operations that rewrite history and storage, on SQLite and on PostgreSQL."""
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


# super_squash_history ------------------------------------------------------------------------------------------------

def test_super_squash_keeps_the_files_and_drops_the_history(live: LiveServer, tmp_path: Path) -> None:
    _, token, repo_id = _owner(live)
    api = live.api(token)
    big = _rand()
    api.upload_file(path_or_fileobj=b"one", path_in_repo="a.txt", repo_id=repo_id)
    api.upload_file(path_or_fileobj=big, path_in_repo="w/model.bin", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"two", path_in_repo="a.txt", repo_id=repo_id)
    api.create_branch(repo_id, branch="dev")
    api.upload_file(path_or_fileobj=b"dev", path_in_repo="d.txt", repo_id=repo_id, revision="dev")
    api.create_tag(repo_id, tag="v1")
    before = api.list_repo_commits(repo_id)
    files_before = sorted(api.list_repo_files(repo_id))
    assert len(before) == 4

    api.super_squash_history(repo_id, commit_message="Squashed!")

    after = api.list_repo_commits(repo_id)
    assert [c.title for c in after] == ["Squashed!"]
    assert api.repo_info(repo_id).sha == after[0].commit_id
    assert sorted(api.list_repo_files(repo_id)) == files_before
    assert _download(live, token, repo_id, "w/model.bin", tmp_path) == big
    assert _download(live, token, repo_id, "a.txt", tmp_path) == b"two"
    # the old head is gone from main's history, but the tag and the other branch still hold theirs
    assert len(api.list_repo_commits(repo_id, revision="dev")) == 5
    assert api.list_repo_commits(repo_id, revision="v1")[0].commit_id == before[0].commit_id
    # squashing dev too: nothing reaches the commit that only dev's old history had
    api.super_squash_history(repo_id, branch="dev")
    assert [c.title for c in api.list_repo_commits(repo_id, revision="dev")] == ["Super-squash branch 'dev' using "
                                                                                  "huggingface_hub"]
    api.delete_tag(repo_id, tag="v1")
    api.super_squash_history(repo_id)  # the tag no longer keeps the old commits: they stop resolving
    with pytest.raises(RevisionNotFoundError):
        api.repo_info(repo_id, revision=before[1].commit_id)
    entries = _audit(live, "history.squash", repo_id)
    assert len(entries) == 3 and entries[0]["details"]["old"] == before[0].commit_id


def test_super_squash_refusals(server: LiveServer) -> None:
    owner, token, repo_id = _owner(server)
    api = server.api(token)
    api.create_tag(repo_id, tag="v1")
    with pytest.raises(BadRequestError, match="tag"):
        api.super_squash_history(repo_id, branch="v1")
    with pytest.raises(RevisionNotFoundError):
        api.super_squash_history(repo_id, branch="nope")
    head = api.repo_info(repo_id).sha
    reader = server.make_token(owner, "read")
    with pytest.raises(HfHubHTTPError) as e:
        server.api(reader).super_squash_history(repo_id)
    assert e.value.response.status_code == 403
    other = server.make_token(server.make_user(), "write")
    with pytest.raises(HfHubHTTPError) as e:
        server.api(other).super_squash_history(repo_id)
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        server.api(None).super_squash_history(repo_id)
    assert e.value.response.status_code == 401
    assert api.repo_info(repo_id).sha == head
    _, ptoken, private_id = _owner(server, private=True)
    missing = f"{owner}/does-not-exist"
    answers = []
    for rid in (private_id, missing):
        r = httpx.post(f"{server.url}/api/models/{rid}/super-squash/main", json={"message": "x"},
                       headers={"Authorization": f"Bearer {other}"})
        answers.append((r.status_code, r.headers.get("X-Error-Code"), r.json()["error"]))
    assert answers[0] == answers[1] and answers[0][:2] == (404, "RepoNotFound")
    r = httpx.post(f"{server.url}/api/models/{repo_id}/super-squash/main", json={"message": 3},
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and "message" in r.json()["error"]
    assert api.repo_info(repo_id).sha == head


# list_lfs_files / permanently_delete_lfs_files -----------------------------------------------------------------------

def _xorbs_of(server: LiveServer, oid: str) -> set[str]:
    with server.stores.db.read() as conn:
        out: set[str] = set()
        for f in xet_store.files_with_sha256(conn, [oid]):
            out |= f.xorb_hashes()
    return out


def _nothing_left(server: LiveServer, oid: str, xorbs: set[str]) -> None:
    with server.stores.db.read() as conn:
        assert conn.execute(select(lfs_objects.c.oid).where(lfs_objects.c.oid == oid)).first() is None
        assert xet_store.files_with_sha256(conn, [oid]) == []
        assert xet_store.known_xorbs(conn, xorbs) == set()
    assert not any(server.stores.xorbs.exists(h) for h in xorbs)
    assert not server.stores.blobs.exists(oid)
    assert server.stored(oid) is None


def test_a_leaked_file_leaves_for_good_while_a_fork_keeps_what_it_holds(live: LiveServer, tmp_path: Path) -> None:
    owner, token, repo_id = _owner(live)
    api = live.api(token)
    shared, secret = _rand(), _rand()
    api.upload_file(path_or_fileobj=shared, path_in_repo="shared.bin", repo_id=repo_id)
    fork_id = f"{owner}/fork-{uuid.uuid4().hex[:6]}"
    api.duplicate_repo(repo_id, fork_id)
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="README.md", repo_id=repo_id)
    api.upload_file(path_or_fileobj=secret, path_in_repo="leak/secret.bin", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"after", path_in_repo="notes.txt", repo_id=repo_id)
    old_head = api.repo_info(repo_id).sha
    secret_oid, shared_oid = _sha(secret), _sha(shared)
    secret_xorbs = _xorbs_of(live, secret_oid)
    assert secret_xorbs and all(live.stores.xorbs.exists(h) for h in secret_xorbs)
    xet_hash = api.get_paths_info(repo_id, ["leak/secret.bin"])[0].xet_hash
    assert xet_hash

    # links handed out before the deletion: a Xet reconstruction's signed xorb ranges, an LFS download link
    auth = {"Authorization": f"Bearer {token}"}
    read = httpx.get(f"{live.url}/api/models/{repo_id}/xet-read-token/main", headers=auth).json()
    plan = httpx.get(f"{read['casUrl']}/v1/reconstructions/{xet_hash}",
                     headers={"Authorization": f"Bearer {read['accessToken']}"}).json()
    xorb_links = [(r["url"], r["url_range"]) for ranges in plan["fetch_info"].values() for r in ranges]
    lfs_json = {"Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"}
    before = httpx.post(f"{live.url}/{repo_id}.git/info/lfs/objects/batch", headers={**auth, **lfs_json}, json={
        "operation": "download", "objects": [{"oid": secret_oid, "size": len(secret)}]}).json()
    lfs_link = before["objects"][0]["actions"]["download"]
    assert httpx.get(lfs_link["href"], headers=lfs_link.get("header", {})).content == secret
    for url, span in xorb_links:
        assert httpx.get(url, headers={"Range": f"bytes={span['start']}-{span['end']}"}).status_code in (200, 206)

    listed = {f.file_oid: f for f in api.list_lfs_files(repo_id)}
    assert set(listed) == {secret_oid, shared_oid}
    assert listed[secret_oid].filename == "leak/secret.bin" and listed[secret_oid].size == len(secret)
    assert listed[secret_oid].ref == "refs/heads/main" and listed[secret_oid].pushed_at.year >= 2025
    assert listed[shared_oid].filename == "shared.bin"

    api.permanently_delete_lfs_files(repo_id, list(listed.values()))

    # the repo's history no longer names them; the other files and commits are all there
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "README.md", "notes.txt"]
    commits = api.list_repo_commits(repo_id)
    assert len(commits) == 5
    for c in commits:
        files = api.list_repo_files(repo_id, revision=c.commit_id)
        assert "leak/secret.bin" not in files and "shared.bin" not in files
    assert list(api.list_lfs_files(repo_id)) == []
    with pytest.raises(RevisionNotFoundError):
        api.repo_info(repo_id, revision=old_head)
    # the secret: gone from disk and from the database
    _nothing_left(live, secret_oid, secret_xorbs)
    # and unreachable by every URL, the links handed out before included
    for url, span in xorb_links:
        r = httpx.get(url, headers={"Range": f"bytes={span['start']}-{span['end']}"})
        assert r.status_code == 404 and secret[:100] not in r.content
    r = httpx.get(lfs_link["href"], headers=lfs_link.get("header", {}))
    assert r.status_code == 404 and r.content != secret
    for rev in ("main", old_head):
        r = httpx.get(f"{live.url}/{repo_id}/resolve/{rev}/leak/secret.bin", headers=auth)
        assert r.status_code == 404
    batch = httpx.post(f"{live.url}/{repo_id}.git/info/lfs/objects/batch", headers={
        **auth, "Accept": "application/vnd.git-lfs+json", "Content-Type": "application/vnd.git-lfs+json"},
        json={"operation": "download", "transfers": ["basic"],
              "objects": [{"oid": secret_oid, "size": len(secret)}, {"oid": shared_oid, "size": len(shared)}]})
    assert batch.status_code == 200
    assert [o.get("error", {}).get("code") for o in batch.json()["objects"]] == [404, 404]
    read = httpx.get(f"{live.url}/api/models/{repo_id}/xet-read-token/main", headers=auth).json()
    r = httpx.get(f"{read['casUrl']}/v1/reconstructions/{xet_hash}",
                  headers={"Authorization": f"Bearer {read['accessToken']}"})
    assert r.status_code == 404
    # the fork still holds the shared file: its content stays, byte for byte
    assert _download(live, token, fork_id, "shared.bin", tmp_path) == shared
    assert live.stored(shared_oid) == shared
    assert [f.file_oid for f in api.list_lfs_files(fork_id)] == [shared_oid]
    entry = _audit(live, "lfs.delete", repo_id)
    assert len(entry) == 1 and entry[0]["details"]["purged"] == 1
    assert sorted(entry[0]["details"]["oids"]) == sorted([secret_oid, shared_oid])


def _chunks_of(server: LiveServer, oid: str) -> set[str]:
    """The chunk hashes the Xet file of `oid` is built from."""
    with server.stores.db.read() as conn:
        (f,) = xet_store.files_with_sha256(conn, [oid])
        records = xet_store.get_xorbs(conn, f.xorb_hashes())
    return {records[s.xorb_hash.to_hex()].chunk_hashes[i].to_hex()
            for s in f.segments for i in range(s.chunk_start, s.chunk_end)}


def test_a_leaked_file_uploaded_with_others_leaves_the_xorb_they_share(live: LiveServer, tmp_path: Path) -> None:
    """One commit packs both files into one xorb: the xorb is written again without the leaked file's chunks."""
    _, token, repo_id = _owner(live)
    api = live.api(token)
    secret, weights = _rand(300_000), _rand(300_000)
    api.create_commit(repo_id, operations=[CommitOperationAdd(".env.bin", secret),
                                           CommitOperationAdd("model.bin", weights)], commit_message="oops")
    secret_oid, weights_oid = _sha(secret), _sha(weights)
    shared = _xorbs_of(live, secret_oid) & _xorbs_of(live, weights_oid)
    assert shared  # the precondition: hf_xet put both files in one xorb
    leaked_chunks = _chunks_of(live, secret_oid) - _chunks_of(live, weights_oid)
    assert leaked_chunks
    (leak,) = [f for f in api.list_lfs_files(repo_id) if f.filename == ".env.bin"]

    api.permanently_delete_lfs_files(repo_id, [leak])

    _nothing_left(live, secret_oid, _xorbs_of(live, secret_oid) | shared)
    with live.stores.db.read() as conn:
        for h, _, _ in xet_store.all_xorbs(conn):
            (rec,) = xet_store.get_xorbs(conn, [h]).values()
            assert not {c.to_hex() for c in rec.chunk_hashes} & leaked_chunks
    assert not any(live.stores.xorbs.exists(h) for h in shared)
    # the other file is intact, through Xet and through plain HTTP
    assert _download(live, token, repo_id, "model.bin", tmp_path) == weights
    r = httpx.get(f"{live.url}/{repo_id}/resolve/main/model.bin", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.content == weights
    assert live.stored(weights_oid) == weights
    assert api.list_repo_files(repo_id) == [".gitattributes", "model.bin"]
    (entry,) = _audit(live, "lfs.delete", repo_id)
    assert set(entry["details"]["xorbs_rewritten"]) == shared


def test_delete_without_rewriting_history(server: LiveServer, tmp_path: Path, lfs_only: None) -> None:
    _, token, repo_id = _owner(server)
    _, other_token, other_id = _owner(server)
    api = server.api(token)
    data, both = _rand(), _rand()
    api.upload_file(path_or_fileobj=data, path_in_repo="big.bin", repo_id=repo_id)  # the Git LFS path
    api.upload_file(path_or_fileobj=both, path_in_repo="both.bin", repo_id=repo_id)
    server.api(other_token).upload_file(path_or_fileobj=both, path_in_repo="same.bin", repo_id=other_id)
    head = api.repo_info(repo_id).sha
    files = {f.filename: f for f in api.list_lfs_files(repo_id)}
    assert files["big.bin"].file_oid == _sha(data) and files["both.bin"].file_oid == _sha(both)
    api.permanently_delete_lfs_files(repo_id, list(files.values()), rewrite_history=False)
    assert api.repo_info(repo_id).sha == head  # the pointers stay in history
    assert {"big.bin", "both.bin"} <= set(api.list_repo_files(repo_id))
    for path in ("big.bin", "both.bin"):  # neither is served here, even the one another repo holds
        r = httpx.get(f"{server.url}/{repo_id}/resolve/main/{path}", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 404 and r.headers["X-Error-Code"] == "EntryNotFound"
    _nothing_left(server, files["big.bin"].file_oid, set())
    assert _download(server, other_token, other_id, "same.bin", tmp_path) == both


def test_list_lfs_files_pages_through_every_file(server: LiveServer) -> None:
    """More files than one page (1,000): the client follows the Link header and gets each once, in oid order;
    a file no ref names is listed under its oid."""
    import time

    from inhouse.storage.db import lfs as lfs_store
    from inhouse.storage.db import repos as repo_store
    from inhouse.vocabulary import RepoType

    owner, token, repo_id = _owner(server)
    data = _rand(1000)
    server.api(token).upload_file(path_or_fileobj=data, path_in_repo="named.bin", repo_id=repo_id)
    oids = sorted({hashlib.sha256(str(i).encode()).hexdigest() for i in range(1100)} | {_sha(data)})
    with server.stores.db.write() as conn:  # uploaded, never committed
        found = repo_store.find_repo(conn, RepoType.MODEL, owner, repo_id.split("/")[1])
        assert found is not None
        for oid in oids:
            if oid != _sha(data):
                lfs_store.record_object(conn, found[0].id, oid, 3, time.time())
    listed = list(server.api(token).list_lfs_files(repo_id))
    assert [f.file_oid for f in listed] == oids
    names = {f.file_oid: f.filename for f in listed}
    assert names[_sha(data)] == "named.bin" and names[oids[0]] in ("named.bin", oids[0])


def test_lfs_files_permissions_and_bad_input(server: LiveServer) -> None:
    owner, token, repo_id = _owner(server)
    api = server.api(token)
    data = _rand(1000)
    api.upload_file(path_or_fileobj=data, path_in_repo="x.bin", repo_id=repo_id)
    (f,) = api.list_lfs_files(repo_id)
    reader = server.make_token(owner, "read")
    outsider = server.make_token(server.make_user(), "write")
    for tok, status in ((reader, 403), (outsider, 403), (None, 401)):
        with pytest.raises(HfHubHTTPError) as e:
            list(server.api(tok).list_lfs_files(repo_id))
        assert e.value.response.status_code == status
        with pytest.raises(HfHubHTTPError) as e:
            server.api(tok).permanently_delete_lfs_files(repo_id, [f])
        assert e.value.response.status_code == status
    _, _, private_id = _owner(server, private=True)
    for path, body in (("lfs-files", None), ("lfs-files/batch", {"deletions": {"sha": [f.file_oid]}})):
        answers = []
        for rid in (private_id, f"{owner}/missing-{uuid.uuid4().hex[:6]}"):
            url = f"{server.url}/api/models/{rid}/{path}"
            hdr = {"Authorization": f"Bearer {outsider}"}
            r = httpx.post(url, json=body, headers=hdr) if body else httpx.get(url, headers=hdr)
            answers.append((r.status_code, r.headers.get("X-Error-Code"), r.json()["error"]))
        assert answers[0] == answers[1] and answers[0][:2] == (404, "RepoNotFound")
    bad = [{}, {"deletions": []}, {"deletions": {"sha": []}}, {"deletions": {"sha": "abc"}},
           {"deletions": {"sha": ["zz" * 32]}}, {"deletions": {"sha": [f.file_oid] * 1001}},
           {"deletions": {"sha": [f.file_oid], "rewriteHistory": "yes"}}]
    for body in bad:
        r = httpx.post(f"{server.url}/api/models/{repo_id}/lfs-files/batch", json=body,
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 400, (body, r.text)
    r = httpx.get(f"{server.url}/api/models/{repo_id}/lfs-files?cursor=../x", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400
    # an oid the repo does not hold is left alone (another repo's content is not touched)
    other_owner, other_token, other_id = _owner(server)
    other = _rand(1000)
    server.api(other_token).upload_file(path_or_fileobj=other, path_in_repo="o.bin", repo_id=other_id)
    r = httpx.post(f"{server.url}/api/models/{repo_id}/lfs-files/batch",
                   json={"deletions": {"sha": [_sha(other)]}}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and r.json()["deleted"] == []
    assert server.stored(_sha(other)) == other
    assert [x.file_oid for x in api.list_lfs_files(repo_id)] == [f.file_oid]


# duplicate_repo ------------------------------------------------------------------------------------------------------

def test_duplicate_repo(live: LiveServer, tmp_path: Path) -> None:
    owner, token, repo_id = _owner(live, private=True)
    api = live.api(token)
    big = _rand()
    api.create_commit(repo_id, operations=[CommitOperationAdd("model.bin", big), CommitOperationAdd("a.txt", b"a")],
                      commit_message="files")
    api.create_branch(repo_id, branch="dev")
    api.create_tag(repo_id, tag="v1")
    stored_before = _stored_files(live)
    fork_id = f"{owner}/fork-{uuid.uuid4().hex[:6]}"

    url = api.duplicate_repo(repo_id, fork_id)

    assert url.repo_id == fork_id and url.files_copy_pending is False
    assert _stored_files(live) == stored_before  # large files linked, not copied
    info = api.repo_info(fork_id)
    assert info.private is True and info.sha == api.repo_info(repo_id).sha
    assert sorted(api.list_repo_files(fork_id)) == sorted(api.list_repo_files(repo_id))
    assert [c.commit_id for c in api.list_repo_commits(fork_id)] == \
        [c.commit_id for c in api.list_repo_commits(repo_id)]
    refs = api.list_repo_refs(fork_id)
    assert {b.name for b in refs.branches} == {"main", "dev"} and [t.name for t in refs.tags] == ["v1"]
    assert _download(live, token, fork_id, "model.bin", tmp_path) == big
    # independent histories
    api.upload_file(path_or_fileobj=b"fork", path_in_repo="a.txt", repo_id=fork_id)
    api.upload_file(path_or_fileobj=b"src", path_in_repo="b.txt", repo_id=repo_id)
    assert _download(live, token, repo_id, "a.txt", tmp_path) == b"a"
    assert "b.txt" not in api.list_repo_files(fork_id)
    # the fork keeps its content when the source repo goes
    api.delete_repo(repo_id)
    assert _download(live, token, fork_id, "model.bin", tmp_path) == big
    entry = _audit(live, "repo.duplicate", fork_id)
    assert len(entry) == 1 and entry[0]["details"]["from"] == repo_id


def test_duplicate_repo_permissions_and_input(server: LiveServer) -> None:
    owner, token, repo_id = _owner(server, private=True)
    api = server.api(token)
    # visibility given; name without namespace: the caller's
    fork = api.duplicate_repo(repo_id, "public-copy", visibility="public")
    assert fork.repo_id == f"{owner}/public-copy" and api.repo_info(fork.repo_id).private is False
    with pytest.raises(HfHubHTTPError) as e:
        api.duplicate_repo(repo_id, "public-copy")
    assert e.value.response.status_code == 409
    assert api.duplicate_repo(repo_id, "public-copy", exist_ok=True).repo_id == f"{owner}/public-copy"
    outsider = server.make_user()
    out_token = server.make_token(outsider, "write")
    with pytest.raises(RepositoryNotFoundError):
        server.api(out_token).duplicate_repo(repo_id, f"{outsider}/stolen")
    with pytest.raises(RepositoryNotFoundError):
        server.api(out_token).duplicate_repo(f"{owner}/missing", f"{outsider}/stolen")
    reader = server.make_token(owner, "read")
    with pytest.raises(HfHubHTTPError) as e:
        server.api(reader).duplicate_repo(repo_id, f"{owner}/by-reader")
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:  # into a namespace the caller cannot create repos in
        api.duplicate_repo(repo_id, f"{outsider}/pushed-on-you")
    assert e.value.response.status_code == 403
    for body in ({}, {"repository": 3}, {"repository": "a/b/c"}, {"repository": f"{owner}/x", "visibility": "top"},
                 {"repository": f"{owner}/bad name"}):
        r = httpx.post(f"{server.url}/api/models/{repo_id}/duplicate", json=body,
                       headers={"Authorization": f"Bearer {token}"})
        assert r.status_code in (400, 422), (body, r.text)
    r = httpx.post(f"{server.url}/api/models/{repo_id}/duplicate", json={"repository": f"{owner}/anon"})
    assert r.status_code == 401


# copy_files ----------------------------------------------------------------------------------------------------------

def test_copy_files_across_repos_links_large_files(server: LiveServer, tmp_path: Path) -> None:
    owner, token, src_id = _owner(server, private=True)
    api = server.api(token)
    big, small = _rand(), b"config"
    api.create_commit(src_id, operations=[CommitOperationAdd("w/model.bin", big), CommitOperationAdd("w/c.json", small)],
                      commit_message="files")
    dst_id = f"{owner}/dst-{uuid.uuid4().hex[:6]}"
    api.create_repo(dst_id)
    stored_before = _stored_files(server)

    api.copy_files(f"hf://{src_id}/w/", f"hf://{dst_id}/copied/")

    assert _stored_files(server) == stored_before
    assert sorted(api.list_repo_files(dst_id)) == [".gitattributes", "copied/c.json", "copied/model.bin"]
    assert _download(server, token, dst_id, "copied/model.bin", tmp_path) == big
    assert _download(server, token, dst_id, "copied/c.json", tmp_path) == small
    assert [f.file_oid for f in api.list_lfs_files(dst_id)] == [_sha(big)]
    # the destination keeps the content when the source deletes it for good
    api.permanently_delete_lfs_files(src_id, list(api.list_lfs_files(src_id)))
    assert _download(server, token, dst_id, "copied/model.bin", tmp_path) == big


def test_copy_files_of_a_file_sent_over_git_lfs(server: LiveServer, tmp_path: Path, lfs_only: None) -> None:
    """A file uploaded through the Git LFS API copies too, once the server has moved it into xorbs (the client
    needs its xetHash; the background converter does it, run here at once)."""
    from inhouse.services.largefiles import xet_convert

    owner, token, src_id = _owner(server)
    api = server.api(token)
    big = _rand()
    api.upload_file(path_or_fileobj=big, path_in_repo="lfs.bin", repo_id=src_id)
    xet_convert.convert(server.stores, _sha(big))
    dst_id = f"{owner}/dst-{uuid.uuid4().hex[:6]}"
    api.create_repo(dst_id)
    stored_before = _stored_files(server)
    api.copy_files(f"hf://{src_id}/lfs.bin", f"hf://{dst_id}/copy.bin")
    assert _stored_files(server) == stored_before
    assert _download(server, token, dst_id, "copy.bin", tmp_path) == big


def test_lfs_duplicate_refusals(server: LiveServer) -> None:
    owner, token, src_id = _owner(server, private=True)
    api = server.api(token)
    big = _rand(2000)
    api.upload_file(path_or_fileobj=big, path_in_repo="m.bin", repo_id=src_id)
    xet_hash = api.get_paths_info(src_id, ["m.bin"])[0].xet_hash
    outsider = server.make_user()
    out_token = server.make_token(outsider, "write")
    out_repo = f"{outsider}/mine"
    server.api(out_token).create_repo(out_repo)
    files = [{"sha256": _sha(big), "xetHash": xet_hash, "filename": "m.bin"}]

    def post(rid: str, tok: str | None, body: object) -> httpx.Response:
        return httpx.post(f"{server.url}/api/models/{rid}/lfs-files/duplicate", json=body,
                          headers={"Authorization": f"Bearer {tok}"} if tok else {})

    # an outsider cannot take the private source's content into their repo, and learns nothing of it
    a = post(src_id, out_token, {"target": {"type": "model", "name": out_repo}, "files": files})
    b = post(f"{owner}/missing", out_token, {"target": {"type": "model", "name": out_repo}, "files": files})
    assert (a.status_code, a.headers["X-Error-Code"], a.json()["error"]) == \
        (b.status_code, b.headers["X-Error-Code"], b.json()["error"]) and a.status_code == 404
    # nor into a repo the caller cannot see (found as missing)
    _, _, hidden_id = _owner(server, private=True)
    r = post(src_id, token, {"target": {"type": "model", "name": hidden_id}, "files": files})
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "RepoNotFound"
    # a file the source does not hold, or a xetHash that is not the file's: listed as failed
    own_dst = f"{owner}/d-{uuid.uuid4().hex[:6]}"
    api.create_repo(own_dst)
    r = post(src_id, token, {"target": {"type": "model", "name": own_dst},
                             "files": [{"sha256": "a" * 64, "xetHash": xet_hash, "filename": "x"},
                                       {"sha256": _sha(big), "xetHash": "b" * 64, "filename": "y"}]})
    assert r.status_code == 200 and [f["sha256"] for f in r.json()["failed"]] == ["a" * 64, _sha(big)]
    assert list(api.list_lfs_files(own_dst)) == []
    for body in ({}, {"target": "x", "files": files}, {"target": {"name": "nope"}, "files": files},
                 {"target": {"type": "model", "name": own_dst}, "files": []},
                 {"target": {"type": "model", "name": own_dst}, "files": [{"sha256": "zz"}]},
                 {"target": {"type": "model", "name": own_dst}, "files": files * 501}):
        r = post(src_id, token, body)
        assert r.status_code == 400, (body, r.text)
    assert post(src_id, None, {"target": {"type": "model", "name": own_dst}, "files": files}).status_code == 401
