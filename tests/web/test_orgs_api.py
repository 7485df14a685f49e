"""The organisations and tokens JSON API over HTTP, and what org roles and resource groups let the real
huggingface_hub client do. inhouse's own endpoints go over httpx; everything the client has a call for goes
through HfApi."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from huggingface_hub.errors import HfHubHTTPError

from tests.support.live import LiveServer

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def call(server: LiveServer, method: str, path: str, token: str | None, body: Any = None) -> httpx.Response:
    return httpx.request(method, server.url + path, headers=auth(token), json=body, timeout=30)


def ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def refused(r: httpx.Response, status: int, code: str) -> str:
    assert (r.status_code, r.headers.get("X-Error-Code")) == (status, code), (r.status_code, r.text)
    assert r.headers.get("X-Request-Id")
    return r.json()["error"]


def new_org(server: LiveServer) -> tuple[str, str, str]:
    """(org, admin, admin's write token), the org created over the API by that admin."""
    admin = server.make_user()
    token = server.make_token(admin, "write")
    org = f"o{uuid.uuid4().hex[:8]}"
    body = ok(call(server, "POST", "/api/organizations", token, {"name": org, "fullname": "Acme Research"}))
    assert body["name"] == org and body["type"] == "org" and ISO.match(body["createdAt"])
    return org, admin, token


def member(server: LiveServer, org: str, admin_token: str, role: str) -> tuple[str, str]:
    """(name, write token) of a new user added to `org` with `role`."""
    name = server.make_user()
    ok(call(server, "PUT", f"/api/organizations/{org}/members/{name}", admin_token, {"role": role}))
    return name, server.make_token(name, "write")


def test_create_org_and_manage_members(server: LiveServer) -> None:
    org, admin, token = new_org(server)
    refused(call(server, "POST", "/api/organizations", token, {"name": org.upper()}), 409, "Conflict")
    refused(call(server, "POST", "/api/organizations", None, {"name": "o" + uuid.uuid4().hex[:8]}), 401,
            "Unauthorized")
    refused(call(server, "POST", "/api/organizations", token, {"fullname": "no name"}), 400, "BadRequest")

    overview = server.api(None).get_organization_overview(org)  # anyone sees that it exists
    assert (overview.name, overview.fullname, overview.num_users) == (org, "Acme Research", 1)

    writer, _ = member(server, org, token, "write")
    reader, reader_token = member(server, org, token, "read")
    changed = ok(call(server, "PUT", f"/api/organizations/{org}/members/{reader}", token, {"role": "contributor"}))
    assert changed == {"type": "user", "user": reader, "fullname": reader, "avatarUrl": "", "isPro": False,
                       "role": "contributor"}
    refused(call(server, "PUT", f"/api/organizations/{org}/members/{reader}", token, {"role": "boss"}), 400,
            "BadRequest")
    refused(call(server, "PUT", f"/api/organizations/{org}/members/nobody{uuid.uuid4().hex[:6]}", token,
                 {"role": "read"}), 404, "NotFound")

    # members list with the real client, for members only
    listed = {u.username: u.role for u in server.api(reader_token).list_organization_members(org)}  # type: ignore[attr-defined]
    assert listed == {admin: "admin", writer: "write", reader: "contributor"}
    outsider_token = server.make_token(server.make_user(), "write")
    with pytest.raises(HfHubHTTPError) as e:
        list(server.api(outsider_token).list_organization_members(org))
    assert e.value.response.status_code == 403
    # a non-admin member cannot manage
    msg = refused(call(server, "PUT", f"/api/organizations/{org}/members/{admin}", reader_token, {"role": "read"}),
                  403, "Forbidden")
    assert "Only admins" in msg

    refused(call(server, "DELETE", f"/api/organizations/{org}/members/{admin}", token), 409, "Conflict")
    ok(call(server, "DELETE", f"/api/organizations/{org}/members/{writer}", token))
    ok(call(server, "DELETE", f"/api/organizations/{org}/members/{reader}", reader_token))  # leaving
    assert [u.username for u in server.api(token).list_organization_members(org)] == [admin]
    refused(call(server, "GET", f"/api/organizations/nope{uuid.uuid4().hex[:6]}/overview", None), 404, "NotFound")


def test_whoami_lists_orgs_with_roles(server: LiveServer) -> None:
    org, _, token = new_org(server)
    name, member_token = member(server, org, token, "contributor")
    me = server.api(member_token).whoami()
    assert me["name"] == name
    assert {"type": "org", "name": org, "fullname": "Acme Research", "roleInOrg": "contributor"} in me["orgs"]
    ok(call(server, "PUT", f"/api/organizations/{org}/members/{name}", token, {"role": "write"}))
    assert [o["roleInOrg"] for o in server.api(member_token).whoami()["orgs"] if o["name"] == org] == ["write"]


def test_org_roles_decide_what_the_real_client_may_do(server: LiveServer) -> None:
    org, _, token = new_org(server)
    _, write_token = member(server, org, token, "write")
    _, read_token = member(server, org, token, "read")
    _, contrib_token = member(server, org, token, "contributor")

    writer = server.api(write_token)
    url = writer.create_repo(f"{org}/by-writer")
    assert url.repo_id == f"{org}/by-writer"
    writer.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id=f"{org}/by-writer")
    assert server.api(read_token).list_repo_files(f"{org}/by-writer") == [".gitattributes", "a.txt"]

    reader = server.api(read_token)
    with pytest.raises(HfHubHTTPError) as e:
        reader.create_repo(f"{org}/by-reader")
    assert e.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as e:
        reader.upload_file(path_or_fileobj=b"no", path_in_repo="b.txt", repo_id=f"{org}/by-writer")
    assert e.value.response.status_code == 403
    assert reader.list_repo_files(f"{org}/by-writer") == [".gitattributes", "a.txt"]

    assert server.api(contrib_token).create_repo(f"{org}/by-contributor").repo_id == f"{org}/by-contributor"
    assert server.api(None).model_info(f"{org}/by-contributor").id == f"{org}/by-contributor"

    # a read token of a write member is capped at reading
    writer_read = server.api(server.make_token(writer.whoami()["name"], "read"))
    with pytest.raises(HfHubHTTPError) as e:
        writer_read.upload_file(path_or_fileobj=b"no", path_in_repo="c.txt", repo_id=f"{org}/by-writer")
    assert e.value.response.status_code == 403


