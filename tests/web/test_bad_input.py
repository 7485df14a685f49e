"""Bad input loses nothing: malformed or hostile requests get a clear 4xx with X-Error-Code, and the repo is unchanged.

Malformed requests go over httpx (or http.client, where the path must reach the server unnormalised); calls the
real client can make go through HfApi.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import time
import uuid
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from inhouse.errors import INVALID_CREDENTIALS
from inhouse.services import users as user_service
from inhouse.services.cards import render_card_html
from inhouse.services.signing import Signer, load_or_create_secret
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.vocabulary import TokenRole
from tests.support.live import LiveServer

# helpers -------------------------------------------------------------------------------------------------------------


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ndjson(*lines: dict) -> bytes:  # type: ignore[type-arg]
    return b"\n".join(json.dumps(line).encode() for line in lines)


def header(summary: str = "bad input", parent: str | None = None) -> dict:  # type: ignore[type-arg]
    value: dict[str, object] = {"summary": summary, "description": ""}
    if parent is not None:
        value["parentCommit"] = parent
    return {"key": "header", "value": value}


def file_line(path: str, content: bytes = b"x") -> dict:  # type: ignore[type-arg]
    return {"key": "file", "value": {"path": path, "content": base64.b64encode(content).decode(), "encoding": "base64"}}


def lfs_line(path: str, oid: str, size: int) -> dict:  # type: ignore[type-arg]
    return {"key": "lfsFile", "value": {"path": path, "algo": "sha256", "oid": oid, "size": size}}


def post_commit(server: LiveServer, token: str, repo_id: str, body: bytes, rev: str = "main") -> httpx.Response:
    return httpx.post(f"{server.url}/api/models/{repo_id}/commit/{rev}", content=body, timeout=30,
                      headers={**auth(token), "Content-Type": "application/x-ndjson"})


def refs(server: LiveServer, token: str, repo_id: str) -> dict:  # type: ignore[type-arg]
    r = httpx.get(f"{server.url}/api/models/{repo_id}/refs", headers=auth(token), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def assert_error(r: httpx.Response | "RawResponse", status: int, code: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.headers, r.text)
    if code is not None:
        assert r.headers["X-Error-Code"] == code, r.headers
    assert r.headers.get("X-Error-Message"), "an error must say what went wrong"


class RawResponse:
    def __init__(self, status: int, headers: httpx.Headers, body: bytes):
        self.status_code, self.headers, self.content = status, headers, body
        self.text = body.decode("utf-8", "replace")


def raw_get(server: LiveServer, raw_path: str, token: str | None = None) -> RawResponse:
    """GET with the request target sent byte for byte (httpx would normalise '..' segments away)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.putrequest("GET", raw_path, skip_host=False, skip_accept_encoding=True)
        if token:
            conn.putheader("Authorization", f"Bearer {token}")
        conn.endheaders()
        resp = conn.getresponse()
        return RawResponse(resp.status, httpx.Headers(resp.getheaders()), resp.read())
    finally:
        conn.close()


def lfs_batch(server: LiveServer, token: str, repo_id: str, oid: str, size: int,
              transfers: tuple[str, ...] = ("basic",)) -> dict:  # type: ignore[type-arg]
    r = httpx.post(f"{server.url}/{repo_id}.git/info/lfs/objects/batch", headers=auth(token), timeout=30, json={
        "operation": "upload", "transfers": list(transfers), "hash_algo": "sha256",
        "objects": [{"oid": oid, "size": size}]})
    assert r.status_code == 200, r.text
    (obj,) = r.json()["objects"]
    assert "error" not in obj, obj
    return obj


def new_repo(server: LiveServer, *, private: bool = False) -> tuple[str, str, str]:
    """(repo_id, owner name, owner's write token) of a fresh model repo."""
    name = server.make_user()
    token = server.make_token(name, "write")
    repo_id = f"{name}/r{uuid.uuid4().hex[:8]}"
    server.api(token).create_repo(repo_id, private=private)
    return repo_id, name, token


# path traversal in commits ------------------------------------------------------------------------------------------

BAD_PATHS = [
    "..", "a/../b", "../outside.txt", "/etc/passwd", "..\\ddd", "a\\b", ".git/config", "sub/.git/HEAD", "a\x00b",
    "./a", "a/./b", "a//b", "", "x" * 1025,
    # what git on Windows or macOS takes for its own folder (issue 7, finding 11)
    ".GIT/config", ".Git/hooks/x", "git~1/config", ".git./config", ".git /config", ".git::$INDEX_ALLOCATION/x",
    ".g\u200cit/config",
    # invisible, control and look-alike characters
    "evil\u202etxt.exe", "a\u2066b", "a\u200eb", "a\x85b", "a\ufeffb", "m\u043edel.bin", "\uff43onfig.json",
    "models\u2215config.json", "e\u0301t\u00e9.txt",
]

