"""Webhooks through the real huggingface_hub client (create_webhook … delete_webhook) against a live server, and
their deliveries to a receiver this test runs on loopback: it checks the Hub's X-Webhook-Secret header and the
HMAC-SHA256 signature of every body, parses each payload with huggingface_hub's own WebhookPayload model, and
counts. A receiver that fails for a while, or a server restarted meanwhile, still gets every event, in order per
repo; a private repo's events stop once the webhook's owner loses access to it."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import WebhookPayload
from huggingface_hub.errors import HfHubHTTPError

from inhouse.services import orgs
from inhouse.vocabulary import Role
from tests.support.live import LiveServer, drop_pg_database, new_pg_database

SECRET = "s3cr3t-for-tests"
SLOW_S = 2.5  # longer than the 1 s timeout of the slow-receiver test's server
WAIT_S = 60.0  # how long a test waits for deliveries it expects (a deadline, not a speed assertion)
FAST_RETRIES = {"INHOUSE_WEBHOOK_RETRY_BASE_MS": "20", "INHOUSE_WEBHOOK_RETRY_MAX_S": "1",
                "INHOUSE_WEBHOOK_TIMEOUT_S": "5", "INHOUSE_WEBHOOK_MAX_ATTEMPTS": "1000"}


class Receiver:
    """An HTTP receiver on 127.0.0.1 that answers `fail_status` while `failing` (or for the next `fail_next`
    requests), checks the secret header and signature of each request and keeps the payloads it accepted."""

    def __init__(self, secret: str | None = SECRET):
        self.secret = secret
        self.lock = threading.Lock()
        self.accepted: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.refused = 0
        self.bad_signatures = 0
        self.failing = False
        self.fail_next = 0
        self.slow_next = 0  # requests answered only after SLOW_S (later than the server waits)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    fail = receiver.failing or receiver.fail_next > 0
                    if receiver.fail_next > 0:
                        receiver.fail_next -= 1
                    if not receiver.signed(self.headers, body):
                        receiver.bad_signatures += 1
                    if fail:
                        receiver.refused += 1
                    else:
                        receiver.accepted.append(json.loads(body))
                        receiver.headers.append(dict(self.headers))
                with receiver.lock:
                    slow = receiver.slow_next > 0
                    receiver.slow_next -= 1 if slow else 0
                if slow:
                    time.sleep(SLOW_S)
                self.send_response(503 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def signed(self, headers: Any, body: bytes) -> bool:
        if self.secret is None:
            return "X-Webhook-Secret" not in headers and "X-Inhouse-Signature-256" not in headers
        expected = "sha256=" + hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
        return (headers.get("X-Webhook-Secret") == self.secret
                and hmac.compare_digest(headers.get("X-Inhouse-Signature-256", ""), expected))

    def events(self, repo: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [p for p in self.accepted if repo is None or p["repo"]["name"] == repo]

    def wait_for(self, count: int, repo: str | None = None) -> list[dict[str, Any]]:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            found = self.events(repo)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"expected {count} deliveries{f' for {repo}' if repo else ''}, got "
                             f"{len(self.events(repo))}: {[e['event'] for e in self.events(repo)]}")

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server per backend for the module (the queues take a lock of their own on PostgreSQL)."""
    url = new_pg_database() if request.param == "postgresql" else ""
    server = LiveServer(tmp_path_factory.mktemp("webhooks") / "data", database_url=url, env=FAST_RETRIES)
    try:
        yield server.start()
    finally:
        server.close()
        if url:
            drop_pg_database(url)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def call(server: LiveServer, method: str, path: str, token: str | None, body: Any = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(method, server.url + path, headers=headers, json=body, timeout=30)


def wait_until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def log_of(server: LiveServer, token: str, hook_id: str, **query: Any) -> list[dict[str, Any]]:
    r = call(server, "GET", f"/api/settings/webhooks/{hook_id}/deliveries?"
             + "&".join(f"{k}={v}" for k, v in query.items()), token)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()
    return found


def commit(api: Any, repo_id: str, path: str, data: bytes) -> str:
    info = api.upload_file(path_or_fileobj=data, path_in_repo=path, repo_id=repo_id, commit_message=path)
    return str(info.oid)


# CRUD --------------------------------------------------------------------------------------------------------------

def test_webhook_crud_through_the_client(srv: LiveServer) -> None:
    user = srv.make_user()
    token = srv.make_token(user)
    api = srv.api(token)
    repo_id = f"{user}/watched"
    api.create_repo(repo_id)

    hook = api.create_webhook(url="https://ci.example.com/hooks/a", watched=[{"type": "user", "name": user}],
                              secret="first")
    assert (hook.url, hook.secret, hook.disabled, hook.job) == ("https://ci.example.com/hooks/a", "first", False, None)
    assert sorted(hook.domains) == ["discussion", "repo"]  # the client's default: both
    assert [(w.type, w.name) for w in hook.watched] == [("user", user)]

    again = api.get_webhook(hook.id)
    assert again == hook
    other = api.create_webhook(url="http://10.0.0.7:8080/x", watched=[{"type": "model", "name": repo_id}],
                               domains=["discussion"])
    assert other.secret is None and other.domains == ["discussion"]
    assert sorted(h.id for h in api.list_webhooks()) == sorted([hook.id, other.id])

    # update: what is given changes; the client sends "watched": [] when its caller leaves it out: kept
    changed = api.update_webhook(hook.id, url="https://ci.example.com/hooks/b", domains=["repo"], secret="second")
    assert (changed.url, changed.domains, changed.secret) == ("https://ci.example.com/hooks/b", ["repo"], "second")
    assert [(w.type, w.name) for w in changed.watched] == [("user", user)]
    rewatched = api.update_webhook(hook.id, watched=[{"type": "model", "name": repo_id}])
    assert [(w.type, w.name) for w in rewatched.watched] == [("model", repo_id)]
    assert rewatched.url == "https://ci.example.com/hooks/b"

    assert api.disable_webhook(hook.id).disabled is True
    assert api.get_webhook(hook.id).disabled is True
    assert api.enable_webhook(hook.id).disabled is False

    # another user's webhook looks missing; a read token may not manage webhooks; anonymous is told to log in
    stranger = srv.api(srv.make_token(srv.make_user()))
    with pytest.raises(HfHubHTTPError) as err:
        stranger.get_webhook(hook.id)
    assert err.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as err:
        stranger.delete_webhook(hook.id)
    assert err.value.response.status_code == 404
    assert stranger.list_webhooks() == []
    with pytest.raises(HfHubHTTPError) as err:
        srv.api(srv.make_token(user, "read")).list_webhooks()
    assert err.value.response.status_code == 403
    assert call(srv, "GET", "/api/settings/webhooks", None).status_code == 401

    api.delete_webhook(hook.id)
    with pytest.raises(HfHubHTTPError) as err:
        api.get_webhook(hook.id)
    assert err.value.response.status_code == 404
    assert [h.id for h in api.list_webhooks()] == [other.id]

    # audited, without the secret
    from inhouse.storage.db import audit as audit_store

    with srv.stores.db.read() as conn:
        rows = [r for r in audit_store.scan(conn, after_seq=0, batch=100000) if r["actor"] == user]
    actions = [r["action"] for r in rows if r["action"].startswith("webhook.")]
    assert actions == ["webhook.create", "webhook.create", "webhook.update", "webhook.update", "webhook.disable",
                       "webhook.enable", "webhook.delete"]
    assert not any("second" in r["details"] or "first" in r["details"] for r in rows)


def test_webhook_input_is_validated(srv: LiveServer) -> None:
    user = srv.make_user()
    token = srv.make_token(user)
    api = srv.api(token)
    watched = [{"type": "user", "name": user}]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"url": "ftp://x.example.com/", "watched": watched, "domains": ["repo"]}, "http"),
        ({"url": "http://user:pw@x.example.com/", "watched": watched, "domains": ["repo"]}, "password"),
        ({"url": "https://x.example.com/" + "a" * 3000, "watched": watched, "domains": ["repo"]}, "longer"),
        ({"url": "https://x.example.com/", "watched": [], "domains": ["repo"]}, "watched"),
        ({"url": "https://x.example.com/", "watched": [{"type": "bucket", "name": "b"}], "domains": ["repo"]},
         "type"),
        ({"url": "https://x.example.com/", "watched": watched * 101, "domains": ["repo"]}, "at most"),
        ({"url": "https://x.example.com/", "watched": watched, "domains": ["everything"]}, "domains"),
        ({"url": "https://x.example.com/", "watched": watched, "domains": ["repo"], "secret": "a\nb"}, "secret"),
        ({"jobSourceId": "123", "watched": watched, "domains": ["repo"]}, "Job"),
    ]
    for body, word in bad:
        r = call(srv, "POST", "/api/settings/webhooks", token, body)
        assert r.status_code == 400 and word in r.json()["error"], (body, r.text)
    # a repo nobody may see and one that does not exist are refused alike
    owner = srv.make_user()
    hidden = f"{owner}/secret-thing"
    srv.api(srv.make_token(owner)).create_repo(hidden, private=True)
    answers = []
    for name in (hidden, f"{owner}/missing-thing"):
        r = call(srv, "POST", "/api/settings/webhooks", token,
                 {"url": "https://x.example.com/", "watched": [{"type": "model", "name": name}], "domains": ["repo"]})
        answers.append((r.status_code, r.json()["error"].replace(name, "NAME")))
    assert answers[0] == answers[1] and answers[0][0] == 404
    assert api.list_webhooks() == []