def test_resource_group_grants_write_on_its_repos_only(server: LiveServer) -> None:
    org, _, token = new_org(server)
    admin_api = server.api(token)
    admin_api.create_repo(f"{org}/team-model", private=True)
    admin_api.create_repo(f"{org}/other-model", private=True)
    admin_api.create_repo(f"{org}/team-data", repo_type="dataset", private=True)
    dev, dev_token = member(server, org, token, "read")

    group = ok(call(server, "POST", f"/api/organizations/{org}/resource-groups", token,
                    {"name": "team", "description": "the modelling team"}))
    assert (group["name"], group["description"], group["members"], group["repos"]) == (
        "team", "the modelling team", [], [])
    refused(call(server, "POST", f"/api/organizations/{org}/resource-groups", token, {"name": "team"}), 409,
            "Conflict")
    refused(call(server, "POST", f"/api/organizations/{org}/resource-groups", dev_token, {"name": "mine"}), 403,
            "Forbidden")
    ok(call(server, "PUT", f"/api/organizations/{org}/resource-groups/team/members/{dev}", token, {"role": "write"}))
    ok(call(server, "PUT", f"/api/organizations/{org}/resource-groups/team/repos", token,
            {"name": f"{org}/team-model"}))
    ok(call(server, "PUT", f"/api/organizations/{org}/resource-groups/team/repos", token,
            {"type": "dataset", "name": f"{org}/team-data"}))
    refused(call(server, "PUT", f"/api/organizations/{org}/resource-groups/team/repos", token,
                 {"name": f"{org}/missing"}), 404, "RepoNotFound")

    listed = ok(call(server, "GET", f"/api/organizations/{org}/resource-groups", dev_token))
    assert [(g["name"], [(m["user"], m["role"]) for m in g["members"]],
             sorted((r["type"], r["name"]) for r in g["repos"])) for g in listed] == [
        ("team", [(dev, "write")], [("dataset", f"{org}/team-data"), ("model", f"{org}/team-model")])]

    dev_api = server.api(dev_token)
    dev_api.upload_file(path_or_fileobj=b"w", path_in_repo="w.txt", repo_id=f"{org}/team-model")
    dev_api.upload_file(path_or_fileobj=b"d", path_in_repo="d.csv", repo_id=f"{org}/team-data", repo_type="dataset")
    with pytest.raises(HfHubHTTPError) as e:
        dev_api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=f"{org}/other-model")
    assert e.value.response.status_code == 403
    assert "w.txt" in admin_api.list_repo_files(f"{org}/team-model")

    # out of the group, the write is gone on the next request
    r = httpx.request("DELETE", f"{server.url}/api/organizations/{org}/resource-groups/team/repos",
                      headers=auth(token), json={"name": f"{org}/team-model"}, timeout=30)
    ok(r)
    with pytest.raises(HfHubHTTPError) as e:
        dev_api.upload_file(path_or_fileobj=b"w2", path_in_repo="w2.txt", repo_id=f"{org}/team-model")
    assert e.value.response.status_code == 403
    ok(call(server, "DELETE", f"/api/organizations/{org}/resource-groups/team/members/{dev}", token))
    with pytest.raises(HfHubHTTPError) as e:
        dev_api.upload_file(path_or_fileobj=b"d2", path_in_repo="d2.csv", repo_id=f"{org}/team-data",
                            repo_type="dataset")
    assert e.value.response.status_code == 403
    ok(call(server, "DELETE", f"/api/organizations/{org}/resource-groups/team", token))
    assert ok(call(server, "GET", f"/api/organizations/{org}/resource-groups", token)) == []
    refused(call(server, "GET", f"/api/organizations/{org}/resource-groups/team", token), 404, "NotFound")


