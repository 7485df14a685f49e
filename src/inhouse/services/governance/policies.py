"""Organisations' policies: the versioned YAML documents (services/governance/policy_doc.py reads them) and which
one governs a repo.

* `policy_for(stores, conn, repo)`: the policy a change to `repo` is evaluated under: its organisation's current
  version, or `DEFAULT_POLICY` (repos in a user's namespace, organisations without a policy). Asked on every commit,
  push and merge, so it costs one lookup on an index (the current version number); the parsed policy of each
  (org, version) is kept on the runtime (`runtime.policies`).
* `get`, `versions`, `version`: the current document, the history (newest first, with authors and messages), one
  version; to the organisation's members (access/policy.py, OrgAction.READ_POLICY).
* `put`: a new version (org admins, OrgAction.EDIT_POLICY), audited as `policy.update` {org, version, message} in
  its transaction. A policy applies from then on: it is not retroactive, existing revisions are not evaluated
  again (POST /api/orgs/{org}/policy/recheck says what would fail under it).
* `validate`: what `put` would say of a document (errors as BadRequest with line and column, warnings), without
  writing it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import OrgAction, decide_org
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, NotFound
from inhouse.services.context import Stores
from inhouse.services.governance.policy_doc import DEFAULT_DOCUMENT, DEFAULT_POLICY, Policy, parse
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import policies as store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.records import RepoRecord, UserRecord

__all__ = ["MAX_MESSAGE", "PolicyVersion", "not_retroactive", "get", "policy_for", "put", "validate", "version",
           "versions"]

MAX_MESSAGE = 1000  # characters of a version's message
MAX_PAGE = 100  # versions listed at once


def not_retroactive(org: str) -> str:
    """What every answer that changes or shows a policy says of its reach."""
    return (f"This policy applies to commits, pushes and merges from now on; it is not retroactive: revisions "
            f"already in the repos of '{org}' are not evaluated again. POST /api/orgs/{org}/policy/recheck reports "
            "what would fail under it.")


@dataclass(frozen=True)
class PolicyVersion:
    """One version of an organisation's policy (version 0: none was ever set, the default applies; its document
    is `DEFAULT_DOCUMENT`). `document` is "" in listings."""

    org: str
    version: int
    document: str
    message: str
    author: str | None
    created_at: float | None
    policy: Policy | None  # parsed (get, version, put); None in listings


def policy_for(stores: Stores, conn: Connection, repo: RepoRecord) -> Policy:
    """The policy that governs a change to `repo` (see the module's docstring), read in the caller's transaction.
    A stored version that no longer reads (a document older code accepted) refuses the change rather than letting
    it through unchecked: an org admin must put a corrected version."""
    current = store.current_version(conn, repo.owner_id)
    if current is None:
        return DEFAULT_POLICY
    key = (repo.owner_id, current)
    cached = stores.runtime.policies.get(key)
    if cached is None:
        record = store.get(conn, repo.owner_id, current)
        if record is None:  # cannot happen: the version was just read
            return DEFAULT_POLICY
        try:
            cached = parse(record.document, org=repo.namespace, version=current)
        except BadRequest as e:
            raise Conflict(f"The policy of '{repo.namespace}' (version {current}) no longer reads ({e.message}); "
                           f"an admin of '{repo.namespace}' must PUT a corrected one to "
                           f"/api/orgs/{repo.namespace}/policy.") from None
        stores.runtime.policies.put(key, cached)
    if cached.org != repo.namespace:  # the organisation was renamed since it was cached
        cached = dataclasses.replace(cached, org=repo.namespace)
    return cached


def _org(conn: Connection, name: str) -> UserRecord:
    """The organisation `name` names, in any casing (as services/orgs.py finds them)."""
    org = user_store.user_by_name(conn, name) or user_store.user_by_name_ci(conn, name)
    if org is None or org.kind != "org":
        raise NotFound(f"No organisation named '{name}'; policies belong to organisations (a repo in a user's "
                       "namespace gets the default policy).")
    return org


def _check(conn: Connection, by: Principal, action: OrgAction, org: UserRecord) -> None:
    role = org_store.member_role(conn, org.id, by.user_id) if by.user_id is not None else None
    decide_org(by, action, org.name, role=role)


def _view(org: UserRecord, record: store.PolicyRecord, *, parsed: bool) -> PolicyVersion:
    policy: Policy | None = None
    if parsed:
        try:
            policy = parse(record.document, org=org.name, version=record.version)
        except BadRequest:
            policy = None  # shown as it was written; policy_for says it no longer reads
    return PolicyVersion(org.name, record.version, record.document, record.message, record.author,
                         record.created_at, policy)


def _default(org: UserRecord) -> PolicyVersion:
    return PolicyVersion(org.name, 0, DEFAULT_DOCUMENT, "the default policy (none was set)", None, None,
                         dataclasses.replace(DEFAULT_POLICY, org=None))


def get(stores: Stores, by: Principal, org_name: str) -> PolicyVersion:
    """The organisation's current policy (version 0 with the default document when it has none)."""
    with stores.db.read() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.READ_POLICY, org)
        record = store.get(conn, org.id)
        return _default(org) if record is None else _view(org, record, parsed=True)


