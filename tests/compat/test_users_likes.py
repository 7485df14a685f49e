"""Users, likes, tags, listings and private-by-default through huggingface_hub's real HfApi against a live server:
auth_check, get_user_overview, list_user_repos, get_model_tags / get_dataset_tags, likes (the web page's like,
unlike, list_liked_repos, list_repo_likers), list_models(gated=…, full=True, sort="downloads"), download counts
(per day, the last 30 days and all time), securityStatus, and the organisation / site-wide "new repos are private"
settings. Private repos never show to callers who may not see them: not in listings, likes, overviews or tags."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError
from sqlalchemy import select, update

from inhouse.services.downloads import today
from inhouse.storage.db.schema import audit_log, repo_downloads, repos
from tests.support.live import LiveServer


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def call(server: LiveServer, method: str, path: str, token: str | None = None, body: Any = None) -> httpx.Response:
    return httpx.request(method, server.url + path, headers=auth(token), json=body, timeout=30)


def refused(r: httpx.Response, status: int, code: str) -> str:
    assert (r.status_code, r.headers.get("X-Error-Code")) == (status, code), (r.status_code, r.text)
    return str(r.json()["error"])


def card(**meta: Any) -> bytes:
    lines = ["---"]
    for k, v in meta.items():
        if isinstance(v, list):
            lines.append(f"{k}:")
            lines += [f"- {x}" for x in v]
        else:
            lines.append(f"{k}: {v}")
    return ("\n".join(lines + ["---", "", "A model."]) + "\n").encode()


@dataclass
class World:
    server: LiveServer
    owner: str
    owner_token: str
    outsider: str
    outsider_token: str
    outsider_read_token: str
    public: str  # model with config.json and a pickle weights file
    private: str  # model
    gated: str  # model, gated auto
    dataset: str  # public dataset
    tag: str  # a tag only the private model has


@pytest.fixture(scope="module")
def world(server: LiveServer) -> Iterator[World]:
    owner = server.make_user()
    token = server.make_token(owner, "write")
    outsider = server.make_user()
    api = server.api(token)
    tag = f"secret-{uuid.uuid4().hex[:6]}"
    public, private, gated = f"{owner}/public", f"{owner}/private", f"{owner}/gated"
    dataset = f"{owner}/data"
    api.create_repo(public)
    api.create_commit(public, operations=[
        CommitOperationAdd("config.json", io.BytesIO(b'{"model_type": "bert"}')),
        CommitOperationAdd("pytorch_model.bin", io.BytesIO(b"\x80\x04weights")),
        CommitOperationAdd("README.md", io.BytesIO(card(pipeline_tag="text-classification", library_name="transformers",
                                                         license="mit", language=["fr"], datasets=["acme/reviews"]))),
    ], commit_message="model")
    api.create_repo(private, private=True)
    api.upload_file(path_or_fileobj=card(pipeline_tag="summarization", tags=[tag]), path_in_repo="README.md",
                    repo_id=private)
    api.create_repo(gated)
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=gated)
    api.update_repo_settings(gated, gated="auto")
    api.create_repo(dataset, repo_type="dataset")
    api.upload_file(path_or_fileobj=card(task_categories=["text-classification"], license="cc-by-4.0",
                                         size_categories=["n<1K"]),
                    path_in_repo="README.md", repo_id=dataset, repo_type="dataset")
    yield World(server, owner, token, outsider, server.make_token(outsider, "write"),
                server.make_token(outsider, "read"), public, private, gated, dataset, tag)


def audited(server: LiveServer, action: str, repo: str) -> int:
    with server.stores.db.read() as conn:
        return len(conn.execute(select(audit_log.c.seq).where(audit_log.c.action == action,
                                                              audit_log.c.repo == repo)).all())


# likes -------------------------------------------------------------------------------------------------------------

@pytest.fixture(params=["server", "pg_server"])
def any_server(request: pytest.FixtureRequest) -> LiveServer:
    """The session's SQLite server, then a PostgreSQL one."""
    srv: LiveServer = request.getfixturevalue(request.param)
    return srv