# well-shaped paths (relative, forward slashes, no '.', '..' or empty segment) that only the naming rules refuse
BADLY_NAMED = {p for p in BAD_PATHS if "\\" not in p and not p.startswith("/") and len(p) <= 1024 and "\x00" not in p
               and not {"", ".", ".."} & set(p.split("/"))}


@pytest.mark.parametrize("op", ["file", "lfsFile", "deletedFile"])
def test_commit_with_bad_path_is_rejected_and_branch_does_not_move(server, api, user, repo_id, op):
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"keep", path_in_repo="keep.txt", repo_id=repo_id)
    before = refs(server, user[1], repo_id)
    oid = hashlib.sha256(b"never").hexdigest()
    for path in BAD_PATHS:
        line = {"file": file_line(path), "lfsFile": lfs_line(path, oid, 5),
                "deletedFile": {"key": "deletedFile", "value": {"path": path}}}[op]
        # a good operation alongside: the whole commit must fail, not just the bad line
        r = post_commit(server, user[1], repo_id, ndjson(header(), file_line("good.txt"), line))
        if "\x00" in path:  # no JSON string may hold a NUL, a path no more than any other (web/jsonbody.py)
            assert_error(r, 400, "BadRequest")
        elif op == "deletedFile" and path in BADLY_NAMED:
            # a deletion checks only the path's shape, so that a file committed under a name the rules refuse now
            # can still be removed (test_a_file_named_before_the_rules_can_still_be_deleted); this repo holds none
            assert_error(r, 404, "EntryNotFound")
        else:
            assert_error(r, 422, "InvalidPath")
        assert refs(server, user[1], repo_id) == before, path
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "keep.txt"]


def test_a_file_named_before_the_rules_can_still_be_deleted(server, api, user, repo_id):
    """inhouse 0.1.0 took names the path rules now refuse ('.GIT/config', a bidi override, a non-NFC accent): a repo
    upgraded from it must be able to drop them, through the real client, alone or with their folder."""
    from inhouse.services import commits as commit_service
    from inhouse.services.repo_access import RepoName
    from inhouse.storage.db import repos as repo_store
    from inhouse.vocabulary import RepoType

    api.create_repo(repo_id)
    legacy = [".GIT/config", "evil\u202etxt.exe", "e\u0301t\u00e9.txt", "old/m\u043edel.bin"]
    stores = server.stores
    ns, name = repo_id.split("/")
    with stores.db.write() as conn:  # written as 0.1.0 did, below today's checks
        repo, _ = repo_store.find_repo(conn, RepoType.MODEL, ns, name)
        head = repo_store.get_ref(conn, repo.id, "refs/heads/main")
        sha = commit_service.write_commit(
            stores, conn, repo, base=head, ops=[commit_service.AddFile(p, b"x") for p in legacy], message="old\n",
            author=commit_service.Signature("old", "old@example.com", time.time()))
        assert repo_store.compare_and_set_ref(conn, repo.id, "refs/heads/main", head, sha, time.time())
    assert set(legacy) <= set(api.list_repo_files(repo_id))

    from huggingface_hub import CommitOperationDelete

    api.create_commit(repo_id, commit_message="drop them", operations=[
        CommitOperationDelete(path_in_repo=".GIT/config"), CommitOperationDelete(path_in_repo="evil\u202etxt.exe"),
        CommitOperationDelete(path_in_repo="e\u0301t\u00e9.txt"), CommitOperationDelete(path_in_repo="old/")])
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes"]
    with pytest.raises(HfHubHTTPError) as e:  # what was never held is still not found, and nothing changes
        api.delete_file("evil\u202etxt.exe", repo_id)
    assert e.value.response.status_code == 404


def test_real_client_backslash_path_gets_422(server, api, user, repo_id):
    """The upstream client test: path_in_repo='..\\\\ddd' passes the client's own checks and the server says 422."""
    from huggingface_hub import CommitOperationAdd

    api.create_repo(repo_id)
    before = refs(server, user[1], repo_id)
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_commit(repo_id, operations=[CommitOperationAdd(path_in_repo="..\\ddd", path_or_fileobj=b"x")],
                          commit_message="backslash")
    assert exc.value.response.status_code == 422
    assert exc.value.response.headers["X-Error-Code"] == "InvalidPath"
    assert refs(server, user[1], repo_id) == before


