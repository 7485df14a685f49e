"""No sequence of API calls by a non-member reveals anything about a private repo.

An organisation holds a private repo whose name (and the name it had before a rename), file and folder names,
file contents (a regular file and an LFS file), branch, tag, commit message, commit ids and discussion title are
random secrets. Hypothesis drives callers who are not members (anonymous, an outsider's write and read tokens, and
a member's fine-grained token scoped to another repo) through arbitrary sequences of calls against it: metadata at
any revision, tree, paths-info, resolve HEAD/GET, refs, commits, listings by search fragment and author,
discussions, preupload/commit/LFS batch, branch and tag creation, move, settings, delete, access requests, and
unsigned LFS transfer links. Every answer must be free of every secret (body and headers), every call naming the
repo must be RepoNotFound (401 anonymous, 404 otherwise), and each answer must be the one the same call gets for
a repo that never existed: the two cannot be told apart. Nothing the callers do changes the repo.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inhouse.services import users as user_service
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import users as user_store
from inhouse.vocabulary import RepoType, Role, Scope, TokenRole
from tests.support.live import LiveServer

CALLERS = ("anonymous", "outsider write token", "outsider read token", "member token scoped to another repo")


def _secret(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(8)}"


@dataclass
class Vault:
    server: LiveServer
    org: str
    name: str  # the private repo is org/name
    old_name: str  # ... and was created as org/old_name, then renamed
    files: list[str]  # paths in the repo
    dirs: list[str]
    branch: str
    tag: str
    commits: list[str]
    lfs_oid: str
    lfs_size: int
    repo_pk: int
    secrets: list[str]  # everything that must never show up
    tokens: dict[str, str | None]
    owner_token: str


@pytest.fixture(scope="module")
def vault(server: LiveServer) -> Vault:
    from huggingface_hub import CommitOperationAdd

    owner, outsider = server.make_user(), server.make_user()
    org = f"org{uuid.uuid4().hex[:8]}"
    now = time.time()
    with server.stores.db.write() as conn:
        org_rec = user_store.insert_user(conn, name=org, fullname=org, email=None, kind="org", is_admin=False, now=now)
        owner_rec = user_store.user_by_name(conn, owner)
        assert owner_rec is not None
        org_store.set_member(conn, org_rec.id, owner_rec.id, Role.ADMIN, now)
    owner_token = server.make_token(owner, "write")
    api = server.api(owner_token)

    old_name, name = _secret("old"), _secret("name")
    folder = _secret("dir")
    regular, nested, weights = _secret("file") + ".txt", f"{folder}/{_secret('file')}.json", _secret("w") + ".bin"
    contents = {regular: _secret("content"), nested: _secret("content"), weights: _secret("lfscontent") * 64}
    message, title = _secret("message"), _secret("title")
    branch, tag = _secret("branch"), _secret("tag")

    api.create_repo(f"{org}/{old_name}", private=True)
    api.create_commit(f"{org}/{old_name}", commit_message=message, operations=[
        CommitOperationAdd(path_or_fileobj=body.encode(), path_in_repo=path) for path, body in contents.items()])
    api.create_branch(f"{org}/{old_name}", branch=branch)
    api.create_tag(f"{org}/{old_name}", tag=tag)
    api.create_discussion(f"{org}/{old_name}", title=title, description=_secret("description"))
    api.move_repo(f"{org}/{old_name}", f"{org}/{name}")
    repo_id = f"{org}/{name}"
    info = api.model_info(repo_id, files_metadata=True)
    lfs = next(s for s in info.siblings or [] if s.rfilename == weights)
    assert lfs.lfs is not None, "the .bin file should be stored with LFS"
    commits = [c.commit_id for c in api.list_repo_commits(repo_id)]
    with server.stores.db.read() as conn:
        from inhouse.storage.db import repos as repo_store

        hit = repo_store.find_repo(conn, RepoType.MODEL, org, name)
        assert hit is not None
        pk = hit[0].id

    # a member's fine-grained token, scoped (with every permission) to a public repo of the same org
    api.create_repo(f"{org}/public")
    scoped = user_service.create_token(server.stores, owner, role=TokenRole.FINE_GRAINED, scopes=[
        Scope.parse({"type": "repo", "name": f"{org}/public",
                     "permissions": ["repo.content.read", "repo.write", "discussion.write", "repo.access.write"]})])[1]
    tokens: dict[str, str | None] = {
        "anonymous": None,
        "outsider write token": server.make_token(outsider, "write"),
        "outsider read token": server.make_token(outsider, "read"),
        "member token scoped to another repo": scoped,
    }
    # the initial .gitattributes commit is no secret: another repo created by the same person in the same second
    # has the very same one (same tree, author, time and message)
    hidden = [name, old_name, folder, regular, nested, weights, *contents.values(), message, title, branch, tag,
              *commits[:-1], lfs.lfs.sha256]
    hidden += [n.rsplit("/", 1)[-1] for n in contents]
    return Vault(server, org, name, old_name, list(contents), [folder], branch, tag, commits, lfs.lfs.sha256,
                 lfs.lfs.size, pk, hidden, tokens, owner_token)


# calls -------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """One HTTP call aimed at a repo; `target` picks which repo name it uses."""

    kind: str
    args: dict[str, Any]

    def request(self, v: Vault, name: str, token: str | None) -> httpx.Request:
        """The request for the repo `v.org/name`, made with `token`."""
        a = self.args
        repo = f"{v.org}/{name}"
        plural = a.get("plural", "models")
        api = f"/api/{plural}/{repo}"
        web = ("" if plural == "models" else f"/{plural}") + f"/{repo}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        k = self.kind
        method, url, body = "GET", api, None
        if k == "info":
            url = api + (f"/revision/{a['rev']}" if a["rev"] else "")
        elif k == "tree":
            url = f"{api}/tree/{a['rev']}" + (f"/{a['path']}" if a["path"] else "")
            url += "?recursive=true&expand=true" if a["flag"] else ""
        elif k == "paths_info":
            method, url, body = "POST", f"{api}/paths-info/{a['rev']}", {"paths": a["paths"], "expand": a["flag"]}
        elif k == "resolve":
            method, url = a["method"], f"{web}/resolve/{a['rev']}/{a['path']}"
            if a["flag"]:
                headers["Range"] = "bytes=0-3"
        elif k == "refs":
            url = api + "/refs" + ("?include_prs=1" if a["flag"] else "")
        elif k == "commits":
            url = f"{api}/commits/{a['rev']}"
        elif k == "discussions":
            url = api + "/discussions" + (f"/{a['num']}" if a["num"] else "")
        elif k == "open_discussion":
            method, url, body = "POST", api + "/discussions", {"title": "hello", "pullRequest": a["flag"]}
        elif k == "preupload":
            method, url = "POST", f"{api}/preupload/{a['rev']}"
            body = {"files": [{"path": p, "size": 10, "sample": base64.b64encode(b"0123456789").decode()}
                              for p in a["paths"]]}
        elif k == "commit":
            method, url = "POST", f"{api}/commit/{a['rev']}"
            lines = [{"key": "header", "value": {"summary": "x", "description": ""}}]
            lines += [{"key": "file", "value": {"path": p, "content": "eA==", "encoding": "base64"}}
                      for p in a["paths"]]
            lines += [{"key": "deletedFile", "value": {"path": p}} for p in a["deletes"]]
            return httpx.Request(method, v.server.url + url, headers={**headers, "Content-Type": "application/x-ndjson"},
                                 content="\n".join(json.dumps(line) for line in lines).encode())
        elif k == "lfs_batch":
            method, url = "POST", f"{web}.git/info/lfs/objects/batch"
            oid = v.lfs_oid if a["flag"] else hashlib.sha256(b"x").hexdigest()
            body = {"operation": a["operation"], "transfers": ["basic", "multipart"], "hash_algo": "sha256",
                    "objects": [{"oid": oid, "size": v.lfs_size}]}
            headers["Accept"] = "application/vnd.git-lfs+json"
        elif k == "branch":
            method, url = a["method"], f"{api}/branch/{a['branch']}"
            body = {"startingPoint": a["rev"]} if method == "POST" else None
        elif k == "tag":
            if a["method"] == "POST":
                method, url, body = "POST", f"{api}/tag/{a['rev']}", {"tag": a["tag"]}
            else:
                method, url = "DELETE", f"{api}/tag/{a['tag']}"
        elif k == "move":
            method, url = "POST", "/api/repos/move"
            body = {"fromRepo": repo, "toRepo": f"{v.org}/{a['to']}", "type": plural[:-1]}
        elif k == "settings":
            method, url, body = "PUT", f"{api}/settings", {"private": a["flag"] is False, "gated": "auto"}
        elif k == "delete":
            method, url, body = "DELETE", "/api/repos/delete", {"name": name, "organization": v.org,
                                                                 "type": plural[:-1]}
        elif k == "access_request":
            method, url, body = "POST", f"{api}/user-access-request", {}
        elif k == "access_list":
            url = f"{api}/user-access-request/{a['status']}"
        else:
            raise AssertionError(k)
        return httpx.Request(method, v.server.url + url, headers=headers,
                             json=body if body is not None else None)


def _calls(v: Vault) -> st.SearchStrategy[tuple[str, str, Call]]:
    """(caller, target, call): target is "name" (the repo's name now), "old" (its name before the rename) or
    "case" (the name in other letters' case)."""
    revs = st.sampled_from(["main", v.branch, v.tag, *v.commits, v.commits[0][:7], "refs/pr/1", "refs%2Fpr%2F1"])
    paths = st.sampled_from([*v.files, *v.dirs, ".gitattributes", "README.md"])
    flag = st.booleans()
    plural = st.sampled_from(["models", "models", "datasets"])
    kinds: dict[str, st.SearchStrategy[dict[str, Any]]] = {
        "info": st.fixed_dictionaries({"rev": st.none() | revs, "plural": plural}),
        "tree": st.fixed_dictionaries({"rev": revs, "path": st.none() | paths, "flag": flag, "plural": plural}),
        "paths_info": st.fixed_dictionaries({"rev": revs, "paths": st.lists(paths, min_size=1, max_size=3),
                                             "flag": flag}),
        "resolve": st.fixed_dictionaries({"rev": revs, "path": paths, "method": st.sampled_from(["GET", "HEAD"]),
                                          "flag": flag, "plural": plural}),
        "refs": st.fixed_dictionaries({"flag": flag}),
        "commits": st.fixed_dictionaries({"rev": revs}),
        "discussions": st.fixed_dictionaries({"num": st.none() | st.integers(1, 2)}),
        "open_discussion": st.fixed_dictionaries({"flag": flag}),
        "preupload": st.fixed_dictionaries({"rev": revs, "paths": st.lists(paths, min_size=1, max_size=2)}),
        "commit": st.fixed_dictionaries({"rev": st.sampled_from(["main", v.branch]),
                                         "paths": st.lists(paths, max_size=2), "deletes": st.lists(paths, max_size=2)}),
        "lfs_batch": st.fixed_dictionaries({"operation": st.sampled_from(["upload", "download"]), "flag": flag,
                                            "plural": plural}),
        "branch": st.fixed_dictionaries({"method": st.sampled_from(["POST", "DELETE"]),
                                         "branch": st.sampled_from([v.branch, "fresh-branch"]),
                                         "rev": st.none() | revs}),
        "tag": st.fixed_dictionaries({"method": st.sampled_from(["POST", "DELETE"]),
                                      "tag": st.sampled_from([v.tag, "fresh-tag"]), "rev": revs}),
        "move": st.fixed_dictionaries({"to": st.sampled_from(["elsewhere", v.old_name]), "plural": plural}),
        "settings": st.fixed_dictionaries({"flag": flag}),
        "delete": st.fixed_dictionaries({"plural": plural}),
        "access_request": st.fixed_dictionaries({}),
        "access_list": st.fixed_dictionaries({"status": st.sampled_from(["pending", "accepted", "rejected"])}),
    }
    def calls(kind: str, args: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[Call]:
        return args.map(lambda a: Call(kind, a))

    call = st.one_of(*[calls(k, args) for k, args in kinds.items()])
    return st.tuples(st.sampled_from(CALLERS), st.sampled_from(["name", "name", "old", "case"]), call)


def _side_calls(v: Vault) -> st.SearchStrategy[tuple[str, httpx.Request]]:
    """Calls that name no repo but might list or expose it: listings, search by fragments, unsigned LFS links."""
    n = v.name
    fragment = st.integers(0, len(n) - 3).flatmap(lambda i: st.integers(i + 3, len(n)).map(lambda j: n[i:j]))
    def listing(params: dict[str, Any]) -> str:
        return "/api/models?" + "&".join(f"{k}={val}" for k, val in params.items() if val is not None)
    lists = st.fixed_dictionaries({
        "search": st.none() | fragment | st.sampled_from([v.old_name, f"{v.org}/{n}", v.org]),
        "author": st.none() | st.just(v.org),
        "expand": st.none() | st.sampled_from(["siblings", "private", "gated"]),
        "limit": st.none() | st.integers(1, 3),
    }).map(listing)
    pk = st.sampled_from([v.repo_pk, v.repo_pk + 100000])
    transfer = st.tuples(pk, st.sampled_from(["", "exp=9999999999&sig=00", "exp=1&sig=00"])).map(
        lambda t: f"/api/lfs-transfer/{t[0]}/{v.lfs_oid}/{v.lfs_size}/get?{t[1]}")
    return st.tuples(st.sampled_from(CALLERS), lists | transfer | st.just("/api/whoami-v2"))


# checks ------------------------------------------------------------------------------------------------------------

def _leaks(v: Vault, response: httpx.Response) -> list[str]:
    """The secrets that `response` gives away, in its body or any header."""
    text = (response.content.decode("utf-8", "replace") + "\n" + "\n".join(
        f"{k}: {val}" for k, val in response.headers.items())).lower()
    return [s for s in v.secrets if s.lower() in text]


def _answer(response: httpx.Response, *names: str) -> tuple[int, str | None, str]:
    """What the caller learns from an error: status, code and message (with the repo names it was sent blanked)."""
    message = response.headers.get("X-Error-Message", "")
    try:
        message += json.dumps(response.json())
    except ValueError:
        pass
    for n in names:
        message = message.replace(n, "<name>")
    return response.status_code, response.headers.get("X-Error-Code"), message


def _mangle(name: str) -> str:
    return "".join(c.upper() if i % 2 else c for i, c in enumerate(name))


def _state(v: Vault) -> Any:
    api = v.server.api(v.owner_token)
    repo = f"{v.org}/{v.name}"
    refs = api.list_repo_refs(repo, include_pull_requests=True)
    info = api.model_info(repo)
    return (info.sha, info.private, info.gated, sorted((b.name, b.target_commit) for b in refs.branches),
            sorted((t.name, t.target_commit) for t in refs.tags), len(refs.pull_requests or []),
            len(list(api.get_repo_discussions(repo))), sorted(api.list_repo_files(repo)))


@pytest.mark.timeout(300)
def test_non_members_learn_nothing_about_a_private_repo(vault: Vault) -> None:
    before = _state(vault)
    seen: set[str] = set()

    @settings(max_examples=100, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(steps=st.lists(_calls(vault) | _side_calls(vault), min_size=1, max_size=10))
    def run(steps: list[Any]) -> None:
        with httpx.Client(timeout=30) as client:
            for step in steps:
                if isinstance(step[-1], Call):
                    caller, target, call = step
                    name = {"name": vault.name, "old": vault.old_name, "case": _mangle(vault.name)}[target]
                    ghost = _secret("ghost")
                    token = vault.tokens[caller]
                    r = client.send(call.request(vault, name, token))
                    twin = client.send(call.request(vault, ghost, token))
                    seen.add(call.kind)
                    where = f"{caller} {call.kind} {call.args} on {target}"
                    assert not _leaks(vault, r), f"{where}: leaks {_leaks(vault, r)}"
                    expected = 401 if caller == "anonymous" else 404
                    assert (r.status_code, r.headers.get("X-Error-Code")) == (expected, "RepoNotFound"), (
                        f"{where}: {r.status_code} {r.headers.get('X-Error-Code')} {r.text[:300]}")
                    assert _answer(r, name) == _answer(twin, ghost), f"{where}: told apart from a missing repo"
                else:
                    caller, url = step
                    token = vault.tokens[caller]
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    r = client.get(vault.server.url + url, headers=headers)
                    seen.add(url.split("?")[0].rsplit("/", 1)[-1] if "lfs-transfer" not in url else "transfer")
                    assert not _leaks(vault, r), f"{caller} GET {url}: leaks {_leaks(vault, r)}"
                    if url.startswith("/api/models"):
                        assert r.status_code == 200, (url, r.status_code, r.text[:300])
                        assert f"{vault.org}/{vault.name}" not in [m["id"] for m in r.json()]
                    elif "lfs-transfer" in url:
                        assert (r.status_code, r.headers.get("X-Error-Code")) == (403, "Forbidden"), url

    run()
    assert _state(vault) == before, "a non-member changed the private repo"
    assert len(seen) >= 15, f"too few kinds of calls were tried: {sorted(seen)}"


def test_the_vault_is_real(vault: Vault) -> None:
    """The secrets are really there for the owner: the no-leak test is not vacuous."""
    owner = {"Authorization": f"Bearer {vault.owner_token}"}
    base = vault.server.url
    repo = f"{vault.org}/{vault.name}"
    info = httpx.get(f"{base}/api/models/{repo}", headers=owner)
    assert info.status_code == 200 and vault.files[0] in info.text
    got = httpx.get(f"{base}/{repo}/resolve/{vault.branch}/{vault.files[0]}", headers=owner)
    assert got.status_code == 200 and got.text.startswith("content")
    moved = httpx.get(f"{base}/api/models/{vault.org}/{vault.old_name}", headers=owner)
    assert moved.status_code == 307 and vault.name in moved.headers["Location"]
    listed = httpx.get(f"{base}/api/models", params={"search": vault.name[4:12]}, headers=owner).json()
    assert [m["id"] for m in listed] == [repo]
    # the real client reads the discussion back, opening comment included
    details = vault.server.api(vault.owner_token).get_discussion_details(repo, 1)
    assert details.title in vault.secrets and details.events[0].content.startswith("description")
    dump = _dump(vault).lower()
    assert [s for s in vault.secrets if s.lower() not in dump] == []


def _dump(v: Vault) -> str:
    """Everything the owner can see of the repo, where each secret shows up somewhere."""
    owner = {"Authorization": f"Bearer {v.owner_token}"}
    base, repo = v.server.url, f"{v.org}/{v.name}"
    parts = [v.old_name,  # the old name is in the audit log and the redirect, checked above
             httpx.get(f"{base}/api/models/{repo}/tree/main?recursive=true", headers=owner).text,
             httpx.get(f"{base}/api/models/{repo}/refs", headers=owner).text,
             httpx.get(f"{base}/api/models/{repo}/commits/main", headers=owner).text,
             httpx.get(f"{base}/api/models/{repo}/discussions", headers=owner).text,
             httpx.get(f"{base}/api/models/{repo}", headers=owner).text]
    parts += [httpx.get(f"{base}/{repo}/resolve/main/{f}", headers=owner).text for f in v.files]
    return "\n".join(parts)
