"""The permission matrix: every caller x every repo kind x every action, with the exact status and X-Error-Code.

Driven through the real huggingface_hub client (model_info, list_models, list_repo_tree, hf_hub_download,
upload_file, delete_repo, update_repo_settings); the status and code are read from the HTTP response the
client's error carries, and the same request is repeated with httpx where it does not change anything, so the
two must agree. All repos belong to one organisation; the fine-grained, revoked and expired tokens belong to an
admin of it, so whatever they are refused is refused by the token alone.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from inhouse.errors import INVALID_CREDENTIALS
from inhouse.services import users as user_service
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import users as user_store
from inhouse.vocabulary import RepoType, Role, Scope, TokenRole
from tests.support.live import LiveServer

KINDS = ("public", "private", "gated-auto", "gated-manual")
ACTIONS = ("info", "list", "tree", "download", "upload", "delete", "settings")
FILE = "weights.txt"
CONTENT = b"the weights\n"

# One outcome per cell: "ok" (200 and the call returned), "listed"/"hidden" for listings, or (status, X-Error-Code).
OK, LISTED, HIDDEN = "ok", "listed", "hidden"
NF401 = (401, "RepoNotFound")  # a private repo, to an anonymous caller
NF404 = (404, "RepoNotFound")  # a private repo, to an authenticated caller who cannot see it
GATED401 = (401, "GatedRepo")
GATED403 = (403, "GatedRepo")
FORBIDDEN = (403, "Forbidden")
LOGIN = (401, "Unauthorized")  # a change asked for without credentials
BADCRED = (401, "Unauthorized")  # an unknown, revoked or expired token: X-Error-Message is INVALID_CREDENTIALS

ALL_OK = (OK, OK, OK, OK)
ALL_LISTED = (LISTED, LISTED, LISTED, LISTED)
ALL_FORBIDDEN = (FORBIDDEN, FORBIDDEN, FORBIDDEN, FORBIDDEN)
ALL_BADCRED = (BADCRED, BADCRED, BADCRED, BADCRED)

READER = {"info": ALL_OK, "list": ALL_LISTED, "tree": ALL_OK, "download": ALL_OK,
          "upload": ALL_FORBIDDEN, "delete": ALL_FORBIDDEN, "settings": ALL_FORBIDDEN}
WRITER = {**READER, "upload": ALL_OK}
EVERYTHING = {action: ALL_LISTED if action == "list" else ALL_OK for action in ACTIONS}
OUTSIDER = {
    #             public     private  gated-auto  gated-manual
    "info":     (OK,        NF404,   OK,         OK),
    "list":     (LISTED,    HIDDEN,  LISTED,     LISTED),
    "tree":     (OK,        NF404,   OK,         OK),
    "download": (OK,        NF404,   GATED403,   GATED403),
    "upload":   (FORBIDDEN, NF404,   FORBIDDEN,  FORBIDDEN),
    "delete":   (FORBIDDEN, NF404,   FORBIDDEN,  FORBIDDEN),
    "settings": (FORBIDDEN, NF404,   FORBIDDEN,  FORBIDDEN),
}

# THE POLICY, one row per caller: for each action, the outcome on (public, private, gated-auto, gated-manual).
EXPECTED: dict[str, dict[str, tuple[Any, ...]]] = {
    "anonymous": {
        "info":     (OK,     NF401,  OK,       OK),
        "list":     (LISTED, HIDDEN, LISTED,   LISTED),
        "tree":     (OK,     NF401,  OK,       OK),
        "download": (OK,     NF401,  GATED401, GATED401),
        "upload":   (LOGIN,  NF401,  LOGIN,    LOGIN),
        "delete":   (LOGIN,  NF401,  LOGIN,    LOGIN),
        "settings": (LOGIN,  NF401,  LOGIN,    LOGIN),
    },
    "outsider (write token)": OUTSIDER,
    # an outsider whose access request was accepted on gated-auto and is still pending on gated-manual
    "outsider, gate accepted on auto, pending on manual": {
        **OUTSIDER, "download": (OK, NF404, OK, GATED403)},
    "member read (write token)": READER,
    "member contributor (write token)": READER,  # contributors open pull requests; they do not commit to main
    "member write (write token)": WRITER,
    "member admin (write token)": EVERYTHING,
    "org admin (read token)": READER,
    "org admin, fine-grained repo.content.read on the repo": READER,
    "org admin, fine-grained repo.write on the repo": EVERYTHING,
    "org admin, fine-grained repo.access.write on the repo": READER,
    # discussion.write alone does not let one read content: private stays invisible, gated files stay closed
    "org admin, fine-grained discussion.write on the repo": {
        "info":     (OK,        NF404,  OK,        OK),
        "list":     (LISTED,    HIDDEN, LISTED,    LISTED),
        "tree":     (OK,        NF404,  OK,        OK),
        "download": (OK,        NF404,  GATED403,  GATED403),
        "upload":   (FORBIDDEN, NF404,  FORBIDDEN, FORBIDDEN),
        "delete":   (FORBIDDEN, NF404,  FORBIDDEN, FORBIDDEN),
        "settings": (FORBIDDEN, NF404,  FORBIDDEN, FORBIDDEN),
    },
    # a token scoped (with every permission) to another repo of the same org is an outsider's token here
    "org admin, fine-grained on another repo": OUTSIDER,
    "org admin, revoked token": {action: ALL_BADCRED for action in ACTIONS},
    "org admin, expired token": {action: ALL_BADCRED for action in ACTIONS},
}
assert all(set(row) == set(ACTIONS) and all(len(v) == len(KINDS) for v in row.values()) for row in EXPECTED.values())


# the world ---------------------------------------------------------------------------------------------------------

@dataclass
class World:
    server: LiveServer
    org: str
    admin_token: str  # write token of an org admin, to build repos
    repos: dict[str, str]  # kind -> repo id, shared by the non-destructive actions
    tokens: dict[str, Callable[[str], str | None]]  # caller -> (repo id -> token)

    def make_repo(self, kind: str) -> str:
        """A repo of `kind` in the org, holding FILE."""
        api = self.server.api(self.admin_token)
        repo_id = f"{self.org}/{kind}-{uuid.uuid4().hex[:8]}"
        api.create_repo(repo_id, private=kind == "private")
        api.upload_file(path_or_fileobj=CONTENT, path_in_repo=FILE, repo_id=repo_id)
        if kind.startswith("gated-"):
            api.update_repo_settings(repo_id, gated=kind.removeprefix("gated-"))
        return repo_id


def _org(server: LiveServer, members: dict[str, str]) -> str:
    """An organisation (made in the storage layer) with `members` {user name: role}."""
    name = f"org{uuid.uuid4().hex[:8]}"
    now = time.time()
    with server.stores.db.write() as conn:
        org = user_store.insert_user(conn, name=name, fullname=name, email=None, kind="org", is_admin=False, now=now)
        for user, role in members.items():
            found = user_store.user_by_name(conn, user)
            assert found is not None
            org_store.set_member(conn, org.id, found.id, Role(role), now)
    return name


def _set_gate(server: LiveServer, repo_id: str, user: str, status: str) -> None:
    ns, name = repo_id.split("/")
    with server.stores.db.write() as conn:
        hit = repo_store.find_repo(conn, RepoType.MODEL, ns, name)
        found = user_store.user_by_name(conn, user)
        assert hit is not None and found is not None
        org_store.upsert_access(conn, hit[0].id, found.id, status, time.time())


@pytest.fixture(scope="module")
def world(server: LiveServer) -> World:
    names = {role: server.make_user() for role in ("read", "contributor", "write", "admin")}
    outsider, gated_user = server.make_user(), server.make_user()
    org = _org(server, {names[role]: role for role in names})
    admin = names["admin"]
    admin_token = server.make_token(admin, "write")
    world = World(server, org, admin_token, {}, {})
    world.repos = {kind: world.make_repo(kind) for kind in KINDS}
    _set_gate(server, world.repos["gated-auto"], gated_user, "accepted")
    _set_gate(server, world.repos["gated-manual"], gated_user, "pending")

    def fixed(token: str | None) -> Callable[[str], str | None]:
        return lambda _repo_id: token

    def scoped(permissions: list[str], *, other: bool = False) -> Callable[[str], str | None]:
        elsewhere = f"{org}/elsewhere"

        def token(repo_id: str) -> str:
            name = elsewhere if other else repo_id
            return user_service.create_token(server.stores, admin, role=TokenRole.FINE_GRAINED, scopes=[
                Scope.parse({"type": "repo", "name": name, "permissions": permissions})])[1]
        return token

    revoked, revoked_secret = user_service.create_token(server.stores, admin, role=TokenRole.WRITE, name="revoked")
    user_service.revoke_token(server.stores, revoked.id)
    expired = server.make_token(admin, "write", expires_in_s=0.01)
    time.sleep(0.05)

    world.tokens = {
        "anonymous": fixed(None),
        "outsider (write token)": fixed(server.make_token(outsider, "write")),
        "outsider, gate accepted on auto, pending on manual": fixed(server.make_token(gated_user, "write")),
        "member read (write token)": fixed(server.make_token(names["read"], "write")),
        "member contributor (write token)": fixed(server.make_token(names["contributor"], "write")),
        "member write (write token)": fixed(server.make_token(names["write"], "write")),
        "member admin (write token)": fixed(server.make_token(admin, "write")),
        "org admin (read token)": fixed(server.make_token(admin, "read")),
        "org admin, fine-grained repo.content.read on the repo": scoped(["repo.content.read"]),
        "org admin, fine-grained repo.write on the repo": scoped(["repo.write"]),
        "org admin, fine-grained repo.access.write on the repo": scoped(["repo.access.write"]),
        "org admin, fine-grained discussion.write on the repo": scoped(["discussion.write"]),
        "org admin, fine-grained on another repo": scoped(
            ["repo.content.read", "repo.write", "discussion.write", "repo.access.write"], other=True),
        "org admin, revoked token": fixed(revoked_secret),
        "org admin, expired token": fixed(expired),
    }
    assert set(world.tokens) == set(EXPECTED)
    return world


# one cell ----------------------------------------------------------------------------------------------------------

def _outcome(response: Any) -> Any:
    """"ok", or (status, X-Error-Code); `response` is an httpx one, or the client's own (httpx2) one."""
    if response.is_success:
        return OK
    return response.status_code, response.headers.get("X-Error-Code")


