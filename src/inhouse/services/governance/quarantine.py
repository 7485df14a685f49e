"""Quarantined files: contents a policy holds back in a repo. They landed (the commit is there), but this repo
does not serve them (`check_download`: FileQuarantined, 403) until an admin of the organisation releases them
(`release`, audited `policy.release`). Enforcement (enforce.record) puts them there."""

from __future__ import annotations

import time

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, OrgAction, decide_org
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, FileQuarantined, NotFound
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.repo_access import RepoName
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import quarantine as store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.quarantine import QuarantineRecord
from inhouse.storage.db.records import RepoRecord

MAX_REASON = 2000


def content_key(blob_sha: str, lfs_oid: str | None) -> str:
    """The content key of a file of a tree: its large file's sha256, else its git blob id."""
    return f"sha256:{lfs_oid}" if lfs_oid is not None else f"git:{blob_sha}"


def held_back(conn: Connection, repo: RepoRecord, key: str) -> QuarantineRecord | None:
    """The active quarantine of this content in the repo, if any (one indexed lookup)."""
    return store.active(conn, repo.id, key)


def refuse_download(repo: RepoRecord, path: str, q: QuarantineRecord) -> FileQuarantined:
    return FileQuarantined(
        f"'{path}' is quarantined in {repo.repo_id} by the rule {q.rule} ({q.reason[:300]}): it is not served "
        f"from this repo. An admin of '{repo.namespace}' can release it: POST /api/{repo.type.plural}/"
        f"{repo.repo_id}/quarantine/{q.id}/release {{\"reason\": \"...\"}}; GET /api/{repo.type.plural}/"
        f"{repo.repo_id}/governance lists what is held back.")


def check_download(stores: Stores, repo: RepoRecord, path: str, blob_sha: str, lfs_oid: str | None, *,
                   content: bool) -> bool:
    """Whether the file's content is held back in this repo; raises FileQuarantined when `content` is asked for.
    Its metadata (a HEAD) is still answered, without the Xet hash: a client then asks for the content itself (the
    Hub's client turns a refused HEAD into a connection error, a refused GET into the 403 it shows)."""
    if not repo.quarantined:  # the repo's row says it holds nothing back: no lookup
        return False
    with stores.db.read() as conn:
        q = held_back(conn, repo, content_key(blob_sha, lfs_oid))
    if q is not None and content:
        raise refuse_download(repo, path, q)
    return q is not None


def authorize_admin(stores: Stores, conn: Connection, principal: Principal, repo: RepoRecord) -> None:
    """Org admins decide on an organisation's repo; on a user's own repo, whoever may manage it."""
    owner = user_store.user_by_id(conn, repo.owner_id)
    if owner is not None and owner.kind == "org":
        role = org_store.member_role(conn, owner.id, principal.user_id) if principal.user_id is not None else None
        decide_org(principal, OrgAction.GOVERN, owner.name, role=role)
    else:
        repo_access.authorize_audited(stores, principal, Action.MANAGE, repo)


def release(stores: Stores, principal: Principal, name: RepoName, quarantine_id: int, reason: object
            ) -> QuarantineRecord:
    """Releases one quarantined file of the repo (org admins), with a reason; audited policy.release."""
    repo = repo_access.load(stores, principal, name, Action.READ, follow_moves=False)
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest('A release needs a reason: {"reason": "why this file may be served"}.')
    if len(reason) > MAX_REASON:
        raise BadRequest(f"The reason is {len(reason)} characters long; at most {MAX_REASON}.")
    with stores.db.write() as conn:
        authorize_admin(stores, conn, principal, repo)
        q = store.get(conn, repo.id, quarantine_id)
        if q is None:
            raise NotFound(f"No quarantined file #{quarantine_id} in {repo.repo_id}: GET /api/{repo.type.plural}/"
                           f"{repo.repo_id}/governance lists them.")
        if not store.release(conn, q.id, by=principal.user_id, reason=reason.strip(), now=time.time()):
            raise BadRequest(f"Quarantined file #{quarantine_id} ({q.path}) was already released.")
        stores.audit.record(conn, principal, Event("policy.release", repo, path=q.path, details={
            "path": q.path, "content_key": q.content_key, "reason": reason.strip()}))
        released = store.get(conn, repo.id, q.id)
    assert released is not None
    return released
