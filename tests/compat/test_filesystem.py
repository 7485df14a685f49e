"""huggingface_hub's HfFileSystem (fsspec) against the live server: listing, info, ranged reads, writes, revisions."""

from __future__ import annotations

import hashlib
import os

import pytest
from huggingface_hub import HfFileSystem

BIG = 3 * 1024 * 1024 + 11  # above the client's regular-file threshold ⇒ travels as an LFS object


@pytest.fixture
def fs(hub_endpoint: str, user: tuple[str, str]) -> HfFileSystem:
    return HfFileSystem(endpoint=hub_endpoint, token=user[1], skip_instance_cache=True)


@pytest.fixture
def filled_repo(api, repo_id: str, tmp_path) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    """A model repo with a regular file, a nested folder and one LFS file; returns (repo_id, LFS content)."""
    api.create_repo(repo_id)
    big = os.urandom(BIG)
    src = tmp_path / "src"
    (src / "sub" / "deep").mkdir(parents=True)
    (src / "README.md").write_text("# hello\n")
    (src / "config.json").write_text('{"a": 1}\n')
    (src / "sub" / "x.txt").write_bytes(b"0123456789" * 10)
    (src / "sub" / "deep" / "y.txt").write_bytes(b"why")
    (src / "sub" / "weights.bin").write_bytes(big)
    api.upload_folder(folder_path=str(src), repo_id=repo_id)
    return repo_id, big


def test_ls_with_details_lists_files_and_folders(fs: HfFileSystem, filled_repo: tuple[str, bytes]) -> None:
    repo_id, big = filled_repo
    top = {e["name"]: e for e in fs.ls(repo_id, detail=True)}
    assert set(top) == {f"{repo_id}/{n}" for n in (".gitattributes", "README.md", "config.json", "sub")}
    assert top[f"{repo_id}/sub"]["type"] == "directory"
    assert top[f"{repo_id}/config.json"]["type"] == "file"
    assert top[f"{repo_id}/config.json"]["size"] == len('{"a": 1}\n')
    assert top[f"{repo_id}/config.json"]["lfs"] is None

    sub = {e["name"]: e for e in fs.ls(f"{repo_id}/sub", detail=True)}
    assert set(sub) == {f"{repo_id}/sub/{n}" for n in ("x.txt", "deep", "weights.bin")}
    weights = sub[f"{repo_id}/sub/weights.bin"]
    assert weights["size"] == BIG
    assert weights["lfs"]["size"] == BIG
    assert weights["lfs"]["sha256"] == hashlib.sha256(big).hexdigest()
    assert sorted(fs.ls(repo_id, detail=False)) == sorted(top)


def test_glob_find_info_exists(fs: HfFileSystem, filled_repo: tuple[str, bytes]) -> None:
    repo_id, big = filled_repo
    assert fs.glob(f"{repo_id}/*.json") == [f"{repo_id}/config.json"]
    assert sorted(fs.glob(f"{repo_id}/**/*.txt")) == [f"{repo_id}/sub/deep/y.txt", f"{repo_id}/sub/x.txt"]
    assert fs.find(repo_id) == sorted(
        f"{repo_id}/{p}" for p in (".gitattributes", "README.md", "config.json", "sub/deep/y.txt", "sub/weights.bin",
                                   "sub/x.txt"))
    with_dirs = fs.find(repo_id, withdirs=True, detail=True)
    assert with_dirs[f"{repo_id}/sub/deep"]["type"] == "directory"

    fresh = HfFileSystem(endpoint=fs.endpoint, token=fs.token, skip_instance_cache=True)  # no cached listings
    info = fresh.info(f"{repo_id}/sub/x.txt")
    assert (info["type"], info["size"], info["lfs"]) == ("file", 100, None)
    assert len(info["blob_id"]) == 40
    expanded = fresh.info(f"{repo_id}/sub/x.txt", expand_info=True)
    assert len(expanded["last_commit"].oid) == 40 and expanded["last_commit"].title
    assert fresh.modified(f"{repo_id}/sub/x.txt").year >= 2024
    lfs = fresh.info(f"{repo_id}/sub/weights.bin")
    assert lfs["size"] == BIG and lfs["lfs"]["sha256"] == hashlib.sha256(big).hexdigest()
    folder = fresh.info(f"{repo_id}/sub/deep")
    assert folder["type"] == "directory" and folder["name"] == f"{repo_id}/sub/deep"
    root = fresh.info(repo_id)
    assert root["type"] == "directory"

    assert fresh.exists(f"{repo_id}/sub/deep/y.txt")
    assert fresh.isdir(f"{repo_id}/sub")
    assert not fresh.exists(f"{repo_id}/sub/nope.txt")
    assert not fresh.exists(f"{repo_id}/nope/deeper.txt")
    with pytest.raises(FileNotFoundError):
        fresh.info(f"{repo_id}/missing.txt")
    assert not fresh.exists(f"{repo_id}-missing/x.txt")


