"""Pull requests and discussions to the end, through huggingface_hub's HfApi against a live server (SQLite and
PostgreSQL): comments (edit, hide), rename, close/reopen, draft pull requests and publishing them, merges
(fast-forward, a merge commit, a line-by-line merge, a conflict refused naming the files), the diff, attachments;
who may do what; "not found" alike for missing and invisible repos; the audit log records each."""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
import warnings

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from inhouse.services.discussions import MAX_COMMENT_CHARS
from inhouse.storage.db import audit as audit_store
from inhouse.storage.db import discussions as disc_store
from inhouse.storage.db import repos as repo_store
from inhouse.vocabulary import RepoType
from inhouse.storage.git.objects import blob_sha
from tests.support.live import LiveServer

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def _actions(server: LiveServer, repo_id: str) -> list[tuple[str, dict]]:
    with server.stores.db.read() as conn:
        return [(e["action"], json.loads(e["details"])) for e in audit_store.scan(conn, repo=repo_id)]


def _repo_row(live: LiveServer, repo_id: str) -> int:
    with live.stores.db.read() as conn:
        found = repo_store.find_repo(conn, RepoType.MODEL, *repo_id.split("/"))
    assert found is not None
    return found[0].id


def _status(exc: pytest.ExceptionInfo[HfHubHTTPError]) -> int:
    assert exc.value.response is not None
    return exc.value.response.status_code


def _read(api, repo_id: str, path: str, revision: str = "main") -> bytes:  # type: ignore[no-untyped-def]
    url = f"{api.endpoint}/{repo_id}/resolve/{revision}/{path}"
    r = httpx.get(url, headers={"authorization": f"Bearer {api.token}"}, follow_redirects=True, timeout=30)
    r.raise_for_status()
    return r.content


@pytest.fixture(params=["server", "pg_server"])
def live(request: pytest.FixtureRequest) -> LiveServer:
    """The same tests on SQLite and on PostgreSQL."""
    srv: LiveServer = request.getfixturevalue(request.param)
    return srv


@pytest.fixture
def team(live: LiveServer):  # type: ignore[no-untyped-def]
    """A repo owned by `owner` (write token), with a README on main; `guest` is another user (write token, no
    role on the repo); `reader` has a read token."""
    owner = live.make_user()
    guest = live.make_user()
    out = {"owner": live.api(live.make_token(owner)), "guest": live.api(live.make_token(guest)),
           "reader": live.api(live.make_token(guest, "read")), "anon": live.api(None),
           "owner_name": owner, "guest_name": guest, "repo": f"{owner}/r{uuid.uuid4().hex[:8]}"}
    out["owner"].create_repo(out["repo"])
    out["owner"].upload_file(path_or_fileobj=b"line 1\nline 2\nline 3\n", path_in_repo="README.md",
                             repo_id=out["repo"])
    return out