def test_likes_list_likers_and_unlike(any_server: LiveServer) -> None:
    server = any_server
    owner = server.make_user()
    token = server.make_token(owner, "write")
    fan = server.make_user()
    fan_token = server.make_token(fan, "write")
    api = server.api(token)
    pub, priv = f"{owner}/liked", f"{owner}/hidden"
    api.create_repo(pub)
    api.create_repo(priv, private=True)
    ds = f"{owner}/liked-data"
    api.create_repo(ds, repo_type="dataset")

    for t in (token, fan_token):
        assert call(server, "POST", f"/api/models/{pub}/like", t).json() == {"success": True}
    assert call(server, "POST", f"/api/models/{pub}/like", fan_token).status_code == 200  # twice: still one like
    call(server, "POST", f"/api/models/{priv}/like", token).raise_for_status()
    call(server, "POST", f"/api/datasets/{ds}/like", token).raise_for_status()
    # the fan may not see the private repo: liking it is a 404, as for a missing one
    missing = refused(call(server, "POST", f"/api/models/{owner}/nope/like", fan_token), 404, "RepoNotFound")
    assert refused(call(server, "POST", f"/api/models/{priv}/like", fan_token), 404, "RepoNotFound") == missing

    assert api.model_info(pub).likes == 2
    mine = api.list_liked_repos(owner)
    assert (sorted(mine.models), mine.datasets, mine.total) == (sorted([pub, priv]), [ds], 3)
    seen_by_fan = server.api(fan_token).list_liked_repos(owner)  # the private repo never shows to others
    assert (seen_by_fan.models, seen_by_fan.datasets, seen_by_fan.total) == ([pub], [ds], 2)
    assert server.api(None).list_liked_repos(owner).models == [pub]
    assert server.api(fan_token).list_liked_repos().models == [pub]  # the caller's own, found by whoami

    assert sorted(u.username for u in server.api(None).list_repo_likers(pub)) == sorted([owner, fan])
    assert [u.username for u in api.list_repo_likers(priv)] == [owner]
    with pytest.raises(RepositoryNotFoundError):
        list(server.api(fan_token).list_repo_likers(priv))

    server.api(fan_token).unlike(pub)
    server.api(fan_token).unlike(pub)  # nothing to take back: still fine
    assert api.model_info(pub).likes == 1
    assert server.api(fan_token).list_liked_repos(fan).total == 0
    assert [u.username for u in api.list_repo_likers(pub)] == [owner]
    api.unlike(ds, repo_type="dataset")
    assert api.list_liked_repos(owner).datasets == []

    # who may like: signed-in users with a token that may change things
    refused(call(server, "POST", f"/api/models/{pub}/like"), 401, "Unauthorized")
    with pytest.raises(HfHubHTTPError) as e:
        server.api(server.make_token(fan, "read")).unlike(pub)
    assert e.value.response.status_code == 403
    with pytest.raises(RepositoryNotFoundError):
        server.api(fan_token).unlike(priv)
    assert api.model_info(priv).likes == 1  # untouched by the refused attempt

    assert audited(server, "repo.like", pub) == 2 and audited(server, "repo.unlike", pub) == 1
    refused(call(server, "GET", f"/api/users/nobody{uuid.uuid4().hex[:6]}/likes"), 404, "NotFound")


def test_likes_pages_follow_links(server: LiveServer) -> None:
    owner = server.make_user()
    token = server.make_token(owner, "write")
    api = server.api(token)
    ids = [f"{owner}/m{i}" for i in range(5)]
    for rid in ids:
        api.create_repo(rid)
        call(server, "POST", f"/api/models/{rid}/like", token).raise_for_status()
    first = call(server, "GET", f"/api/users/{owner}/likes?limit=2")
    assert len(first.json()) == 2 and 'rel="next"' in first.headers["Link"]
    assert sorted(api.list_liked_repos(owner).models) == sorted(ids)  # the client follows every page


# auth_check --------------------------------------------------------------------------------------------------------

def test_auth_check(world: World) -> None:
    s = world.server
    owner, outsider = s.api(world.owner_token), s.api(world.outsider_token)
    for rid in (world.public, world.private, world.gated):
        owner.auth_check(rid)
        owner.auth_check(rid, write=True)
    owner.auth_check(world.dataset, repo_type="dataset", write=True)
    outsider.auth_check(world.public)
    s.api(None).auth_check(world.public)
    with pytest.raises(RepositoryNotFoundError):
        outsider.auth_check(world.private)
    with pytest.raises(RepositoryNotFoundError):
        s.api(None).auth_check(world.private, write=True)
    with pytest.raises(RepositoryNotFoundError):
        outsider.auth_check(f"{world.owner}/missing")
    with pytest.raises(GatedRepoError):
        outsider.auth_check(world.gated)
    with pytest.raises(HfHubHTTPError) as e:
        outsider.auth_check(world.public, write=True)
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        s.api(world.outsider_read_token).auth_check(world.public, write=True)
    assert e.value.response.status_code == 403
    assert audited(s, "repo.auth_check", world.private) >= 2


