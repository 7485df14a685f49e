"""Connection limits of `inhouse serve` against a live server (issue 7, findings 9 and 16): request heads are
capped, and clients that send heads or bodies slowly (slowloris) are cut off, while large uploads at normal
speed still work. The server here has 2-second timeouts so that the cut-offs happen quickly; the loops below
only bound how long a test waits for one."""

from __future__ import annotations

import hashlib
import os
import select
import socket
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.live import LiveServer

GIVE_UP_S = 120  # a bound on waiting for the server to cut a client off, not a timing assertion


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path_factory.mktemp("limits") / "data", env={
        "INHOUSE_HEADER_TIMEOUT_S": "2", "INHOUSE_BODY_IDLE_TIMEOUT_S": "2", "INHOUSE_BODY_MIN_BYTES_PER_S": "100",
    }).start()
    yield srv
    srv.close()


def _connect(server: LiveServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=GIVE_UP_S)


def _head(server: LiveServer, method: str, target: str, *headers: str) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _answer(sock: socket.socket) -> bytes:
    """What the server sent until it closed the connection (b"" when it closed or reset it without a word)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def _trickle_until_cut_off(sock: socket.socket, piece: bytes) -> bytes:
    """Sends `piece` every 0.2 s, also after an answer, until the server closes; returns what it answered."""
    data = b""
    deadline = time.monotonic() + GIVE_UP_S
    while time.monotonic() < deadline:
        try:
            if select.select([sock], [], [], 0.2)[0]:
                chunk = sock.recv(65536)
                if not chunk:
                    return data
                data += chunk
                continue
            sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return data + _answer(sock)
    raise AssertionError(f"the server still reads a slow client after {GIVE_UP_S} s")


def _status(answer: bytes) -> int | None:
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else None


def _models(server: LiveServer) -> int:
    return httpx.get(f"{server.url}/api/models?limit=1", timeout=60).status_code


def _user(server: LiveServer) -> tuple[str, str]:
    name = server.make_user()
    return name, server.make_token(name, "write")


def test_a_one_mib_header_is_refused_and_the_server_answers_others(limited: LiveServer) -> None:
    with _connect(limited) as sock:
        try:
            sock.sendall(_head(limited, "GET", "/api/models?limit=1", "X-Padding: " + "a" * (1 << 20)))
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before it was all sent
        answer = _answer(sock)
    assert _status(answer) in (431, None), answer[:200]  # 431, or the connection closed: never an answer
    many = [f"X-H{i}: {'b' * 100}" for i in range(2000)]  # 200 KiB of small headers
    with _connect(limited) as sock:
        try:
            sock.sendall(_head(limited, "GET", "/api/models?limit=1", *many))
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert _status(_answer(sock)) in (431, None)
    assert _models(limited) == 200
    # a head under the limit is served
    r = httpx.get(f"{limited.url}/api/models?limit=1", headers={"X-Padding": "a" * 30_000}, timeout=60)
    assert r.status_code == 200


def test_a_head_sent_slowly_is_cut_off_with_408(limited: LiveServer) -> None:
    with _connect(limited) as sock:
        sock.sendall(f"GET /api/models?limit=1 HTTP/1.1\r\nHost: 127.0.0.1:{limited.port}\r\n".encode())
        answer = _trickle_until_cut_off(sock, b"X-Slow: 1\r\n")
    assert _status(answer) == 408, answer[:200]
    assert _models(limited) == 200


def test_a_connection_that_sends_nothing_is_closed(limited: LiveServer) -> None:
    with _connect(limited) as sock:
        assert _answer(sock) == b""  # closed by the server (the socket's own timeout would raise instead)


def test_a_json_body_trickling_in_is_cut_off_with_408(limited: LiveServer) -> None:
    _, token = _user(limited)
    body = b'{"name": "r%s", "type": "model"' % uuid.uuid4().hex[:8].encode() + b" " * 5000 + b"}"
    with _connect(limited) as sock:
        sock.sendall(_head(limited, "POST", "/api/repos/create", f"Authorization: Bearer {token}",
                           "Content-Type: application/json", f"Content-Length: {len(body)}") + body[:10])
        answer = _trickle_until_cut_off(sock, b" ")  # 1 byte every 0.2 s: under 100 bytes/s
    assert _status(answer) == 408, answer[:300]
    assert b"RequestTimeout" in answer


def _lfs_upload_href(server: LiveServer, token: str, repo_id: str, data: bytes) -> str:
    r = httpx.post(f"{server.url}/{repo_id}.git/info/lfs/objects/batch", timeout=60,
                   headers={"Authorization": f"Bearer {token}"},
                   json={"operation": "upload", "transfers": ["basic"],
                         "objects": [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}]})
    assert r.status_code == 200, r.text
    return str(r.json()["objects"][0]["actions"]["upload"]["href"])


def test_an_lfs_upload_that_stalls_is_cut_off_with_408(limited: LiveServer) -> None:
    name, token = _user(limited)
    repo_id = f"{name}/r{uuid.uuid4().hex[:8]}"
    limited.api(token).create_repo(repo_id)
    data = os.urandom(100_000)
    href = httpx.URL(_lfs_upload_href(limited, token, repo_id, data))
    with _connect(limited) as sock:
        sock.sendall(_head(limited, "PUT", href.raw_path.decode(), f"Content-Length: {len(data)}",
                           "Content-Type: application/octet-stream") + data[:1000])
        ready, _, _ = select.select([sock], [], [], GIVE_UP_S)  # then nothing more is sent
        assert ready, f"the server still waits for a stalled body after {GIVE_UP_S} s"
        answer = _answer(sock)
    assert _status(answer) == 408, answer[:300]
    assert limited.stored(hashlib.sha256(data).hexdigest()) is None
    assert httpx.put(str(href), content=data, timeout=60).status_code == 200  # the link still works


def test_a_body_the_server_did_not_need_cannot_hold_the_connection(limited: LiveServer) -> None:
    with _connect(limited) as sock:
        sock.sendall(_head(limited, "POST", "/nothing/here", "Content-Length: 1000000000") + b"x" * 100)
        answer = _trickle_until_cut_off(sock, b"x")
    assert _status(answer) == 404, answer[:200]  # answered at once, then the trickle is not read for long


def test_large_uploads_at_normal_speed_still_work(limited: LiveServer, lfs_only: None) -> None:
    name, token = _user(limited)
    api = limited.api(token)
    repo_id = f"{name}/r{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id)
    data = os.urandom(24 << 20)
    api.upload_file(path_or_fileobj=data, path_in_repo="big.bin", repo_id=repo_id)
    assert limited.stored(hashlib.sha256(data).hexdigest()) == data
    r = httpx.get(f"{limited.url}/{repo_id}/resolve/main/big.bin", timeout=120, follow_redirects=True,
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and hashlib.sha256(r.content).digest() == hashlib.sha256(data).digest()
