"""The commit endpoint settles who calls before it reads the body, then parses the NDJSON body line by line as it
arrives (issue 7, finding 4). Requests are sent piece by piece with http.client so that a test can wait for the
answer before (or instead of) sending the rest of the body."""

from __future__ import annotations

import base64
import http.client
import json
import uuid
from collections.abc import Iterator

import httpx
import pytest
from huggingface_hub import CommitOperationAdd

from tests.support.live import LiveServer

MiB = 1024 * 1024
HANG_GUARD_S = 120  # a server that waits for the body never answers: fail instead of hanging


def ndjson(*items: dict) -> bytes:  # type: ignore[type-arg]
    return b"".join(json.dumps(i).encode() + b"\n" for i in items)


HEADER = {"key": "header", "value": {"summary": "streamed"}}


def file_line(path: str, content: bytes) -> dict:  # type: ignore[type-arg]
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode(), "encoding": "base64"}}


def delete_line(path: str) -> dict:  # type: ignore[type-arg]
    return {"key": "deletedFile", "value": {"path": path}}


def open_commit(server: LiveServer, repo_id: str, token: str | None, *, rev: str = "main",
                length: int | None = None) -> http.client.HTTPConnection:
    """Sends a commit's request line and headers only: a Content-Length of `length`, or chunked when None."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=HANG_GUARD_S)
    conn.putrequest("POST", f"/api/models/{repo_id}/commit/{rev}", skip_accept_encoding=True)
    conn.putheader("Content-Type", "application/x-ndjson")
    if token is not None:
        conn.putheader("Authorization", f"Bearer {token}")
    if length is None:
        conn.putheader("Transfer-Encoding", "chunked")
    else:
        conn.putheader("Content-Length", str(length))
    conn.endheaders()
    return conn


def answer(conn: http.client.HTTPConnection) -> tuple[int, str, str]:
    """(status, X-Error-Code, X-Error-Message) of the server's answer, read with the rest of the body unsent."""
    r = conn.getresponse()
    r.read()
    conn.close()
    return r.status, r.getheader("X-Error-Code") or "", r.getheader("X-Error-Message") or ""


def send_chunk(conn: http.client.HTTPConnection, data: bytes) -> None:
    conn.send(b"%x\r\n%s\r\n" % (len(data), data))