# overview and list_user_repos --------------------------------------------------------------------------------------

def test_user_overview_counts_only_what_the_caller_may_see(world: World) -> None:
    s = world.server
    call(s, "POST", f"/api/models/{world.public}/like", world.owner_token).raise_for_status()
    call(s, "POST", f"/api/models/{world.private}/like", world.owner_token).raise_for_status()
    mine = s.api(world.owner_token).get_user_overview(world.owner)
    theirs = s.api(world.outsider_token).get_user_overview(world.owner)
    anon = s.api(None).get_user_overview(world.owner)
    assert (mine.username, mine.num_models, mine.num_datasets, mine.num_spaces, mine.num_likes) == (
        world.owner, 3, 1, 0, 2)
    for other in (theirs, anon):
        assert (other.username, other.num_models, other.num_datasets, other.num_likes) == (world.owner, 2, 1, 1)
    refused(call(s, "GET", f"/api/users/nobody{uuid.uuid4().hex[:6]}/overview"), 404, "NotFound")


def test_user_overview_lists_orgs(server: LiveServer) -> None:
    admin = server.make_user()
    token = server.make_token(admin, "write")
    org = f"o{uuid.uuid4().hex[:8]}"
    call(server, "POST", "/api/organizations", token, {"name": org, "fullname": "Acme"}).raise_for_status()
    over = server.api(None).get_user_overview(admin)
    assert [(o.name, o.fullname) for o in over.orgs] == [(org, "Acme")]
    refused(call(server, "GET", f"/api/users/{org}/overview"), 404, "NotFound")  # an org is not a user


