"""Names as the Hub treats them, through the real huggingface_hub client: repo ids are case-insensitive for lookup
(the canonical casing is kept, and a name differing only in case cannot be created), an id without a namespace is
the typed RepositoryNotFoundError, and a tag on a missing revision is RevisionNotFound before its name is checked."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import (
    BadRequestError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from inhouse.services import users as user_service
from inhouse.vocabulary import Scope, TokenRole


def _mixed_repo(server, api, user):  # type: ignore[no-untyped-def]
    repo_id = f"{user[0]}/Mixed-Case.{uuid.uuid4().hex[:6]}"
    api.create_repo(repo_id)
    api.upload_file(path_or_fileobj=b"hello names", path_in_repo="config.json", repo_id=repo_id)
    return repo_id


def test_lookup_ignores_case_and_keeps_the_canonical_id(server, api, user, tmp_path: Path):
    repo_id = _mixed_repo(server, api, user)
    for asked in (repo_id.lower(), repo_id.upper(), repo_id):
        info = api.model_info(asked)
        assert info.id == repo_id  # the casing it was created with
        assert api.list_repo_files(asked) == [".gitattributes", "config.json"]
        assert [b.name for b in api.list_repo_refs(asked).branches] == ["main"]
    path = hf_hub_download(repo_id.lower(), "config.json", endpoint=server.url, cache_dir=tmp_path / "c",
                           token=user[1])
    assert Path(path).read_bytes() == b"hello names"
    # writes find it too: a commit through another casing lands in the same repo
    api.upload_file(path_or_fileobj=b"second", path_in_repo="b.txt", repo_id=repo_id.upper())
    assert api.list_repo_files(repo_id) == [".gitattributes", "b.txt", "config.json"]
    # listings show the canonical id
    assert [m.id for m in api.list_models(author=user[0])] == [repo_id]


def test_create_differing_only_in_case_is_409(server, api, user):
    repo_id = _mixed_repo(server, api, user)
    ns, name = repo_id.split("/")
    with pytest.raises(HfHubHTTPError) as exc:
        api.create_repo(f"{ns}/{name.lower()}")
    assert exc.value.response.status_code == 409
    assert exc.value.response.json()["url"] == f"{server.url}/{repo_id}"  # names the repo as it is
    url = api.create_repo(f"{ns}/{name.upper()}", exist_ok=True)  # the client's exist_ok accepts the 409
    assert url.repo_id == repo_id
    assert [m.id for m in api.list_models(author=user[0])] == [repo_id]  # still one repo
    # another type is another repo: the same name in any case is free there
    api.create_repo(f"{ns}/{name.lower()}", repo_type="dataset")
    assert api.dataset_info(repo_id).id == f"{ns}/{name.lower()}"


def test_case_does_not_open_a_private_repo(server, user):
    repo_id, _ = server.make_repo(private=True)
    outsider = server.api(user[1])
    for asked in (repo_id.upper(), repo_id.lower()):
        with pytest.raises(RepositoryNotFoundError):
            outsider.model_info(asked)
        with pytest.raises(RepositoryNotFoundError):
            server.api().model_info(asked)


@pytest.mark.parametrize("anonymous", [False, True])
def test_id_without_namespace_is_repository_not_found(server, user, tmp_path: Path, anonymous: bool):
    api = server.api() if anonymous else server.api(user[1])
    calls = [
        lambda: api.model_info("gpt2"),
        lambda: api.model_info("gpt2", revision="main"),
        lambda: api.dataset_info("squad"),
        lambda: api.list_repo_files("gpt2"),
        lambda: api.list_repo_refs("gpt2"),
        lambda: api.list_repo_commits("gpt2"),
        lambda: api.list_repo_tree("gpt2"),
        lambda: api.get_paths_info("gpt2", ["config.json"]),
        lambda: api.create_branch("gpt2", branch="b"),
        lambda: api.create_tag("gpt2", tag="v1"),
        lambda: hf_hub_download("gpt2", "config.json", endpoint=server.url, cache_dir=tmp_path / "c",
                                token=False if anonymous else user[1]),
        lambda: hf_hub_download("squad", "data.csv", repo_type="dataset", endpoint=server.url,
                                cache_dir=tmp_path / "c", token=False if anonymous else user[1]),
    ]
    for call in calls:
        with pytest.raises(RepositoryNotFoundError) as exc:
            list(call() or [])  # type: ignore[call-overload]
        assert exc.value.response.headers["X-Error-Message"].startswith("Repository not found")
        assert exc.value.response.headers["X-Error-Code"] == "RepoNotFound"
        assert exc.value.response.status_code == (401 if anonymous else 404)
    assert not api.repo_exists("gpt2")
    with pytest.raises(RepositoryNotFoundError) as exc:
        api.model_info("gpt2")
    assert "'gpt2' has no namespace" in exc.value.response.headers["X-Error-Message"]  # says what to do


def test_unknown_endpoint_of_a_real_repo_is_still_nothing_served(server, api, user):
    repo_id = _mixed_repo(server, api, user)
    r = httpx.get(f"{server.url}/api/models/{repo_id}/no-such-endpoint")
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "NotFound"
    r = httpx.get(f"{server.url}/api/models/gpt2/no-such/endpoint")
    assert r.status_code == 404 and r.headers["X-Error-Code"] == "NotFound"
    # a bad token is still a bad token, not a missing repo
    r = httpx.get(f"{server.url}/api/models/gpt2", headers={"Authorization": "Bearer ih_nope"})
    assert r.status_code == 401 and r.headers["X-Error-Code"] == "Unauthorized"


def test_tag_on_a_missing_revision_is_revision_not_found_before_the_name(server, api, user):
    repo_id = _mixed_repo(server, api, user)
    for tag in ("v1", "bad name~", "..", "refs/heads/x"):
        with pytest.raises(RevisionNotFoundError):
            api.create_tag(repo_id, tag=tag, revision="no-such-branch")
    with pytest.raises(BadRequestError):  # on a revision that exists, the name is checked
        api.create_tag(repo_id, tag="bad name~")
    api.create_tag(repo_id.upper(), tag="v1")
    assert [t.name for t in api.list_repo_refs(repo_id).tags] == ["v1"]


def test_a_repo_may_change_only_the_case_of_its_name(server, api, user):
    repo_id = _mixed_repo(server, api, user)
    ns, name = repo_id.split("/")
    api.move_repo(repo_id, f"{ns}/{name.lower()}")
    assert api.model_info(repo_id).id == f"{ns}/{name.lower()}"
    assert api.list_repo_files(f"{ns}/{name.lower()}") == [".gitattributes", "config.json"]
    other = _mixed_repo(server, api, user)
    with pytest.raises(HfHubHTTPError) as exc:  # but not to another repo's name in another case
        api.move_repo(other, f"{ns}/{name.upper()}")
    assert exc.value.response.status_code == 409


def test_a_fine_grained_token_names_repos_and_namespaces_in_any_case(server, user):
    repo_id, owner_token = server.make_repo(private=True)
    ns, name = repo_id.split("/")
    server.api(owner_token).upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo_id)
    for scope in ({"type": "repo", "name": repo_id.upper()}, {"type": "user", "name": ns.upper()}):
        token = user_service.create_token(server.stores, ns, role=TokenRole.FINE_GRAINED, scopes=[
            Scope.parse({**scope, "permissions": ["repo.content.read", "repo.write"]})])[1]
        scoped = server.api(token)
        assert scoped.model_info(repo_id.lower()).id == repo_id
        scoped.upload_file(path_or_fileobj=b"y", path_in_repo=f"{scope['type']}.txt", repo_id=repo_id)
    other = user_service.create_token(server.stores, ns, role=TokenRole.FINE_GRAINED, scopes=[
        Scope.parse({"type": "repo", "name": f"{ns}/{name}-other".upper(), "permissions": ["repo.content.read"]})])[1]
    with pytest.raises(RepositoryNotFoundError):  # another repo's scope still covers only that repo
        server.api(other).model_info(repo_id)


def test_hostile_ids_without_a_namespace_get_a_clean_error(server):
    import http.client

    for seg in ("%00", "%ED%A0%80", "%E2%80%AE", "x" * 2000, "..", "%2e%2e", "a%2Fb"):
        for target in (f"/api/models/{seg}", f"/api/datasets/{seg}/revision/main", f"/{seg}/resolve/main/a.txt",
                       f"/spaces/{seg}/resolve/main/a.txt"):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            try:
                conn.request("GET", target)
                resp = conn.getresponse()
                resp.read()
                assert resp.status < 500 and resp.getheader("X-Error-Code"), (target[:80], resp.status)
            finally:
                conn.close()


def test_an_owner_named_in_another_case_is_that_owner_and_keeps_its_casing(server, api, user):
    from inhouse.services import orgs

    name = user[0]
    org = f"Org{uuid.uuid4().hex[:6]}"
    orgs.create_org(server.stores, org, admin=name)
    made = api.create_repo(f"{name.upper()}/first")
    assert made.repo_id == f"{name}/first"
    assert api.model_info(f"{name}/first").id == f"{name}/first"
    in_org = api.create_repo(f"{org.lower()}/shared", repo_type="dataset")
    assert in_org.repo_id == f"{org}/shared"
    assert api.dataset_info(f"{org}/shared").author == org
    api.move_repo(f"{name}/first", f"{org.upper()}/moved")
    assert api.model_info(f"{org}/moved").id == f"{org}/moved"
    copy = api.duplicate_repo(f"{org}/moved", f"{name.upper()}/copy")
    assert copy.repo_id == f"{name}/copy"
    assert api.list_repo_files(f"{name}/copy") == [".gitattributes"]
    with pytest.raises(BadRequestError, match="no user or organisation"):
        api.create_repo(f"nobody{uuid.uuid4().hex[:6]}/x")


def test_list_user_repos_names_the_caller_by_name_in_any_case(server, api, user):
    name = user[0]
    api.create_repo(f"{name}/mine", private=True)
    for asked in (None, name, name.upper()):
        assert [(r.id, r.visibility) for r in api.list_user_repos(asked)] == [(f"{name}/mine", "private")]
    other = server.make_user()
    with pytest.raises(HfHubHTTPError) as e:
        list(api.list_user_repos(other))
    assert e.value.response.status_code == 404