# deliveries --------------------------------------------------------------------------------------------------------

def test_events_are_delivered_signed_and_parse_as_the_hub_sends_them(srv: LiveServer, receiver: Receiver) -> None:
    user = srv.make_user()
    token = srv.make_token(user)
    api = srv.api(token)
    repo_id = f"{user}/events"
    hook = api.create_webhook(url=receiver.url, watched=[{"type": "user", "name": user}], secret=SECRET)

    api.create_repo(repo_id)
    sha = commit(api, repo_id, "a.txt", b"one")
    api.create_branch(repo_id, branch="dev")
    api.create_tag(repo_id, tag="v1")
    api.update_repo_settings(repo_id, private=True)
    disc = api.create_discussion(repo_id, title="Question", description="why?")
    moved = f"{user}/events-moved"
    api.move_repo(repo_id, moved)
    api.delete_repo(moved)

    got = receiver.wait_for(8)
    assert receiver.bad_signatures == 0
    assert [(p["event"]["scope"], p["event"]["action"]) for p in got] == [
        ("repo", "create"), ("repo.content", "update"), ("repo.content", "update"), ("repo.content", "update"),
        ("repo.config", "update"), ("discussion", "create"), ("repo", "move"), ("repo", "delete")]
    parsed = [WebhookPayload.model_validate(p) for p in got]
    assert all(p.webhook.id == hook.id and p.webhook.version == 3 for p in parsed)
    assert got[1]["updatedRefs"][0]["ref"] == "refs/heads/main" and got[1]["updatedRefs"][0]["newSha"] == sha
    assert got[1]["repo"]["headSha"] == sha
    assert got[2]["updatedRefs"] == [{"ref": "refs/heads/dev", "newSha": sha}]
    assert got[3]["updatedRefs"] == [{"ref": "refs/tags/v1", "newSha": sha}]
    assert got[4]["updatedConfig"] == {"private": True} and got[4]["repo"]["private"] is True
    assert got[5]["discussion"]["num"] == disc.num and got[5]["discussion"]["title"] == "Question"
    assert got[5]["discussion"]["isPullRequest"] is False and got[5]["discussion"]["status"] == "open"
    assert got[6]["movedTo"]["name"] == moved and got[6]["repo"]["name"] == repo_id
    assert all(p["repo"]["name"] in (repo_id, moved) and p["repo"]["type"] == "model" for p in got)
    assert got[0]["repo"]["url"]["web"].endswith(f"/{repo_id}")
    # the delivery log: newest first, each delivered once with the receiver's status, and its payload
    # the receiver's answer is recorded just after it was sent
    wait_until(lambda: [e["status"] for e in log_of(srv, token, hook.id)] == ["delivered"] * 8, "the log")
    entries = log_of(srv, token, hook.id)
    assert [e["event"] for e in reversed(entries)] == [f"{p['event']['scope']}.{p['event']['action']}" for p in got]
    assert all(e["attempts"] == 1 and e["responseStatus"] == 200 for e in entries)
    assert [e["payload"] for e in reversed(entries)] == got
    assert [h["X-Inhouse-Delivery"] for h in receiver.headers] == [e["id"] for e in reversed(entries)]
    assert log_of(srv, token, hook.id, limit=2, before=entries[1]["id"]) == entries[2:4]

    # resend: a delivered event is queued again, as a new delivery
    again = call(srv, "POST", f"/api/settings/webhooks/{hook.id}/deliveries/{entries[-1]['id']}/resend", token)
    assert again.status_code == 200, again.text
    assert receiver.wait_for(9)[-1] == got[0]


