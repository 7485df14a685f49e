"""A pull request opened by a commit (create_commit(create_pr=True)) is audited as such, with its commit."""

from __future__ import annotations

import json

from huggingface_hub import CommitOperationAdd

from inhouse.storage.db import audit as audit_store


def test_a_pr_opened_by_a_commit_is_recorded_as_a_pull_request(server, api, repo_id):
    api.create_repo(repo_id)
    info = api.create_commit(repo_id, [CommitOperationAdd("x.txt", b"x")], commit_message="Propose x",
                             create_pr=True)
    assert info.pr_num == 1
    with server.stores.db.read() as conn:
        entries = [e for e in audit_store.scan(conn, repo=repo_id) if e["revision"] == "refs/pr/1"]
    actions = [e["action"] for e in entries]
    assert actions == ["pull_request.create", "commit"]
    assert json.loads(entries[0]["details"]) == {"num": 1, "title": "Propose x"}
    assert json.loads(entries[1]["details"])["commit"] == info.oid