def test_ranged_reads_return_exact_bytes(fs: HfFileSystem, filled_repo: tuple[str, bytes]) -> None:
    repo_id, big = filled_repo
    path = f"{repo_id}/sub/weights.bin"
    with fs.open(path, "rb", block_size=64 * 1024) as f:
        assert f.read(10) == big[:10]
        f.seek(1_000_000)
        assert f.read(70_000) == big[1_000_000:1_070_000]  # spans two blocks
        f.seek(-5, os.SEEK_END)
        assert f.read() == big[-5:]
        f.seek(BIG - 100)
        assert f.read(1000) == big[-100:]  # past the end: only what exists
        assert f.read(10) == b""
    assert fs.cat_file(path, start=123, end=456) == big[123:456]
    assert fs.cat_file(path, start=-7) == big[-7:]
    assert fs.cat_file(f"{repo_id}/sub/x.txt", start=5, end=15) == (b"0123456789" * 10)[5:15]
    assert fs.read_block(f"{repo_id}/sub/x.txt", 95, 50) == b"56789"
    # whole-file reads, both the ranged and the streaming path
    assert fs.cat_file(path) == big
    with fs.open(path, "rb", block_size=0) as f:  # streaming: one plain GET
        assert f.read(10) == big[:10]
        assert f.read() == big[10:]


def test_write_then_remove(fs: HfFileSystem, api, repo_id: str) -> None:  # type: ignore[no-untyped-def]
    api.create_repo(repo_id)
    with fs.open(f"{repo_id}/notes/a.txt", "wb") as f:
        f.write(b"first ")
        f.write(b"second")
    big = os.urandom(BIG)
    with fs.open(f"{repo_id}/notes/big.bin", "wb") as f:
        f.write(big)
    fs.pipe_file(f"{repo_id}/c.txt", b"ccc")
    assert fs.cat_file(f"{repo_id}/notes/a.txt") == b"first second"
    assert fs.cat_file(f"{repo_id}/notes/big.bin") == big
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "c.txt", "notes/a.txt", "notes/big.bin"]
    assert fs.info(f"{repo_id}/notes/big.bin")["lfs"]["size"] == BIG

    fs.rm(f"{repo_id}/c.txt")
    assert not fs.exists(f"{repo_id}/c.txt")
    fs.rm(f"{repo_id}/notes", recursive=True)
    assert not fs.exists(f"{repo_id}/notes/a.txt")
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes"]

    fs.cp_file(f"{repo_id}/.gitattributes", f"{repo_id}/copy.txt")
    assert fs.cat_file(f"{repo_id}/copy.txt") == fs.cat_file(f"{repo_id}/.gitattributes")


def test_read_at_a_branch_and_a_commit(fs: HfFileSystem, api, repo_id: str) -> None:  # type: ignore[no-untyped-def]
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"main v1", path_in_repo="f.txt", repo_id=repo_id)
    first = api.repo_info(repo_id).sha
    api.create_branch(repo_id, branch="dev")
    api.upload_file(path_or_fileobj=b"dev v2", path_in_repo="f.txt", repo_id=repo_id, revision="dev")
    api.upload_file(path_or_fileobj=b"only on dev", path_in_repo="dir/g.txt", repo_id=repo_id, revision="dev")

    assert fs.cat_file(f"{repo_id}/f.txt") == b"main v1"
    assert fs.cat_file(f"hf://{repo_id}@dev/f.txt") == b"dev v2"
    assert fs.cat_file(f"{repo_id}@dev/dir/g.txt") == b"only on dev"
    assert fs.cat_file(f"{repo_id}@{first}/f.txt") == b"main v1"
    assert fs.ls(f"{repo_id}@dev/dir", detail=False) == [f"{repo_id}@dev/dir/g.txt"]
    assert not fs.exists(f"{repo_id}/dir/g.txt")
    assert fs.glob(f"{repo_id}@dev/**/*.txt") == [f"{repo_id}@dev/dir/g.txt", f"{repo_id}@dev/f.txt"]
    with pytest.raises(FileNotFoundError):
        fs.ls(f"{repo_id}@no-such-branch")

    # writing at a branch commits to that branch only
    with fs.open(f"{repo_id}@dev/h.txt", "wb") as f:
        f.write(b"h")
    assert fs.exists(f"{repo_id}@dev/h.txt") and not fs.exists(f"{repo_id}/h.txt")


