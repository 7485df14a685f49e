"""Every route that reads a repo's metadata or content, called against a live server on a public, a private and a
gated repo by an allowed caller (the owner) and by refused ones (an outsider's read token, anonymous): each call
leaves exactly one audit entry on a private or gated repo (the read, or the refused attempt), and none on a
public one.

The table names every route the server has (a test checks it against the router, so a new route must join it):
either how its read is audited, or why it is not a read. Reads are audited by the services themselves
(services/repo_access.py), so no handler can serve a private file without its entry.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from inhouse.storage.db.schema import audit_log
from inhouse.web import api as web_api
from inhouse.web import hub as web_hub
from inhouse.web.routing import Router
from tests.support.live import LiveServer
from tests.support.xet_cas import Account, Upload, bearer, commit_lfs, make_upload, post_shard, post_xorb, xet_token

OID = "a" * 64
LFS_JSON = "application/vnd.git-lfs+json"


@dataclass(frozen=True)
class Read:
    """Reads a repo: audited as `action` on a private or gated repo when allowed; a caller without `needs` is
    refused, audited as access.<needs> denied. `gated_only`: the route answers only for gated repos (a 400 that
    reads nothing elsewhere)."""

    action: str
    needs: str  # read (see the repo) | download | manage_access
    form: dict[str, str] | None = None
    json: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    gated_only: bool = False


@dataclass(frozen=True)
class Linked:
    """Reads content through a credential another route handed out (a Xet token, a signed link): tested below,
    each by its own test."""

    test: str


@dataclass(frozen=True)
class NotARead:
    why: str


CHANGE = "a change, audited as the change it makes (a refused attempt on a private or gated repo as access.*)"
NO_REPO = "concerns no repo"

ROUTES: dict[tuple[str, str], Read | Linked | NotARead] = {
    ("GET", "/api/whoami-v2"): NotARead(NO_REPO),
    ("POST", "/api/repos/create"): NotARead(CHANGE),
    ("DELETE", "/api/repos/delete"): NotARead(CHANGE),
    ("POST", "/api/repos/move"): NotARead(CHANGE),
    ("GET", "/api/models"): NotARead("lists the repos the caller may see, one row each from the repos table; no one "
                                     "repo's files or history are read"),
    ("GET", "/api/models/{repo}"): Read("repo.info", "read"),
    ("GET", "/api/datasets/{repo}/leaderboard"): NotARead(
        "a dataset's leaderboard (this table's repos are models): audited as repo.leaderboard on a private or gated "
        "dataset (tests/compat/test_eval_results.py); its model rows come from the eval-results index, limited to "
        "the models the caller may see, like a listing"),
    ("GET", "/api/models/{repo}/safetensors-metadata/model.safetensors.index.json"): NotARead(
        "a sharded model's shard headers (this table's repos hold no sharded model): the read of a private or gated "
        "repo is audited as file.download of the index, a caller who may not download is refused "
        "(tests/compat/test_safetensors_metadata.py)"),
    ("GET", "/api/models/{repo}/revision/main"): Read("repo.info", "read"),
    ("PUT", "/api/models/{repo}/settings"): NotARead(CHANGE),
    ("GET", "/api/models/{repo}/tree/main"): Read("repo.tree", "read"),
    ("POST", "/api/models/{repo}/paths-info/main"): Read("repo.paths_info", "read", form={"paths": "a.txt"}),
    ("GET", "/api/models/{repo}/refs"): Read("repo.refs", "read"),
    ("GET", "/api/models/{repo}/commits/main"): Read("repo.commits", "read"),
    ("POST", "/api/models/{repo}/branch/b"): NotARead(CHANGE),
    ("DELETE", "/api/models/{repo}/branch/b"): NotARead(CHANGE),
    ("POST", "/api/models/{repo}/tag/main"): NotARead(CHANGE),
    ("DELETE", "/api/models/{repo}/tag/t"): NotARead(CHANGE),
    ("GET", "/api/models/{repo}/lifecycle"): Read("repo.lifecycle", "read"),
    ("POST", "/api/models/{repo}/promotions"): NotARead(CHANGE + " (approval.request)"),
    ("GET", "/api/models/{repo}/approvals"): Read("repo.approvals", "read"),
    ("GET", "/api/models/{repo}/approvals/1"): NotARead(
        "one approval request (this table's repos have none): audited as repo.approvals on a private or gated repo, "
        "refused as access.read (tests/web/test_lifecycle_api.py)"),
    ("POST", "/api/models/{repo}/approvals/1/approve"): NotARead(CHANGE + " (approval.approve)"),
    ("POST", "/api/models/{repo}/approvals/1/reject"): NotARead(CHANGE + " (approval.reject)"),
    ("POST", "/api/models/{repo}/approvals/1/cancel"): NotARead(CHANGE + " (approval.cancel)"),
    ("GET", "/api/models/{repo}/governance"): Read("repo.governance", "download"),
    ("GET", "/api/models/{repo}/factsheet"): Read("factsheet.read", "download"),
    ("POST", "/api/models/{repo}/quarantine/1/release"): NotARead(CHANGE + " (policy.release)"),
    ("POST", "/api/orgs/o/policy/recheck"): NotARead(
        "an organisation's re-check, for its admins (audited as policy.recheck): it answers each repo's findings, "
        "rule names and paths, never the files' content"),
    ("POST", "/api/models/{repo}/preupload/main"): NotARead(
        "the first step of a commit, for a caller who may commit there (refused: access.write or access.propose); "
        "what it prepares is audited as the commit"),
    ("POST", "/api/models/{repo}/commit/main"): NotARead(CHANGE),
    ("POST", "/api/models/{repo}/super-squash/main"): NotARead(CHANGE + " (history.squash)"),
    ("GET", "/api/models/{repo}/lfs-files"): Read("lfs.list", "write"),
    ("POST", "/api/models/{repo}/lfs-files/batch"): NotARead(CHANGE + " (lfs.delete)"),
    ("POST", "/api/models/{repo}/lfs-files/duplicate"): NotARead(
        "links large files into another repo (audited there as lfs.duplicate); a caller who may not download "
        "from the source is refused (access.download)"),
    ("POST", "/api/models/{repo}/duplicate"): NotARead(
        CHANGE + " (repo.duplicate, on the new repo); a caller who may not download from the source is refused "
        "(access.download)"),
    ("POST", "/api/validate-yaml"): NotARead("checks a README the caller sends: " + NO_REPO),
    ("POST", "/{repo}.git/info/lfs/objects/batch"): Read(
        "lfs.batch", "download", json={"operation": "download", "objects": [{"oid": OID, "size": 5}]},
        headers={"Accept": LFS_JSON, "Content-Type": LFS_JSON}),
    ("GET", "/{repo}.git/info/refs"): NotARead(
        "git's ref advertisement (ref names and ids, as GET refs shows them); a refused caller is audited as "
        "access.download; the clone or fetch that follows is the read (POST git-upload-pack)"),
    ("POST", "/{repo}.git/git-upload-pack"): Linked(
        "tests/compat/test_git_clone.py::test_clones_of_private_and_gated_repos_are_audited_once_per_fetch"),
    ("POST", "/{repo}.git/git-receive-pack"): NotARead(CHANGE + "; audited as git.push"),
    ("PUT", "/api/lfs-transfer/1/{oid}/5"): NotARead("an upload through a signed link (refused: access.propose)"),
    ("PUT", "/api/lfs-transfer/1/{oid}/5/part/1"): NotARead("an upload through a signed link"),
    ("POST", "/api/lfs-transfer/1/{oid}/5/complete"): NotARead("an upload through a signed link"),
    ("POST", "/api/lfs-transfer/1/{oid}/5/verify"): NotARead("an upload through a signed link"),
    ("GET", "/api/lfs-transfer/1/{oid}/5/get"): Linked("test_downloads_through_lfs_links_are_audited"),
    ("POST", "/api/models/{repo}/discussions"): NotARead(CHANGE),
    ("GET", "/api/models/{repo}/discussions"): Read("discussion.list", "read"),
    ("GET", "/api/models/{repo}/discussions/1"): Read("discussion.read", "read"),
    ("POST", "/api/models/{repo}/discussions/1/comment"): NotARead(CHANGE + " (discussion.comment)"),
    ("POST", "/api/models/{repo}/discussions/1/comment/1/edit"): NotARead(CHANGE + " (discussion.comment.edit)"),
    ("POST", "/api/models/{repo}/discussions/1/comment/1/hide"): NotARead(CHANGE + " (discussion.comment.hide)"),
    ("POST", "/api/models/{repo}/discussions/1/title"): NotARead(CHANGE + " (discussion.rename)"),
    ("POST", "/api/models/{repo}/discussions/1/status"): NotARead(CHANGE + " (discussion.status)"),
    ("POST", "/api/models/{repo}/discussions/1/merge"): NotARead(CHANGE + " (pull_request.merge)"),
    ("POST", "/uploads"): NotARead("a comment attachment upload (audited as attachment.upload): " + NO_REPO),
    ("GET", "/uploads/{oid}.png"): NotARead("a comment attachment, to signed-in users: " + NO_REPO),
    ("POST", "/api/models/{repo}/user-access-request"): NotARead(CHANGE),
    ("POST", "/api/models/{repo}/user-access-request/handle"): NotARead(CHANGE),
    ("POST", "/api/models/{repo}/user-access-request/grant"): NotARead(CHANGE),
    ("GET", "/api/models/{repo}/user-access-request/pending"): Read("repo.access_requests", "manage_access",
                                                                   gated_only=True),
    ("POST", "/{repo}/ask-access"): NotARead(CHANGE),
    ("GET", "/{repo}/resolve/main/a.txt"): Read("file.download", "download"),
    ("HEAD", "/{repo}/resolve/main/a.txt"): Read("file.metadata", "download"),
    ("GET", "/api/models/{repo}/xet-read-token/main"): Read("xet.token", "download"),
    ("GET", "/api/models/{repo}/xet-write-token/main"): NotARead(
        "a capability to upload, for a caller who may write or propose (refused: access.write or access.propose)"),
    ("POST", "/cas/v1/xorbs/default/{oid}"): NotARead("an upload; registered and audited with its shard"),
    ("POST", "/cas/v1/shards"): NotARead("an upload, audited as xet.upload"),
    ("GET", "/cas/v1/chunks/default/{oid}"): NotARead(
        "a dedup answer lists only xorbs the caller may already name (its uploads, repos it may download from), "
        "with keyed chunk hashes: no one repo is read (tests/web/test_cas_access.py)"),
    ("GET", "/cas/v1/reconstructions/{oid}"): Linked("test_xet_reconstructions_are_audited"),
    ("GET", "/cas/v2/reconstructions/{oid}"): Linked("test_xet_reconstructions_are_audited"),
    ("GET", "/cas/xorb-data/{oid}"): NotARead(
        "xorb bytes through a URL signed in a reconstruction answer, whose read was audited (one entry per file "
        "read, not per range of a xorb)"),
    ("POST", "/cas/v1/xorb-grants/{oid}"): NotARead("not offered (404)"),
    ("POST", "/cas/v2/shards"): NotARead("not offered (404)"),
    ("POST", "/cas/v1/telemetry"): NotARead("accepted and dropped"),
    ("POST", "/api/organizations"): NotARead(NO_REPO),
    ("GET", "/api/organizations/o/overview"): NotARead(NO_REPO),
    ("GET", "/api/organizations/o/members"): NotARead(NO_REPO),
    ("PUT", "/api/organizations/o/members/u"): NotARead(NO_REPO),
    ("DELETE", "/api/organizations/o/members/u"): NotARead(NO_REPO),
    ("GET", "/api/organizations/o/resource-groups"): NotARead(
        "an organisation's groups with the repos in them, to its members: names only, not a repo's content"),
    ("POST", "/api/organizations/o/resource-groups"): NotARead(NO_REPO),
    ("GET", "/api/organizations/o/resource-groups/g"): NotARead("a group's members and repo names, to members"),
    ("DELETE", "/api/organizations/o/resource-groups/g"): NotARead(NO_REPO),
    ("PUT", "/api/organizations/o/resource-groups/g/members/u"): NotARead(NO_REPO),
    ("DELETE", "/api/organizations/o/resource-groups/g/members/u"): NotARead(NO_REPO),
    ("PUT", "/api/organizations/o/resource-groups/g/repos"): NotARead(CHANGE),
    ("DELETE", "/api/organizations/o/resource-groups/g/repos"): NotARead(CHANGE),
    ("GET", "/api/users/u/overview"): NotARead(
        "a user's names, organisations and how many repos and likes of theirs the caller may see: no repo is read"),
    ("GET", "/api/users/u/likes"): NotARead("the repos a user liked, among those the caller may see: names only, "
                                            "like a listing"),
    ("POST", "/api/models/{repo}/like"): NotARead(CHANGE),
    ("DELETE", "/api/models/{repo}/like"): NotARead(CHANGE),
    ("GET", "/api/models/{repo}/likers"): Read("repo.likers", "read"),
    ("GET", "/api/models/{repo}/auth-check"): Read("repo.auth_check", "download"),
    ("GET", "/api/models/{repo}/auth-check/write"): NotARead(
        "whether the caller may commit: audited as repo.auth_check when allowed, as access.write when refused "
        "(tests/compat/test_users_likes.py)"),
    ("GET", "/api/settings/repositories"): NotARead("the caller's own repos with their sizes: names only"),
    ("GET", "/api/organizations/o/settings/repositories"): NotARead(
        "an organisation's repos with their sizes, to its members: names only"),
    ("GET", "/api/models-tags-by-type"): NotARead("the tags of the repos the caller may see, like a listing"),
    ("GET", "/api/organizations/o/settings"): NotARead(NO_REPO),
    ("PUT", "/api/organizations/o/settings"): NotARead(NO_REPO),
    ("GET", "/api/collections"): NotARead(
        "the collections the caller may see, each with only the repos inside the caller may see: names, like a "
        "listing"),
    ("POST", "/api/collections"): NotARead("a change (audited as collection.create)"),
    ("GET", "/api/collections/u/c-000000000000000000000000"): NotARead(
        "a collection the caller may see, with only the repos inside the caller may see: names, like a listing"),
    ("PATCH", "/api/collections/u/c-000000000000000000000000"): NotARead("a change (audited as collection.update)"),
    ("DELETE", "/api/collections/u/c-000000000000000000000000"): NotARead("a change (audited as collection.delete)"),
    ("POST", "/api/collections/u/c-000000000000000000000000/items"): NotARead(
        "a change (audited as collection.item.add); the repo added must be one the caller may see"),
    ("PATCH", "/api/collections/u/c-000000000000000000000000/items/000000000000000000000000"): NotARead("a change (audited as collection.item.update)"),
    ("DELETE", "/api/collections/u/c-000000000000000000000000/items/000000000000000000000000"): NotARead("a change (audited as collection.item.delete)"),
    ("GET", "/api/tokens"): NotARead(NO_REPO),
    ("POST", "/api/tokens"): NotARead(NO_REPO),
    ("DELETE", "/api/tokens/1"): NotARead(NO_REPO),
    ("GET", "/api/audit"): NotARead("the audit log itself, to site admins (audited as audit.read)"),
    ("GET", "/api/settings/webhooks"): NotARead("the caller's own webhooks: " + NO_REPO),
    ("POST", "/api/settings/webhooks"): NotARead("a change (audited as webhook.create)"),
    ("GET", "/api/settings/webhooks/1"): NotARead("a webhook of the caller's own: " + NO_REPO),
    ("POST", "/api/settings/webhooks/1"): NotARead("a change (audited as webhook.update)"),
    ("DELETE", "/api/settings/webhooks/1"): NotARead("a change (audited as webhook.delete)"),
    ("POST", "/api/settings/webhooks/1/enable"): NotARead("a change (audited as webhook.enable)"),
    ("POST", "/api/settings/webhooks/1/disable"): NotARead("a change (audited as webhook.disable)"),
    ("GET", "/api/settings/webhooks/1/deliveries"): NotARead(
        "the delivery log of a webhook of the caller's own: the events of repos its owner may read, written "
        "only while they could (and checked again before each send)"),
    ("POST", "/api/settings/webhooks/1/deliveries/1/resend"): NotARead("a change (audited as webhook.resend)"),
    ("GET", "/api/orgs/o/policy"): NotARead("an organisation's policy document, to its members: " + NO_REPO),
    ("PUT", "/api/orgs/o/policy"): NotARead("a change (audited as policy.update)"),
    ("GET", "/api/orgs/o/policy/versions"): NotARead("an organisation's policy history, to its members: " + NO_REPO),
    ("GET", "/api/orgs/o/policy/versions/1"): NotARead("one version of an organisation's policy: " + NO_REPO),
    ("POST", "/api/orgs/o/policy/validate"): NotARead("checks a policy document sent by the caller: " + NO_REPO),
    ("GET", "/api/orgs/o/use-cases"): NotARead("an organisation's use cases, to its members: " + NO_REPO),
    ("POST", "/api/orgs/o/use-cases"): NotARead("a change (audited as use_case.create)"),
    ("GET", "/api/orgs/o/use-cases/uc"): NotARead(
        "a use case with the names of only the attached models the caller may see, like a listing"),
    ("PATCH", "/api/orgs/o/use-cases/uc"): NotARead("a change (audited as use_case.update)"),
    ("DELETE", "/api/orgs/o/use-cases/uc"): NotARead("a change (audited as use_case.delete)"),
    ("POST", "/api/orgs/o/use-cases/uc/models"): NotARead(CHANGE + " (use_case.attach)"),
    ("DELETE", "/api/orgs/o/use-cases/uc/models"): NotARead(CHANGE + " (use_case.detach)"),
    ("GET", "/api/jobs"): NotARead("the caller's own jobs (site admins: everyone's): " + NO_REPO),
    ("GET", "/api/jobs/1"): NotARead("a job of the caller's own, its state and tasks: " + NO_REPO),
    ("GET", "/api/jobs/1/logs"): NotARead("a job of the caller's own, its log lines: " + NO_REPO),
    ("POST", "/api/jobs/1/cancel"): NotARead("a change to a job of the caller's own (audited as job.cancel)"),
    ("POST", "/api/evaluations"): NotARead("submitting an evaluation (audited as evaluation.submit; its workers' "
                                           "downloads are audited like any client's, with their scoped token)"),
    ("GET", "/api/evaluations"): NotARead("the caller's own evaluations: " + NO_REPO),
    ("GET", "/api/evaluations/1"): NotARead("an evaluation of the caller's own, its rows and recommendation"),
    ("POST", "/api/evaluations/1/cancel"): NotARead("a change to an evaluation of the caller's own (audited as "
                                                    "evaluation.cancel)"),
    ("GET", "/api/evaluations/1/pareto.svg"): NotARead("a picture of an evaluation of the caller's own"),
    ("POST", "/api/evaluations/1/save-variant"): NotARead(CHANGE),
    ("GET", "/api/leaderboards/text-classification/datasets/{repo}"): NotARead(
        "a dataset revision's leaderboard: audited as evaluation.leaderboard on a private or gated dataset "
        "(tests/compat/test_evaluations.py); its model rows limited to the models the caller may read"),
    ("GET", "/api/leaderboards/text-classification/datasets/{repo}.png"): NotARead(
        "the same leaderboard as a picture (audited the same way)"),
}
READS = [(m, t) for (m, t), kind in ROUTES.items() if isinstance(kind, Read)]
KINDS = ("public", "private", "gated")


def _fill(template: str, repo_id: str) -> str:
    return template.replace("{repo}", repo_id).replace("{oid}", OID)


def test_the_table_names_every_route_the_server_has() -> None:
    """Each (method, route) of the router is in ROUTES: a new route must say how its reads are audited."""
    router = Router()
    web_hub.register_all(router)
    web_api.register_all(router)
    covered: set[tuple[str, str]] = set()
    for method, template in ROUTES:
        path = _fill(template, "ns/name")
        found = [r for r in router.routes if r.pattern.match(path) and method in r.methods]
        assert found, f"{method} {template} matches no route"
        covered.add((method, found[0].pattern.pattern))
    missing = [(m, r.pattern.pattern) for r in router.routes for m in sorted(r.methods)
               if (m, r.pattern.pattern) not in covered]
    assert not missing, f"routes missing from ROUTES (say how each read is audited, or why it is not one): {missing}"


@dataclass
class World:
    server: LiveServer
    owner: Account  # .repo_id unused: see `repos`
    outsider_token: str
    repos: dict[str, str]  # kind -> repo id
    files: dict[str, Upload]  # kind -> the large file w.bin (stored through the Xet CAS)


@pytest.fixture(scope="module")
def world(server: LiveServer) -> Iterator[World]:
    owner_name = server.make_user()
    owner = Account(owner_name, server.make_token(owner_name, "write"), "")
    api = server.api(owner.token)
    repos, files = {}, {}
    for kind in KINDS:
        repo_id = f"{owner_name}/{kind}-{uuid.uuid4().hex[:6]}"
        api.create_repo(repo_id, private=kind == "private")
        api.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id=repo_id)
        up = make_upload(uuid.uuid4().bytes * 20_000)
        tok = xet_token(server, Account(owner_name, owner.token, repo_id))
        assert post_xorb(server, tok, up.xorb_hash, up.xorb).status_code == 200
        assert post_shard(server, tok, up.shard).status_code == 200
        assert commit_lfs(server, owner, repo_id, "w.bin", up).status_code == 200
        api.create_discussion(repo_id, title="a discussion")
        if kind == "gated":
            api.update_repo_settings(repo_id, gated="manual")
        repos[kind], files[kind] = repo_id, up
    outsider = server.make_user()
    yield World(server, owner, server.make_token(outsider, "read"), repos, files)


def _audited(server: LiveServer, r: httpx.Response) -> list[tuple[str, str, str | None]]:
    """(action, outcome, repo) of every audit entry the request left."""
    request_id = r.headers["X-Request-Id"]
    with server.stores.db.read() as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.outcome, audit_log.c.repo)
                            .where(audit_log.c.request_id == request_id).order_by(audit_log.c.seq)).all()
    return [(a, o, repo) for a, o, repo in rows]


def _call(w: World, method: str, template: str, read: Read, repo_id: str, token: str | None) -> httpx.Response:
    headers = {**read.headers, **({"Authorization": f"Bearer {token}"} if token else {})}
    return httpx.request(method, w.server.url + _fill(template, repo_id), headers=headers, data=read.form,
                         json=read.json, timeout=60, follow_redirects=False)


def _allowed(read: Read, kind: str, caller: str) -> bool:
    if caller == "owner":
        return True
    if read.needs == "read":
        return kind != "private"  # a gated repo shows its metadata to everyone
    if read.needs == "download":
        return kind == "public"
    return False  # reviewing access requests: the repo's admins only


def _expected(read: Read, kind: str, caller: str) -> tuple[str, str] | None:
    """The one entry a call leaves (action, outcome), or None for none."""
    if kind == "public" or (read.gated_only and kind != "gated" and _allowed(read, kind, caller)):
        return None
    return (read.action, "ok") if _allowed(read, kind, caller) else (f"access.{read.needs}", "denied")


@pytest.mark.parametrize("method,template", READS + [("HEAD", t) for m, t in READS if m == "GET"],
                         ids=[f"{m} {t}" for m, t in READS] + [f"HEAD {t}" for m, t in READS if m == "GET"])
def test_each_read_leaves_exactly_one_entry_on_a_private_or_gated_repo(world: World, method: str,
                                                                       template: str) -> None:
    read = ROUTES[(method, template)] if (method, template) in ROUTES else ROUTES[("GET", template)]
    assert isinstance(read, Read)
    callers = {"owner": world.owner.token, "outsider": world.outsider_token, "anonymous": None}
    for kind in KINDS:
        repo_id = world.repos[kind]
        for caller, token in callers.items():
            r = _call(world, method, template, read, repo_id, token)
            what = f"{method} {template} on the {kind} repo by the {caller}: {r.status_code} " \
                   f"{r.headers.get('X-Error-Message')}"
            if _allowed(read, kind, caller) and not (read.gated_only and kind != "gated"):
                assert r.status_code == 200, what
            else:
                assert 400 <= r.status_code < 500, what
            expected = _expected(read, kind, caller)
            assert _audited(world.server, r) == ([] if expected is None else [(*expected, repo_id)]), what


def test_xet_reconstructions_are_audited(world: World) -> None:
    """GET /cas/v1|v2/reconstructions/{file}: the owner's read is one file.download on a private or gated repo,
    none on a public one; a proposer of the gated repo (a write token for a pull request) is refused and audited.
    On the private repo an outsider gets no Xet token at all: that refusal is the xet-read-token route's (above)."""
    server = world.server
    outsider = server.make_user()
    proposer = Account(outsider, server.make_token(outsider, "write"), "")
    for version in (1, 2):
        for kind in KINDS:
            repo_id, up = world.repos[kind], world.files[kind]
            read = xet_token(server, Account(world.owner.name, world.owner.token, repo_id), "read")
            r = httpx.get(f"{server.url}/cas/v{version}/reconstructions/{up.file_hash}", headers=bearer(read))
            assert r.status_code == 200, r.text
            assert _audited(server, r) == ([] if kind == "public" else [("file.download", "ok", repo_id)])
            if kind == "private":
                continue
            propose = xet_token(server, Account(proposer.name, proposer.token, repo_id), "write",
                                query="?create_pr=1")
            r = httpx.get(f"{server.url}/cas/v{version}/reconstructions/{up.file_hash}", headers=bearer(propose))
            if kind == "public":
                assert r.status_code == 200 and _audited(server, r) == []
            else:
                assert r.status_code == 403 and r.headers["X-Error-Code"] == "GatedRepo"
                assert _audited(server, r) == [("access.download", "denied", repo_id)]