def test_domains_and_watched_items_select_events(srv: LiveServer, receiver: Receiver) -> None:
    user = srv.make_user()
    token = srv.make_token(user)
    api = srv.api(token)
    one, two = f"{user}/one", f"{user}/two"
    api.create_repo(one)
    api.create_repo(two)
    api.create_webhook(url=receiver.url, watched=[{"type": "model", "name": one}], domains=["discussion"],
                       secret=SECRET)
    disabled = api.create_webhook(url=receiver.url, watched=[{"type": "user", "name": user}], secret=SECRET)
    api.disable_webhook(disabled.id)
    commit(api, one, "x.txt", b"x")  # repo domain: not watched by the first; the second is disabled
    api.create_discussion(two, title="elsewhere")  # another repo
    api.create_discussion(one, title="here")
    got = receiver.wait_for(1)
    assert [(p["event"]["scope"], p["discussion"]["title"]) for p in got] == [("discussion", "here")]
    assert log_of(srv, token, disabled.id) == []  # a disabled webhook gets nothing written


def test_a_receiver_failing_for_a_while_gets_every_event_in_order_across_a_restart(tmp_path: Path) -> None:
    receiver = Receiver()
    server = LiveServer(tmp_path / "data", env=FAST_RETRIES).start()
    try:
        user = server.make_user()
        token = server.make_token(user)
        api = server.api(token)
        repos = [f"{user}/a", f"{user}/b"]
        for r in repos:
            api.create_repo(r)
        hook = api.create_webhook(url=receiver.url, watched=[{"type": "user", "name": user}], domains=["repo"],
                                  secret=SECRET)
        receiver.failing = True
        shas: dict[str, list[str]] = {r: [] for r in repos}
        for i in range(4):
            for r in repos:
                shas[r].append(commit(api, r, f"f{i}.txt", f"{r}{i}".encode()))
        wait_until(lambda: receiver.refused >= 6, "several refused attempts")
        server.stop()  # the server goes away while deliveries wait: the rows are the truth
        for r in repos:
            shas[r].append(commit_offline(server, r, token))
        server.start()
        api = server.api(token)
        for r in repos:
            shas[r].append(commit(api, r, "after.txt", r.encode()))
        wait_until(lambda: receiver.refused >= 10, "refusals after the restart")
        receiver.failing = False
        for r in repos:
            got = receiver.wait_for(6, r)
            assert [p["updatedRefs"][0]["newSha"] for p in got] == shas[r], r
        assert receiver.bad_signatures == 0
        assert len(receiver.events()) == 12  # each once: none lost, none doubled
        wait_until(lambda: {e["status"] for e in log_of(server, token, hook.id, limit=50)} == {"delivered"},
                   "the log to record every delivery")
        entries = log_of(server, token, hook.id, limit=50)
        assert len(entries) == 12
        assert max(e["attempts"] for e in entries) > 1
    finally:
        server.close()
        receiver.close()