def test_a_discussion_from_comment_to_close(live: LiveServer, team) -> None:  # type: ignore[no-untyped-def]
    owner, guest, repo = team["owner"], team["guest"], team["repo"]
    d = guest.create_discussion(repo, title="Question about the card", description="Is it **right**?")
    assert d.status == "open" and not d.is_pull_request

    c = guest.comment_discussion(repo, d.num, "First *comment* <b>raw</b>")
    assert (c.type, c.content, c.author, c.edited, c.hidden) == ("comment", "First *comment* <b>raw</b>",
                                                                  team["guest_name"], False, False)
    edited = guest.edit_discussion_comment(repo, d.num, c.id, "Edited comment")
    assert (edited.id, edited.content, edited.edited, edited.number_of_edits) == (c.id, "Edited comment", True, 1)
    assert edited.edit_history[0]["raw"] == "First *comment* <b>raw</b>"
    assert edited.last_edited_by == team["guest_name"]

    rename = guest.rename_discussion(repo, d.num, "  A better title  ")
    assert (rename.type, rename.old_title, rename.new_title) == ("title-change", "Question about the card",
                                                                 "A better title")
    other = owner.comment_discussion(repo, d.num, "Owner's answer")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        hidden = owner.hide_discussion_comment(repo, d.num, c.id)  # a writer hides someone else's comment
    assert hidden.hidden and hidden.content != "Edited comment"

    closed = owner.change_discussion_status(repo, d.num, "closed", comment="Answered, closing.")
    assert (closed.type, closed.new_status) == ("status-change", "closed")
    reopened = guest.change_discussion_status(repo, d.num, "open")  # the author reopens it
    assert reopened.new_status == "open"

    details = owner.get_discussion_details(repo, d.num)
    assert details.title == "A better title" and details.status == "open"
    kinds = [(e.type, getattr(e, "content", None) or getattr(e, "new_status", None) or getattr(e, "new_title", None))
             for e in details.events]
    assert kinds == [("comment", "Is it **right**?"), ("comment", "This comment has been hidden"),
                     ("title-change", "A better title"), ("comment", "Owner's answer"),
                     ("comment", "Answered, closing."), ("status-change", "closed"), ("status-change", "open")]
    assert not any("Edited comment" in json.dumps(e._event) for e in details.events)  # hidden for good
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        owner.hide_discussion_comment(repo, d.num, details.events[0].id)  # the opening comment
    with live.stores.db.read() as conn:
        row = disc_store.get_discussion(conn, _repo_row(live, repo), d.num)
    assert row is not None and "right" not in row.description
    assert other.id in {e.id for e in details.events}
    listed = httpx.get(f"{live.url}/api/models/{repo}/discussions").json()
    assert listed["discussions"][0]["numComments"] == 4 and listed["numClosedDiscussions"] == 0

    actions = [(a, det.get("num"), det.get("status")) for a, det in _actions(live, repo)
               if a.startswith("discussion.")]
    assert actions == [("discussion.create", 1, None), ("discussion.comment", 1, None),
                       ("discussion.comment.edit", 1, None), ("discussion.rename", 1, None),
                       ("discussion.comment", 1, None), ("discussion.comment.hide", 1, None),
                       ("discussion.comment", 1, None), ("discussion.status", 1, "closed"),
                       ("discussion.status", 1, "open"), ("discussion.comment.hide", 1, None)]


def test_who_may_change_what(live: LiveServer, team) -> None:  # type: ignore[no-untyped-def]
    owner, guest, repo = team["owner"], team["guest"], team["repo"]
    stranger = live.api(live.make_token(live.make_user()))
    d = owner.create_discussion(repo, title="Owner's topic")
    c = owner.comment_discussion(repo, d.num, "owner says")
    mine = guest.comment_discussion(repo, d.num, "guest says")

    refusals = {
        "edit someone else's comment": lambda: guest.edit_discussion_comment(repo, d.num, c.id, "hijack"),
        "hide someone else's comment": lambda: guest.hide_discussion_comment(repo, d.num, c.id),
        "rename someone else's discussion": lambda: stranger.rename_discussion(repo, d.num, "Renamed by stranger"),
        "close someone else's discussion": lambda: stranger.change_discussion_status(repo, d.num, "closed"),
        "a writer edits another's comment": lambda: owner.edit_discussion_comment(repo, d.num, mine.id, "x"),
        "read token comments": lambda: team["reader"].comment_discussion(repo, d.num, "hello"),
    }
    for what, call in refusals.items():
        with warnings.catch_warnings(), pytest.raises(HfHubHTTPError) as exc:
            warnings.simplefilter("ignore", UserWarning)
            call()
        assert _status(exc) == 403, what
    with pytest.raises(HfHubHTTPError) as exc:
        team["anon"].comment_discussion(repo, d.num, "hello")
    assert _status(exc) == 401

    bad = {
        "too long": lambda: guest.comment_discussion(repo, d.num, "x" * (MAX_COMMENT_CHARS + 1)),
        "empty": lambda: guest.comment_discussion(repo, d.num, "   "),
        "short title": lambda: owner.rename_discussion(repo, d.num, "ab"),
        "a merge of a discussion": lambda: owner.merge_pull_request(repo, d.num),
    }
    for what, call in bad.items():
        with pytest.raises(HfHubHTTPError) as exc:
            call()
        assert _status(exc) == 400, what
    assert "limit is 65536" in str(_too_long(guest, repo, d.num))
    with pytest.raises(HfHubHTTPError) as exc:
        guest.comment_discussion(repo, 99, "no such discussion")
    assert _status(exc) == 404

    details = owner.get_discussion_details(repo, d.num)
    assert [e.content for e in details.events if e.type == "comment"][1:] == ["owner says", "guest says"]
    assert details.title == "Owner's topic" and details.status == "open"