def test_deleted_folder_with_traversal_is_rejected(server, api, user, repo_id):
    api.create_repo(repo_id)
    before = refs(server, user[1], repo_id)
    for path in ["../", "/", "a/../", "a//b/", "./"]:
        r = post_commit(server, user[1], repo_id,
                        ndjson(header(), {"key": "deletedFolder", "value": {"path": path}}))
        assert_error(r, 422, "InvalidPath")
    # a well-shaped name is looked up (deleting a folder only checks the shape, see
    # test_a_file_named_before_the_rules_can_still_be_deleted): no repo holds a '.git' folder
    r = post_commit(server, user[1], repo_id, ndjson(header(), {"key": "deletedFolder", "value": {"path": ".git/"}}))
    assert_error(r, 404, "EntryNotFound")
    assert refs(server, user[1], repo_id) == before
    assert ".gitattributes" in api.list_repo_files(repo_id)


# path traversal in downloads ----------------------------------------------------------------------------------------

def test_resolve_with_dot_dot_segments_never_reads_outside_the_repo(server):
    secret = b"victim-secret-" + uuid.uuid4().hex.encode()
    victim, _, vtoken = new_repo(server, private=True)
    server.api(vtoken).upload_file(path_or_fileobj=secret, path_in_repo="secret.txt", repo_id=victim)
    mine, _, token = new_repo(server)
    server.api(token).upload_file(path_or_fileobj=b"mine", path_in_repo="sub/a.txt", repo_id=mine)
    assert raw_get(server, f"/{mine}/resolve/main/sub/a.txt", token).content == b"mine"

    up = "../" * 6
    enc = "%2e%2e/" * 6
    enc_slash = "..%2F" * 6
    targets = [
        f"/{mine}/resolve/main/{up}{victim}/resolve/main/secret.txt",
        f"/{mine}/resolve/main/{enc}{victim}/resolve/main/secret.txt",
        f"/{mine}/resolve/main/{enc_slash}{victim}/resolve/main/secret.txt",
        f"/{mine}/resolve/main/%2E%2E%2F%2E%2E%2F{victim}%2Fresolve%2Fmain%2Fsecret.txt",
        f"/{mine}/resolve/main/{up}etc/passwd",
        f"/{mine}/resolve/main/{enc}etc/passwd",
        f"/{mine}/resolve/main/%2Fetc%2Fpasswd",
        f"/{mine}/resolve/main//etc/passwd",
        f"/{mine}/resolve/main/sub/../sub/a.txt",
        f"/{mine}/resolve/main/sub/%2e%2e/sub/a.txt",
        f"/{mine}/resolve/..%2F..%2F{victim}/secret.txt",
        f"/{mine}/resolve/{enc}{victim}/resolve/main/secret.txt",
        f"/{mine.split('/')[0]}/%2e%2e/{victim}/resolve/main/secret.txt",
        f"/%2e%2e/{victim.split('/')[1]}/resolve/main/secret.txt",
    ]
    for target in targets:
        r = raw_get(server, target, token)
        assert 400 <= r.status_code < 500, (target, r.status_code)
        assert secret not in r.content and b"root:" not in r.content, target
        assert r.headers.get("X-Error-Code"), target


def test_regular_file_holding_a_foreign_lfs_pointer_cannot_read_another_repos_object(server):
    """A pointer is not a capability: committing the pointer text of an object this repo never received must not
    make the victim's large file downloadable from the attacker's repo."""
    secret = b"private weights " + os.urandom(64)
    oid = hashlib.sha256(secret).hexdigest()
    victim, _, vtoken = new_repo(server, private=True)
    obj = lfs_batch(server, vtoken, victim, oid, len(secret))
    assert httpx.put(obj["actions"]["upload"]["href"], content=secret, timeout=30).status_code == 200
    assert server.stored(oid) == secret

    mine, _, token = new_repo(server)
    before = refs(server, token, mine)
    pointer = LfsPointer(oid, len(secret)).encode()
    r = post_commit(server, token, mine, ndjson(header(), file_line("stolen.bin", pointer)))
    assert 400 <= r.status_code < 500, r.text
    assert refs(server, token, mine) == before
    got = raw_get(server, f"/{mine}/resolve/main/stolen.bin", token)
    assert secret not in got.content and got.status_code == 404
    # an lfsFile line for it is refused too
    r = post_commit(server, token, mine, ndjson(header(), lfs_line("stolen.bin", oid, len(secret))))
    assert_error(r, 400)
    assert refs(server, token, mine) == before


# invalid repo ids ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a--b", "..", "x.git", "a" * 97, "modèle", "名前", "", "-a", "a-", ".a", "a b",
                                  "a/b", "a%2Fb", "x.GIT", "abc\n", "a\u202eb", "\uff4dodel", "m\u043edel", "a\x00"])
def test_create_with_invalid_repo_name_is_400(server, user, name):
    r = httpx.post(f"{server.url}/api/repos/create", headers=auth(user[1]), timeout=30,
                   json={"name": name, "type": "model"})
    assert r.status_code == 400, (name, r.status_code, r.text)
    assert r.headers["X-Error-Code"] in ("InvalidRepoId", "BadRequest")
    assert r.json()["error"] and r.headers["X-Error-Message"]
    listed = httpx.get(f"{server.url}/api/models", params={"author": user[0]}, headers=auth(user[1]), timeout=30)
    assert listed.json() == []