def commit_offline(server: LiveServer, repo_id: str, token: str) -> str:
    """A commit made with the server stopped (as `inhouse` CLI commands do, through the stores): its webhook
    event is written in its transaction and sent by the next server."""
    from inhouse.access.identity import authenticate
    from inhouse.services import commits
    from inhouse.services.commits import AddFile
    from inhouse.services.repo_access import RepoName
    from inhouse.vocabulary import RepoType

    p = authenticate(server.stores.db, token)
    ns, name = repo_id.split("/")
    target = commits.begin(server.stores, p, RepoName(RepoType.MODEL, ns, name), revision="main")
    result = commits.commit(server.stores, p, target.repo, revision="main",
                            ops=[AddFile("offline.txt", repo_id.encode())], summary="offline")
    return result.oid


def test_failed_deliveries_wait_and_are_resent_in_order(tmp_path: Path) -> None:
    receiver = Receiver()
    server = LiveServer(tmp_path / "data", env={**FAST_RETRIES, "INHOUSE_WEBHOOK_MAX_ATTEMPTS": "2"}).start()
    try:
        user = server.make_user()
        token = server.make_token(user)
        api = server.api(token)
        repo = f"{user}/a"
        api.create_repo(repo)
        hook = api.create_webhook(url=receiver.url, watched=[{"type": "model", "name": repo}], domains=["repo"],
                                  secret=SECRET)
        receiver.failing = True
        shas = [commit(api, repo, f"f{i}.txt", b"%d" % i) for i in range(3)]
        wait_until(lambda: [e["status"] for e in log_of(server, token, hook.id)] == ["queued", "queued", "failed"],
                   "the first delivery to fail and hold back the others")
        receiver.failing = False
        assert receiver.events() == []
        api.enable_webhook(hook.id)  # re-enabling resends what failed, in its place
        got = receiver.wait_for(3)
        assert [p["updatedRefs"][0]["newSha"] for p in got] == shas
        wait_until(lambda: log_of(server, token, hook.id)[-1]["status"] == "delivered", "the log")
        failed = log_of(server, token, hook.id)[-1]
        assert failed["status"] == "delivered" and failed["attempts"] == 1  # attempts start again on a resend
    finally:
        server.close()
        receiver.close()