def test_tokens_api(server: LiveServer) -> None:
    alice = server.make_user()
    alice_token = server.make_token(alice, "write")
    repo = server.api(alice_token).create_repo(f"{alice}/scoped").repo_id
    other = server.api(alice_token).create_repo(f"{alice}/other").repo_id

    created = ok(call(server, "POST", "/api/tokens", alice_token, {
        "name": "ci", "role": "fine-grained", "expiresInDays": 2,
        "scopes": [{"type": "repo", "name": repo, "permissions": ["repo.write"]}]}))
    secret = created["token"]
    assert secret.startswith("ih_") and created["hint"] == secret[:7] and created["state"] == "active"
    assert created["scopes"] == [{"type": "repo", "name": repo, "permissions": ["repo.write"]}]
    assert ISO.match(created["createdAt"]) and ISO.match(created["expiresAt"]) and created["lastUsedAt"] is None

    scoped = server.api(secret)
    scoped.upload_file(path_or_fileobj=b"ok", path_in_repo="ok.txt", repo_id=repo)
    with pytest.raises(HfHubHTTPError) as e:
        scoped.upload_file(path_or_fileobj=b"no", path_in_repo="no.txt", repo_id=other)
    assert e.value.response.status_code == 403

    r = call(server, "GET", "/api/tokens", alice_token)
    listed = {t["id"]: t for t in ok(r)}
    assert secret not in r.text and "token_hash" not in r.text and '"token"' not in r.text
    mine = listed[created["id"]]
    assert (mine["name"], mine["role"], mine["hint"], mine["user"]) == ("ci", "fine-grained", secret[:7], alice)
    assert ISO.match(mine["lastUsedAt"])  # it was used for the uploads above

    # a read token lists but cannot mint or revoke; nobody handles someone else's tokens
    read_token = server.make_token(alice, "read")
    assert ok(call(server, "GET", "/api/tokens", read_token))
    refused(call(server, "POST", "/api/tokens", read_token, {"role": "write"}), 403, "Forbidden")
    refused(call(server, "POST", "/api/tokens", secret, {"role": "write"}), 403, "Forbidden")
    bob_token = server.make_token(server.make_user(), "write")
    refused(call(server, "DELETE", f"/api/tokens/{created['id']}", bob_token), 404, "NotFound")
    refused(call(server, "GET", f"/api/tokens?user={alice}", bob_token), 403, "Forbidden")
    refused(call(server, "POST", "/api/tokens", bob_token, {"role": "write", "user": alice}), 403, "Forbidden")
    refused(call(server, "GET", "/api/tokens", None), 401, "Unauthorized")
    refused(call(server, "POST", "/api/tokens", alice_token, {"role": "owner"}), 400, "BadRequest")
    refused(call(server, "POST", "/api/tokens", alice_token, {"role": "fine-grained"}), 400, "BadRequest")
    refused(call(server, "POST", "/api/tokens", alice_token, {"role": "write", "expiresInDays": -1}), 400,
            "BadRequest")

    ok(call(server, "DELETE", f"/api/tokens/{created['id']}", alice_token))
    refused(call(server, "GET", "/api/whoami-v2", secret), 401, "Unauthorized")
    states = {t["id"]: t["state"] for t in ok(call(server, "GET", "/api/tokens", alice_token))}
    assert states[created["id"]] == "revoked"

    # a site admin manages anyone's tokens
    root_token = server.make_token(server.make_user(admin=True), "write")
    made = ok(call(server, "POST", "/api/tokens", root_token, {"role": "read", "user": alice, "name": "by-root"}))
    assert made["user"] == alice
    assert "by-root" in {t["name"] for t in ok(call(server, "GET", f"/api/tokens?user={alice}", root_token))}
    ok(call(server, "DELETE", f"/api/tokens/{made['id']}", root_token))
    refused(call(server, "GET", "/api/whoami-v2", made["token"]), 401, "Unauthorized")