def test_list_user_repos(server: LiveServer, lfs_only: None) -> None:
    admin = server.make_user()
    token = server.make_token(admin, "write")
    api = server.api(token)
    mine, hidden = f"{admin}/weights", f"{admin}/secret"
    api.create_repo(mine)
    api.upload_file(path_or_fileobj=b"w" * 3000, path_in_repo="w.bin", repo_id=mine)
    api.create_repo(hidden, private=True)
    got = {r.id: r for r in api.list_user_repos()}
    assert set(got) == {mine, hidden}
    assert (got[mine].type, got[mine].visibility, got[mine].storage, got[mine].storage_percent) == (
        "model", "public", 3000, 100)
    assert (got[hidden].visibility, got[hidden].storage) == ("private", 0)
    with pytest.raises(HfHubHTTPError) as e:
        list(server.api(None).list_user_repos())
    assert e.value.response.status_code == 401
    # `hf repos list`, the client's CLI, is built on it
    env = {**os.environ, "HF_ENDPOINT": server.url, "HF_HUB_DISABLE_TELEMETRY": "1"}
    hf = str(Path(sys.executable).parent / "hf")
    out = subprocess.run([hf, "repos", "list", "--json", "--token", token], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    listed = json.loads(out.stdout)
    assert sorted((r["id"], r["visibility"]) for r in listed) == [(hidden, "private"), (mine, "public")]

    org = f"o{uuid.uuid4().hex[:8]}"
    call(server, "POST", "/api/organizations", token, {"name": org}).raise_for_status()
    api.create_repo(f"{org}/shared", private=True)
    api.create_repo(f"{org}/data", repo_type="dataset")
    assert sorted((r.id, r.type) for r in api.list_user_repos(org)) == [(f"{org}/data", "dataset"),
                                                                      (f"{org}/shared", "model")]
    stranger = server.make_token(server.make_user(), "write")
    with pytest.raises(HfHubHTTPError) as e:
        list(server.api(stranger).list_user_repos(org))
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        list(server.api(stranger).list_user_repos(admin))  # a user's repos are theirs: not an organisation
    assert e.value.response.status_code == 404


# tags --------------------------------------------------------------------------------------------------------------

def test_tags_by_type(world: World) -> None:
    s = world.server
    anon = s.api(None).get_model_tags()
    assert {"id": "text-classification", "label": "Text Classification", "type": "pipeline_tag"} in anon[
        "pipeline_tag"]
    assert {"id": "transformers", "label": "transformers", "type": "library"} in anon["library"]
    assert {"id": "license:mit", "label": "mit", "type": "license"} in anon["license"]
    assert {"id": "dataset:acme/reviews", "label": "acme/reviews", "type": "dataset"} in anon["dataset"]
    assert {"id": "fr", "label": "fr", "type": "language"} in anon["language"]
    everything = str(anon)
    assert world.tag not in everything  # only the private model has it
    assert world.tag not in str(s.api(world.outsider_token).get_model_tags())
    # the client sends no token here; a caller who does sees the tags of the private repos they may see
    owner_view = call(s, "GET", "/api/models-tags-by-type", world.owner_token).json()
    assert {"id": world.tag, "label": world.tag, "type": "other"} in owner_view["other"]
    assert world.tag not in call(s, "GET", "/api/models-tags-by-type", world.outsider_token).text

    ds = s.api(None).get_dataset_tags()
    assert {"id": "task_categories:text-classification", "label": "Text Classification",
            "type": "task_categories"} in ds["task_categories"]
    assert {"id": "license:cc-by-4.0", "label": "cc-by-4.0", "type": "license"} in ds["license"]
    assert {"id": "size_categories:n<1K", "label": "n<1K", "type": "size_categories"} in ds["size_categories"]


# listings ----------------------------------------------------------------------------------------------------------

def test_list_models_gated_filter_and_full(world: World) -> None:
    s = world.server
    owner, outsider = s.api(world.owner_token), s.api(world.outsider_token)
    assert [m.id for m in owner.list_models(author=world.owner, gated=True)] == [world.gated]
    assert sorted(m.id for m in owner.list_models(author=world.owner, gated=False)) == sorted(
        [world.public, world.private])
    assert [m.id for m in outsider.list_models(author=world.owner, gated=False)] == [world.public]
    assert {m.id: m.gated for m in outsider.list_models(author=world.owner)} == {world.public: False,
                                                                                 world.gated: "auto"}
    full = {m.id: m for m in owner.list_models(author=world.owner, full=True)}
    assert sorted(x.rfilename for x in full[world.public].siblings or []) == [
        ".gitattributes", "README.md", "config.json", "pytorch_model.bin"]
    assert sorted(x.rfilename for x in full[world.private].siblings or []) == [".gitattributes", "README.md"]
    assert {m.id for m in outsider.list_models(author=world.owner, full=True)} == {world.public, world.gated}
    assert [m.siblings for m in owner.list_models(author=world.owner)] == [None, None, None]  # not asked for
    refused(call(s, "GET", "/api/models?gated=maybe"), 400, "BadRequest")


def test_downloads_are_counted_as_the_hub_counts_them(any_server: LiveServer, tmp_path: Path) -> None:
    server = any_server
    owner = server.make_user()
    token = server.make_token(owner, "write")
    api = server.api(token)
    ids = {k: f"{owner}/{k}" for k in ("busy", "quiet", "idle", "hidden")}
    for k, rid in ids.items():
        api.create_repo(rid, private=k == "hidden")
        api.create_commit(rid, operations=[CommitOperationAdd("config.json", io.BytesIO(b"{}")),
                                           CommitOperationAdd("model.safetensors", io.BytesIO(b"x" * 10))],
                          commit_message="files")
    ds = f"{owner}/reviews"
    api.create_repo(ds, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"---\nlicense: mit\n---\n", path_in_repo="README.md", repo_id=ds,
                    repo_type="dataset")

    def get(path: str, method: str = "GET", t: str | None = token) -> None:
        call(server, method, path, t).raise_for_status()

    for _ in range(3):
        get(f"/{ids['busy']}/resolve/main/config.json")
    get(f"/{ids['quiet']}/resolve/main/config.json", "HEAD", None)  # HEAD counts too, as on the Hub
    for _ in range(5):  # other files are not downloads of the model
        get(f"/{ids['idle']}/resolve/main/model.safetensors")
        get(f"/{ids['idle']}/resolve/main/.gitattributes")
    for _ in range(9):
        get(f"/{ids['hidden']}/resolve/main/config.json")
    get(f"/datasets/{ds}/resolve/main/README.md")
    get(f"/datasets/{ds}/resolve/main/README.md", "HEAD")
    call(server, "GET", f"/{ids['busy']}/resolve/main/missing.json", token)  # a 404 is no download

    info = api.model_info(ids["busy"])
    assert (info.downloads, info.downloads_all_time) == (3, 3)
    assert (api.model_info(ids["quiet"]).downloads, api.model_info(ids["idle"]).downloads) == (1, 0)
    assert api.dataset_info(ds).downloads == 2

    # an old day counts all time, not in the last 30 days
    with server.stores.db.write() as conn:
        rid = conn.execute(select(repos.c.id).where(repos.c.namespace == owner, repos.c.name == "idle")).scalar_one()
        conn.execute(repo_downloads.insert().values(repo_id=rid, day=today() - 30, count=100))
        conn.execute(update(repos).where(repos.c.id == rid).values(downloads=repos.c.downloads + 100))
        days = conn.execute(select(repo_downloads.c.day, repo_downloads.c.count)
                            .join(repos, repos.c.id == repo_downloads.c.repo_id)
                            .where(repos.c.namespace == owner, repos.c.name == "busy")).all()
    assert [tuple(d) for d in days] == [(today(), 3)]  # one row per repo and day
    idle = api.model_info(ids["idle"])
    assert (idle.downloads, idle.downloads_all_time) == (0, 100)

    # what the client does: an uncached hf_hub_download is a HEAD and a GET (two requests, as on the Hub), a cached
    # one a HEAD
    cache = tmp_path / "cache"
    for _ in range(2):
        api.hf_hub_download(ids["quiet"], "config.json", cache_dir=cache)
    assert api.model_info(ids["quiet"]).downloads == 1 + 2 + 1

    outsider = server.api(server.make_token(server.make_user(), "read"))
    ranked = [(m.id, m.downloads) for m in outsider.list_models(author=owner, sort="downloads")]
    assert ranked == [(ids["quiet"], 4), (ids["busy"], 3), (ids["idle"], 0)]  # the private repo never shows
    mine = [m.id for m in api.list_models(author=owner, sort="downloads", limit=2)]
    assert mine == [ids["hidden"], ids["quiet"]]
    listed = {m.id: (m.downloads, m.downloads_all_time) for m in api.list_models(author=owner)}
    assert listed[ids["idle"]] == (0, 100) and listed[ids["busy"]] == (3, 3)
    assert [d.downloads for d in api.list_datasets(author=owner)] == [2]


def test_security_status(world: World) -> None:
    s = world.server
    info = s.api(world.owner_token).model_info(world.public, securityStatus=True)
    # scanned when committed (issue 10): these bytes are no pickle a loader could read safely
    assert info.security_repo_status == {"scansDone": True, "filesWithIssues": [
        {"path": "pytorch_model.bin", "level": "unsafe", "rules": ["pickle.unsafe"], "pickleImports": []}]}
    assert s.api(world.owner_token).model_info(world.public).security_repo_status is None  # not asked for
    with pytest.raises(RepositoryNotFoundError):
        s.api(world.outsider_token).model_info(world.private, securityStatus=True)


# new repos private by default --------------------------------------------------------------------------------------

def test_org_new_repos_private_by_default(server: LiveServer) -> None:
    admin = server.make_user()
    token = server.make_token(admin, "write")
    org = f"o{uuid.uuid4().hex[:8]}"
    call(server, "POST", "/api/organizations", token, {"name": org}).raise_for_status()
    writer = server.make_user()
    writer_token = server.make_token(writer, "write")
    call(server, "PUT", f"/api/organizations/{org}/members/{writer}", token, {"role": "write"}).raise_for_status()

    assert call(server, "GET", f"/api/organizations/{org}/settings", writer_token).json() == {
        "defaultPrivate": None, "newReposPrivate": False}
    api = server.api(writer_token)
    assert api.create_repo(f"{org}/before") and api.model_info(f"{org}/before").private is False

    refused(call(server, "PUT", f"/api/organizations/{org}/settings", writer_token, {"defaultPrivate": True}), 403,
            "Forbidden")
    refused(call(server, "GET", f"/api/organizations/{org}/settings", server.make_token(server.make_user())), 403,
            "Forbidden")
    for bad in ({}, {"defaultPrivate": "yes"}, {"defaultPrivate": 1}):
        refused(call(server, "PUT", f"/api/organizations/{org}/settings", token, bad), 400, "BadRequest")
    assert call(server, "PUT", f"/api/organizations/{org}/settings", token, {"defaultPrivate": True}).json() == {
        "defaultPrivate": True, "newReposPrivate": True}

    api.create_repo(f"{org}/after")
    assert api.model_info(f"{org}/after").private is True
    api.create_repo(f"{org}/asked-public", private=False)
    assert api.model_info(f"{org}/asked-public").private is False
    api.create_repo(f"{org}/ds", repo_type="dataset")
    assert api.dataset_info(f"{org}/ds").private is True
    with pytest.raises(RepositoryNotFoundError):  # private from the start: outsiders never saw it
        server.api(None).model_info(f"{org}/after")
    # a user's own repos are not affected by an organisation's setting
    api.create_repo(f"{writer}/own")
    assert api.model_info(f"{writer}/own").private is False
    with server.stores.db.read() as conn:
        rows = conn.execute(select(audit_log.c.details).where(audit_log.c.action == "org.settings")).all()
    assert any(org in str(r.details) for r in rows)


def test_site_wide_default_and_cli(tmp_path: Path) -> None:
    srv = LiveServer(tmp_path / "data", env={"INHOUSE_NEW_REPOS_PRIVATE": "true"}).start()
    try:
        user = srv.make_user()
        token = srv.make_token(user, "write")
        api = srv.api(token)
        api.create_repo(f"{user}/default")
        api.create_repo(f"{user}/public", private=False)
        assert (api.model_info(f"{user}/default").private, api.model_info(f"{user}/public").private) == (True, False)

        # counts held in memory are written when the server stops: none is lost
        api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id=f"{user}/public")
        for _ in range(3):
            call(srv, "GET", f"/{user}/public/resolve/main/config.json").raise_for_status()
        srv.stop()
        srv.start()
        api = srv.api(token)
        assert api.model_info(f"{user}/public").downloads == 3

        org = f"o{uuid.uuid4().hex[:8]}"
        call(srv, "POST", "/api/organizations", token, {"name": org}).raise_for_status()
        env = {k: v for k, v in os.environ.items() if not k.startswith("INHOUSE_")}
        env["INHOUSE_NEW_REPOS_PRIVATE"] = "true"

        def cli(*args: str) -> str:
            out = subprocess.run([sys.executable, "-m", "inhouse", "orgs", *args, "--data", str(srv.data_dir)],
                                 capture_output=True, text=True, env=env, timeout=60)
            assert out.returncode == 0, out.stdout + out.stderr
            return out.stdout

        assert cli("settings", org) == "default-private\tsite\t(new repos: private)\n"
        assert "public" in cli("set-default-private", org, "off")
        api.create_repo(f"{org}/open")
        assert api.model_info(f"{org}/open").private is False
        assert call(srv, "GET", f"/api/organizations/{org}/settings", token).json() == {
            "defaultPrivate": False, "newReposPrivate": False}
        cli("set-default-private", org, "site")
        api.create_repo(f"{org}/closed")
        assert api.model_info(f"{org}/closed").private is True
        bad = subprocess.run([sys.executable, "-m", "inhouse", "orgs", "set-default-private", org, "maybe", "--data",
                              str(srv.data_dir)], capture_output=True, text=True, env=env, timeout=60)
        assert bad.returncode != 0 and "invalid choice" in bad.stderr
    finally:
        srv.close()