def _client_outcome(call: Callable[[], object]) -> tuple[Any, Any]:
    """Runs a real-client call: ("ok", None), or the (status, code) of the response its error carries."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        RepositoryNotFoundError,
    )

    try:
        call()
    except HfHubHTTPError as err:
        response = err.response
        assert response is not None, f"client error without a response: {err!r}"
        got = _outcome(response)
        # the client turns the code into its typed error, which is what users (and transformers) catch
        expected_type = {"RepoNotFound": RepositoryNotFoundError, "GatedRepo": GatedRepoError}.get(got[1])
        if expected_type is not None:
            assert isinstance(err, expected_type), f"{got} surfaced as {type(err).__name__}"
        return got, response
    return OK, None


def _headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _listed(world: World, token: str | None, repo_id: str) -> tuple[Any, Any]:
    api = world.server.api(token)
    listed: list[str] = []
    outcome, response = _client_outcome(lambda: listed.extend(m.id for m in api.list_models(author=world.org)))
    if outcome != OK:
        return outcome, response
    client = LISTED if repo_id in listed else HIDDEN
    # and searching for the name itself, raw
    raw = httpx.get(f"{world.server.url}/api/models", params={"search": repo_id.split("/")[1]},
                    headers=_headers(token))
    raw.raise_for_status()
    searched = LISTED if repo_id in [m["id"] for m in raw.json()] else HIDDEN
    assert client == searched, f"list_models(author=...) says {client} but ?search= says {searched}"
    return client, None


def _settings_of(kind: str) -> dict[str, Any]:
    """Settings equal to what the repo already has, so that an allowed call changes nothing."""
    return {"private": kind == "private", "gated": kind.removeprefix("gated-") if kind.startswith("gated-") else False}


def _cell(world: World, caller: str, kind: str, action: str, cache: Path) -> Any:
    srv = world.server
    repo_id = world.make_repo(kind) if action == "delete" else world.repos[kind]
    token = world.tokens[caller](repo_id)
    api = srv.api(token)
    raw: httpx.Response | None = None  # the same request, made with httpx, where it changes nothing
    base = f"{srv.url}/api/models/{repo_id}"
    if action == "info":
        outcome, response = _client_outcome(lambda: api.model_info(repo_id))
        raw = httpx.get(base, headers=_headers(token))
    elif action == "list":
        outcome, response = _listed(world, token, repo_id)
    elif action == "tree":
        outcome, response = _client_outcome(lambda: list(api.list_repo_tree(repo_id)))
        raw = httpx.get(f"{base}/tree/main", headers=_headers(token))
    elif action == "download":
        def download() -> None:
            path = api.hf_hub_download(repo_id, FILE, cache_dir=cache / f"{kind}-{uuid.uuid4().hex[:6]}")
            assert Path(path).read_bytes() == CONTENT
        outcome, response = _client_outcome(download)
        raw = httpx.get(f"{srv.url}/{repo_id}/resolve/main/{FILE}", headers=_headers(token))
        if raw.is_success:
            assert raw.content == CONTENT
    elif action == "upload":
        outcome, response = _client_outcome(lambda: api.upload_file(
            path_or_fileobj=b"new\n", path_in_repo=f"up/{uuid.uuid4().hex[:6]}.txt", repo_id=repo_id))
        raw = httpx.post(f"{base}/preupload/main", headers=_headers(token), json={"files": [
            {"path": "x.txt", "size": 4, "sample": "bmV3Cg=="}]})
    elif action == "delete":
        outcome, response = _client_outcome(lambda: api.delete_repo(repo_id))
        gone = httpx.get(base, headers=_headers(world.admin_token)).status_code == 404
        assert gone == (outcome == OK), f"delete answered {outcome} but the repo {'is gone' if gone else 'remains'}"
    elif action == "settings":
        outcome, response = _client_outcome(lambda: api.update_repo_settings(repo_id, **_settings_of(kind)))
        raw = httpx.put(f"{base}/settings", headers=_headers(token), json=_settings_of(kind))
    else:
        raise AssertionError(action)
    if raw is not None:
        assert _outcome(raw) == outcome, f"httpx got {_outcome(raw)}, the client {outcome}"
    if caller.endswith(("revoked token", "expired token")):
        for r in (response, raw):
            assert r is None or r.headers.get("X-Error-Message") == INVALID_CREDENTIALS, (
                action, kind, r.headers.get("X-Error-Message"))
    return outcome


@pytest.mark.parametrize("caller", list(EXPECTED))
def test_permission_matrix(world: World, caller: str, tmp_path: Path) -> None:
    got = {action: tuple(_cell(world, caller, kind, action, tmp_path) for kind in KINDS) for action in ACTIONS}
    wrong = {f"{action} on {kind}": (want, have)
             for action in ACTIONS for kind, want, have in zip(KINDS, EXPECTED[caller][action], got[action])
             if want != have}
    assert not wrong, f"{caller}: cells that differ (expected, got): {wrong}"


def test_revoked_and_expired_tokens_name_the_credentials(world: World) -> None:
    """Everywhere, even on a public repo's metadata, a dead token is refused (not downgraded to anonymous)."""
    for caller in ("org admin, revoked token", "org admin, expired token"):
        token = world.tokens[caller]("")
        for url in (f"/api/models/{world.repos['public']}", f"/api/models?author={world.org}", "/api/whoami-v2",
                    f"/{world.repos['public']}/resolve/main/{FILE}"):
            r = httpx.get(world.server.url + url, headers=_headers(token))
            assert (r.status_code, r.headers.get("X-Error-Code"), r.headers.get("X-Error-Message")) == (
                401, "Unauthorized", INVALID_CREDENTIALS), (caller, url)
