"""Typed errors of the Hub API as the real huggingface_hub client raises them."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)


def _download(server, repo_id, filename, tmp_path, **kw):  # type: ignore[no-untyped-def]
    return hf_hub_download(repo_id, filename, endpoint=server.url, cache_dir=tmp_path / "cache", **kw)


def test_missing_repo(server, api, user, tmp_path):
    missing = f"{user[0]}/does-not-exist"
    for call in (lambda: api.model_info(missing), lambda: api.dataset_info(missing),
                 lambda: api.list_repo_files(missing), lambda: api.list_repo_refs(missing),
                 lambda: api.list_repo_commits(missing),
                 lambda: _download(server, missing, "config.json", tmp_path, token=user[1]),
                 lambda: _download(server, missing, "config.json", tmp_path, token=False),
                 lambda: get_hf_file_metadata(hf_hub_url(missing, "x", endpoint=server.url), token=user[1]),
                 lambda: snapshot_download(missing, endpoint=server.url, cache_dir=tmp_path / "s", token=user[1])):
        with pytest.raises(RepositoryNotFoundError) as exc:
            call()
        assert exc.value.response.headers["X-Error-Code"] == "RepoNotFound"
        assert exc.value.request_id and exc.value.request_id == exc.value.response.headers["X-Request-Id"]


def test_missing_revision(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    for call in (lambda: api.model_info(repo_id, revision="nope"),
                 lambda: api.list_repo_files(repo_id, revision="nope"),
                 lambda: api.list_repo_commits(repo_id, revision="nope"),
                 lambda: api.get_paths_info(repo_id, [".gitattributes"], revision="nope"),
                 lambda: api.model_info(repo_id, revision="0" * 40),
                 lambda: _download(server, repo_id, ".gitattributes", tmp_path, revision="nope", token=user[1]),
                 lambda: get_hf_file_metadata(hf_hub_url(repo_id, ".gitattributes", revision="refs/pr/7",
                                                         endpoint=server.url), token=user[1])):
        with pytest.raises(RevisionNotFoundError) as exc:
            call()
        assert exc.value.response.headers["X-Error-Code"] == "RevisionNotFound"


def test_missing_file_is_entry_not_found_with_repo_commit(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    sha = api.model_info(repo_id).sha
    with pytest.raises(EntryNotFoundError) as exc:
        _download(server, repo_id, "sub/missing.json", tmp_path, token=user[1])
    assert isinstance(exc.value, RemoteEntryNotFoundError)
    # The client caches the absence under the commit the server named, and asks no more at that commit.
    assert (tmp_path / "cache" / f"models--{repo_id.replace('/', '--')}" / ".no_exist" / sha / "sub" /
            "missing.json").exists()
    with pytest.raises(EntryNotFoundError) as exc:
        get_hf_file_metadata(hf_hub_url(repo_id, "missing.json", endpoint=server.url), token=user[1])
    assert exc.value.response.status_code == 404
    assert exc.value.response.headers["X-Repo-Commit"] == sha
    assert exc.value.response.headers["X-Error-Code"] == "EntryNotFound"
    # A folder is not a file either.
    api.upload_file(path_or_fileobj=b"x", path_in_repo="dir/x.txt", repo_id=repo_id)
    with pytest.raises(EntryNotFoundError):
        _download(server, repo_id, "dir", tmp_path, token=user[1])
    # And a GET (not only the HEAD) carries the same headers.
    r = httpx.get(f"{server.url}/{repo_id}/resolve/main/nothing.txt", headers={"authorization": f"Bearer {user[1]}"})
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "EntryNotFound"
    assert r.headers["X-Repo-Commit"] == api.model_info(repo_id).sha and "error" in r.json()


def test_resolve_head_commit_matches_model_info(server, api, user, repo_id):
    api.create_repo(repo_id)
    info = api.upload_file(path_or_fileobj=b"x" * 20, path_in_repo="a.safetensors", repo_id=repo_id)
    meta = get_hf_file_metadata(hf_hub_url(repo_id, "a.safetensors", endpoint=server.url), token=user[1])
    assert meta.commit_hash == api.model_info(repo_id).sha == info.oid
    assert meta.size == 20 and meta.etag == hashlib.sha256(b"x" * 20).hexdigest()
    at_sha = get_hf_file_metadata(hf_hub_url(repo_id, "a.safetensors", revision=info.oid[:7], endpoint=server.url),
                                  token=user[1])
    assert at_sha.commit_hash == info.oid
