"""Concurrent commits to one branch lose nothing, on SQLite and on PostgreSQL.

Eight real clients commit at once (released together by a barrier) to a server running on each backend: without
parentCommit every commit lands on top of the others; with the same stale parentCommit exactly one wins and the
others get 412.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import HfHubHTTPError

from inhouse.storage.db import repos as repo_store
from inhouse.vocabulary import RepoType
from tests.support.live import LiveServer

N = 8


@pytest.fixture
def live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path / "data", database_url=database_url).start()
    yield srv
    srv.close()


def _race(server: LiveServer, token: str, repo_id: str, parent: str | None, tag: str
          ) -> tuple[dict[int, str], dict[int, BaseException]]:
    """Runs N commits at once (file f{i}.txt each); returns {i: commit oid} and {i: error}."""
    apis = [server.api(token) for _ in range(N)]
    barrier = threading.Barrier(N)
    oks: dict[int, str] = {}
    errors: dict[int, BaseException] = {}

    def one(i: int) -> None:
        op = CommitOperationAdd(path_in_repo=f"{tag}/f{i}.txt", path_or_fileobj=f"{tag}-{i}".encode())
        try:
            barrier.wait(30)
            info = apis[i].create_commit(repo_id, operations=[op], commit_message=f"{tag} {i}",
                                         parent_commit=parent)
            oks[i] = info.oid
        except BaseException as e:  # noqa: BLE001 - reported to the test below
            errors[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(N)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    return oks, errors


def test_concurrent_commits_without_parent_all_land(live: LiveServer):
    repo_id, token = live.make_repo()
    api = live.api(token)
    initial = api.repo_info(repo_id).sha
    landed: list[str] = []
    for round_ in range(2):
        oks, errors = _race(live, token, repo_id, None, f"round{round_}")
        assert errors == {}, errors
        assert len(set(oks.values())) == N
        landed += oks.values()

    files = set(api.list_repo_files(repo_id))
    assert {f"round{r}/f{i}.txt" for r in range(2) for i in range(N)} <= files
    history = [c.commit_id for c in api.list_repo_commits(repo_id)]
    assert len(history) == 2 * N + 1 and history[-1] == initial
    assert set(landed) == set(history[:-1])
    # history is one line: every commit's single parent is the one before it (nothing was overwritten)
    ns, name = repo_id.split("/")
    with live.stores.db.read() as conn:
        for newer, older in zip(history, history[1:]):
            assert live.stores.objects.commit(conn, newer).parents == (older,)
        repo, _ = repo_store.find_repo(conn, RepoType.MODEL, ns, name)  # type: ignore[misc]
        assert repo_store.get_ref(conn, repo.id, "refs/heads/main") == history[0]
    for r in range(2):
        for i in range(N):
            got = api.hf_hub_download(repo_id, f"round{r}/f{i}.txt", cache_dir=str(live.data_dir.parent / "c"))
            assert Path(got).read_bytes() == f"round{r}-{i}".encode()


def test_concurrent_commits_on_the_same_parent_exactly_one_wins(live: LiveServer):
    repo_id, token = live.make_repo()
    api = live.api(token)
    head = api.repo_info(repo_id).sha
    assert head is not None
    oks, errors = _race(live, token, repo_id, head, "race")
    assert len(oks) == 1, (oks, errors)
    assert len(errors) == N - 1
    for e in errors.values():
        assert isinstance(e, HfHubHTTPError) and e.response.status_code == 412, repr(e)
        assert "The branch was updated since you opened this page" in str(e)
    (winner, oid), = oks.items()
    assert api.repo_info(repo_id).sha == oid
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", f"race/f{winner}.txt"]
    assert [c.commit_id for c in api.list_repo_commits(repo_id)] == [oid, head]