def test_private_repo_events_stop_when_the_owner_loses_access(srv: LiveServer, receiver: Receiver) -> None:
    admin = srv.make_user()
    member = srv.make_user()
    org = f"o{uuid.uuid4().hex[:8]}"
    orgs.create_org(srv.stores, org, admin=admin)
    orgs.set_member(srv.stores, org, member, Role.READ)
    admin_api = srv.api(srv.make_token(admin))
    private, public = f"{org}/private", f"{org}/public"
    admin_api.create_repo(private, private=True)
    admin_api.create_repo(public)
    token = srv.make_token(member)
    hook = srv.api(token).create_webhook(url=receiver.url, watched=[{"type": "org", "name": org}],
                                         domains=["repo"], secret=SECRET)
    first = commit(admin_api, private, "a.txt", b"a")
    assert receiver.wait_for(1, private)[0]["updatedRefs"][0]["newSha"] == first

    receiver.failing = True  # an event written while the member could read the repo, not yet delivered ...
    commit(admin_api, private, "b.txt", b"b")
    wait_until(lambda: receiver.refused >= 1, "a refused attempt")
    orgs.remove_member(srv.stores, org, member)  # ... is not sent once the member left
    receiver.failing = False
    wait_until(lambda: log_of(srv, token, hook.id)[0]["status"] == "skipped", "the pending event to be skipped")
    assert "can no longer read" in log_of(srv, token, hook.id)[0]["error"]
    commit(admin_api, private, "c.txt", b"c")  # and a later change is not even queued for it
    public_sha = commit(admin_api, public, "p.txt", b"p")
    assert receiver.wait_for(1, public)[0]["updatedRefs"][0]["newSha"] == public_sha
    assert len(receiver.events(private)) == 1
    assert [e["payload"]["repo"]["name"] for e in log_of(srv, token, hook.id)] == [public, private, private]


@pytest.mark.filterwarnings("ignore:Hidden comments")
def test_discussion_and_pull_request_events(srv: LiveServer, receiver: Receiver) -> None:
    user = srv.make_user()
    api = srv.api(srv.make_token(user))
    repo_id = f"{user}/talk"
    api.create_repo(repo_id)
    hook = api.create_webhook(url=receiver.url, watched=[{"type": "model", "name": repo_id}], secret=SECRET)
    base = api.model_info(repo_id).sha
    pr = api.upload_file(path_or_fileobj=b"pr", path_in_repo="pr.txt", repo_id=repo_id, create_pr=True)
    num = int(pr.pr_num)
    comment = api.comment_discussion(repo_id, num, "looks good")
    api.edit_discussion_comment(repo_id, num, comment.id, "looks very good")
    api.rename_discussion(repo_id, num, "Add pr.txt")
    api.hide_discussion_comment(repo_id, num, comment.id)
    api.merge_pull_request(repo_id, num)
    got = receiver.wait_for(8)
    assert [(p["event"]["scope"], p["event"]["action"]) for p in got] == [
        ("discussion", "create"), ("repo.content", "update"), ("discussion.comment", "create"),
        ("discussion.comment", "update"), ("discussion", "update"), ("discussion.comment", "update"),
        ("repo.content", "update"), ("discussion", "update")]
    for p in got:
        WebhookPayload.model_validate(p)
        assert p["webhook"]["id"] == hook.id
    assert got[0]["discussion"]["isPullRequest"] is True and got[0]["discussion"]["num"] == num
    assert got[0]["discussion"]["changes"]["base"] == "refs/heads/main"
    assert got[1]["updatedRefs"] == [{"ref": f"refs/pr/{num}", "newSha": pr.oid}]
    assert got[2]["comment"] == {"id": comment.id, "author": {"id": user}, "hidden": False, "content": "looks good",
                                 "url": {"web": got[2]["discussion"]["url"]["web"] + f"#{comment.id}"}}
    assert got[3]["comment"]["content"] == "looks very good"
    assert got[4]["discussion"]["title"] == "Add pr.txt"
    assert got[5]["comment"]["hidden"] is True and "content" not in got[5]["comment"]
    main = api.model_info(repo_id).sha
    assert got[6]["updatedRefs"] == [{"ref": "refs/heads/main", "oldSha": base, "newSha": main}]
    assert got[7]["discussion"]["status"] == "merged"
    assert got[7]["discussion"]["changes"] == {"base": "refs/heads/main", "mergeCommitId": main}


