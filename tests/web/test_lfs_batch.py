"""The Git LFS batch API against crafted bodies: nothing a request claims (a size, a part count, an object count, a
field's type) makes the server work in proportion to it. Each gets a 4xx in the LFS error format (per object where
git-lfs expects it), at once, and the server goes on answering."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.live import LiveServer

PART = 1024
MAX_BYTES = 10 * 1024 * 1024  # this server takes LFS objects of at most 10 MiB, in parts of 1 KiB (or larger)
LFS_JSON = "application/vnd.git-lfs+json"


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path_factory.mktemp("lfs-batch") / "data", env={
        "INHOUSE_LFS_PART_SIZE": str(PART), "INHOUSE_MAX_LFS_OBJECT_BYTES": str(MAX_BYTES)}).start()
    yield srv
    srv.close()


@pytest.fixture
def owner(tight: LiveServer) -> tuple[str, str]:
    """(repo_id, write token) of a fresh repo on the tight server."""
    return tight.make_repo()


def _batch(srv: LiveServer, token: str, repo_id: str, body: Any) -> httpx.Response:
    return httpx.post(f"{srv.url}/{repo_id}.git/info/lfs/objects/batch", timeout=60, json=body,
                      headers={"Authorization": f"Bearer {token}", "Accept": LFS_JSON, "Content-Type": LFS_JSON})


def _upload(objects: list[Any], **extra: Any) -> dict[str, Any]:
    return {"operation": "upload", "transfers": ["basic", "multipart"], "hash_algo": "sha256", "objects": objects,
            **extra}


def _oid(i: int = 0) -> str:
    return hashlib.sha256(f"object {i} {uuid.uuid4()}".encode()).hexdigest()


def _still_answers(srv: LiveServer, token: str, repo_id: str) -> None:
    r = _batch(srv, token, repo_id, _upload([{"oid": _oid(), "size": 10}]))
    assert r.status_code == 200 and "upload" in r.json()["objects"][0]["actions"], r.text


def _request_error(r: httpx.Response, status: int, *words: str) -> None:
    """A whole-request error in the LFS format: the status, {"message": …} and the LFS media type."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(LFS_JSON)
    message = r.json()["message"]
    assert message and message == r.headers["X-Error-Message"]
    for w in words:
        assert w in message, (w, message)


def test_a_size_of_ten_to_the_thirty_is_refused_per_object(tight: LiveServer, owner: tuple[str, str]) -> None:
    repo_id, token = owner
    oid = _oid()
    r = _batch(tight, token, repo_id, _upload([{"oid": oid, "size": 10**30}]))
    assert r.status_code == 200, r.text
    (obj,) = r.json()["objects"]
    assert "actions" not in obj
    assert obj["error"]["code"] == 422
    assert str(MAX_BYTES) in obj["error"]["message"] and "INHOUSE_MAX_LFS_OBJECT_BYTES" in obj["error"]["message"]
    # the same for one byte over the limit; at the limit it is taken
    r = _batch(tight, token, repo_id, _upload([{"oid": oid, "size": MAX_BYTES + 1}, {"oid": oid, "size": MAX_BYTES}]))
    over, at = r.json()["objects"]
    assert over["error"]["code"] == 422 and "upload" in at["actions"]
    _still_answers(tight, token, repo_id)