def _too_long(api, repo: str, num: int) -> HfHubHTTPError:  # type: ignore[no-untyped-def]
    try:
        api.comment_discussion(repo, num, "x" * (MAX_COMMENT_CHARS + 1))
    except HfHubHTTPError as e:
        return e
    raise AssertionError("a too-long comment was accepted")


def test_missing_and_invisible_repos_answer_alike(live: LiveServer) -> None:
    private, owner_token = live.make_repo(private=True)
    owner = live.api(owner_token)
    d = owner.create_discussion(private, title="Private topic")
    stranger = live.api(live.make_token(live.make_user()))
    missing = f"{private}-missing"
    calls = [
        lambda r: stranger.comment_discussion(r, d.num, "hi"),
        lambda r: stranger.rename_discussion(r, d.num, "New title"),
        lambda r: stranger.change_discussion_status(r, d.num, "closed"),
        lambda r: stranger.merge_pull_request(r, d.num),
        lambda r: stranger.edit_discussion_comment(r, d.num, "1", "x"),
        lambda r: stranger.get_discussion_details(r, d.num),
    ]
    for call in calls:
        answers = []
        for repo in (private, missing):
            with pytest.raises(RepositoryNotFoundError) as exc:
                call(repo)
            r = exc.value.response
            answers.append((r.status_code, r.headers.get("x-error-code"), r.headers.get("x-error-message")))
        assert answers[0] == answers[1] and answers[0][0] == 404
    assert owner.get_discussion_details(private, d.num).title == "Private topic"


def test_a_draft_pull_request_published_and_fast_forwarded(  # type: ignore[no-untyped-def]
        live: LiveServer, team) -> None:
    owner, guest, repo = team["owner"], team["guest"], team["repo"]
    pr = guest.create_pull_request(repo, title="Add a config")
    assert (pr.status, pr.is_pull_request, pr.target_branch) == ("draft", True, "refs/heads/main")
    guest.create_commit(repo, [CommitOperationAdd("config.json", b'{"a": 1}\n')], commit_message="Add config",
                        revision=pr.git_reference)
    with pytest.raises(HfHubHTTPError) as exc:
        owner.merge_pull_request(repo, pr.num)
    assert _status(exc) == 409 and "draft" in str(exc.value)
    for who, status in (("guest", 403), ("reader", 403), ("anon", 401)):  # its author has no write access
        with pytest.raises(HfHubHTTPError) as exc:
            team[who].merge_pull_request(repo, pr.num)
        assert _status(exc) == status, who

    published = guest.change_discussion_status(repo, pr.num, "open")
    assert published.new_status == "open"
    details = owner.get_discussion_details(repo, pr.num)
    short = blob_sha(b'{"a": 1}\n')[:7]
    assert details.diff == ('diff --git a/config.json b/config.json\nnew file mode 100644\n'
                            f'index 0000000..{short}\n--- /dev/null\n'
                            '+++ b/config.json\n@@ -0,0 +1 @@\n+{"a": 1}\n')
    assert details.conflicting_files == []
    head = _ref(owner, repo, "refs/pr/1")
    owner.merge_pull_request(repo, pr.num, comment="Thanks!")
    merged = owner.get_discussion_details(repo, pr.num)
    assert merged.status == "merged" and merged.merge_commit_oid == head
    assert _ref(owner, repo, "refs/heads/main") == head  # a fast-forward
    assert _read(owner, repo, "config.json") == b'{"a": 1}\n'
    assert [(e.type, getattr(e, "new_status", None)) for e in merged.events][-2:] == [("comment", None),
                                                                                      ("status-change", "merged")]
    assert "config.json" in merged.diff  # still shows what it changed
    assert ("pull_request.merge", {"num": 1, "commit": head}) in [
        (a, {k: det[k] for k in ("num", "commit")}) for a, det in _actions(live, repo) if a == "pull_request.merge"]

    with pytest.raises(HfHubHTTPError) as exc:
        owner.merge_pull_request(repo, pr.num)
    assert _status(exc) == 409 and "already merged" in str(exc.value)
    with pytest.raises(HfHubHTTPError) as exc:
        owner.change_discussion_status(repo, pr.num, "closed")
    assert _status(exc) == 409


