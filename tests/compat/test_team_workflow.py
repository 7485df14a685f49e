"""A team's workflow across the parts of issue 9, with the real clients against one live server: a webhook is set
up with huggingface_hub; a colleague clones with git, pushes a commit with a Git LFS file, the receiver gets the
signed `repo.content` event naming the ref update; a pull request is opened and merged through the client, and its
events follow in order; the merged file reads back through git and hf_hub_download alike; the approved model goes
into the team's collection."""

from __future__ import annotations

import hashlib
from pathlib import Path

from huggingface_hub import CommitOperationAdd, WebhookPayload, hf_hub_download

from tests.compat.test_webhooks import Receiver
from tests.support.gitcli import Git, repo_url
from tests.support.live import LiveServer


def test_push_pull_request_webhook_and_collection(tmp_path: Path) -> None:
    server = LiveServer(tmp_path / "data", env={"INHOUSE_WEBHOOK_RETRY_BASE_MS": "20",
                                                "INHOUSE_WEBHOOK_RETRY_MAX_S": "1"}).start()
    receiver = Receiver()
    try:
        owner = server.make_user()
        token = server.make_token(owner)
        api = server.api(token)
        repo_id = api.create_repo(f"{owner}/classifier").repo_id
        api.upload_file(path_or_fileobj=b"# classifier\n", path_in_repo="README.md", repo_id=repo_id)
        hook = api.create_webhook(url=receiver.url, watched=[{"type": "model", "name": repo_id}],
                                  domains=["repo", "discussion"], secret="s3cr3t-for-tests")

        # git clone, commit a large file through git-lfs, push
        git = Git(tmp_path / "git", lfs=True)
        work = tmp_path / "work"
        git.run("clone", "-q", repo_url(server, repo_id, token), str(work))
        git.run("lfs", "track", "*.bin", cwd=work)
        weights = bytes(range(256)) * 4096  # 1 MiB
        (work / "model.bin").write_bytes(weights)
        git.run("add", ".", cwd=work)
        git.run("commit", "-q", "-m", "Add weights", cwd=work)
        before = api.repo_info(repo_id).sha
        git.run("push", "-q", "origin", "main", cwd=work)
        pushed = git.out("rev-parse", "HEAD", cwd=work)
        assert api.repo_info(repo_id).sha == pushed != before

        raw = receiver.wait_for(1, repo_id)[0]
        push_event = WebhookPayload.model_validate(raw)
        assert (push_event.event.scope, push_event.event.action) == ("repo.content", "update")
        assert push_event.repo.name == repo_id and raw["repo"]["headSha"] == pushed
        refs = {r.ref: (r.oldSha, r.newSha) for r in push_event.updatedRefs or []}
        assert refs == {"refs/heads/main": (before, pushed)}

        # a pull request through the client, merged; its events follow the push's, in order
        pr = api.create_commit(repo_id, operations=[CommitOperationAdd("labels.txt", b"neg\npos\n")],
                               commit_message="Add labels", create_pr=True)
        assert pr.pr_num is not None
        api.merge_pull_request(repo_id, pr.pr_num)
        assert api.get_discussion_details(repo_id, pr.pr_num).status == "merged"
        events = receiver.wait_for(5, repo_id)
        kinds = [(e["event"]["scope"], e["event"]["action"]) for e in events]
        content, opened, updated = ("repo.content", "update"), ("discussion", "create"), ("discussion", "update")
        # the push; the pull request opened, then its commit on refs/pr/1; the merge (content, then the discussion)
        assert kinds == [content, opened, content, content, updated], kinds
        assert [r["ref"] for r in events[2]["updatedRefs"]] == [f"refs/pr/{pr.pr_num}"]
        assert [r["ref"] for r in events[3]["updatedRefs"]] == ["refs/heads/main"]
        assert events[4]["discussion"]["status"] == "merged" and events[4]["discussion"]["num"] == pr.pr_num
        assert receiver.bad_signatures == 0

        # the merge reads back through git and the client alike
        git.run("pull", "-q", "origin", "main", cwd=work)
        assert (work / "labels.txt").read_bytes() == b"neg\npos\n"
        head = api.repo_info(repo_id).sha
        assert git.out("rev-parse", "HEAD", cwd=work) == head
        got = hf_hub_download(repo_id, "model.bin", token=token, endpoint=server.url,
                              cache_dir=tmp_path / "cache")
        assert hashlib.sha256(Path(got).read_bytes()).digest() == hashlib.sha256(weights).digest()

        # the approved model is published in the team's collection
        collection = api.create_collection("Approved models", namespace=owner)
        api.add_collection_item(collection.slug, item_id=repo_id, item_type="model", note="Merged PR #1")
        items = api.get_collection(collection.slug).items
        assert [(i.item_id, i.note) for i in items] == [(repo_id, "Merged PR #1")]

        api.delete_webhook(hook.id)
    finally:
        receiver.close()
        server.close()
