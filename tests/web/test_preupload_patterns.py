"""Preupload evaluates .gitignore and .gitattributes patterns in linear time, within caps (issue 7, finding 3).

`gitIgnore: "**/**/**/**/**/**/**/**/zz"` with a deep path used to cost seconds per path (hours with more `**`),
inside a regex that holds the GIL, so every other request waited. Before the fix these tests hang until their
timeout; no assertion here is about time.
"""

from __future__ import annotations

import base64
import threading

import httpx
import pytest
from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import HfHubHTTPError

from inhouse.services.globs import MAX_PATTERNS
from tests.support.live import LiveServer

CRAFTED = "/".join(["**"] * 16) + "/zz\n"
DEEP = "a/" * 200 + "b.txt"  # 201 levels: C(200, 16) ways for a backtracking matcher to place the `**`s


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ask(path: str, content: bytes = b"plain text\n") -> dict[str, object]:
    return {"path": path, "size": len(content), "sample": base64.b64encode(content).decode()}


def preupload(server: LiveServer, token: str, repo_id: str, files: list[dict[str, object]],
              git_ignore: str | None = None) -> httpx.Response:
    body: dict[str, object] = {"files": files}
    if git_ignore is not None:
        body["gitIgnore"] = git_ignore
    return httpx.post(f"{server.url}/api/models/{repo_id}/preupload/main", json=body, headers=auth(token),
                      timeout=240)


@pytest.mark.timeout(300)
def test_crafted_gitignore_is_answered_and_other_requests_are_too(server, api, user, repo_id):
    api.create_repo(repo_id)
    token = user[1]
    files = [ask(f"{DEEP[:-5]}{i}.txt") for i in range(50)] + [ask("a/b/zz"), ask("zz"), ask(DEEP + "x/zz")]
    answers: list[httpx.Response] = []
    runs = [threading.Thread(target=lambda: answers.append(preupload(server, token, repo_id, files, CRAFTED)))
            for _ in range(2)]
    for t in runs:
        t.start()
    # Unrelated requests sent while the crafted ones are in flight are answered.
    for _ in range(5):
        r = httpx.get(f"{server.url}/api/models/{repo_id}", headers=auth(token), timeout=240)
        assert r.status_code == 200 and r.json()["id"] == repo_id
    for t in runs:
        t.join()
    assert len(answers) == 2
    for r in answers:
        assert r.status_code == 200, r.text
        ignored = {f["path"]: f["shouldIgnore"] for f in r.json()["files"]}
        assert ignored == {**{f["path"]: False for f in files[:50]}, "a/b/zz": True, "zz": True, DEEP + "x/zz": True}


@pytest.mark.timeout(300)
def test_real_client_skips_what_a_crafted_gitignore_ignores(api, repo_id):
    api.create_repo(repo_id)
    api.create_commit(repo_id, commit_message="crafted .gitignore", operations=[
        CommitOperationAdd(".gitignore", CRAFTED.encode()),  # the client sends it as the preupload's gitIgnore
        CommitOperationAdd(DEEP, b"kept"),
        CommitOperationAdd("a/b/zz", b"ignored"),
        CommitOperationAdd("zz", b"ignored"),
    ])
    files = set(api.list_repo_files(repo_id))
    assert {".gitignore", DEEP} <= files
    assert not {"a/b/zz", "zz"} & files


def test_too_many_gitignore_patterns_are_refused_with_413(server, api, user, repo_id):
    api.create_repo(repo_id)
    before = api.list_repo_files(repo_id)
    big = "".join(f"pattern{i}\n" for i in range(MAX_PATTERNS + 1))
    r = preupload(server, user[1], repo_id, [ask("x.txt")], big)
    assert r.status_code == 413 and r.headers["X-Error-Code"] == "PayloadTooLarge"
    assert f"The 'gitIgnore' of this request has {MAX_PATTERNS + 1} patterns" in r.headers["X-Error-Message"]
    # comments and blank lines cost nothing to match and do not count
    r = preupload(server, user[1], repo_id, [ask("x.txt")], "# comment\n\n" * 10 * MAX_PATTERNS + "x.txt\n")
    assert r.status_code == 200 and r.json()["files"][0]["shouldIgnore"] is True
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_commit(repo_id, commit_message="too many patterns", operations=[
            CommitOperationAdd(".gitignore", big.encode()), CommitOperationAdd("x.txt", b"x")])
    assert exc.value.response.status_code == 413
    assert api.list_repo_files(repo_id) == before


@pytest.mark.timeout(300)
def test_gitattributes_patterns_are_linear_and_capped(server, api, user, repo_id):
    api.create_repo(repo_id)
    attributes = f"{CRAFTED.strip()} filter=lfs diff=lfs merge=lfs -text\n/data** filter=lfs\n"
    api.upload_file(path_or_fileobj=attributes.encode(), path_in_repo=".gitattributes", repo_id=repo_id)
    r = preupload(server, user[1], repo_id, [ask(DEEP), ask(DEEP + "x/zz"), ask("data/x/y.txt")])
    assert r.status_code == 200, r.text
    modes = {f["path"]: f["uploadMode"] for f in r.json()["files"]}
    # `/data**` covers data/x/y.txt as git reads it (the literal start is matched on its own)
    assert modes == {DEEP: "regular", DEEP + "x/zz": "lfs", "data/x/y.txt": "lfs"}

    # A .gitattributes that sets `filter` more often than preupload evaluates: the next upload says why.
    too_many = "".join(f"*.x{i} filter=lfs\n" for i in range(MAX_PATTERNS + 1))
    api.upload_file(path_or_fileobj=too_many.encode(), path_in_repo=".gitattributes", repo_id=repo_id)
    with pytest.raises(HfHubHTTPError) as exc:
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert exc.value.response.status_code == 413
    assert "The .gitattributes at 'main' sets `filter`" in exc.value.response.headers["X-Error-Message"]
    api.delete_file(".gitattributes", repo_id=repo_id)  # the way out: deleting needs no preupload
    api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    assert "x.txt" in api.list_repo_files(repo_id)
