"""X-Forwarded-* are believed only from INHOUSE_TRUSTED_PROXIES, and absolute links cannot be pointed elsewhere
with a crafted Host (issue 7, finding 13), against live servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.live import LiveServer


def _admin(server: LiveServer) -> str:
    return server.make_token(server.make_user(admin=True), "write")


def _create(server: LiveServer, token: str, headers: dict[str, str] | None = None) -> httpx.Response:
    name = f"r{uuid.uuid4().hex[:8]}"
    return httpx.post(f"{server.url}/api/repos/create", json={"name": name, "type": "model"}, timeout=60,
                      headers={"Authorization": f"Bearer {token}", **(headers or {})})


def _audited_ip(server: LiveServer, admin: str, repo_id: str) -> str:
    r = httpx.get(f"{server.url}/api/audit", params={"repo": repo_id, "action": "repo.create"}, timeout=60,
                  headers={"Authorization": f"Bearer {admin}"})
    assert r.status_code == 200, r.text
    (entry,) = r.json()
    return str(entry["ip"])


def _repo_id(created: httpx.Response) -> str:
    return "/".join(created.json()["url"].rsplit("/", 2)[-2:])


def test_forwarded_headers_from_anyone_else_are_ignored(server: LiveServer) -> None:
    admin = _admin(server)
    r = _create(server, admin, {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
                                "X-Forwarded-Host": "evil.example"})
    assert r.status_code == 200, r.text
    assert r.json()["url"].startswith(f"http://127.0.0.1:{server.port}/")  # neither https nor evil.example
    assert _audited_ip(server, admin, _repo_id(r)) == "127.0.0.1"  # the connecting address, not the forged one


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1:1", "127.0.0.2:{port}",
                                  "a@evil.example", "127.0.0.1:{port}/x"])
def test_a_host_the_server_does_not_answer_to_gets_400(server: LiveServer, host: str) -> None:
    r = httpx.get(f"{server.url}/api/models?limit=1", headers={"Host": host.format(port=server.port)}, timeout=60)
    assert r.status_code == 400
    assert "INHOUSE_PUBLIC_URL" in r.headers["X-Error-Message"]


def test_lfs_links_follow_only_an_allowed_host(server: LiveServer, user: tuple[str, str]) -> None:
    name, token = user
    repo_id = f"{name}/r{uuid.uuid4().hex[:8]}"
    server.api(token).create_repo(repo_id)
    body = {"operation": "upload", "transfers": ["basic"], "objects": [{"oid": "a" * 64, "size": 5}]}
    url = f"{server.url}/{repo_id}.git/info/lfs/objects/batch"
    auth = {"Authorization": f"Bearer {token}"}
    poisoned = httpx.post(url, json=body, headers={**auth, "Host": "evil.example"}, timeout=60)
    assert poisoned.status_code == 400 and "href" not in poisoned.text
    for host in (f"127.0.0.1:{server.port}", f"localhost:{server.port}"):
        ok = httpx.post(url, json=body, headers={**auth, "Host": host}, timeout=60)
        assert ok.status_code == 200, ok.text
        assert ok.json()["objects"][0]["actions"]["upload"]["href"].startswith(f"http://{host}/")


@pytest.fixture(scope="module")
def behind_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path_factory.mktemp("proxied") / "data", env={
        "INHOUSE_TRUSTED_PROXIES": "127.0.0.0/30, ::1", "INHOUSE_ALLOWED_HOSTS": "hub.example"}).start()
    yield srv
    srv.close()


def test_a_trusted_proxy_sets_the_client_scheme_and_host(behind_proxy: LiveServer) -> None:
    admin = _admin(behind_proxy)
    r = _create(behind_proxy, admin, {"X-Forwarded-For": "203.0.113.9, 127.0.0.2", "X-Forwarded-Proto": "https",
                                      "X-Forwarded-Host": "hub.example"})
    assert r.status_code == 200, r.text
    assert r.json()["url"].startswith("https://hub.example/")
    assert _audited_ip(behind_proxy, admin, _repo_id(r)) == "203.0.113.9"  # the first hop that is not a proxy
    # the proxy passes on a Host the server does not answer to: 400, not a link to it
    bad = _create(behind_proxy, admin, {"X-Forwarded-Host": "evil.example"})
    assert bad.status_code == 400
    # an allowed name straight in Host, on any port
    named = _create(behind_proxy, admin, {"Host": "hub.example:8443"})
    assert named.status_code == 200 and named.json()["url"].startswith("http://hub.example:8443/")


def test_a_client_cannot_slip_its_own_hop_past_the_proxy(behind_proxy: LiveServer) -> None:
    """The proxy appends the address it saw; what the client wrote to the left of it is not believed."""
    admin = _admin(behind_proxy)
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=60) as proxy:
        r = proxy.post(f"{behind_proxy.url}/api/repos/create", json={"name": f"r{uuid.uuid4().hex[:8]}"},
                       headers={"Authorization": f"Bearer {admin}", "X-Forwarded-For": "10.9.9.9, 198.51.100.4"})
    assert r.status_code == 200, r.text
    assert _audited_ip(behind_proxy, admin, _repo_id(r)) == "198.51.100.4"
    with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.8"), timeout=60) as outsider:
        r = outsider.post(f"{behind_proxy.url}/api/repos/create", json={"name": f"r{uuid.uuid4().hex[:8]}"},
                          headers={"Authorization": f"Bearer {admin}", "X-Forwarded-For": "198.51.100.5"})
    assert r.status_code == 200, r.text
    assert _audited_ip(behind_proxy, admin, _repo_id(r)) == "127.0.0.8"  # not a trusted proxy
