"""lastCommit in paths-info and tree?expand=true, through the real huggingface_hub client against a live server.

1,000 paths in one paths-info request with expand=True (anonymous, on a public repo) each get the newest commit
that changed them; the expanded tree agrees page by page. When the server's budget for that walk
(INHOUSE_LAST_COMMIT_MAX_COMMITS) runs out, the answer still parses: the paths it did not reach come without
lastCommit, which the client reads as last_commit=None.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd, RepoFile, RepoFolder

from tests.support.live import LiveServer


def test_paths_info_expand_over_a_thousand_paths(server: LiveServer, api, repo_id: str  # type: ignore[no-untyped-def]
                                                  ) -> None:
    api.create_repo(repo_id)
    initial = api.list_repo_commits(repo_id)[0].commit_id
    files = [f"f{i:03d}.txt" for i in range(603)] + [f"d{i % 8}/sub/g{i:03d}.txt" for i in range(380)]
    added = api.create_commit(repo_id, commit_message="add all",
                              operations=[CommitOperationAdd(p, p.encode()) for p in files]).oid
    changes: list[tuple[str, str, str]] = []  # (path, commit, title), oldest first
    for i in range(30):
        path = files[i * 7] if i % 2 else files[603 + i * 11]  # root files and nested ones in turn
        title = f"change {i}"
        oid = api.create_commit(repo_id, commit_message=title,
                                operations=[CommitOperationAdd(path, f"v{i}".encode())]).oid
        changes.append((path, oid, title))
    folders = sorted({f"d{i}" for i in range(8)} | {f"d{i}/sub" for i in range(8)})
    paths = files + folders + [".gitattributes"]
    assert len(paths) == 1000

    def expected(p: str) -> str:
        """The last change to the file, or to any file in the folder; else the commit that added it."""
        inside = [oid for f, oid, _ in changes if f == p or f.startswith(p + "/")]
        return inside[-1] if inside else initial if p == ".gitattributes" else added

    anonymous = server.api()
    got = {e.path: e for e in anonymous.get_paths_info(repo_id, paths, expand=True)}
    assert set(got) == set(paths)
    assert {p: e.last_commit.oid for p, e in got.items() if e.last_commit} == {p: expected(p) for p in paths}
    assert isinstance(got["d0"], RepoFolder) and isinstance(got["f000.txt"], RepoFile)
    path, _, title = changes[-1]
    assert got[path].last_commit is not None and got[path].last_commit.title == title

    # The expanded tree (50 entries a page, each page its own walk) gives the same answers.
    tree = {e.path: e for e in anonymous.list_repo_tree(repo_id, recursive=True, expand=True)}
    assert {p: e.last_commit.oid for p, e in tree.items() if p in got and e.last_commit} == \
        {p: expected(p) for p in paths}


@pytest.fixture
def small_budget(tmp_path: Path) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path / "data", env={"INHOUSE_LAST_COMMIT_MAX_COMMITS": "3"}).start()
    yield srv
    srv.close()


def test_paths_beyond_the_budget_come_without_last_commit(small_budget: LiveServer) -> None:
    name = small_budget.make_user()
    api = small_budget.api(small_budget.make_token(name, "write"))
    repo_id = f"{name}/r{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id)
    api.create_commit(repo_id, commit_message="old", operations=[CommitOperationAdd("old.txt", b"o"),
                                                                 CommitOperationAdd("dir/old.txt", b"o")])
    recent = {}
    for i in range(3):
        recent[f"new{i}.txt"] = api.create_commit(
            repo_id, commit_message=f"new {i}", operations=[CommitOperationAdd(f"new{i}.txt", b"n")]).oid

    paths = ["old.txt", "dir", "dir/old.txt", "new0.txt", "new1.txt", "new2.txt"]
    got = {e.path: e for e in api.get_paths_info(repo_id, paths, expand=True)}
    assert set(got) == set(paths)  # every path is answered...
    assert {p: e.last_commit.oid for p, e in got.items() if e.last_commit} == recent  # ...the reachable ones dated
    assert got["old.txt"].last_commit is None and got["dir"].last_commit is None
    assert isinstance(got["old.txt"], RepoFile) and got["old.txt"].size == 1
    tree = {e.path: e for e in api.list_repo_tree(repo_id, expand=True)}
    assert {p: e.last_commit.oid for p, e in tree.items() if e.last_commit} == recent
    assert tree["dir"].last_commit is None and tree[".gitattributes"].last_commit is None