def test_a_scoped_token_sees_only_its_repos(server: LiveServer) -> None:
    """A fine-grained token sees fewer private repos than its user: listings, likes, overviews and tags follow it."""
    from inhouse.services import users as user_service
    from inhouse.vocabulary import Scope, TokenRole

    owner = server.make_user()
    token = server.make_token(owner, "write")
    api = server.api(token)
    tag = f"only-{uuid.uuid4().hex[:6]}"
    shown, hidden = f"{owner}/shown", f"{owner}/hidden"
    for rid in (shown, hidden):
        api.create_repo(rid, private=True)
        call(server, "POST", f"/api/models/{rid}/like", token).raise_for_status()
    api.upload_file(path_or_fileobj=card(tags=[tag]), path_in_repo="README.md", repo_id=hidden)
    scoped = user_service.create_token(server.stores, owner, role=TokenRole.FINE_GRAINED, scopes=[
        Scope.parse({"type": "repo", "name": shown, "permissions": ["repo.content.read"]})])[1]
    sapi = server.api(scoped)
    assert [m.id for m in sapi.list_models(author=owner)] == [shown]
    assert [m.id for m in sapi.list_models(author=owner, full=True)] == [shown]
    assert sapi.list_liked_repos(owner).models == [shown]
    over = sapi.get_user_overview(owner)
    assert (over.num_models, over.num_likes) == (1, 1)
    assert sorted(r.id for r in sapi.list_user_repos()) == [shown]
    assert tag not in call(server, "GET", "/api/models-tags-by-type", scoped).text
    assert tag in call(server, "GET", "/api/models-tags-by-type", token).text
    with pytest.raises(RepositoryNotFoundError):
        list(sapi.list_repo_likers(hidden))
    sapi.auth_check(shown)
    with pytest.raises(RepositoryNotFoundError):
        sapi.auth_check(hidden)
