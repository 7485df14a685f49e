"""Branches, tags, refs, history, trees and paths-info, driven by the real huggingface_hub client."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, RepoFile, RepoFolder, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RevisionNotFoundError


def _get(server, repo_id, filename, tmp_path, **kw) -> bytes:  # type: ignore[no-untyped-def]
    return Path(hf_hub_download(repo_id, filename, endpoint=server.url, cache_dir=tmp_path / "cache",
                                **kw)).read_bytes()


def _seed(api, repo_id) -> list[str]:  # type: ignore[no-untyped-def]
    """Three commits on main; returns their shas, oldest first (the initial .gitattributes commit included)."""
    api.create_repo(repo_id)
    shas = [api.model_info(repo_id).sha]
    shas.append(api.create_commit(repo_id, commit_message="first files", operations=[
        CommitOperationAdd("1/2/deep.txt", b"deep"), CommitOperationAdd("1/one.txt", b"one"),
        CommitOperationAdd("3/three.txt", b"three"), CommitOperationAdd("top.txt", b"top v1"),
    ]).oid)
    shas.append(api.create_commit(repo_id, commit_message="update top", operations=[
        CommitOperationAdd("top.txt", b"top v2"), CommitOperationAdd("lfs.bin", b"\x00" * 100),
    ]).oid)
    return shas


def test_branches(server, api, user, repo_id, tmp_path):
    shas = _seed(api, repo_id)
    api.create_branch(repo_id, branch="dev")  # from main
    api.create_tag(repo_id, tag="v1", revision=shas[1])
    api.create_branch(repo_id, branch="from-tag", revision="v1")
    api.create_branch(repo_id, branch="from-sha", revision=shas[0])
    api.create_branch(repo_id, branch="from-short", revision=shas[1][:7])
    api.create_branch(repo_id, branch="v1")  # a branch may share its name with a tag
    targets = {b.name: b.target_commit for b in api.list_repo_refs(repo_id).branches}
    assert targets == {"main": shas[2], "dev": shas[2], "from-tag": shas[1], "from-sha": shas[0],
                       "from-short": shas[1], "v1": shas[2]}
    assert _get(server, repo_id, "top.txt", tmp_path, revision="from-tag", token=user[1]) == b"top v1"
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_branch(repo_id, branch="dev")
    assert exc.value.response.status_code == 409 and "already exists" in str(exc.value)
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_branch(repo_id, branch="main")
    assert exc.value.response.status_code == 409
    api.create_branch(repo_id, branch="dev", exist_ok=True)
    with pytest.raises(RevisionNotFoundError):
        api.create_branch(repo_id, branch="nowhere", revision="no-such-rev")

    with pytest.raises(HfHubHTTPError, match="Cannot delete refs/heads/main"):
        api.delete_branch(repo_id, branch="main")
    api.delete_branch(repo_id, branch="dev")
    with pytest.raises(HfHubHTTPError, match="Invalid rev id"):
        api.delete_branch(repo_id, branch="dev")
    assert "dev" not in {b.name for b in api.list_repo_refs(repo_id).branches}
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="dev")


def test_branch_with_a_slash_for_upload_and_download(server, api, user, repo_id, tmp_path):
    _seed(api, repo_id)
    api.create_branch(repo_id, branch="feature/x")
    info = api.upload_file(path_or_fileobj=b"on the feature", path_in_repo="feat/f.txt", repo_id=repo_id,
                           revision="feature/x")
    big = bytes(range(256)) * 64
    api.upload_file(path_or_fileobj=big, path_in_repo="feat/w.safetensors", repo_id=repo_id, revision="feature/x")
    assert _get(server, repo_id, "feat/f.txt", tmp_path, revision="feature/x", token=user[1]) == b"on the feature"
    assert _get(server, repo_id, "feat/w.safetensors", tmp_path, revision="feature/x", token=user[1]) == big
    assert "feat/f.txt" in api.list_repo_files(repo_id, revision="feature/x")
    assert "feat/f.txt" not in api.list_repo_files(repo_id)
    assert [e.path for e in api.list_repo_tree(repo_id, path_in_repo="feat", revision="feature/x")] == [
        "feat/f.txt", "feat/w.safetensors"]
    feature_commits = api.list_repo_commits(repo_id, revision="feature/x")
    assert feature_commits[1].commit_id == info.oid
    assert api.model_info(repo_id, revision="feature/x").sha == feature_commits[0].commit_id
    assert {b.name for b in api.list_repo_refs(repo_id).branches} == {"main", "feature/x"}
    api.delete_branch(repo_id, branch="feature/x")
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_files(repo_id, revision="feature/x")


def test_tags(server, api, user, repo_id, tmp_path):
    shas = _seed(api, repo_id)
    api.create_tag(repo_id, tag="v0", revision=shas[1], tag_message="first release")
    api.create_tag(repo_id, tag="latest")  # from main
    api.create_tag(repo_id, tag="short", revision=shas[0][:7])
    tags = {t.name: t.target_commit for t in api.list_repo_refs(repo_id).tags}
    assert tags == {"v0": shas[1], "latest": shas[2], "short": shas[0]}
    assert api.model_info(repo_id, revision="v0").sha == shas[1]
    assert _get(server, repo_id, "top.txt", tmp_path, revision="v0", token=user[1]) == b"top v1"
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_tag(repo_id, tag="v0")
    assert exc.value.response.status_code == 409
    api.create_tag(repo_id, tag="v0", exist_ok=True)
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(repo_id, tag="v9", revision="no-such-branch")
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_tag(repo_id, tag="invalid tag")
    assert exc.value.response.status_code == 400

    api.delete_tag(repo_id, tag="v0")
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo_id, revision="v0")
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag(repo_id, tag="v0")
    with pytest.raises(HfHubHTTPError):
        api.delete_tag(repo_id, tag="main")  # a branch is not a tag
    assert {b.name for b in api.list_repo_refs(repo_id).branches} == {"main"}


def test_list_repo_commits_newest_first_and_per_branch(api, user, repo_id):
    shas = _seed(api, repo_id)
    commits = api.list_repo_commits(repo_id)
    assert [c.commit_id for c in commits] == shas[::-1]
    assert [c.title for c in commits] == ["update top", "first files", "initial commit"]
    assert all(c.authors == [user[0]] for c in commits)
    assert commits[0].created_at >= commits[-1].created_at
    api.create_branch(repo_id, branch="side", revision=shas[1])
    side = api.upload_file(path_or_fileobj=b"s", path_in_repo="side.txt", repo_id=repo_id, revision="side").oid
    assert [c.commit_id for c in api.list_repo_commits(repo_id, revision="side")] == [side, shas[1], shas[0]]
    assert side not in [c.commit_id for c in api.list_repo_commits(repo_id)]
    formatted = api.list_repo_commits(repo_id, formatted=True)
    assert formatted[0].formatted_title is not None
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_commits(repo_id, revision="no-such-branch")


def test_list_repo_tree(api, repo_id):
    shas = _seed(api, repo_id)
    top = list(api.list_repo_tree(repo_id))
    assert {(e.path, type(e).__name__) for e in top} == {
        (".gitattributes", "RepoFile"), ("1", "RepoFolder"), ("3", "RepoFolder"), ("top.txt", "RepoFile"),
        ("lfs.bin", "RepoFile")}
    rec = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True)}
    assert set(rec) == {".gitattributes", "1", "1/2", "1/2/deep.txt", "1/one.txt", "3", "3/three.txt", "top.txt",
                        "lfs.bin"}
    assert isinstance(rec["1/2"], RepoFolder) and isinstance(rec["1/2/deep.txt"], RepoFile)
    assert rec["top.txt"].size == 6 and rec["top.txt"].lfs is None and len(rec["top.txt"].blob_id) == 40
    assert rec["lfs.bin"].lfs is not None and rec["lfs.bin"].lfs.size == 100
    sub = [e.path for e in api.list_repo_tree(repo_id, path_in_repo="1")]
    assert sorted(sub) == ["1/2", "1/one.txt"]
    assert [e.path for e in api.list_repo_tree(repo_id, path_in_repo="1", revision=shas[1], recursive=True)
            if isinstance(e, RepoFile)] == ["1/2/deep.txt", "1/one.txt"]
    expanded = {e.path: e for e in api.list_repo_tree(repo_id, expand=True)}
    assert expanded["top.txt"].last_commit.oid == shas[2]
    assert expanded["top.txt"].last_commit.title == "update top"
    assert expanded[".gitattributes"].last_commit.oid == shas[0]
    assert expanded["1"].last_commit.oid == shas[1]
    with pytest.raises(EntryNotFoundError):
        list(api.list_repo_tree(repo_id, path_in_repo="missing"))


def test_get_paths_info(api, repo_id):
    shas = _seed(api, repo_id)
    got = api.get_paths_info(repo_id, ["top.txt", "1/2", "lfs.bin", "missing.txt"])
    by = {e.path: e for e in got}
    assert set(by) == {"top.txt", "1/2", "lfs.bin"}
    assert isinstance(by["1/2"], RepoFolder) and by["top.txt"].size == 6
    assert by["lfs.bin"].lfs.sha256 == hashlib.sha256(b"\x00" * 100).hexdigest()
    old = {e.path: e for e in api.get_paths_info(repo_id, ["top.txt"], revision=shas[1], expand=True)}
    assert old["top.txt"].size == 6 and old["top.txt"].last_commit.oid == shas[1]
    assert old["top.txt"].blob_id != by["top.txt"].blob_id


def test_list_repo_refs_with_pull_requests(api, repo_id):
    shas = _seed(api, repo_id)
    pr = api.upload_file(path_or_fileobj=b"p", path_in_repo="p.txt", repo_id=repo_id, create_pr=True)
    refs = api.list_repo_refs(repo_id, include_pull_requests=True)
    assert [(b.name, b.ref, b.target_commit) for b in refs.branches] == [("main", "refs/heads/main", shas[2])]
    assert [(p.name, p.ref, p.target_commit) for p in refs.pull_requests] == [("1", "refs/pr/1", pr.oid)]
    assert refs.tags == [] and refs.converts == []
    assert api.list_repo_refs(repo_id).pull_requests is None
    assert api.list_repo_commits(repo_id, revision="refs/pr/1")[0].commit_id == pr.oid


def test_tree_and_history_follow_pagination_links(api, repo_id):
    """Expanded trees come 50 entries a page and commits 50 a page; the client follows the Link headers."""
    api.create_repo(repo_id)
    names = [f"many/f{i:03d}.txt" for i in range(61)]
    api.create_commit(repo_id, commit_message="many", operations=[CommitOperationAdd(n, n.encode()) for n in names])
    expanded = list(api.list_repo_tree(repo_id, path_in_repo="many", expand=True))
    assert [e.path for e in expanded] == names
    assert all(e.last_commit is not None and e.last_commit.title == "many" for e in expanded)
    for i in range(51):
        api.create_commit(repo_id, commit_message=f"c{i}", operations=[CommitOperationAdd("n.txt", str(i).encode())])
    commits = api.list_repo_commits(repo_id)
    assert len(commits) == 53 and len({c.commit_id for c in commits}) == 53
    assert [c.title for c in commits[:2]] == ["c50", "c49"] and commits[-1].title == "initial commit"


def test_awful_names_in_tree_and_paths_info(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    folder, name = "odd dir/to?#%", "odd dir/to?#%/awful ?name%20#1 ünïcødé.txt"
    api.upload_file(path_or_fileobj=b"awful", path_in_repo=name, repo_id=repo_id)
    assert [e.path for e in api.list_repo_tree(repo_id, path_in_repo=folder)] == [name]
    assert [e.path for e in api.list_repo_tree(repo_id, path_in_repo="odd dir")] == [folder]
    assert [e.path for e in api.get_paths_info(repo_id, [name, folder, "odd dir/to"])] == [name, folder]
    assert _get(server, repo_id, name, tmp_path, token=user[1]) == b"awful"
    api.create_branch(repo_id, branch="feature/ü-x")
    assert _get(server, repo_id, name, tmp_path, revision="feature/ü-x", token=user[1]) == b"awful"