def _lfs_link(server: LiveServer, token: str | None, repo_id: str, up: Upload) -> str:
    r = httpx.post(f"{server.url}/{repo_id}.git/info/lfs/objects/batch", timeout=60,
                   headers={"Accept": LFS_JSON, "Content-Type": LFS_JSON,
                            **({"Authorization": f"Bearer {token}"} if token else {})},
                   json={"operation": "download", "ref": {"name": "refs/heads/main"},
                         "objects": [{"oid": up.sha256, "size": len(up.data)}]})
    assert r.status_code == 200, r.text
    return str(r.json()["objects"][0]["actions"]["download"]["href"])


def test_downloads_through_lfs_links_are_audited(world: World) -> None:
    """GET of a signed LFS download link: one file.download on a private or gated repo, none on a public one; a
    reader whose gated access was withdrawn after the link was handed out is refused and audited. (On a private
    repo an outsider gets no link: that refusal is the batch route's, above.)"""
    server = world.server
    for kind in KINDS:
        repo_id, up = world.repos[kind], world.files[kind]
        r = httpx.get(_lfs_link(server, world.owner.token, repo_id, up), timeout=60)
        assert r.status_code == 200 and r.content == up.data
        assert _audited(server, r) == ([] if kind == "public" else [("file.download", "ok", repo_id)])
    anonymous = httpx.get(_lfs_link(server, None, world.repos["public"], world.files["public"]), timeout=60)
    assert anonymous.status_code == 200 and _audited(server, anonymous) == []

    gated, up = world.repos["gated"], world.files["gated"]
    reader = server.make_user()
    reader_token = server.make_token(reader, "read")
    api = server.api(world.owner.token)
    assert httpx.post(f"{server.url}/api/models/{gated}/user-access-request", timeout=60,
                      headers={"Authorization": f"Bearer {reader_token}"}).status_code == 200
    api.accept_access_request(gated, reader)
    link = _lfs_link(server, reader_token, gated, up)
    api.cancel_access_request(gated, reader)
    r = httpx.get(link, timeout=60)
    assert r.status_code == 403 and r.headers["X-Error-Code"] == "GatedRepo"
    assert _audited(server, r) == [("access.download", "denied", gated)]