def refs(server: LiveServer, token: str, repo_id: str) -> dict:  # type: ignore[type-arg]
    r = httpx.get(f"{server.url}/api/models/{repo_id}/refs?include_prs=1", timeout=30,
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


# authorize first --------------------------------------------------------------------------------------------------

def test_callers_who_may_not_commit_are_answered_before_any_body_is_sent(server: LiveServer):
    owner_name, author_name, stranger_name = (server.make_user() for _ in range(3))
    owner, author, stranger = (server.make_token(n, "write") for n in (owner_name, author_name, stranger_name))
    public, private = (f"{owner_name}/r{uuid.uuid4().hex[:8]}" for _ in range(2))
    server.api(owner).create_repo(public)
    server.api(owner).create_repo(private, private=True)
    server.api(author).create_commit(public, [CommitOperationAdd("idea.txt", b"A")], commit_message="A",
                                     create_pr=True)
    before = {repo: refs(server, owner, repo) for repo in (public, private)}
    missing = f"{owner_name}/never-created"
    cases = [
        (public, None, "main", 401, "Unauthorized"),  # anonymous
        (public, "ih_not-a-token", "main", 401, ""),  # bad credentials
        (public, stranger, "main", 403, "Forbidden"),  # no write role
        (public, server.make_token(owner_name, "read"), "main", 403, "Forbidden"),  # a read token
        (public, stranger, "refs%2Fpr%2F1", 403, "Forbidden"),  # someone else's pull request
        (private, stranger, "main", 404, "RepoNotFound"),  # a private repo does not exist for outsiders
        (private, stranger, "main?create_pr=1", 404, "RepoNotFound"),
        (missing, stranger, "main", 404, "RepoNotFound"),
    ]
    not_found = set()
    # 10^12 bytes: above the limit (the old code said 413 to anyone); 100 MiB: under it (the old code waited for it)
    for length in (10**12, 100 * MiB):
        for repo, token, rev, status, code in cases:
            got, got_code, message = answer(open_commit(server, repo, token, rev=rev, length=length))
            assert got == status, (repo, rev, length, got, message)
            assert code in got_code, (repo, rev, got_code)
            if status == 404:
                not_found.add(message.split(" (request")[0].replace(repo, "<repo>"))
    assert len(not_found) == 1, not_found  # a private repo answers exactly as a missing one
    assert {repo: refs(server, owner, repo) for repo in (public, private)} == before
    # the same calls with a body, as a client sends them, get the same answers
    body = ndjson(HEADER, delete_line("idea.txt"))
    r = httpx.post(f"{server.url}/api/models/{public}/commit/refs%2Fpr%2F1", content=body, timeout=30,
                   headers={"Authorization": f"Bearer {stranger}"})
    assert r.status_code == 403, r.text
    assert refs(server, owner, public) == before[public]


# stream parsing ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server taking commits of at most 1 MiB and 20 operations."""
    srv = LiveServer(tmp_path_factory.mktemp("stream") / "data", env={
        "INHOUSE_MAX_COMMIT_BYTES": str(MiB), "INHOUSE_MAX_COMMIT_OPERATIONS": "20"}).start()
    yield srv
    srv.close()


@pytest.fixture
def mine(small: LiveServer) -> tuple[str, str]:
    """(repo id, write token) of a fresh repo on the small server."""
    return small.make_repo()


def test_a_bad_line_is_refused_before_the_rest_of_the_body_arrives(small: LiveServer, mine: tuple[str, str]):
    repo_id, token = mine
    before = refs(small, token, repo_id)
    conn = open_commit(small, repo_id, token, length=900 * 1024)
    conn.send(ndjson(HEADER, file_line("ok.txt", b"fine")) + b"{not json\n")
    status, code, message = answer(conn)  # 800-odd KiB of the declared body never come
    assert (status, code) == (400, "BadRequest") and "Line 3" in message
    assert refs(small, token, repo_id) == before


def test_one_gigantic_line_is_413_without_waiting_for_its_end(small: LiveServer, mine: tuple[str, str]):
    repo_id, token = mine
    before = refs(small, token, repo_id)
    conn = open_commit(small, repo_id, token)  # chunked: no declared size to refuse up front
    send_chunk(conn, b'{"key":"file","value":{"path":"huge.txt","encoding":"base64","content":"')
    for _ in range(20):  # 1.25 MiB of one line, then silence: the end of the line never comes
        send_chunk(conn, b"A" * (64 * 1024))
    status, code, message = answer(conn)
    assert (status, code) == (413, "PayloadTooLarge") and f"{MiB} bytes" in message
    # declared up front, it is refused before any of it is sent
    status, code, _ = answer(open_commit(small, repo_id, token, length=MiB + 1))
    assert (status, code) == (413, "PayloadTooLarge")
    assert refs(small, token, repo_id) == before


def test_the_number_of_operations_is_capped(small: LiveServer, mine: tuple[str, str]):
    repo_id, token = mine
    before = refs(small, token, repo_id)
    conn = open_commit(small, repo_id, token, length=MiB)
    conn.send(ndjson(HEADER, *(delete_line(f"f{i}.txt") for i in range(21))))  # tiny lines, one too many
    status, code, message = answer(conn)
    assert (status, code) == (413, "PayloadTooLarge")
    assert "more than 20 file operations" in message and "several commits" in message
    # a second header line is no way around the cap
    r = httpx.post(f"{small.url}/api/models/{repo_id}/commit/main", timeout=30, content=ndjson(HEADER, HEADER),
                   headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and "second header" in r.headers["X-Error-Message"]
    assert refs(small, token, repo_id) == before
    # 20 operations commit
    api = small.api(token)
    api.create_commit(repo_id, [CommitOperationAdd(f"f{i}.txt", b"x") for i in range(20)], commit_message="20")
    assert len(api.list_repo_files(repo_id)) == 21


def test_a_body_cut_anywhere_commits_the_same(small: LiveServer, mine: tuple[str, str]):
    repo_id, token = mine
    big = bytes(range(256)) * 2400  # 600 KiB: its line (800 KiB of base64) is parsed off the event loop
    body = ndjson(HEADER, file_line("small.txt", b"small"), file_line("dir/big.bin", big))
    body = body.replace(b"\n", b"\r\n", 1).rstrip(b"\n")  # a CRLF line end, and no newline at the very end

    def pieces() -> Iterator[bytes]:
        step = 1
        i = 0
        while i < len(body):  # pieces of 1, 2, 3, ... bytes, then big ones: lines end anywhere in a piece
            yield body[i:i + step]
            i += step
            step = step + 1 if step < 300 else 64 * 1024 - 7

    r = httpx.post(f"{small.url}/api/models/{repo_id}/commit/main", content=pieces(), timeout=60,
                   headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"})
    assert r.status_code == 200, r.text
    oid = r.json()["commitOid"]
    for path, data in (("small.txt", b"small"), ("dir/big.bin", big)):
        got = httpx.get(f"{small.url}/{repo_id}/resolve/{oid}/{path}", timeout=30,
                        headers={"Authorization": f"Bearer {token}"})
        assert got.status_code == 200 and got.content == data, path
