"""services/repos listings: `full=True` pages are bounded by the files they list (a page ends early at the repo
that passes the budget, and each repo lists at most MAX_LISTED_SIBLINGS files); tags by type; download counts
per day. SQLite and PostgreSQL."""

from __future__ import annotations

import uuid

import pytest

from inhouse.access.identity import Principal, authenticate
from inhouse.services import commits, downloads, repos, users
from inhouse.services.commits import AddFile
from inhouse.services.context import Stores
from inhouse.storage.db.records import RepoRecord
from inhouse.vocabulary import RepoType, TokenRole


def _principal(stores: Stores) -> Principal:
    name = f"u{uuid.uuid4().hex[:8]}"
    users.create_user(stores, name)
    _, secret = users.create_token(stores, name, role=TokenRole.WRITE)
    return authenticate(stores.db, secret, ip="127.0.0.1", request_id=uuid.uuid4().hex)


def _repo(stores: Stores, p: Principal, files: int) -> RepoRecord:
    repo = repos.create(stores, p, repo_type=RepoType.MODEL, namespace=None, name=f"r{uuid.uuid4().hex[:8]}")
    if files:
        commits.commit(stores, p, repo, revision="main", summary="files",
                       ops=[AddFile(f"f{i:03}.txt", b"x") for i in range(files)])
    return repos.load(stores, p, repos.RepoName(RepoType.MODEL, repo.namespace, repo.name))


def test_full_listing_pages_are_bounded_by_files(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    p = _principal(stores)
    found = [_repo(stores, p, n) for n in (30, 5, 40, 1)]
    views = repos.with_files(stores, found, budget=1000)
    assert [len(v.files or []) for v in views] == [31, 6, 41, 2]  # .gitattributes too
    assert [e.path for e in views[1].files or []] == [".gitattributes"] + [f"f{i:03}.txt" for i in range(5)]
    # the page ends at the repo that passes the budget; at least one repo is listed
    assert [len(v.files or []) for v in repos.with_files(stores, found, budget=35)] == [31, 6]
    assert [len(v.files or []) for v in repos.with_files(stores, found, budget=1)] == [31]
    monkeypatch.setattr(repos, "MAX_LISTED_SIBLINGS", 10)
    assert [len(v.files or []) for v in repos.with_files(stores, found, budget=1000)] == [10, 6, 10, 2]


def test_tags_by_type_and_download_days(stores: Stores) -> None:
    p = _principal(stores)
    repo = _repo(stores, p, 0)
    card = b"---\npipeline_tag: fill-mask\nlibrary_name: timm\nlicense: apache-2.0\nlanguage: [de]\ntags: [a-b]\n---\n"
    commits.commit(stores, p, repo, revision="main", summary="card", ops=[AddFile("README.md", card)])
    tags = repos.tags_by_type(stores, p, RepoType.MODEL)
    got = {kind: {(t.id, t.label) for t in found} for kind, found in tags.items()}
    assert ("fill-mask", "Fill Mask") in got["pipeline_tag"] and ("timm", "timm") in got["library"]
    assert ("license:apache-2.0", "apache-2.0") in got["license"] and ("de", "de") in got["language"]
    assert ("a-b", "a-b") in got["other"]

    assert downloads.counts(repo, "config.json") and not downloads.counts(repo, "sub/config.json")
    assert not downloads.counts(repo, "README.md") and not downloads.counts(repo, "model.safetensors")
    for _ in range(2):
        downloads.note(stores, repo, "config.json")
    downloads.note(stores, repo, "pytorch_model.bin")
    assert downloads.recent(stores, [repo.id]) == {repo.id: 2}
    assert downloads.today(86400 * 3 + 5) == 3


def test_counts_are_batched_and_settled_before_reads(stores: Stores) -> None:
    """A running counter keeps counts in memory (nothing written on the download path), writes them in one
    transaction when a read of the counts comes or at stop, and skips repos deleted meanwhile."""
    from inhouse.storage.db import likes as likes_store

    p = _principal(stores)
    kept, gone = _repo(stores, p, 0), _repo(stores, p, 0)
    counter = downloads.DownloadCounter(interval_s=3600)  # the thread never wakes up during the test
    stores.runtime.downloads = counter
    counter.start(stores)
    try:
        for _ in range(3):
            downloads.note(stores, kept, "config.json")
        downloads.note(stores, gone, "config.json")
        with stores.db.read() as conn:
            assert likes_store.recent_downloads(conn, [kept.id, gone.id], downloads.today()) == {}  # not yet
        repos.delete(stores, p, RepoType.MODEL, gone.namespace, gone.name)
        assert downloads.recent(stores, [kept.id, gone.id]) == {kept.id: 3}  # settled first; the deleted one skipped
        downloads.note(stores, kept, "config.json")
    finally:
        counter.stop()  # writes what is left
    with stores.db.read() as conn:
        assert likes_store.recent_downloads(conn, [kept.id], downloads.today()) == {kept.id: 4}
    found = repos.search(stores, p, repo_type=RepoType.MODEL, search=[kept.name], author=None, tags=[],
                         sort="downloads", descending=True, limit=10, offset=0)
    assert [(r.id, r.recent_downloads, r.downloads) for r in found] == [(kept.id, 4, 4)]


def test_likes_on_both_backends(stores: Stores) -> None:
    """A like is counted once however often it is sent, taken back once, and listed newest first."""
    from inhouse.services import likes

    owner, fan = _principal(stores), _principal(stores)
    first, second = _repo(stores, owner, 0), _repo(stores, owner, 0)
    names = [repos.RepoName(RepoType.MODEL, r.namespace, r.name) for r in (first, second)]
    assert likes.like(stores, fan, names[0]) is True
    assert likes.like(stores, fan, names[0]) is False  # already liked: nothing changes
    assert likes.like(stores, fan, names[1]) is True
    assert likes.like(stores, owner, names[0]) is True
    liked, more = likes.liked_repos(stores, owner, str(fan.name), offset=0, limit=1)
    assert ([x.repo.id for x in liked], more) == ([second.id], True)
    liked, more = likes.liked_repos(stores, owner, str(fan.name), offset=1, limit=5)
    assert ([x.repo.id for x in liked], more) == ([first.id], False)
    found, more = likes.likers(stores, owner, names[0], offset=0, limit=10)
    assert (sorted(x.name for x in found), more) == (sorted([str(fan.name), str(owner.name)]), False)
    assert repos.load(stores, owner, names[0]).likes == 2
    assert likes.unlike(stores, fan, names[0]) is True and likes.unlike(stores, fan, names[0]) is False
    assert repos.load(stores, owner, names[0]).likes == 1
