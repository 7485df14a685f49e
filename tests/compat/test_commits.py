"""Uploads and commits (regular and LFS files, deletes, copies, parent_commit, pull requests) and byte-exact
downloads, driven by the real huggingface_hub client."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from huggingface_hub import (
    CommitOperationAdd,
    CommitOperationCopy,
    CommitOperationDelete,
    hf_hub_download,
    snapshot_download,
)
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

from inhouse.storage.db import audit as audit_store

MiB = 1024 * 1024
AWFUL = "odd dir/to?/awful ?name%20#1 ünïcødé, [x]=y;z.txt"
AWFUL_LFS = "odd dir/ẅeights #2 100%?.bin"


def _get(server, repo_id, filename, tmp_path, **kw) -> bytes:  # type: ignore[no-untyped-def]
    return Path(hf_hub_download(repo_id, filename, endpoint=server.url, cache_dir=tmp_path / "cache",
                                **kw)).read_bytes()


def _lfs_of(api, repo_id, revision=None) -> dict:  # type: ignore[no-untyped-def]
    return {e.path: e.lfs for e in api.list_repo_tree(repo_id, recursive=True, revision=revision)
            if hasattr(e, "lfs")}


def test_upload_folder_round_trip_is_byte_identical(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    src = tmp_path / "src"
    files = {
        "config.json": b'{"hidden": 8}',
        "nested/deeper/notes.md": os.urandom(300).hex().encode(),  # small text: a regular file
        "nested/raw.dat": os.urandom(300),  # small but binary: the server sends it through LFS, as the Hub does
        "weights/model.safetensors": os.urandom(4096),  # LFS by pattern
        "weights/pytorch_model.bin": os.urandom(2048),  # LFS by pattern
        "big.dat": os.urandom(10 * MiB + 17),  # LFS by size (> 10 MiB), no pattern
        AWFUL: os.urandom(1000).hex().encode(),
        AWFUL_LFS: os.urandom(1000),
    }
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    info = api.upload_folder(folder_path=str(src), repo_id=repo_id, commit_message="add everything")
    assert info.oid == api.model_info(repo_id).sha
    assert info.commit_url == f"{server.url}/{repo_id}/commit/{info.oid}"
    assert sorted(api.list_repo_files(repo_id)) == sorted([".gitattributes", *files])

    lfs = _lfs_of(api, repo_id)
    for rel in ("weights/model.safetensors", "weights/pytorch_model.bin", "big.dat", "nested/raw.dat", AWFUL_LFS):
        assert lfs[rel] is not None and lfs[rel].sha256 == hashlib.sha256(files[rel]).hexdigest(), rel
    for rel in ("config.json", "nested/deeper/notes.md", AWFUL):
        assert lfs[rel] is None, rel

    for rel, data in files.items():
        assert _get(server, repo_id, rel, tmp_path, token=user[1]) == data, rel
    snap = Path(snapshot_download(repo_id, endpoint=server.url, cache_dir=tmp_path / "snap", token=user[1]))
    assert snap.name == info.oid
    got = {p.relative_to(snap).as_posix(): p.read_bytes() for p in snap.rglob("*") if p.is_file()}
    assert got.pop(".gitattributes").startswith(b"*.7z filter=lfs")
    assert got == files
    # A second identical upload_folder is a no-op for the client: the server's preupload oids match.
    again = api.upload_folder(folder_path=str(src), repo_id=repo_id)
    assert again.oid == info.oid and len(api.list_repo_commits(repo_id)) == 2


def test_upload_file_regular_and_lfs(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    big = os.urandom(10 * MiB + 1)
    (tmp_path / "blob").write_bytes(big)
    api.upload_file(path_or_fileobj=str(tmp_path / "blob"), path_in_repo="ckpt/large.bin", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"tiny", path_in_repo="tiny.txt", repo_id=repo_id,
                    commit_message="tiny one", commit_description="with a body")
    lfs = _lfs_of(api, repo_id)
    assert lfs["ckpt/large.bin"].size == len(big) and lfs["tiny.txt"] is None
    assert _get(server, repo_id, "ckpt/large.bin", tmp_path, token=user[1]) == big
    assert _get(server, repo_id, "tiny.txt", tmp_path, token=user[1]) == b"tiny"
    newest = api.list_repo_commits(repo_id)[0]
    assert newest.title == "tiny one" and newest.message == "with a body"


def test_create_commit_add_delete_copy(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    weights = os.urandom(5000)
    api.create_commit(repo_id, commit_message="seed", operations=[
        CommitOperationAdd("a.txt", b"alpha"),
        CommitOperationAdd("dir/b.txt", b"beta"),
        CommitOperationAdd("dir/sub/c.txt", b"gamma"),
        CommitOperationAdd("gone.txt", b"bye"),
        CommitOperationAdd("w.safetensors", weights),
    ])
    info = api.create_commit(repo_id, commit_message="ops", operations=[
        CommitOperationDelete("gone.txt"),
        CommitOperationDelete("dir/"),  # a folder
        CommitOperationCopy("a.txt", "copies/a.txt"),  # regular source: the client re-sends the content
        CommitOperationCopy("w.safetensors", "copies/w.safetensors"),  # LFS source: an lfsFile line, no size
    ])
    assert sorted(api.list_repo_files(repo_id)) == [
        ".gitattributes", "a.txt", "copies/a.txt", "copies/w.safetensors", "w.safetensors"]
    lfs = _lfs_of(api, repo_id)
    assert lfs["copies/w.safetensors"].sha256 == lfs["w.safetensors"].sha256 == hashlib.sha256(weights).hexdigest()
    assert lfs["copies/w.safetensors"].size == len(weights)
    assert _get(server, repo_id, "copies/a.txt", tmp_path, token=user[1]) == b"alpha"
    assert _get(server, repo_id, "copies/w.safetensors", tmp_path, token=user[1]) == weights
    assert api.list_repo_commits(repo_id)[0].commit_id == info.oid
    # Deleting a folder without the trailing slash, and a missing file.
    api.create_commit(repo_id, commit_message="rm copies", operations=[CommitOperationDelete("copies")])
    assert "copies/a.txt" not in api.list_repo_files(repo_id)
    with pytest.raises(EntryNotFoundError):
        api.create_commit(repo_id, commit_message="rm", operations=[CommitOperationDelete("nope.txt")])


def test_stale_parent_commit_is_412(api, repo_id):
    api.create_repo(repo_id)
    first = api.model_info(repo_id).sha
    api.upload_file(path_or_fileobj=b"1", path_in_repo="one.txt", repo_id=repo_id, parent_commit=first)
    head = api.model_info(repo_id).sha
    with pytest.raises(HfHubHTTPError) as exc:
        api.upload_file(path_or_fileobj=b"2", path_in_repo="two.txt", repo_id=repo_id, parent_commit=first)
    assert exc.value.response.status_code == 412
    assert api.model_info(repo_id).sha == head and "two.txt" not in api.list_repo_files(repo_id)


def test_create_pr_keeps_main_untouched(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    main_before = api.model_info(repo_id).sha
    info = api.create_commit(repo_id, commit_message="propose", create_pr=True, operations=[
        CommitOperationAdd("proposal.txt", b"in the PR"),
        CommitOperationAdd("pr.safetensors", b"\x01" * 3000),
    ])
    assert info.pr_revision == "refs/pr/1" and info.pr_num == 1
    assert info.pr_url == f"{server.url}/{repo_id}/discussions/1"
    assert api.model_info(repo_id).sha == main_before
    assert _get(server, repo_id, "proposal.txt", tmp_path, revision="refs/pr/1", token=user[1]) == b"in the PR"
    assert _get(server, repo_id, "pr.safetensors", tmp_path, revision="refs/pr/1", token=user[1]) == b"\x01" * 3000
    with pytest.raises(EntryNotFoundError):
        _get(server, repo_id, "proposal.txt", tmp_path, token=user[1])
    assert "proposal.txt" not in api.list_repo_files(repo_id)
    assert "proposal.txt" in api.list_repo_files(repo_id, revision="refs/pr/1")

    folder = tmp_path / "pr2"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "x.txt").write_bytes(b"second PR")
    second = api.upload_folder(folder_path=str(folder), repo_id=repo_id, create_pr=True)
    assert second.pr_revision == "refs/pr/2" and second.pr_url.endswith(f"/{repo_id}/discussions/2")
    assert _get(server, repo_id, "sub/x.txt", tmp_path, revision="refs/pr/2", token=user[1]) == b"second PR"
    assert "proposal.txt" not in api.list_repo_files(repo_id, revision="refs/pr/2")
    snap = Path(snapshot_download(repo_id, revision="refs/pr/1", endpoint=server.url, cache_dir=tmp_path / "s",
                                  token=user[1]))
    assert snap.name == info.oid and (snap / "proposal.txt").read_bytes() == b"in the PR"
    # A PR may start from an older commit of the branch (parent_commit), e.g. after main moved on.
    api.upload_file(path_or_fileobj=b"main moved", path_in_repo="later.txt", repo_id=repo_id)
    third = api.upload_file(path_or_fileobj=b"3", path_in_repo="third.txt", repo_id=repo_id, create_pr=True,
                            parent_commit=main_before)
    assert third.pr_revision == "refs/pr/3"
    assert api.list_repo_commits(repo_id, revision="refs/pr/3")[1].commit_id == main_before
    assert "later.txt" not in api.list_repo_files(repo_id, revision="refs/pr/3")
    refs = api.list_repo_refs(repo_id, include_pull_requests=True)
    assert [(r.ref, r.target_commit) for r in refs.pull_requests] == [
        ("refs/pr/1", info.oid), ("refs/pr/2", second.oid), ("refs/pr/3", third.oid)]
    assert [b.target_commit for b in refs.branches if b.name == "main"] == [api.model_info(repo_id).sha]


def test_dataset_round_trip(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id, repo_type="dataset")
    files = {"data/train.csv": b"a,b\n1,2\n", "data/train-00000.parquet": os.urandom(2000)}
    for rel, data in files.items():
        (tmp_path / "ds" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "ds" / rel).write_bytes(data)
    info = api.upload_folder(folder_path=str(tmp_path / "ds"), repo_id=repo_id, repo_type="dataset")
    assert info.commit_url == f"{server.url}/datasets/{repo_id}/commit/{info.oid}"
    lfs = {e.path: e.lfs for e in api.list_repo_tree(repo_id, path_in_repo="data", repo_type="dataset")}
    assert lfs["data/train-00000.parquet"] is not None and lfs["data/train.csv"] is None
    snap = Path(snapshot_download(repo_id, repo_type="dataset", endpoint=server.url, cache_dir=tmp_path / "c",
                                  token=user[1]))
    assert {rel: (snap / rel).read_bytes() for rel in files} == files
    assert snap.parent.parent.name == f"datasets--{repo_id.replace('/', '--')}"


def test_copy_from_an_older_revision(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    old = api.create_commit(repo_id, commit_message="v1", operations=[
        CommitOperationAdd("cfg.json", b"v1"), CommitOperationAdd("w.bin", b"\x00old" * 100)]).oid
    api.create_commit(repo_id, commit_message="v2", operations=[
        CommitOperationAdd("cfg.json", b"v2"), CommitOperationAdd("w.bin", b"\x00new" * 100)])
    api.create_commit(repo_id, commit_message="restore", operations=[
        CommitOperationCopy("cfg.json", "old/cfg.json", src_revision=old),
        CommitOperationCopy("w.bin", "old/w.bin", src_revision=old)])
    assert _get(server, repo_id, "old/cfg.json", tmp_path, token=user[1]) == b"v1"
    assert _get(server, repo_id, "old/w.bin", tmp_path, token=user[1]) == b"\x00old" * 100
    assert _get(server, repo_id, "w.bin", tmp_path, token=user[1]) == b"\x00new" * 100


def _refused_409(api, repo_id, ops) -> str:  # type: ignore[no-untyped-def]
    """Commits `ops`, expects 409 with nothing written, and returns the error message."""
    head, files = api.model_info(repo_id).sha, api.list_repo_files(repo_id)
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_commit(repo_id, commit_message="clash", operations=ops)
    assert exc.value.response.status_code == 409, exc.value.response.text
    assert exc.value.response.headers["X-Error-Code"] == "Conflict"
    assert api.model_info(repo_id).sha == head and api.list_repo_files(repo_id) == files
    return exc.value.response.headers["X-Error-Message"]


@pytest.mark.filterwarnings("ignore:About to:UserWarning")  # the client's own warning about the clashes below
def test_a_file_never_silently_replaces_a_folder_or_the_reverse(server, api, user, repo_id, tmp_path):
    """A file put where a folder is would drop the folder's files (and the audit would say only "add"); a file
    under a path that is a file would drop that file. Both are refused unless the commit deletes the other first."""
    api.create_repo(repo_id)
    api.create_commit(repo_id, commit_message="seed", operations=[
        CommitOperationAdd("a/b.txt", b"b"), CommitOperationAdd("a/deep/c.txt", b"c"),
        CommitOperationAdd("f", b"a file"), CommitOperationAdd("w/x.txt", b"x")])

    message = _refused_409(api, repo_id, [CommitOperationAdd("a", b"a file now")])
    assert "'a' is a folder" in message and "CommitOperationDelete('a/')" in message
    _refused_409(api, repo_id, [CommitOperationAdd("a/deep", b"file")])  # a folder deeper down
    _refused_409(api, repo_id, [CommitOperationAdd("w", b"\x00" * 2000)])  # an LFS file too
    message = _refused_409(api, repo_id, [CommitOperationAdd("f/g.txt", b"under a file")])
    assert "'f' is a file" in message and "CommitOperationDelete('f')" in message
    _refused_409(api, repo_id, [CommitOperationAdd("f/g/h.txt", b"deeper under a file")])
    # within one commit: a new file, then a file under it (or the reverse)
    _refused_409(api, repo_id, [CommitOperationAdd("n", b"1"), CommitOperationAdd("n/m.txt", b"2")])
    _refused_409(api, repo_id, [CommitOperationAdd("n/m.txt", b"2"), CommitOperationAdd("n", b"1")])
    # a folder deleted after the file is added still clashes: operations apply in order
    _refused_409(api, repo_id, [CommitOperationAdd("a", b"x"), CommitOperationDelete("a/")])

    # deleting first, in the same commit, is how to replace one with the other
    api.create_commit(repo_id, commit_message="replace", operations=[
        CommitOperationDelete("a/"), CommitOperationAdd("a", b"a file now"),
        CommitOperationDelete("f"), CommitOperationAdd("f/g.txt", b"under f"),
        CommitOperationDelete("w/x.txt"), CommitOperationAdd("w", b"w's only file went first")])
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "a", "f/g.txt", "w"]
    with server.stores.db.read() as conn:
        last = [e for e in audit_store.scan(conn, repo=repo_id) if e["action"] == "commit"][-1]
    assert [(c["op"], c["path"]) for c in json.loads(last["details"])["changes"]] == [
        ("delete-folder", "a/"), ("add", "a"), ("delete", "f"), ("add", "f/g.txt"), ("delete", "w/x.txt"),
        ("add", "w")]
    # replacing a file with a file stays a plain overwrite
    api.create_commit(repo_id, commit_message="overwrite", operations=[CommitOperationAdd("a", b"v2")])
    assert _get(server, repo_id, "a", tmp_path, token=user[1]) == b"v2"