def test_parts_grow_so_that_no_object_has_more_than_10000(tight: LiveServer, owner: tuple[str, str]) -> None:
    repo_id, token = owner
    r = _batch(tight, token, repo_id, _upload([{"oid": _oid(), "size": MAX_BYTES}]))
    (obj,) = r.json()["objects"]
    header = obj["actions"]["upload"]["header"]
    chunk = int(header.pop("chunk_size"))
    assert chunk == -(-MAX_BYTES // 10_000) > PART  # 1049 bytes: the configured 1 KiB would need 10,240 parts
    assert sorted(int(k) for k in header) == list(range(1, -(-MAX_BYTES // chunk) + 1))
    assert len(header) <= 10_000
    # small files keep the configured part size
    r = _batch(tight, token, repo_id, _upload([{"oid": _oid(), "size": 5 * PART + 1}]))
    header = r.json()["objects"][0]["actions"]["upload"]["header"]
    assert header.pop("chunk_size") == str(PART) and len(header) == 6


def test_one_answer_holds_at_most_20000_part_links(tight: LiveServer, owner: tuple[str, str]) -> None:
    repo_id, token = owner
    r = _batch(tight, token, repo_id, _upload([{"oid": _oid(i), "size": MAX_BYTES} for i in range(5)]))
    assert r.status_code == 200
    objects = r.json()["objects"]
    parts = [len(o["actions"]["upload"].get("header", {})) for o in objects]
    assert sum(parts) <= 20_000 + 2  # (each header also holds chunk_size)
    assert parts[:2] != [0, 0] and parts[2:] == [0, 0, 0]  # the rest are sent in one PUT each
    assert all(o["actions"]["upload"]["href"] for o in objects)
    _still_answers(tight, token, repo_id)


def test_too_many_objects_is_413(tight: LiveServer, owner: tuple[str, str]) -> None:
    repo_id, token = owner
    r = _batch(tight, token, repo_id, _upload([{"oid": _oid(), "size": 1}] * 1001))
    _request_error(r, 413, "at most 1000 objects", "1001")
    ok = _batch(tight, token, repo_id, _upload([{"oid": _oid(i), "size": 1} for i in range(1000)]))
    assert ok.status_code == 200 and len(ok.json()["objects"]) == 1000


@pytest.mark.parametrize(("field", "value", "words"), [
    ("operation", "delete", ("operation", "upload", "download")),
    ("operation", None, ("operation",)),
    ("transfers", "multipart", ("transfers",)),
    ("transfers", [1, 2], ("transfers",)),
    ("transfers", ["basic"] * 33, ("transfers", "32")),
    ("objects", {"oid": "x"}, ("objects",)),
    ("objects", None, ("objects",)),
    ("hash_algo", "sha1", ("sha256",)),
    ("ref", "main", ("ref",)),
    ("ref", {"name": 5}, ("ref",)),
    ("ref", {"name": "refs/heads/a\x1bb"}, ("ref",)),
])
def test_malformed_request_fields_are_422(tight: LiveServer, owner: tuple[str, str], field: str, value: Any,
                                          words: tuple[str, ...]) -> None:
    repo_id, token = owner
    r = _batch(tight, token, repo_id, {**_upload([{"oid": _oid(), "size": 1}]), field: value})
    _request_error(r, 422, *words)


def test_malformed_objects_get_per_object_422(tight: LiveServer, owner: tuple[str, str]) -> None:
    repo_id, token = owner
    good = _oid()
    bad: list[Any] = [
        {"oid": 123, "size": 1}, {"oid": "A" * 64, "size": 1}, {"oid": "a" * 64 + "\n", "size": 1},
        {"oid": "a" * 63, "size": 1}, {"oid": "a" * 10_000, "size": 1}, {"size": 1},
        {"oid": good, "size": "5"}, {"oid": good, "size": -1}, {"oid": good, "size": True},
        {"oid": good, "size": 1.5}, {"oid": good, "size": 2**64}, {"oid": good}, 7, "x", None, [good, 1],
    ]
    for operation in ("upload", "download"):
        r = _batch(tight, token, repo_id, {"operation": operation, "objects": [*bad, {"oid": good, "size": 1}]})
        assert r.status_code == 200, r.text
        *errors, last = r.json()["objects"]
        assert [o["error"]["code"] for o in errors] == [422] * len(bad), errors
        assert all("actions" not in o and len(o["oid"]) <= 64 for o in errors)
        assert "oid" in errors[0]["error"]["message"] and "size" in errors[6]["error"]["message"]
        assert last["oid"] == good
        assert ("actions" in last) if operation == "upload" else (last["error"]["code"] == 404)


def test_completion_checks_its_parts_list(tight: LiveServer, owner: tuple[str, str]) -> None:
    repo_id, token = owner
    data = os.urandom(3 * PART + 10)
    oid = hashlib.sha256(data).hexdigest()
    (obj,) = _batch(tight, token, repo_id, _upload([{"oid": oid, "size": len(data)}])).json()["objects"]
    complete = obj["actions"]["upload"]["href"]
    for parts, words in [
        ([{"partNumber": "x", "etag": "e"}], ("partNumber", "'x'", "1 to 4")),
        ([{"partNumber": 1.0}], ("partNumber",)),
        ([{"partNumber": True}], ("partNumber",)),
        ([{"partNumber": 10**400}], ("partNumber",)),
        (["part-1"], ("partNumber",)),
        ([{"partNumber": 1}] * 5, ("at most 4 parts",)),
        ([{"partNumber": 1}] * 100_000, ("at most 4 parts",)),
        ("all", ("parts",)),
        (None, ("parts",)),
    ]:
        r = httpx.post(complete, json={"oid": oid, "parts": parts}, timeout=60)
        assert r.status_code == 400 and r.headers["X-Error-Code"] == "BadRequest", (parts, r.status_code, r.text)
        for w in words:
            assert w in r.headers["X-Error-Message"], (w, r.headers["X-Error-Message"])
    # the parts, then a completion that lists them, publish the object
    header = dict(obj["actions"]["upload"]["header"])
    chunk = int(header.pop("chunk_size"))
    etags = []
    for n, url in sorted(header.items(), key=lambda kv: int(kv[0])):
        i = int(n) - 1
        put = httpx.put(url, content=data[i * chunk:(i + 1) * chunk], timeout=60)
        assert put.status_code == 200, put.text
        etags.append({"partNumber": int(n), "etag": put.headers["etag"]})
    r = httpx.post(complete, json={"oid": oid, "parts": etags}, timeout=60)
    assert r.status_code == 200, r.text
    assert tight.stored(oid) == data

