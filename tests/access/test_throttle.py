"""Failed token guesses are throttled per client address (issue 7, finding 16): after INHOUSE_AUTH_FAILURE_LIMIT
failures an address gets 429 with Retry-After, without locking out the same user calling from elsewhere, and the
bookkeeping stays bounded whatever the number of addresses."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from inhouse.access.throttle import FailedAuthThrottle, client_key
from inhouse.errors import TooManyRequests
from tests.support.live import LiveServer

LIMIT = 5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_address_is_held_back_after_the_limit_until_its_window_ends() -> None:
    clock = Clock()
    throttle = FailedAuthThrottle(limit=3, window_s=60, clock=clock)
    for _ in range(3):
        throttle.check("10.0.0.1")
        throttle.failed("10.0.0.1")
    clock.now += 10
    with pytest.raises(TooManyRequests) as held:
        throttle.check("10.0.0.1")
    assert held.value.retry_after_s == 50 and held.value.status == 429
    throttle.check("10.0.0.2")  # another address is not affected
    clock.now += 50
    throttle.check("10.0.0.1")  # the window ended
    throttle.failed("10.0.0.1")
    throttle.check("10.0.0.1")  # a new window, one failure in it


def test_ipv6_addresses_count_per_64_and_ipv4_mapped_as_ipv4() -> None:
    assert client_key("2001:db8:1:2::1") == client_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client_key("2001:db8:1:3::1") != client_key("2001:db8:1:2::1")
    assert client_key("::ffff:10.0.0.1") == client_key("10.0.0.1") == "10.0.0.1"
    throttle = FailedAuthThrottle(limit=2, window_s=60, clock=Clock())
    throttle.failed("2001:db8:1:2::1")
    throttle.failed("2001:db8:1:2::2")
    with pytest.raises(TooManyRequests):
        throttle.check("2001:db8:1:2::3")


def test_the_bookkeeping_is_bounded() -> None:
    clock = Clock()
    throttle = FailedAuthThrottle(limit=3, window_s=60, max_clients=100, clock=clock)
    for i in range(5000):
        throttle.failed(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
        assert len(throttle) <= 100
    clock.now += 61
    throttle.failed("192.0.2.1")
    assert len(throttle) == 1  # ended windows are dropped


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path_factory.mktemp("throttle") / "data", env={
        "INHOUSE_AUTH_FAILURE_LIMIT": str(LIMIT), "INHOUSE_AUTH_FAILURE_WINDOW_S": "600",
        "INHOUSE_TRUSTED_PROXIES": "127.0.0.9"}).start()
    yield srv
    srv.close()


def _from(address: str) -> httpx.Client:
    """A client whose connections come from `address` (any 127.x.y.z reaches a server on 127.0.0.1)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=60)


def _whoami(client: httpx.Client, server: LiveServer, token: str) -> httpx.Response:
    return client.get(f"{server.url}/api/whoami-v2", headers={"Authorization": f"Bearer {token}"})


def test_guessing_tokens_gets_429_from_that_address_only(guarded: LiveServer) -> None:
    name = guarded.make_user()
    token = guarded.make_token(name, "read")
    with _from("127.0.0.3") as attacker:
        for i in range(LIMIT):
            assert _whoami(attacker, guarded, f"ih_guess{i}").status_code == 401
        held = _whoami(attacker, guarded, "ih_guess-next")
        assert held.status_code == 429, held.text
        assert 0 < int(held.headers["Retry-After"]) <= 600
        assert held.headers["X-Error-Code"] == "TooManyRequests"
        # while held back, a right token from there is refused too (else the answer would tell a hit apart)
        assert _whoami(attacker, guarded, token).status_code == 429
        assert attacker.get(f"{guarded.url}/api/models?limit=1").status_code == 200  # anonymous calls still work
    # the same user from another address is not locked out, with the real client too
    with _from("127.0.0.4") as elsewhere:
        assert _whoami(elsewhere, guarded, token).json()["name"] == name
    assert guarded.api(token).whoami()["name"] == name


def test_a_valid_token_does_not_reset_the_count(guarded: LiveServer) -> None:
    name = guarded.make_user()
    token = guarded.make_token(name, "read")
    with _from("127.0.0.5") as attacker:
        for i in range(LIMIT):
            assert _whoami(attacker, guarded, token).status_code == 200
            assert _whoami(attacker, guarded, f"ih_guess{i}").status_code == 401
        assert _whoami(attacker, guarded, "ih_guess").status_code == 429


def test_malformed_credentials_count_as_failures(guarded: LiveServer) -> None:
    with _from("127.0.0.6") as attacker:
        for _ in range(LIMIT):
            r = attacker.get(f"{guarded.url}/api/whoami-v2", headers={"Authorization": "Basic !!!"})
            assert r.status_code == 401
        assert _whoami(attacker, guarded, "ih_x").status_code == 429


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(guarded: LiveServer) -> None:
    """Through a trusted proxy every client shares its address: the throttle counts the forwarded client, so one
    guesser does not lock out everyone behind the proxy."""
    name = guarded.make_user()
    token = guarded.make_token(name, "read")
    with _from("127.0.0.9") as proxy:
        for i in range(LIMIT + 1):
            proxy.get(f"{guarded.url}/api/whoami-v2",
                      headers={"Authorization": f"Bearer ih_guess{i}", "X-Forwarded-For": "198.51.100.7"})
        held = proxy.get(f"{guarded.url}/api/whoami-v2",
                         headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "198.51.100.7"})
        assert held.status_code == 429
        ok = proxy.get(f"{guarded.url}/api/whoami-v2",
                       headers={"Authorization": f"Bearer {token}", "X-Forwarded-For": "198.51.100.8"})
        assert ok.status_code == 200 and ok.json()["name"] == name
    # a client that is no proxy cannot pick its address with the header to escape the count
    with _from("127.0.0.7") as attacker:
        for i in range(LIMIT):
            attacker.get(f"{guarded.url}/api/whoami-v2",
                         headers={"Authorization": f"Bearer ih_g{i}", "X-Forwarded-For": f"203.0.113.{i}"})
        r = attacker.get(f"{guarded.url}/api/whoami-v2",
                         headers={"Authorization": "Bearer ih_g", "X-Forwarded-For": "203.0.113.200"})
        assert r.status_code == 429
