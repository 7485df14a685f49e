"""The core real-client flow against a server whose metadata lives in PostgreSQL instead of SQLite."""

from __future__ import annotations

import hashlib
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationDelete,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import RepositoryNotFoundError

from tests.support.live import LiveServer


def _download(srv: LiveServer, repo_id: str, filename: str, cache: Path, **kw) -> bytes:  # type: ignore[no-untyped-def]
    return Path(hf_hub_download(repo_id, filename, endpoint=srv.url, cache_dir=cache, **kw)).read_bytes()


def test_core_flow_on_postgresql(pg_server: LiveServer, tmp_path: Path) -> None:
    srv = pg_server
    assert srv.database_url.startswith("postgresql://") and not srv.stores.db.is_sqlite
    owner = srv.make_user()
    token = srv.make_token(owner, "write")
    api = srv.api(token)
    repo_id = f"{owner}/pg-{uuid.uuid4().hex[:6]}"
    cache = tmp_path / "cache"

    api.create_repo(repo_id)
    weights = os.urandom(3 * 1024 * 1024 + 11)
    (tmp_path / "model.bin").write_bytes(weights)
    api.upload_file(path_or_fileobj=str(tmp_path / "model.bin"), path_in_repo="weights/model.bin", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"hello postgres\n", path_in_repo="a.txt", repo_id=repo_id)
    main_commit = api.create_commit(repo_id, commit_message="config and docs", operations=[
        CommitOperationAdd("config.json", b'{"model_type": "bert"}\n'),
        CommitOperationAdd("docs/README.md", "# ünïcode\n".encode()),
        CommitOperationDelete("a.txt"),
    ])
    expected = {
        "weights/model.bin": weights,
        "config.json": b'{"model_type": "bert"}\n',
        "docs/README.md": "# ünïcode\n".encode(),
    }
    assert sorted(api.list_repo_files(repo_id)) == sorted([".gitattributes", *expected])
    info = api.model_info(repo_id, files_metadata=True)
    assert info.sha == main_commit.oid
    lfs = {s.rfilename: s.lfs for s in info.siblings}
    assert lfs["weights/model.bin"] is not None and lfs["weights/model.bin"].size == len(weights)
    assert lfs["weights/model.bin"].sha256 == hashlib.sha256(weights).hexdigest()
    assert lfs["config.json"] is None

    # branches and tags
    api.create_tag(repo_id, tag="v1")
    api.create_branch(repo_id, branch="dev")
    dev_commit = api.create_commit(repo_id, revision="dev", commit_message="dev config", operations=[
        CommitOperationAdd("config.json", b'{"model_type": "gpt2"}\n'),
    ])
    refs = api.list_repo_refs(repo_id)
    assert {b.name: b.target_commit for b in refs.branches} == {"main": main_commit.oid, "dev": dev_commit.oid}
    assert {t.name: t.target_commit for t in refs.tags} == {"v1": main_commit.oid}
    assert _download(srv, repo_id, "config.json", cache, revision="dev") == b'{"model_type": "gpt2"}\n'
    assert _download(srv, repo_id, "config.json", cache, revision="v1") == expected["config.json"]
    assert [c.title for c in api.list_repo_commits(repo_id, revision="dev")][:2] == ["dev config", "config and docs"]

    # downloads are byte-identical, file by file and as a snapshot
    assert _download(srv, repo_id, "weights/model.bin", cache) == weights
    snap = Path(snapshot_download(repo_id, endpoint=srv.url, cache_dir=tmp_path / "snap"))
    got = {p.relative_to(snap).as_posix(): p.read_bytes() for p in snap.rglob("*") if p.is_file()}
    assert {k: v for k, v in got.items() if k != ".gitattributes"} == expected

    # search: by name, by author; a private repo is listed only for its owner
    private_id = f"{owner}/secret-{uuid.uuid4().hex[:6]}"
    api.create_repo(private_id, private=True)
    anonymous = srv.api()
    assert [m.id for m in anonymous.list_models(search=repo_id.split("/")[1])] == [repo_id]
    assert sorted(m.id for m in api.list_models(author=owner)) == sorted([repo_id, private_id])
    assert [m.id for m in anonymous.list_models(author=owner)] == [repo_id]
    with pytest.raises(RepositoryNotFoundError):
        anonymous.model_info(private_id)

    # it really is PostgreSQL holding the metadata
    with psycopg.connect(srv.database_url) as conn:
        rows = conn.execute("SELECT namespace || '/' || name, head_sha FROM repos WHERE namespace = %s",
                            (owner,)).fetchall()
        assert {str(r[0]): r[1] for r in rows}[repo_id] == main_commit.oid
        assert conn.execute("SELECT size FROM lfs_objects WHERE oid = %s",
                            (hashlib.sha256(weights).hexdigest(),)).fetchone() == (len(weights),)

    # a restart keeps everything: refs, objects and large files
    srv.stop()
    srv.start()  # on a new port: build a new client
    api = srv.api(token)
    assert api.list_repo_refs(repo_id).branches and api.model_info(repo_id).sha == main_commit.oid
    assert _download(srv, repo_id, "weights/model.bin", tmp_path / "cache2") == weights
    assert _download(srv, repo_id, "config.json", tmp_path / "cache2", revision="dev") == b'{"model_type": "gpt2"}\n'


