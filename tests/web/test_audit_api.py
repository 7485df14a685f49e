"""GET /api/audit on a live server: site admins only, the export filters as query parameters, pages linked by an
absolute Link header or one JSON Lines stream, and every read recorded (audit.read)."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.support.live import LiveServer


def _auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_only_site_admins_read_the_log(server: LiveServer) -> None:
    user = server.make_user()
    member = server.make_token(user, "write")
    admin = server.make_user(admin=True)
    url = f"{server.url}/api/audit"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401 and anonymous.headers["x-error-code"] == "Unauthorized"
    assert httpx.get(url, headers=_auth("ih_not_a_token")).status_code == 401
    refused = httpx.get(url, headers=_auth(member))
    assert refused.status_code == 403 and refused.headers["x-error-code"] == "Forbidden"
    assert "site admins" in refused.json()["error"]
    jsonl = httpx.get(url + "?format=jsonl", headers=_auth(member))
    assert jsonl.status_code == 403
    ok = httpx.get(url + "?limit=1", headers=_auth(server.make_token(admin, "read")))
    assert ok.status_code == 200 and len(ok.json()) == 1


def test_pages_and_stream_agree_and_every_read_is_recorded(server: LiveServer) -> None:
    admin = server.make_user(admin=True)
    token = server.make_token(admin, "write")
    api = server.api(token)
    repo = f"{admin}/vault-{uuid.uuid4().hex[:6]}"
    api.create_repo(repo, private=True)
    for i in range(3):
        api.upload_file(path_or_fileobj=f"v{i}".encode(), path_in_repo=f"f{i}.txt", repo_id=repo)
    for i in (0, 1, 2, 0):
        assert httpx.get(f"{server.url}/{repo}/resolve/main/f{i}.txt", headers=_auth(token)).text == f"v{i}"

    url = f"{server.url}/api/audit?repo={repo}&limit=2"
    seen: list[dict] = []  # type: ignore[type-arg]
    calls = 0
    while url:
        r = httpx.get(url, headers=_auth(token))
        calls += 1
        assert r.status_code == 200, r.text
        seen += r.json()
        link = r.headers.get("link")
        if link:
            assert link.startswith(f"<{server.url}/api/audit?") and link.endswith('>; rel="next"')
            assert f"repo={repo.replace('/', '%2F')}" in link and "limit=2" in link
            url = link[1:link.index(">")]
        else:
            url = ""
    assert [e["action"] for e in seen] == ["repo.create", "commit", "commit", "commit", "file.download",
                                           "file.download", "file.download", "file.download"]
    assert [e["path"] for e in seen[4:]] == ["f0.txt", "f1.txt", "f2.txt", "f0.txt"]
    assert calls == 4
    assert all(e["actor"] == admin and e["repo"] == repo for e in seen)

    stream = httpx.get(f"{server.url}/api/audit", params={"repo": repo, "format": "jsonl"}, headers=_auth(token))
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line) for line in stream.text.splitlines()] == seen
    by_accept = httpx.get(f"{server.url}/api/audit", params={"repo": repo, "action": "file.*"},
                          headers={**_auth(token), "accept": "application/x-ndjson"})
    assert [json.loads(line)["seq"] for line in by_accept.text.splitlines()] == [e["seq"] for e in seen[4:]]

    reads = httpx.get(f"{server.url}/api/audit", params={"actor": admin, "action": "audit.read", "format": "jsonl"},
                      headers=_auth(token))
    recorded = [json.loads(line) for line in reads.text.splitlines()]
    assert len(recorded) == calls + 3  # the pages, the two streams and this one
    assert all(e["ip"] == "127.0.0.1" and e["request_id"] and e["token_id"] for e in recorded)
    assert recorded[0]["details"] == {"filters": {"repo": repo}, "cursor": 0, "limit": 2}
    assert recorded[-1]["details"] == {"filters": {"actor": admin, "action": "audit.read"}, "format": "jsonl"}


def test_bad_filters_are_400(server: LiveServer) -> None:
    admin = server.make_user(admin=True)
    token = server.make_token(admin, "read")
    bad_time = httpx.get(f"{server.url}/api/audit?since=soon", headers=_auth(token))
    assert bad_time.status_code == 400 and "ISO 8601" in bad_time.json()["error"]
    assert httpx.get(f"{server.url}/api/audit?limit=x", headers=_auth(token)).status_code == 400
    assert httpx.get(f"{server.url}/api/audit?limit=5000", headers=_auth(token)).status_code == 400