def test_create_under_reserved_namespace_is_400_even_for_an_admin(server):
    admin = server.make_user(admin=True)
    token = server.make_token(admin, "write")
    for ns in ["api", "datasets", "spaces", "models", "settings", "API"]:
        r = httpx.post(f"{server.url}/api/repos/create", headers=auth(token), timeout=30,
                       json={"name": "x", "organization": ns, "type": "model"})
        assert_error(r, 400, "InvalidRepoId")
        assert "reserved" in r.headers["X-Error-Message"]


def test_longest_valid_name_is_accepted(server, user):
    r = httpx.post(f"{server.url}/api/repos/create", headers=auth(user[1]), timeout=30,
                   json={"name": "a" * 96, "type": "model"})
    assert r.status_code == 200, r.text


# malformed NDJSON ---------------------------------------------------------------------------------------------------

def test_malformed_commit_bodies_are_400_and_commit_nothing(server, api, user, repo_id):
    api.create_repo(repo_id)
    before = refs(server, user[1], repo_id)
    never = os.urandom(32)
    never_oid = hashlib.sha256(never).hexdigest()
    good = file_line("good.txt", b"good")
    bodies = {
        "not json": ndjson(header(), good) + b"\n{not json",
        "not utf-8": ndjson(header(), good) + b"\n\xff\xfe",
        "json array": ndjson(header(), good) + b"\n[1, 2]",
        "value not an object": ndjson(header(), good, {"key": "file", "value": "x"}),
        "missing header": ndjson(good),
        "empty body": b"",
        "header only": ndjson(header()),
        "unknown key": ndjson(header(), good, {"key": "copyFile", "value": {"path": "z"}}),
        "missing key": ndjson(header(), good, {"value": {"path": "z"}}),
        "bad base64": ndjson(header(), good,
                             {"key": "file", "value": {"path": "b.txt", "content": "!!!not base64!!!",
                                                       "encoding": "base64"}}),
        "other encoding": ndjson(header(), good,
                                 {"key": "file", "value": {"path": "b.txt", "content": "x", "encoding": "utf-8"}}),
        "content not a string": ndjson(header(), good, {"key": "file", "value": {"path": "b.txt", "content": 5}}),
        "path not a string": ndjson(header(), {"key": "file", "value": {"path": 3, "content": ""}}),
        "lfs never uploaded": ndjson(header(), good, lfs_line("w.bin", never_oid, len(never))),
        "lfs oid not sha256": ndjson(header(), good, lfs_line("w.bin", "abc", 3)),
        "lfs negative size": ndjson(header(), good, lfs_line("w.bin", never_oid, -1)),
        "lfs other algo": ndjson(header(), good, {"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha1",
                                                                             "oid": never_oid, "size": 1}}),
        "summary not a string": ndjson({"key": "header", "value": {"summary": 5}}, good),
        "parent not hex": ndjson(header(parent="zzzzzzzz"), good),
    }
    for what, body in bodies.items():
        r = post_commit(server, user[1], repo_id, body)
        assert r.status_code == 400, (what, r.status_code, r.text)
        assert r.headers["X-Error-Code"] in ("BadRequest", "IntegrityError"), what
        assert r.headers["X-Error-Message"], what
        assert refs(server, user[1], repo_id) == before, what
    assert api.list_repo_files(repo_id) == [".gitattributes"]


def test_lfs_file_with_wrong_size_is_400(server, api, user, repo_id):
    api.create_repo(repo_id)
    data = os.urandom(2048)
    oid = hashlib.sha256(data).hexdigest()
    obj = lfs_batch(server, user[1], repo_id, oid, len(data))
    assert httpx.put(obj["actions"]["upload"]["href"], content=data, timeout=30).status_code == 200
    before = refs(server, user[1], repo_id)
    r = post_commit(server, user[1], repo_id, ndjson(header(), lfs_line("w.bin", oid, len(data) + 1)))
    assert_error(r, 400)
    assert refs(server, user[1], repo_id) == before
    # the right size commits
    r = post_commit(server, user[1], repo_id, ndjson(header(), lfs_line("w.bin", oid, len(data))))
    assert r.status_code == 200, r.text
    assert refs(server, user[1], repo_id) != before


# LFS uploads with wrong bytes, bad links, missing parts --------------------------------------------------------------