def test_concurrent_commits_and_pull_requests_on_postgresql(pg_server: LiveServer) -> None:
    """Writers racing on one branch all land (none lost), and concurrent pull requests get distinct numbers."""
    srv = pg_server
    owner = srv.make_user()
    api = srv.api(srv.make_token(owner, "write"))
    repo_id = f"{owner}/race-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id)
    n = 6

    def commit(i: int) -> str:
        return api.create_commit(repo_id, commit_message=f"writer {i}",
                                 operations=[CommitOperationAdd(f"w/{i}.txt", f"{i}\n".encode())]).oid

    def open_pr(i: int) -> int:
        info = api.create_commit(repo_id, commit_message=f"pr {i}", create_pr=True,
                                 operations=[CommitOperationAdd(f"pr/{i}.txt", b"x")])
        assert info.pr_num is not None
        return info.pr_num

    with ThreadPoolExecutor(n) as pool:
        shas = list(pool.map(commit, range(n)))
        prs = list(pool.map(open_pr, range(n)))
    assert len(set(shas)) == n
    history = [c.commit_id for c in api.list_repo_commits(repo_id)]
    assert set(shas) <= set(history) and len(history) == n + 1  # every writer's commit is on main
    assert sorted(f for f in api.list_repo_files(repo_id) if f.startswith("w/")) == [f"w/{i}.txt" for i in range(n)]
    assert sorted(prs) == list(range(1, n + 1))
    assert sorted(d.num for d in api.get_repo_discussions(repo_id)) == list(range(1, n + 1))


def test_long_card_fields_and_pr_titles_on_postgresql(pg_server: LiveServer) -> None:
    """Values the SQLite backend accepts must not turn into server errors on PostgreSQL."""
    srv = pg_server
    owner = srv.make_user()
    api = srv.api(srv.make_token(owner, "write"))
    repo_id = f"{owner}/long-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id)
    library = "my-in-house-library-" + "x" * 80
    readme = f"---\nlibrary_name: {library}\ntags: [demo]\n---\n# A model\n"
    api.upload_file(path_or_fileobj=readme.encode(), path_in_repo="README.md", repo_id=repo_id)
    info = api.model_info(repo_id)
    assert info.library_name == library and "demo" in (info.tags or [])
    title = "Long summary " + "y" * 400
    pr = api.create_commit(repo_id, commit_message=title, create_pr=True,
                           operations=[CommitOperationAdd("x.txt", b"x")])
    assert pr.pr_num == 1
    assert api.get_discussion_details(repo_id, 1).title == title