def versions(stores: Stores, by: Principal, org_name: str, *, limit: int = 50,
             before: int | None = None) -> list[PolicyVersion]:
    """The organisation's policy versions, newest first, without their documents; `before`: older than it."""
    with stores.db.read() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.READ_POLICY, org)
        found = store.versions(conn, org.id, limit=max(1, min(limit, MAX_PAGE)), before=before)
        return [_view(org, r, parsed=False) for r in found]


def version(stores: Stores, by: Principal, org_name: str, number: int) -> PolicyVersion:
    with stores.db.read() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.READ_POLICY, org)
        record = store.get(conn, org.id, number) if number > 0 else None
        if record is None:
            raise NotFound(f"'{org.name}' has no policy version {number}; GET /api/orgs/{org.name}/policy/versions "
                           "lists them.")
        return _view(org, record, parsed=True)


def validate(stores: Stores, by: Principal, org_name: str, text: object) -> Policy:
    """What `put` would make of `text` (BadRequest naming each mistake's line and column; `Policy.warnings`),
    written nowhere. For the organisation's members."""
    with stores.db.read() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.READ_POLICY, org)
    return parse(_document(text), org=org.name)


def _document(text: object) -> str:
    if not isinstance(text, str):
        raise BadRequest("Send the policy as a YAML document: a string in 'document', or the request body with "
                         "Content-Type application/yaml.")
    return text


def _message(message: object) -> str:
    if message is None:
        return ""
    if not isinstance(message, str):
        raise BadRequest("'message' must be a string saying why the policy changes.")
    message = message.strip()
    if len(message) > MAX_MESSAGE:
        raise BadRequest(f"'message' is {len(message)} characters; keep it under {MAX_MESSAGE}.")
    if any(c < " " and c not in "\n\t" or c == "\x7f" for c in message):
        raise BadRequest("'message' holds control characters; write plain text.")
    return message


def put(stores: Stores, by: Principal, org_name: str, text: object, message: object = None, *,
        parent: int | None = None) -> PolicyVersion:
    """Makes `text` the organisation's policy: a new version (its number is the last one + 1), audited as
    policy.update. `parent`: the version the caller edited (0: none yet); when another version was put since, a
    Conflict instead of overwriting it. The answer's `policy.warnings` say what was accepted but looks doubtful."""
    document, note = _document(text), _message(message)
    with stores.db.read() as conn:  # refuse a non-admin before telling them what is wrong with their document
        _check(conn, by, OrgAction.EDIT_POLICY, _org(conn, org_name))
    parsed = parse(document)
    with stores.db.write() as conn:
        org = _org(conn, org_name)
        _check(conn, by, OrgAction.EDIT_POLICY, org)
        org_store.lock_org(conn, org.id)  # one new version at a time (PostgreSQL; SQLite writers are serial)
        current = store.current_version(conn, org.id) or 0
        if parent is not None and parent != current:
            raise Conflict(f"The policy of '{org.name}' is at version {current}, not {parent}: someone changed it "
                           f"since you read it. GET /api/orgs/{org.name}/policy, merge your change, and PUT it "
                           f"with parentVersion {current}.")
        number = current + 1
        now = time.time()
        store.insert_version(conn, org.id, number, document, note, by.user_id, now)
        stores.audit.record(conn, by, Event("policy.update", details={
            "org": org.name, "version": number, "message": note}))
    policy = dataclasses.replace(parsed, org=org.name, version=number)
    stores.runtime.policies.put((org.id, number), policy)
    return PolicyVersion(org.name, number, document, note, by.name, now, policy)