def test_lfs_put_with_wrong_bytes_or_size_stores_nothing(server, api, user, repo_id):
    api.create_repo(repo_id)
    data = os.urandom(4096)
    oid = hashlib.sha256(data).hexdigest()
    href = lfs_batch(server, user[1], repo_id, oid, len(data))["actions"]["upload"]["href"]
    wrong = {
        "same size, other bytes": os.urandom(len(data)),
        "truncated": data[:-1],
        "one byte too many": data + b"\0",
        "empty": b"",
    }
    for what, body in wrong.items():
        r = httpx.put(href, content=body, timeout=30)
        assert 400 <= r.status_code < 500, (what, r.status_code)
        assert r.headers["X-Error-Code"] == "IntegrityError", what
        assert server.stored(oid) is None, what
    # nothing to verify, and a commit naming the object fails
    verify = lfs_batch(server, user[1], repo_id, oid, len(data))["actions"]["verify"]["href"]
    r = httpx.post(verify, headers=auth(user[1]), json={"oid": oid, "size": len(data)}, timeout=30)
    assert_error(r, 400, "IntegrityError")
    before = refs(server, user[1], repo_id)
    r = post_commit(server, user[1], repo_id, ndjson(header(), lfs_line("w.bin", oid, len(data))))
    assert_error(r, 400)
    assert refs(server, user[1], repo_id) == before
    # and the right bytes still go through afterwards
    assert httpx.put(href, content=data, timeout=30).status_code == 200
    assert server.stored(oid) == data


def test_lfs_transfer_links_with_bad_signatures_are_403(server, api, user, repo_id):
    api.create_repo(repo_id)
    data = os.urandom(1000)
    oid = hashlib.sha256(data).hexdigest()
    href = lfs_batch(server, user[1], repo_id, oid, len(data))["actions"]["upload"]["href"]
    url = httpx.URL(href)
    exp, sig = url.params["exp"], url.params["sig"]
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    signer = Signer(load_or_create_secret(server.data_dir))
    msg = url.path.removeprefix("/api/lfs-transfer/")
    old_exp, old_sig = signer.sign(msg, -60)  # genuinely signed, but expired a minute ago
    variants = {
        "tampered signature": url.copy_with(params={"exp": exp, "sig": flipped}),
        "extended expiry": url.copy_with(params={"exp": str(int(exp) + 3600), "sig": sig}),
        "no signature": url.copy_with(params={"exp": exp}),
        "no expiry": url.copy_with(params={"sig": sig}),
        "garbage expiry": url.copy_with(params={"exp": "soon", "sig": sig}),
        "expired": url.copy_with(params={"exp": str(old_exp), "sig": old_sig}),
        "other size": url.copy_with(path=url.path.replace(f"/{len(data)}", f"/{len(data) + 1}"),
                                    params={"exp": exp, "sig": sig}),
    }
    for what, bad in variants.items():
        r = httpx.put(bad, content=data, timeout=30)
        assert_error(r, 403, "Forbidden")
        if what == "expired":
            assert "expired" in r.headers["X-Error-Message"]
        assert server.stored(oid) is None, what
    assert httpx.put(href, content=data, timeout=30).status_code == 200


@pytest.fixture(scope="module")
def small_server(tmp_path_factory: pytest.TempPathFactory):
    """A second server with tiny limits: 64 KiB commits, 8 KiB JSON bodies, 1 KiB LFS parts."""
    srv = LiveServer(tmp_path_factory.mktemp("small") / "data", env={
        "INHOUSE_MAX_COMMIT_BYTES": str(64 * 1024), "INHOUSE_MAX_JSON_BYTES": str(8 * 1024),
        "INHOUSE_LFS_PART_SIZE": "1024",
    }).start()
    yield srv
    srv.close()


def test_multipart_upload_with_a_missing_part_is_400_and_stores_nothing(small_server):
    server = small_server
    repo_id, _, token = new_repo(server)
    data = os.urandom(3000)  # three parts of 1 KiB
    oid = hashlib.sha256(data).hexdigest()
    obj = lfs_batch(server, token, repo_id, oid, len(data), ("basic", "multipart"))
    upload = obj["actions"]["upload"]
    parts = {int(k): v for k, v in upload["header"].items() if k.isdigit()}
    assert sorted(parts) == [1, 2, 3] and upload["header"]["chunk_size"] == "1024"
    etags = {}
    for n in (1, 3):
        r = httpx.put(parts[n], content=data[(n - 1) * 1024:n * 1024], timeout=30)
        assert r.status_code == 200, r.text
        etags[n] = r.headers["ETag"]
    all_three = [{"partNumber": n, "etag": etags.get(n, '"x"')} for n in (1, 2, 3)]
    for listed in (all_three, [p for p in all_three if p["partNumber"] != 2]):
        r = httpx.post(upload["href"], json={"oid": oid, "parts": listed}, timeout=30)
        assert_error(r, 400, "BadRequest")
        assert server.stored(oid) is None
    # a part number outside 1..3 is refused too
    r = httpx.put(parts[3].replace("/part/3", "/part/4"), content=b"x", timeout=30)
    assert_error(r, 403)  # the link was never signed for part 4
    before = refs(server, token, repo_id)
    r = post_commit(server, token, repo_id, ndjson(header(), lfs_line("w.bin", oid, len(data))))
    assert_error(r, 400)
    assert refs(server, token, repo_id) == before
    # uploading the missing part and completing again works
    assert httpx.put(parts[2], content=data[1024:2048], timeout=30).status_code == 200
    r = httpx.post(upload["href"], json={"oid": oid, "parts": all_three}, timeout=30)
    assert r.status_code == 200, r.text
    assert server.stored(oid) == data


