"""Only a pull request's author and users with write access push commits to it (issue 7, finding 7), driven by the
real huggingface_hub client against a live server."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from huggingface_hub.errors import HfHubHTTPError

from inhouse.storage.db import audit as audit_store
from tests.support.live import LiveServer

PR = "refs/pr/1"


def _people(server: LiveServer):  # type: ignore[no-untyped-def]
    """(owner B's api, author A's api, stranger C's api, C's name)."""
    names = [server.make_user() for _ in range(3)]
    owner, author, stranger = (server.api(server.make_token(n, "write")) for n in names)
    return owner, author, stranger, names[2]


def _state(api, repo_id: str) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    refs = api.list_repo_refs(repo_id, include_pull_requests=True)
    head = next(r.target_commit for r in refs.pull_requests if r.ref == PR)
    return head, sorted(api.list_repo_files(repo_id, revision=PR))


def _open_pr(owner, author, repo_id: str, **settings: str) -> None:  # type: ignore[no-untyped-def]
    owner.create_repo(repo_id)
    owner.upload_file(path_or_fileobj=b"base", path_in_repo="base.txt", repo_id=repo_id)
    if settings:
        owner.update_repo_settings(repo_id, **settings)
    info = author.create_commit(repo_id, [CommitOperationAdd("proposal.txt", b"A's idea")],
                                commit_message="A proposes", create_pr=True)
    assert info.pr_revision == PR


def _refused(call) -> HfHubHTTPError:  # type: ignore[no-untyped-def]
    with pytest.raises(HfHubHTTPError) as exc:
        call()
    assert exc.value.response.status_code == 403, exc.value.response.text
    return exc.value


def test_a_stranger_cannot_push_to_someone_elses_pull_request(server: LiveServer):
    owner, author, stranger, _ = _people(server)
    repo_id = f"{owner.whoami()['name']}/r{uuid.uuid4().hex[:8]}"
    _open_pr(owner, author, repo_id)
    before = _state(owner, repo_id)

    # C may propose on B's public repo, but not into A's pull request: an addition, a deletion (no preupload
    # call), and the raw NDJSON call are all refused, and the pull request does not move.
    err = _refused(lambda: stranger.create_commit(repo_id, [CommitOperationAdd("c.txt", b"C was here")],
                                                  commit_message="C pushes", revision=PR))
    assert "open your own pull request" in err.response.headers["X-Error-Message"]
    _refused(lambda: stranger.create_commit(repo_id, [CommitOperationDelete("proposal.txt")],
                                            commit_message="C deletes", revision=PR))
    r = httpx.post(f"{server.url}/api/models/{repo_id}/commit/refs%2Fpr%2F1", timeout=30,
                   headers={"Authorization": f"Bearer {stranger.token}", "Content-Type": "application/x-ndjson"},
                   content=b'{"key":"header","value":{"summary":"raw"}}\n'
                           b'{"key":"deletedFile","value":{"path":"proposal.txt"}}\n')
    assert r.status_code == 403 and r.headers["X-Error-Code"] == "Forbidden"
    assert _state(owner, repo_id) == before
    # C's own pull request is still open to C
    assert stranger.create_commit(repo_id, [CommitOperationAdd("c.txt", b"C's idea")], commit_message="C",
                                  create_pr=True).pr_revision == "refs/pr/2"

    # the author and the repo's owner (a writer) push to it
    mine = author.create_commit(repo_id, [CommitOperationAdd("more.txt", b"A again")], commit_message="A more",
                                revision=PR)
    theirs = owner.create_commit(repo_id, [CommitOperationDelete("proposal.txt")], commit_message="B edits",
                                 revision=PR)
    head, files = _state(owner, repo_id)
    assert head == theirs.oid and files == [".gitattributes", "base.txt", "more.txt"]
    assert [c.commit_id for c in owner.list_repo_commits(repo_id, revision=PR)][:2] == [theirs.oid, mine.oid]
    assert "more.txt" not in owner.list_repo_files(repo_id)  # main is untouched


def test_a_refused_push_to_a_gated_repos_pull_request_is_audited(server: LiveServer):
    owner, author, stranger, stranger_name = _people(server)
    repo_id = f"{owner.whoami()['name']}/r{uuid.uuid4().hex[:8]}"
    _open_pr(owner, author, repo_id, gated="auto")
    before = _state(owner, repo_id)
    _refused(lambda: stranger.create_commit(repo_id, [CommitOperationDelete("proposal.txt")],
                                            commit_message="C deletes", revision=PR))
    assert _state(owner, repo_id) == before
    with server.stores.db.read() as conn:
        denied = [e for e in audit_store.scan(conn, repo=repo_id) if e["outcome"] == "denied"]
    assert [(e["action"], e["actor"], e["revision"]) for e in denied] == [("access.propose", stranger_name, PR)]
    assert json.loads(denied[0]["details"]) == {"error": "Forbidden"}