def test_a_merge_commit_and_a_conflict(live: LiveServer, team) -> None:  # type: ignore[no-untyped-def]
    owner, guest, repo = team["owner"], team["guest"], team["repo"]
    owner.upload_file(path_or_fileobj=b"a\n", path_in_repo="dir/keep.txt", repo_id=repo)
    notes = b"".join(b"note %d\n" % i for i in range(10))
    owner.upload_file(path_or_fileobj=notes, path_in_repo="notes.txt", repo_id=repo)
    # PR 1 changes README and notes and adds a file; PR 2 changes README differently
    one = guest.create_commit(repo, [CommitOperationAdd("README.md", b"line 1\nline 2 from the PR\nline 3\n"),
                                     CommitOperationAdd("notes.txt", notes.replace(b"note 1\n", b"note one\n")),
                                     CommitOperationAdd("dir/new.txt", b"new\n")],
                              commit_message="PR one", create_pr=True)
    two = guest.create_commit(repo, [CommitOperationAdd("README.md", b"other\n"),
                                     CommitOperationDelete("dir/keep.txt")],
                              commit_message="PR two", create_pr=True)
    assert owner.get_discussion_details(repo, one.pr_num).status == "open"  # create_pr=True PRs are open
    # main moves on: a file the PRs do not touch, and other lines of notes.txt
    owner.create_commit(repo, [CommitOperationAdd("other.txt", b"main moved\n"),
                               CommitOperationAdd("notes.txt", notes.replace(b"note 8\n", b"note eight\n"))],
                        commit_message="main moves on")
    base = _ref(owner, repo, "refs/heads/main")
    owner.merge_pull_request(repo, one.pr_num)
    main = _ref(owner, repo, "refs/heads/main")
    with live.stores.db.read() as conn:
        commit = live.stores.objects.commit(conn, main)
    assert commit.parents == (base, one.oid)  # a merge commit with two parents
    assert _read(owner, repo, "README.md") == b"line 1\nline 2 from the PR\nline 3\n"
    assert _read(owner, repo, "other.txt") == b"main moved\n"
    assert _read(owner, repo, "dir/new.txt") == b"new\n"
    assert _read(owner, repo, "notes.txt") == notes.replace(b"note 1\n", b"note one\n").replace(
        b"note 8\n", b"note eight\n")  # merged line by line
    assert sorted(owner.list_repo_files(repo)) == [".gitattributes", "README.md", "dir/keep.txt", "dir/new.txt",
                                                    "notes.txt", "other.txt"]

    details = owner.get_discussion_details(repo, two.pr_num)
    assert details.conflicting_files == ["README.md"]
    assert "-line 1\n-line 2\n-line 3\n+other\n" in details.diff
    assert "diff --git a/dir/keep.txt b/dir/keep.txt\ndeleted file mode 100644" in details.diff
    with pytest.raises(HfHubHTTPError) as exc:
        owner.merge_pull_request(repo, two.pr_num)
    assert _status(exc) == 409 and "README.md" in str(exc.value)
    assert owner.get_discussion_details(repo, two.pr_num).status == "open"
    assert _ref(owner, repo, "refs/heads/main") == main  # nothing moved

    owner.change_discussion_status(repo, two.pr_num, "closed")
    with pytest.raises(HfHubHTTPError) as exc:
        owner.merge_pull_request(repo, two.pr_num)
    assert _status(exc) == 409 and "closed" in str(exc.value)