# oversized bodies ---------------------------------------------------------------------------------------------------

def test_oversized_commit_and_json_bodies_are_413(small_server):
    server = small_server
    repo_id, _, token = new_repo(server)
    before = refs(server, token, repo_id)
    big = ndjson(header(), file_line("big.bin", os.urandom(64 * 1024)))
    r = post_commit(server, token, repo_id, big)
    assert_error(r, 413, "PayloadTooLarge")

    def chunked(body: bytes):  # no Content-Length: the limit must hold while streaming too
        for i in range(0, len(body), 4096):
            yield body[i:i + 4096]

    r = httpx.post(f"{server.url}/api/models/{repo_id}/commit/main", content=chunked(big), timeout=30,
                   headers={**auth(token), "Content-Type": "application/x-ndjson"})
    assert_error(r, 413, "PayloadTooLarge")
    assert refs(server, token, repo_id) == before

    files = [{"path": f"f{i:05d}.txt", "size": 1, "sample": ""} for i in range(400)]
    r = httpx.post(f"{server.url}/api/models/{repo_id}/preupload/main", headers=auth(token), timeout=30,
                   json={"files": files})
    assert_error(r, 413, "PayloadTooLarge")
    r = httpx.post(f"{server.url}/api/repos/create", headers=auth(token), timeout=30,
                   content=chunked(json.dumps({"name": "x", "pad": "y" * 10_000}).encode()))
    assert_error(r, 413, "PayloadTooLarge")
    # bodies under the limits still work on the same server
    r = post_commit(server, token, repo_id, ndjson(header(), file_line("small.bin", os.urandom(1024))))
    assert r.status_code == 200, r.text


# tokens -------------------------------------------------------------------------------------------------------------

def _assert_invalid_credentials(server: LiveServer, token: str, repo_id: str) -> None:
    for method, url in [("GET", f"{server.url}/api/whoami-v2"), ("GET", f"{server.url}/api/models/{repo_id}"),
                        ("POST", f"{server.url}/api/models/{repo_id}/commit/main")]:
        r = httpx.request(method, url, headers=auth(token), timeout=30,
                          content=ndjson(header(), file_line("x.txt")) if method == "POST" else None)
        assert r.status_code == 401, (url, r.status_code)
        assert r.headers["X-Error-Message"] == INVALID_CREDENTIALS


def test_forged_revoked_and_expired_tokens_are_401(server, api, user, repo_id):
    api.create_repo(repo_id)
    before = refs(server, user[1], repo_id)
    _assert_invalid_credentials(server, "ih_" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
                                repo_id)
    _assert_invalid_credentials(server, user[1] + "x", repo_id)  # a real token, one character off

    tok, secret = user_service.create_token(server.stores, user[0], role=TokenRole.WRITE)
    assert server.api(secret).whoami()["name"] == user[0]
    user_service.revoke_token(server.stores, tok.id)
    _assert_invalid_credentials(server, secret, repo_id)

    short = server.make_token(user[0], "write", expires_in_s=3)  # room for a slow machine to make the first call
    assert server.api(short).whoami()["name"] == user[0]
    time.sleep(3.2)
    _assert_invalid_credentials(server, short, repo_id)
    r = httpx.get(f"{server.url}/api/whoami-v2", headers={"Authorization": "Basic !!!"}, timeout=30)
    assert r.status_code == 401 and r.headers["X-Error-Message"] == INVALID_CREDENTIALS
    assert refs(server, user[1], repo_id) == before


