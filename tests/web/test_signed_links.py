"""Signed links are laid out and read back by the web layer alone (issue 7, Structure: HTTP syntax in web only). The
services sign typed grants (services/largefiles/lfs_grants.py, services/largefiles/xet.py's XorbGrant); web/hub/lfs.py
and web/hub/cas.py turn them into URLs and read URLs back into grants. On a live server: the links of a batch answer
and of a reconstruction work as handed out, and a link whose parts do not read as a grant, or whose signature does
not hold, is 403 Forbidden, whatever those parts hold. A signature with a non-ASCII character was a 500 on both kinds
of link (it reached hmac.compare_digest, which refuses to compare such strings)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.support.data import random_bytes
from tests.support.live import LiveServer
from tests.support.xet_cas import account, commit_lfs, make_upload, post_shard, post_xorb, rejected, xet_token

LFS_JSON = "application/vnd.git-lfs+json"


PART = 64 * 1024  # this server's LFS part size: a small file goes up in parts


@pytest.fixture(scope="module")
def links_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path_factory.mktemp("signed-links") / "data", env={"INHOUSE_LFS_PART_SIZE": str(PART)}).start()
    yield srv
    srv.close()


def _batch(server: LiveServer, token: str, repo_id: str, operation: str, oid: str, size: int) -> dict:  # type: ignore[type-arg]
    r = httpx.post(f"{server.url}/{repo_id}.git/info/lfs/objects/batch", timeout=30,
                   headers={"Authorization": f"Bearer {token}", "Accept": LFS_JSON, "Content-Type": LFS_JSON},
                   json={"operation": operation, "transfers": ["basic", "multipart"],
                         "objects": [{"oid": oid, "size": size}]})
    assert r.status_code == 200, r.text
    (obj,) = r.json()["objects"]
    return obj["actions"]  # type: ignore[no-any-return]


def _forbidden(r: httpx.Response) -> None:
    assert r.status_code == 403, (r.status_code, r.text[:300])
    assert r.headers["X-Error-Code"] == "Forbidden"


def test_lfs_links_read_back_as_the_grants_they_were_signed_as(links_server: LiveServer, lfs_only: None) -> None:
    server = links_server
    name = server.make_user()
    user = (name, server.make_token(name, "write"))
    api = server.api(user[1])
    repo_id = f"{name}/r{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id, private=True)
    data = os.urandom(200_000)
    oid = hashlib.sha256(data).hexdigest()
    api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=repo_id)
    download = httpx.URL(_batch(server, user[1], repo_id, "download", oid, len(data))["download"]["href"])
    token_id = download.params["t"]
    prefix = f"/api/lfs-transfer/{download.path.split('/')[3]}/{oid}/{len(data)}"
    assert download.path == prefix + "/get"
    assert set(download.params) == {"t", "c", "exp", "sig"}
    assert httpx.get(download, timeout=30).content == data

    malformed = {
        "non-ASCII signature": download.copy_merge_params({"sig": "é" * 64}),
        "signature cut short": download.copy_merge_params({"sig": download.params["sig"][:10]}),
        "no signature": download.copy_remove_param("sig"),
        "token not a number": download.copy_merge_params({"t": "one"}),
        "token written with a leading zero": download.copy_merge_params({"t": "0" + token_id}),
        "token with a sign": download.copy_merge_params({"t": "+" + token_id}),
        "expiry in other digits": download.copy_merge_params({"exp": "١٢٣٤٥٦٧٨٩٠"}),
        "expiry too long": download.copy_merge_params({"exp": "9" * 40}),
        "repo written with a leading zero": download.copy_with(path=download.path.replace(
            "/api/lfs-transfer/", "/api/lfs-transfer/0")),
        "size of forty digits": download.copy_with(path=f"{prefix.rsplit('/', 1)[0]}/{'9' * 40}/get"),
        "size written with a leading zero": download.copy_with(path=f"{prefix.rsplit('/', 1)[0]}/0{len(data)}/get"),
    }
    for what, url in malformed.items():
        r = httpx.get(url, timeout=30)
        _forbidden(r)
        assert data not in r.content, what

    # an upload in parts: each part link, the completion and the verification read back as theirs, and only theirs
    big = random_bytes(PART + 1000, 7)
    big_oid = hashlib.sha256(big).hexdigest()
    actions = _batch(server, user[1], repo_id, "upload", big_oid, len(big))
    header = actions["upload"]["header"]
    size = int(header.pop("chunk_size"))
    assert sorted(header) == ["1", "2"]
    first = httpx.URL(header["1"])
    _forbidden(httpx.put(first.copy_with(path=first.path.replace("/part/1", "/part/01")), content=big[:size]))
    _forbidden(httpx.put(first.copy_with(path=first.path.replace("/part/1", "/part/2")), content=big[:size]))
    _forbidden(httpx.put(first.copy_with(path=first.path.replace("/part/1", "/part/" + "9" * 30)),
                         content=big[:size]))
    etags = [httpx.put(header[n], content=big[(int(n) - 1) * size:int(n) * size], timeout=60) for n in ("1", "2")]
    assert [r.status_code for r in etags] == [200, 200]
    complete = httpx.URL(actions["upload"]["href"])
    parts = [{"partNumber": n, "etag": r.headers["ETag"]} for n, r in ((1, etags[0]), (2, etags[1]))]
    _forbidden(httpx.post(str(complete).replace("/complete?", "/verify?"), json={"oid": big_oid, "size": len(big)}))
    assert httpx.post(complete, json={"oid": big_oid, "parts": parts}, timeout=60).status_code == 200
    assert httpx.post(actions["verify"]["href"], json={"oid": big_oid, "size": len(big)}).status_code == 200
    assert server.stored(big_oid) == big


def test_xorb_links_read_back_as_the_grants_they_were_signed_as(links_server: LiveServer) -> None:
    server = links_server
    owner = account(server, private=True)
    up = make_upload(random_bytes(300_000, 91))
    tok = xet_token(server, owner)
    assert post_xorb(server, tok, up.xorb_hash, up.xorb).status_code == 200
    assert post_shard(server, tok, up.shard).status_code == 200
    assert commit_lfs(server, owner, owner.repo_id, "w.bin", up).status_code == 200
    read = xet_token(server, owner, "read")
    r = httpx.get(f"{server.url}/cas/v1/reconstructions/{up.file_hash}",
                  headers={"Authorization": f"Bearer {read['accessToken']}"})
    assert r.status_code == 200, r.text
    (fetch,) = r.json()["fetch_info"][up.xorb_hash]
    url = httpx.URL(fetch["url"])
    start, end = fetch["url_range"]["start"], fetch["url_range"]["end"]
    assert url.path == f"/cas/xorb-data/{up.xorb_hash}"
    assert list(url.params) == ["r", "p", "t", "exp", "sig"] and url.params["r"] == f"{start}-{end}"
    span = {"Range": f"bytes={start}-{end}"}
    assert httpx.get(url, headers=span).content == up.xorb[start:end + 1]

    p, t = url.params["p"], url.params["t"]
    malformed = {
        "non-ASCII signature": url.copy_merge_params({"sig": "é" * 64}),
        "no signature": url.copy_remove_param("sig"),
        "no ranges": url.copy_remove_param("r"),
        "empty ranges": url.copy_merge_params({"r": ""}),
        "a trailing comma": url.copy_merge_params({"r": f"{start}-{end},"}),
        "ranges not numbers": url.copy_merge_params({"r": "a-b"}),
        "a range of forty digits": url.copy_merge_params({"r": f"{start}-{'9' * 40}"}),
        "a range with a leading zero": url.copy_merge_params({"r": f"0{start}-{end}"}),
        "a wider range": url.copy_merge_params({"r": f"{start}-{end + 1}"}),
        "repo not a number": url.copy_merge_params({"p": "x"}),
        "repo with a leading zero": url.copy_merge_params({"p": "0" + p}),
        "token with a sign": url.copy_merge_params({"t": "-" + t}),
        "expiry in other digits": url.copy_merge_params({"exp": "¹²"}),
        "upper-case hash": url.copy_with(path=url.path.upper().replace("/CAS/XORB-DATA/", "/cas/xorb-data/"),
                                         params=url.params),
    }
    for what, bad in malformed.items():
        r = httpx.get(bad, headers=span)
        if what == "upper-case hash":  # the route takes either case and reads it as the same hash
            assert r.status_code == 206 and r.content == up.xorb[start:end + 1]
            continue
        rejected(r, 403, "Forbidden")
        assert "not valid" in r.headers["X-Error-Message"], what
        assert up.xorb[start:end + 1] not in r.content