def test_attachments(live: LiveServer, team) -> None:  # type: ignore[no-untyped-def]
    owner, repo = team["owner"], team["repo"]
    path = live.data_dir.parent / f"shot-{uuid.uuid4().hex[:6]}.png"
    path.write_bytes(PNG)
    url = owner.upload_attachment(path)
    assert url.startswith(f"{live.url}/uploads/") and url.endswith(".png")
    d = owner.create_discussion(repo, title="Rendering bug", description=f"![screenshot]({url})")
    assert url in d.events[0].content
    got = httpx.get(url, headers={"authorization": f"Bearer {owner.token}"})
    assert (got.status_code, got.content, got.headers["content-type"]) == (200, PNG, "image/png")
    assert httpx.get(url).status_code == 401  # not public

    for who, status in (("reader", 403), ("anon", 401)):
        with pytest.raises(HfHubHTTPError) as exc:
            team[who].upload_attachment(path)
        assert _status(exc) == status
    fake = path.with_suffix(".gif")
    fake.write_bytes(PNG)
    with pytest.raises(HfHubHTTPError) as exc:
        owner.upload_attachment(fake)
    assert _status(exc) == 400 and "image/gif" in str(exc.value)
    headers = {"authorization": f"Bearer {owner.token}", "content-type": "image/png"}
    big = live.settings.attachment_max_bytes + 1
    r = httpx.post(f"{live.url}/uploads", headers=headers, content=PNG + b"\0" * (big - len(PNG)), timeout=60)
    assert r.status_code == 413

    def chunks():  # type: ignore[no-untyped-def]
        yield PNG
        for _ in range(big // (1 << 20) + 1):
            yield b"\0" * (1 << 20)
    r = httpx.post(f"{live.url}/uploads", headers=headers, content=chunks(), timeout=60)  # no Content-Length
    assert r.status_code == 413
    with live.stores.db.read() as conn:
        uploads = [e for e in audit_store.scan(conn) if e["action"] == "attachment.upload"
                   and e["actor"] == team["owner_name"]]
    assert [json.loads(e["details"])["file"] for e in uploads] == [url.rsplit("/", 1)[1]]


def _ref(api, repo: str, ref: str) -> str:  # type: ignore[no-untyped-def]
    refs = api.list_repo_refs(repo, include_pull_requests=True)
    for r in list(refs.branches) + list(refs.pull_requests or []):
        if r.ref == ref:
            return str(r.target_commit)
    raise AssertionError(f"no {ref}")



def test_a_large_file_shows_as_its_pointer_and_merges(  # type: ignore[no-untyped-def]
        live: LiveServer, team, tmp_path) -> None:
    from huggingface_hub import hf_hub_download

    owner, guest, repo = team["owner"], team["guest"], team["repo"]
    data = uuid.uuid4().bytes * 4096  # 64 KiB; *.bin goes through the large-file path (.gitattributes)
    pr = guest.create_commit(repo, [CommitOperationAdd("weights.bin", data)], commit_message="Add weights",
                             create_pr=True)
    text = owner.get_discussion_details(repo, pr.pr_num).diff
    oid = hashlib.sha256(data).hexdigest()
    assert text.endswith("--- /dev/null\n+++ b/weights.bin\n@@ -0,0 +1,3 @@\n"
                         f"+version https://git-lfs.github.com/spec/v1\n+oid sha256:{oid}\n+size {len(data)}\n")
    owner.merge_pull_request(repo, pr.pr_num)
    got = hf_hub_download(repo, "weights.bin", endpoint=live.url, token=owner.token, cache_dir=tmp_path)
    assert open(got, "rb").read() == data


def test_a_merge_racing_commits_loses_nothing(live: LiveServer, team) -> None:  # type: ignore[no-untyped-def]
    owner, guest, repo = team["owner"], team["guest"], team["repo"]
    pr = guest.create_commit(repo, [CommitOperationAdd("from-pr.txt", b"pr\n")], commit_message="PR",
                             create_pr=True)
    n = 4
    barrier = threading.Barrier(n + 1)
    errors: list[BaseException] = []

    def commit(i: int) -> None:
        api = live.api(owner.token)
        barrier.wait()
        try:
            api.upload_file(path_or_fileobj=f"{i}\n".encode(), path_in_repo=f"c{i}.txt", repo_id=repo)
        except BaseException as e:  # reported below
            errors.append(e)

    def merge() -> None:
        barrier.wait()
        try:
            live.api(owner.token).merge_pull_request(repo, pr.pr_num)
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(n)] + [threading.Thread(target=merge)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {f"c{i}.txt" for i in range(n)} | {"from-pr.txt", "README.md"} <= set(owner.list_repo_files(repo))
    assert _read(owner, repo, "from-pr.txt") == b"pr\n"
    assert owner.get_discussion_details(repo, pr.pr_num).status == "merged"