def test_read_token_cannot_upload_or_create(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    before = refs(server, user[1], repo_id)
    reader = server.api(server.make_token(user[0], "read"))
    assert reader.whoami()["name"] == user[0]
    with pytest.raises(HfHubHTTPError) as exc:
        reader.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert exc.value.response.status_code == 403
    big = tmp_path / "w.bin"
    big.write_bytes(os.urandom(1024 * 1024))
    with pytest.raises(HfHubHTTPError) as exc:
        reader.upload_file(path_or_fileobj=str(big), path_in_repo="w.bin", repo_id=repo_id)
    assert exc.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as exc:
        reader.create_repo(f"{user[0]}/by-reader")
    assert exc.value.response.status_code == 403
    # the raw calls a client would make after preupload are refused as well
    r = post_commit(server, reader.token, repo_id, ndjson(header(), file_line("x.txt")))
    assert_error(r, 403, "Forbidden")
    r = httpx.post(f"{server.url}/{repo_id}.git/info/lfs/objects/batch", headers=auth(reader.token), timeout=30,
                   json={"operation": "upload", "objects": [{"oid": "a" * 64, "size": 1}]})
    assert_error(r, 403, "Forbidden")
    assert refs(server, user[1], repo_id) == before
    assert reader.list_repo_files(repo_id) == [".gitattributes"]  # reading still works


# markup in model cards ----------------------------------------------------------------------------------------------

CARD = b"""---
license: mit
---
# Model <script>alert('card')</script>

<img src="x" onerror="alert(1)">

[click me](javascript:alert(document.cookie)) and [me too](JaVaScRiPt:alert(2))
<a href="javascript:alert(3)">raw link</a>
![img](javascript:alert(4))
<iframe src="https://evil.example"></iframe>
<svg onload=alert(5)></svg>
[ok](https://example.com/docs)
"""


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def test_card_markup_is_stored_byte_identical_and_served_inert(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=CARD, path_in_repo="README.md", repo_id=repo_id)
    got = hf_hub_download(repo_id, "README.md", endpoint=server.url, cache_dir=tmp_path / "c", token=user[1])
    assert Path(got).read_bytes() == CARD
    r = httpx.get(f"{server.url}/{repo_id}/resolve/main/README.md", headers=auth(user[1]), timeout=30)
    assert r.status_code == 200 and r.content == CARD
    csp = r.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert not r.headers["Content-Type"].startswith("text/html")

    html = render_card_html(CARD.decode())
    parser = _Tags()
    parser.feed(html)
    names = [t for t, _ in parser.tags]
    assert "script" not in names and "iframe" not in names and "svg" not in names
    for tag, attrs in parser.tags:
        for k, v in attrs:
            assert not k.lower().startswith("on"), (tag, k)
            if k in ("href", "src"):
                assert not (v or "").replace(" ", "").lower().startswith("javascript:"), (tag, k, v)
    assert ("a", [("href", "https://example.com/docs"), ("rel", "nofollow noopener noreferrer")]) in parser.tags


# names git or another OS would misread, invisible characters (issue 7, finding 11) --------------------------------

def test_git_folder_lookalikes_and_invisible_characters_are_refused_for_the_real_client(server, api, user, repo_id):
    api.create_repo(repo_id)
    before = refs(server, user[1], repo_id)
    for path, problem in [(".GIT/config", ".git"), (".Git/hooks/post-checkout", ".git"), ("git~1/config", "git~1"),
                          (".git./config", ".git"), (".git /config", ".git"), ("evil\u202etxt.exe", "RIGHT-TO-LEFT"),
                          ("a\u2066b.txt", "LEFT-TO-RIGHT ISOLATE"), ("a\x85b.txt", "U+0085"),
                          ("m\u043edel.bin", "Cyrillic"), ("\uff43onfig.json", "looks like 'c'")]:
        with pytest.raises(HfHubHTTPError) as exc:
            api.upload_file(path_or_fileobj=b"x", path_in_repo=path, repo_id=repo_id)
        response = exc.value.response
        assert response.status_code == 422 and response.headers["X-Error-Code"] == "InvalidPath", path
        assert problem in response.json()["error"], (path, response.json())
    assert refs(server, user[1], repo_id) == before


def test_files_named_in_any_script_upload_and_download(server, api, user, repo_id, tmp_path):
    api.create_repo(repo_id)
    files = {"données/été.csv": b"a,b\n", "模型/設定.json": b"{}", "русский/файл.txt": b"privet", "🤗.md": b"hi"}
    for path, content in files.items():
        api.upload_file(path_or_fileobj=content, path_in_repo=path, repo_id=repo_id)
    assert set(files) <= set(api.list_repo_files(repo_id))
    for path, content in files.items():
        got = hf_hub_download(repo_id, path, endpoint=server.url, cache_dir=tmp_path / "c", token=user[1])
        assert Path(got).read_bytes() == content


def test_branch_and_tag_names_refuse_invisible_characters(server, api, user, repo_id):
    api.create_repo(repo_id)
    before = refs(server, user[1], repo_id)
    for name in ["evil\u202etag", "a\u200bb", "x.lock/y"]:
        r = httpx.post(f"{server.url}/api/models/{repo_id}/branch/{quote(name, safe='')}", headers=auth(user[1]),
                       timeout=30)
        assert_error(r, 400, "BadRequest")
        r = httpx.post(f"{server.url}/api/models/{repo_id}/tag/main", headers=auth(user[1]), timeout=30,
                       json={"tag": name})
        assert_error(r, 400, "BadRequest")
    assert refs(server, user[1], repo_id) == before


# numbers, nesting and bytes no handler expected (issue 7, finding 14) ---------------------------------------------

def test_hostile_numbers_nesting_and_bytes_get_a_clear_4xx(server, api, user, repo_id):
    api.create_repo(repo_id)
    api.create_discussion(repo_id, title="first")
    token = user[1]
    H = auth(token)
    cases: list[tuple[str, object]] = [
        ("deep JSON", httpx.post(f"{server.url}/api/repos/create", headers=H, content=b"[" * 100_000, timeout=30)),
        ("deep object", httpx.post(f"{server.url}/api/repos/create", headers=H, content=b'{"a":' * 50_000,
                                   timeout=30)),
        ("deep paths-info", httpx.post(f"{server.url}/api/models/{repo_id}/paths-info/main", timeout=30,
                                       headers={**H, "Content-Type": "application/json"}, content=b"[" * 100_000)),
        ("huge token id", httpx.delete(f"{server.url}/api/tokens/99999999999999999999999", headers=H, timeout=30)),
        ("unicode digit token id", httpx.delete(f"{server.url}/api/tokens/%C2%B2", headers=H, timeout=30)),
        ("huge discussion", httpx.get(f"{server.url}/api/models/{repo_id}/discussions/99999999999999999999999",
                                      headers=H, timeout=30)),
    ]
    for q in ["p=99999999999999999999999", "p=-5", "p=x"]:
        cases.append((q, httpx.get(f"{server.url}/api/models/{repo_id}/discussions?{q}", headers=H, timeout=30)))
    for q in ["cursor=99999999999999999999999", "cursor=-1", "cursor=x"]:
        for url in [f"/api/models/{repo_id}/tree/main", f"/api/models/{repo_id}/commits/main", "/api/models"]:
            cases.append((f"{url}?{q}", httpx.get(f"{server.url}{url}?{q}", headers=H, timeout=30)))
    for q in ["limit=-5", "limit=0", "limit=x", "limit=1e3"]:
        cases.append((q, httpx.get(f"{server.url}/api/models/{repo_id}/commits/main?{q}", headers=H, timeout=30)))
    for target in [f"/{repo_id}/resolve/main/%ED%A0%80", f"/api/models/{repo_id}/tree/main/%ED%A0%80",
                   f"/api/models/{repo_id}/revision/%00", f"/api/models/{repo_id}/tree/%00",
                   f"/api/models/{repo_id}/commits/%00", f"/{repo_id}/resolve/%00/x", f"/{repo_id}/resolve/ma%00in/x",
                   f"/api/models/{repo_id}/revision/%ED%A0%80", f"/api/models?author=%00",
                   f"/api/models/{repo_id}/revision/main%01"]:
        cases.append((target, raw_get(server, target, token)))
    for what, r in cases:
        assert 400 <= r.status_code < 500, (what, r.status_code, r.text[:200])  # type: ignore[attr-defined]
        assert r.headers.get("X-Error-Code") and r.headers.get("X-Error-Message"), what  # type: ignore[attr-defined]
    # limits above the largest page are served as the largest page, and the server is still answering
    r = httpx.get(f"{server.url}/api/models/{repo_id}/commits/main?limit=99999999999999999999999", headers=H,
                  timeout=30)
    assert r.status_code == 200 and len(r.json()) == 1
    assert api.list_repo_commits(repo_id)[0].title == "initial commit"


@pytest.mark.parametrize("days", ["1e308", "1e400", "NaN", "Infinity", "-Infinity", "-1", "0", "true", '"7"', "[]",
                                  "10000000000000000000000000", "3651"])
def test_token_lifetimes_out_of_range_are_400(server, user, days):
    r = httpx.post(f"{server.url}/api/tokens", timeout=30, headers={**auth(user[1]), "Content-Type": "application/json"},
                   content=f'{{"role": "read", "expiresInDays": {days}}}'.encode())
    assert_error(r, 400, "BadRequest")


def test_token_lifetimes_in_range_still_work(server, user):
    for days in (0.5, 3650):
        r = httpx.post(f"{server.url}/api/tokens", headers=auth(user[1]), timeout=30,
                       json={"role": "read", "expiresInDays": days})
        assert r.status_code == 200, r.text
        assert server.api(r.json()["token"]).whoami()["name"] == user[0]


def test_json_strings_with_nul_or_lone_surrogates_are_400(server, user):
    for body in [b'{"name": "a\\u0000b"}', b'{"name": "\\ud800"}', b'{"\\ud800": 1}', b'{"name": "\xed\xa0\x80"}']:
        r = httpx.post(f"{server.url}/api/organizations", timeout=30, content=body,
                       headers={**auth(user[1]), "Content-Type": "application/json"})
        assert_error(r, 400, "BadRequest")
