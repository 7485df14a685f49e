"""Repo lifecycle, repo info, listings and model cards, driven by the real huggingface_hub client."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import httpx
import pytest
from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError


def _download(server, repo_id, filename, tmp_path, **kw):  # type: ignore[no-untyped-def]
    path = hf_hub_download(repo_id, filename, endpoint=server.url, cache_dir=tmp_path / "cache", **kw)
    return Path(path).read_bytes()


# lifecycle ---------------------------------------------------------------------------------------------------------

def test_create_model_and_dataset_repos(server, api, user, repo_id):
    url = api.create_repo(repo_id)
    assert url == f"{server.url}/{repo_id}" and url.repo_id == repo_id and url.repo_type == "model"
    durl = api.create_repo(repo_id, repo_type="dataset")  # same name, other type: a different repo
    assert durl == f"{server.url}/datasets/{repo_id}" and durl.repo_type == "dataset"
    assert api.model_info(repo_id).id == repo_id
    assert api.dataset_info(repo_id).id == repo_id
    assert api.repo_exists(repo_id) and api.repo_exists(repo_id, repo_type="dataset")
    assert not api.repo_exists(f"{user[0]}/never-created")


def test_create_duplicate_is_409_unless_exist_ok(api, repo_id):
    api.create_repo(repo_id)
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_repo(repo_id)
    assert exc.value.response.status_code == 409
    assert api.create_repo(repo_id, exist_ok=True).repo_id == repo_id


def test_delete_repo_and_missing_delete(api, repo_id):
    api.create_repo(repo_id)
    api.delete_repo(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        api.delete_repo(repo_id)
    api.delete_repo(repo_id, missing_ok=True)  # the client swallows exactly the RepositoryNotFoundError
    api.create_repo(repo_id)  # the name is free again
    assert len(api.list_repo_commits(repo_id)) == 1


def test_move_repo_old_id_keeps_answering(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"moved content", path_in_repo="f.txt", repo_id=repo_id)
    new_id = f"{user[0]}/moved-{uuid.uuid4().hex[:6]}"
    api.move_repo(repo_id, new_id)
    assert api.model_info(new_id).id == new_id
    old = api.model_info(repo_id)  # follows the redirect to the new name
    assert old.id == new_id and old.sha == api.model_info(new_id).sha
    assert _download(server, repo_id, "f.txt", tmp_path, token=user[1]) == b"moved content"
    assert api.list_repo_files(repo_id) == api.list_repo_files(new_id)
    # The old name is still taken by the alias: creating a repo there or moving onto the new name fails.
    other = f"{user[0]}/other-{uuid.uuid4().hex[:6]}"
    api.create_repo(other)
    with pytest.raises(HfHubHTTPError, match=r"A model repository called .* already exists"):
        api.move_repo(other, new_id)


def test_private_repo_is_not_found_for_anonymous(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"secret", path_in_repo="s.txt", repo_id=repo_id)
    anon = server.api(None)
    assert anon.model_info(repo_id).private is False
    api.update_repo_settings(repo_id, private=True)
    assert api.model_info(repo_id).private is True
    with pytest.raises(RepositoryNotFoundError):
        anon.model_info(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        _download(server, repo_id, "s.txt", tmp_path, token=False)
    stranger = server.api(server.make_token(server.make_user()))
    with pytest.raises(RepositoryNotFoundError):
        stranger.model_info(repo_id)
    assert repo_id not in [m.id for m in anon.list_models(author=user[0])]
    assert repo_id in [m.id for m in api.list_models(author=user[0])]
    api.update_repo_settings(repo_id, private=False)
    assert anon.model_info(repo_id).id == repo_id


# a new repo and its info -------------------------------------------------------------------------------------------

def test_new_repo_has_initial_gitattributes_commit_by_creator(server, api, user, repo_id):
    api.create_repo(repo_id)
    commits = api.list_repo_commits(repo_id)
    assert len(commits) == 1
    assert commits[0].authors == [user[0]]
    assert api.list_repo_files(repo_id) == [".gitattributes"]
    info = api.model_info(repo_id)
    assert info.sha == commits[0].commit_id
    meta = get_hf_file_metadata(hf_hub_url(repo_id, ".gitattributes", endpoint=server.url), token=user[1])
    assert meta.commit_hash == info.sha
    r = httpx.get(f"{server.url}/{repo_id}/resolve/main/.gitattributes", headers={"authorization": f"Bearer {user[1]}"})
    assert r.status_code == 200 and r.headers["X-Repo-Commit"] == info.sha
    assert b"*.safetensors filter=lfs" in r.content and meta.size == len(r.content)
    assert info.author == user[0] and info.created_at is not None and info.last_modified is not None


def test_info_files_metadata_and_expand(server, api, repo_id):
    api.create_repo(repo_id)
    big = b"\x00weights" * 1000
    api.upload_file(path_or_fileobj=big, path_in_repo="model.safetensors", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=repo_id)
    info = api.model_info(repo_id, files_metadata=True)
    sib = {s.rfilename: s for s in info.siblings}
    assert set(sib) == {".gitattributes", "model.safetensors", "config.json"}
    assert sib["config.json"].size == 2 and sib["config.json"].lfs is None and sib["config.json"].blob_id
    lfs = sib["model.safetensors"].lfs
    assert lfs is not None and lfs.sha256 == hashlib.sha256(big).hexdigest() and lfs.size == len(big)
    assert sib["model.safetensors"].size == len(big)
    plain = api.model_info(repo_id)
    assert {s.rfilename for s in plain.siblings} == set(sib) and plain.siblings[0].size is None
    small = api.model_info(repo_id, expand=["sha", "lastModified"])
    assert small.sha == info.sha and small.last_modified == info.last_modified
    assert small.siblings is None and small.private is None and small.tags is None
    # dataset_info shares the shape
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="data/train.csv", repo_id=repo_id,
                    repo_type="dataset")
    d = api.dataset_info(repo_id, files_metadata=True)
    assert {s.rfilename: s.size for s in d.siblings}["data/train.csv"] == 8
    assert api.dataset_info(repo_id, expand=["sha"]).sha == d.sha


# listings ----------------------------------------------------------------------------------------------------------

def test_list_models_search_author_sort_limit(server, api, user):
    tag = uuid.uuid4().hex[:8]
    ids = [f"{user[0]}/find-{tag}-{i}" for i in range(3)]
    for rid in ids:
        api.create_repo(rid)
    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=ids[0])  # now the most recently modified
    api.create_repo(f"{user[0]}/unrelated-{tag}x", repo_type="dataset")
    found = list(api.list_models(search=f"find-{tag}"))
    assert sorted(m.id for m in found) == sorted(ids)
    by_author = [m.id for m in api.list_models(author=user[0], sort="last_modified")]
    assert by_author[0] == ids[0] and sorted(by_author) == sorted(ids)
    limited = list(api.list_models(author=user[0], limit=2))
    assert len(limited) == 2
    assert [m.id for m in api.list_models(search=tag, limit=1, sort="created_at")] == [ids[2]]
    ds = [d.id for d in api.list_datasets(author=user[0])]
    assert ds == [f"{user[0]}/unrelated-{tag}x"]
    assert list(api.list_datasets(search=f"find-{tag}")) == []


def test_listing_paginates_with_absolute_link(server, api, user):
    for i in range(5):
        api.create_repo(f"{user[0]}/page-{i}")
    seen: list[str] = []
    url: str | None = f"{server.url}/api/models?author={user[0]}&limit=2&sort=createdAt&direction=1"
    pages = 0
    while url:
        r = httpx.get(url)
        assert r.status_code == 200
        seen += [m["id"] for m in r.json()]
        pages += 1
        nxt = r.links.get("next")
        url = nxt["url"] if nxt else None
        if url:
            assert url.startswith(server.url + "/api/models?") and "cursor=" in url
    assert pages == 3
    assert seen == [f"{user[0]}/page-{i}" for i in range(5)]
    # The client follows the same links: no duplicates and no gaps, whatever the page size.
    assert sorted(m.id for m in api.list_models(author=user[0])) == sorted(seen)


# model cards -------------------------------------------------------------------------------------------------------

CARD = """---
license: apache-2.0
tags:
- finance
- risk
pipeline_tag: text-classification
library_name: transformers
datasets:
- acme/loans
---
# Risk model
"""


def test_readme_front_matter_reaches_model_info(api, repo_id):
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=CARD.encode(), path_in_repo="README.md", repo_id=repo_id)
    info = api.model_info(repo_id)
    assert info.pipeline_tag == "text-classification"
    assert info.library_name == "transformers"
    assert info.card_data is not None
    assert info.card_data.license == "apache-2.0" and info.card_data.datasets == ["acme/loans"]
    assert {"finance", "risk", "license:apache-2.0", "transformers"} <= set(info.tags)
    listed = [m for m in api.list_models(search=repo_id.split("/")[1])]
    assert listed and listed[0].pipeline_tag == "text-classification"


def test_invalid_card_metadata_is_refused_before_commit(api, repo_id):
    api.create_repo(repo_id)
    before = api.model_info(repo_id).sha
    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        api.upload_file(path_or_fileobj=b"---\nmodel-index: foo\n---\n# x\n", path_in_repo="README.md",
                        repo_id=repo_id)
    assert api.model_info(repo_id).sha == before
    assert api.list_repo_files(repo_id) == [".gitattributes"]


def test_dataset_card_reaches_dataset_info(api, repo_id):
    api.create_repo(repo_id, repo_type="dataset")
    card = b"---\nlicense: mit\nlanguage:\n- en\ntask_categories:\n- text-classification\n---\n# Loans\n"
    api.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id=repo_id, repo_type="dataset")
    info = api.dataset_info(repo_id)
    assert info.card_data.license == "mit" and info.card_data.language == ["en"]
    assert {"license:mit", "language:en", "task_categories:text-classification"} <= set(info.tags)
    # Removing the card clears what the listing knows about it.
    api.delete_file("README.md", repo_id=repo_id, repo_type="dataset")
    after = api.dataset_info(repo_id)
    assert not after.card_data and "license:mit" not in (after.tags or [])