def test_a_moved_repo_answers_307_to_its_new_name_from_the_one_error_handler(server: LiveServer) -> None:
    """Reads by a repo's old name are redirected (RepoMoved, turned into the 307 by web/responses.py), keeping the
    path's own percent-encoding and the query; the redirect reads nothing and audits nothing. An outsider asking
    by the old name gets the answer of a missing repo, without the new name."""
    owner = server.make_user()
    token = server.make_token(owner, "write")
    api = server.api(token)
    old, new = f"{owner}/old-{uuid.uuid4().hex[:6]}", f"{owner}/new-{uuid.uuid4().hex[:6]}"
    api.create_repo(old, private=True)
    api.upload_file(path_or_fileobj=b"x", path_in_repo="sub dir/a b.txt", repo_id=old)
    api.move_repo(old, new)
    auth = {"Authorization": f"Bearer {token}"}
    encoded = quote("sub dir/a b.txt", safe="")  # sub%20dir%2Fa%20b.txt: a %2F the client chose stays one
    for path in (f"/{old}/resolve/main/{encoded}?download=true", f"/api/models/{old}/tree/main?recursive=1&a=%2F",
                 f"/api/models/{old}", f"/api/models/{old}/revision/main", f"/api/models/{old}/discussions?p=0",
                 f"/api/models/{old}/xet-read-token/main"):
        r = httpx.get(server.url + path, headers=auth, follow_redirects=False)
        assert r.status_code == 307, (path, r.status_code, r.text)
        assert r.headers["Location"] == server.url + path.replace(f"/{old}", f"/{new}", 1), path
        assert _audited(server, r) == []
        assert httpx.get(r.headers["Location"], headers=auth).status_code == 200
    head = httpx.head(f"{server.url}/{old}/resolve/main/{encoded}", headers=auth)
    assert head.status_code == 307 and head.headers["Location"].endswith(f"/{new}/resolve/main/{encoded}")
    outsider = {"Authorization": f"Bearer {server.make_token(server.make_user(), 'read')}"}
    r = httpx.get(f"{server.url}/api/models/{old}", headers=outsider, follow_redirects=False)
    assert r.status_code == 404 and new not in r.text and "Location" not in r.headers
    assert _audited(server, r) == [("access.read", "denied", new)]