# what an org admin may learn about repos outside their org (issue 7, finding 5) -------------------------------------

def _shape(r: httpx.Response, swap: tuple[str, str] = ("", "")) -> tuple[int, str, list[tuple[str, str]]]:
    """Status, body and every header but the request id and date, with `swap[0]` written as `swap[1]`."""
    headers = sorted((k.lower(), v.replace(*swap)) for k, v in r.headers.items()
                     if k.lower() not in ("x-request-id", "date"))
    return r.status_code, r.text.replace(*swap), headers


def test_group_repo_assignment_does_not_reveal_other_orgs_private_repos(server: LiveServer) -> None:
    """An admin of one org puts repo ids of another org into their resource group: a private repo they cannot
    see, one that was moved away (asked for by its old id), and one that never existed all get the same 404."""
    org, _, token = new_org(server)
    ok(call(server, "POST", f"/api/organizations/{org}/resource-groups", token, {"name": "team"}))
    victim_org, _, victim_token = new_org(server)
    victim = server.api(victim_token)
    victim.create_repo(f"{victim_org}/secret", private=True)
    victim.create_repo(f"{victim_org}/old-name", private=True)
    victim.move_repo(f"{victim_org}/old-name", f"{victim_org}/new-name-{uuid.uuid4().hex[:6]}")
    victim.create_repo(f"{victim_org}/public")

    base = f"/api/organizations/{org}/resource-groups/team/repos"
    for method in ("PUT", "DELETE"):
        for hidden, missing in [(f"{victim_org}/secret", f"{victim_org}/secreu"),
                                (f"{victim_org}/old-name", f"{victim_org}/old-namf")]:
            # same length: the message names the id asked for, so the ids must differ in one letter only
            a = call(server, method, base, token, {"name": hidden})
            b = call(server, method, base, token, {"name": missing})
            refused(a, 404, "RepoNotFound")
            assert "new-name" not in a.text and "new-name" not in str(a.headers)
            assert _shape(a) == _shape(b, (missing, hidden))
    # a public repo of another org can be seen, so it is refused for what it is
    msg = refused(call(server, "PUT", base, token, {"name": f"{victim_org}/public"}), 400, "BadRequest")
    assert "does not belong" in msg
    # nothing was put in the group
    assert ok(call(server, "GET", f"/api/organizations/{org}/resource-groups/team", token))["repos"] == []


def test_a_repo_moved_to_another_org_leaves_its_resource_group(server: LiveServer) -> None:
    """A private repo in org A's group, moved to org B, must neither be listed (with its new name) to A's members
    nor keep granting A's group members a role on it."""
    org, admin, token = new_org(server)
    dev, dev_token = member(server, org, token, "read")
    other_org = f"o{uuid.uuid4().hex[:8]}"
    ok(call(server, "POST", "/api/organizations", token, {"name": other_org}))  # the same admin runs both
    admin_api = server.api(token)
    admin_api.create_repo(f"{org}/model", private=True)
    ok(call(server, "POST", f"/api/organizations/{org}/resource-groups", token, {"name": "team"}))
    ok(call(server, "PUT", f"/api/organizations/{org}/resource-groups/team/members/{dev}", token, {"role": "write"}))
    ok(call(server, "PUT", f"/api/organizations/{org}/resource-groups/team/repos", token, {"name": f"{org}/model"}))
    server.api(dev_token).upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=f"{org}/model")

    new_id = f"{other_org}/moved-{uuid.uuid4().hex[:6]}"
    admin_api.move_repo(f"{org}/model", new_id)
    groups = ok(call(server, "GET", f"/api/organizations/{org}/resource-groups", dev_token))
    assert groups[0]["repos"] == [] and "moved-" not in str(groups)
    with pytest.raises(HfHubHTTPError) as e:
        server.api(dev_token).list_repo_files(new_id)
    assert e.value.response.status_code == 404
    assert admin_api.list_repo_files(new_id) == [".gitattributes", "x.txt"]


def test_removing_a_member_checks_the_right_before_the_name(server: LiveServer) -> None:
    org, _, _ = new_org(server)
    outsider_token = server.make_token(server.make_user(), "write")
    existing = server.make_user()
    for name in (existing, f"nobody{uuid.uuid4().hex[:6]}"):
        refused(call(server, "DELETE", f"/api/organizations/{org}/members/{name}", outsider_token), 403, "Forbidden")