def test_dataset_repo(fs: HfFileSystem, api, repo_id: str) -> None:  # type: ignore[no-untyped-def]
    api.create_repo(repo_id, repo_type="dataset")
    rows = "".join(f"{i},row{i}\n" for i in range(1000)).encode()
    api.upload_file(path_or_fileobj=rows, path_in_repo="data/train.csv", repo_id=repo_id, repo_type="dataset")
    root = f"datasets/{repo_id}"
    assert fs.ls(f"{root}/data", detail=False) == [f"{root}/data/train.csv"]
    assert fs.info(f"{root}/data/train.csv")["size"] == len(rows)
    assert fs.glob(f"hf://{root}/**/*.csv") == [f"{root}/data/train.csv"]
    with fs.open(f"{root}/data/train.csv", "rb", block_size=1024) as f:
        f.seek(2000)
        assert f.read(3000) == rows[2000:5000]
    with fs.open(f"{root}/data/notes.txt", "wb") as f:
        f.write(b"n")
    assert fs.cat_file(f"{root}@main/data/notes.txt") == b"n"
    assert not fs.exists(f"{repo_id}/data/train.csv")  # the same name as a model repo does not exist


def test_awkward_names_put_get_and_move(fs: HfFileSystem, api, repo_id: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    api.create_repo(repo_id)
    local = tmp_path / "up"
    (local / "we ird" / "ü").mkdir(parents=True)
    (local / "we ird" / "a b%3F#?&=+.txt").write_bytes(b"awkward")
    (local / "we ird" / "ü" / "ñ.txt").write_bytes(b"unicode")
    fs.put(str(local) + "/", f"{repo_id}/up", recursive=True)
    assert sorted(fs.find(f"{repo_id}/up")) == [f"{repo_id}/up/we ird/a b%3F#?&=+.txt", f"{repo_id}/up/we ird/ü/ñ.txt"]
    assert fs.cat_file(f"{repo_id}/up/we ird/a b%3F#?&=+.txt") == b"awkward"
    assert fs.info(f"{repo_id}/up/we ird/ü/ñ.txt")["size"] == 7
    assert fs.ls(f"{repo_id}/up/we ird/ü", detail=False) == [f"{repo_id}/up/we ird/ü/ñ.txt"]

    fs.get(f"{repo_id}/up/", str(tmp_path / "down") + "/", recursive=True)
    assert (tmp_path / "down" / "we ird" / "ü" / "ñ.txt").read_bytes() == b"unicode"

    fs.mv(f"{repo_id}/up/we ird/ü/ñ.txt", f"{repo_id}/moved.txt")
    assert fs.cat_file(f"{repo_id}/moved.txt") == b"unicode"
    assert not fs.exists(f"{repo_id}/up/we ird/ü/ñ.txt")


def test_read_a_pull_request_ref(fs: HfFileSystem, api, repo_id: str) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub import CommitOperationAdd

    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"base", path_in_repo="f.txt", repo_id=repo_id)
    pr = api.create_commit(repo_id, operations=[CommitOperationAdd("f.txt", b"proposed")], commit_message="pr",
                           create_pr=True)
    ref = f"refs/pr/{pr.pr_num}"
    assert fs.cat_file(f"{repo_id}@{ref}/f.txt") == b"proposed"
    assert fs.cat_file(f"{repo_id}@{ref.replace('/', '%2F')}/f.txt") == b"proposed"
    assert fs.ls(f"{repo_id}@{ref}", detail=False) == [f"{repo_id}@{ref}/.gitattributes", f"{repo_id}@{ref}/f.txt"]
    assert fs.cat_file(f"{repo_id}/f.txt") == b"base"


def test_private_repo_and_expanded_paged_listing(fs: HfFileSystem, api, repo_id: str) -> None:  # type: ignore[no-untyped-def]
    from huggingface_hub import CommitOperationAdd

    api.create_repo(repo_id, private=True)
    names = [f"many/f{i:03d}.txt" for i in range(61)]  # more than one page of an expanded tree listing
    api.create_commit(repo_id, commit_message="many", operations=[CommitOperationAdd(n, n.encode()) for n in names])
    listing = fs.ls(f"{repo_id}/many", detail=True, expand_info=True)
    assert sorted(e["name"] for e in listing) == [f"{repo_id}/{n}" for n in names]
    assert all(e["last_commit"] is not None and e["last_commit"].title == "many" for e in listing)
    assert fs.cat_file(f"{repo_id}/many/f060.txt") == b"many/f060.txt"

    anonymous = HfFileSystem(endpoint=fs.endpoint, token=False, skip_instance_cache=True)
    assert not anonymous.exists(f"{repo_id}/many/f000.txt")
    with pytest.raises(FileNotFoundError):
        anonymous.ls(repo_id)