def test_a_slow_receiver_gets_every_event_in_order(tmp_path: Path) -> None:
    """A receiver that answers after the server stopped waiting gets the delivery again (at least once, the
    repeat under the same X-Inhouse-Delivery id), and the repo's later events only after it."""
    receiver = Receiver()
    server = LiveServer(tmp_path / "data", env={**FAST_RETRIES, "INHOUSE_WEBHOOK_TIMEOUT_S": "1"}).start()
    try:
        user = server.make_user()
        token = server.make_token(user)
        api = server.api(token)
        repo = f"{user}/slow"
        api.create_repo(repo)
        hook = api.create_webhook(url=receiver.url, watched=[{"type": "model", "name": repo}], domains=["repo"],
                                  secret=SECRET)
        receiver.slow_next = 2
        shas = [commit(api, repo, f"f{i}.txt", b"%d" % i) for i in range(3)]
        wait_until(lambda: {e["status"] for e in log_of(server, token, hook.id)} == {"delivered"}
                   and len(log_of(server, token, hook.id)) == 3, "every delivery recorded")
        with receiver.lock:
            seen = list(zip((h["X-Inhouse-Delivery"] for h in receiver.headers), receiver.accepted))
        first: dict[str, dict[str, Any]] = {}
        for delivery, payload in seen:
            assert first.setdefault(delivery, payload) == payload  # a repeat is the same body
        assert [p["updatedRefs"][0]["newSha"] for p in first.values()] == shas
        assert len(seen) > 3 and receiver.bad_signatures == 0
        entries = log_of(server, token, hook.id)
        assert entries[-1]["attempts"] > 1
    finally:
        server.close()
        receiver.close()


def worker_pids(server: LiveServer) -> list[int]:
    """The server's webhook worker processes (its children running inhouse.services.webhook_delivery)."""
    assert server.proc is not None
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == server.proc.pid and b"inhouse.services.webhook_delivery" in cmdline:
            found.append(int(entry.name))
    return found


def test_a_webhook_worker_that_dies_is_replaced_and_nothing_is_lost(srv: LiveServer, receiver: Receiver) -> None:
    """Deliveries are sent by a worker process the server starts; killed outright (no chance to record what it
    sent), it is started again and every event still arrives, in order (a repeat is allowed: at least once)."""
    user = srv.make_user()
    token = srv.make_token(user)
    api = srv.api(token)
    repo = f"{user}/w"
    api.create_repo(repo)
    api.create_webhook(url=receiver.url, watched=[{"type": "model", "name": repo}], domains=["repo"], secret=SECRET)
    shas = [commit(api, repo, "a.txt", b"a")]
    receiver.wait_for(1, repo)
    wait_until(lambda: len(worker_pids(srv)) == 1, "one webhook worker")
    (old,) = worker_pids(srv)
    receiver.failing = True  # the next events wait in the queue while the worker is killed
    shas += [commit(api, repo, f"f{i}.txt", b"%d" % i) for i in range(3)]
    wait_until(lambda: receiver.refused >= 1, "a refused attempt")
    os.kill(old, signal.SIGKILL)
    wait_until(lambda: worker_pids(srv) not in ([], [old]), "a new webhook worker")
    receiver.failing = False

    def firsts() -> list[str]:  # each event's first arrival, in arrival order
        out: list[str] = []
        for p in receiver.events(repo):
            if p["updatedRefs"][0]["newSha"] not in out:
                out.append(p["updatedRefs"][0]["newSha"])
        return out

    wait_until(lambda: len(firsts()) == len(shas), "every event")
    assert firsts() == shas
    assert receiver.bad_signatures == 0
