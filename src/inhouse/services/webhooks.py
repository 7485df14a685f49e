"""Webhooks: a user's subscriptions to the changes of repos (huggingface_hub's create_webhook … delete_webhook),
and the events they are sent, as the Hugging Face Hub sends them (payload version 3).

A webhook watches users, organisations or single repos (`watched`), in one or both domains: "repo" (scopes
`repo`: create, delete, move; `repo.content`: commits, pushes, branches, tags, merges, history squashes, LFS
deletions; `repo.config`: visibility and gating; `repo.governance`: a change refused or a file quarantined by
policy, an approval requested, granted or rejected, a stage changed, told in a `governance` member) and
"discussion" (scopes `discussion`: opened, status, title, merge; `discussion.comment`: a comment added, edited or
hidden). A refused change's event is written with its `policy.refused` audit entry, in the small transaction of
its own that records the refusal (the change itself rolled back).

Events are found by an observer of the audit writer (`on_audit`, registered by `Stores.open`): every change that
is audited is offered to it inside the transaction that makes the change, and the matching webhooks get a
`webhook_deliveries` row in that same transaction; no change without its events, no event of a change that rolled
back. The runtime's webhook worker process (services/webhook_delivery.py) sends them later; nothing is sent from
a request. A private repo's events go only to webhooks whose owner may read the repo, checked when the event is
written and again before each attempt.

Managing webhooks takes a write token; a webhook belongs to its owner alone (another user's looks missing).
Receivers are called wherever the owner points them, internal addresses included: inhouse runs on premises, next
to the CI and evaluation services that receive its events; only http and https URLs are accepted.
"""

from __future__ import annotations

import json
import secrets as random
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import AccountAction, authorize_account, can_see
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, NotFound
from inhouse.names import check_name_part, split_repo_id
from inhouse.services.context import Stores
from inhouse.storage.db import discussions as disc_store
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import users as user_store
from inhouse.storage.db import webhooks as store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.db.webhooks import DeliveryRecord as DeliveryRecord  # re-exported for web/api
from inhouse.storage.db.webhooks import WebhookRecord as WebhookRecord
from inhouse.vocabulary import RepoType, TokenRole

DOMAINS = ("repo", "discussion")
WATCH_TYPES = ("user", "org", "model", "dataset", "space")
MAX_WATCHED = 100
MAX_URL_CHARS = 2048
MAX_SECRET_CHARS = 256
MAX_LOG_PAGE = 500
PAYLOAD_VERSION = 3
ZERO_SHA = "0" * 40

CONTENT = ("repo.content", "update")
# policy refusals and quarantines, approvals, stage changes (issue 10). The payload's event.action is "update":
# huggingface_hub's WebhookPayload accepts only create, delete, move and update, and a receiver built on it would
# refuse any other (holding back the repo's later events); what happened is the `governance` member's action and
# the X-Inhouse-Event header's last part (repo.governance.refused …)
GOVERNANCE = "repo.governance"
DISCUSSION_UPDATE = ("discussion", "update")
# audit action -> the (scope, action) events it is sent as
CONTENT_ACTIONS = ("commit", "git.push", "branch.create", "branch.delete", "tag.create", "tag.delete",
                   "history.squash", "lfs.delete", "pull_request.merge")
EVENTS: dict[str, list[tuple[str, str]]] = {
    "repo.create": [("repo", "create")],
    "repo.duplicate": [("repo", "create")],
    "repo.delete": [("repo", "delete")],
    "repo.move": [("repo", "move")],
    "repo.settings": [("repo.config", "update")],
    **{a: [CONTENT] for a in CONTENT_ACTIONS},
    "pull_request.merge": [CONTENT, DISCUSSION_UPDATE],
    "discussion.create": [("discussion", "create")],
    "pull_request.create": [("discussion", "create")],
    "discussion.status": [DISCUSSION_UPDATE],
    "discussion.rename": [DISCUSSION_UPDATE],
    "discussion.comment": [("discussion.comment", "create")],
    "discussion.comment.edit": [("discussion.comment", "update")],
    "discussion.comment.hide": [("discussion.comment", "update")],
    **{a: [(GOVERNANCE, name)] for a, name in (
        ("policy.refused", "refused"), ("policy.quarantine", "quarantined"), ("approval.request", "approval_requested"),
        ("approval.approve", "approval_granted"), ("approval.reject", "approval_rejected"),
        ("stage.change", "stage_changed"))},
}
# governance events whose audit entry is a refusal (outcome "denied"): they are sent all the same
DENIED_EVENTS = frozenset({"policy.refused"})
# what a governance event tells of its audit entry's details (audit key -> payload key): never a scanned value, nor
# a content key; the receiver reads the rest (findings' messages, evaluations) from the governance API with its token
GOVERNANCE_KEYS = {"trigger": "trigger", "ref": "ref", "policy_version": "policyVersion", "path": "path",
                   "rule": "rule", "commit": "commit", "number": "number", "kind": "kind", "target": "target",
                   "revision": "revision", "reason": "reason", "from": "from", "to": "to",
                   "replacement": "replacement", "status": "status", "approvals": "approvals", "required": "required",
                   "approvals_required": "approvalsRequired"}
MAX_GOVERNANCE_TEXT = 1000  # characters of a reason (or any other text) an event carries
MAX_GOVERNANCE_FINDINGS = 50


# who may --------------------------------------------------------------------------------------------------------

def _mine(conn: Connection, p: Principal, public_id: str) -> WebhookRecord:
    owner = authorize_account(p, AccountAction.MANAGE_WEBHOOKS)
    hook = store.webhook_by_public_id(conn, public_id) if len(public_id) <= 64 else None
    if hook is None or hook.owner_id != owner:
        raise NotFound(f"No webhook with id '{public_id[:64]}'; list yours with GET /api/settings/webhooks.")
    return hook


def owner_principal(conn: Connection, owner_id: int) -> Principal | None:
    """The owner of a webhook as the access policy sees a user acting with a write token (None: deleted)."""
    user = user_store.user_by_id(conn, owner_id)
    if user is None:
        return None
    orgs, groups = org_store.roles_of_user(conn, user.id)
    return Principal(user_id=user.id, name=user.name, fullname=user.fullname, is_admin=user.is_admin,
                     role=TokenRole.WRITE, org_roles=orgs, group_roles=groups)


def owner_may_read(conn: Connection, owner_id: int, repo: RepoRecord) -> bool:
    if not repo.private:
        return True
    owner = owner_principal(conn, owner_id)
    return owner is not None and can_see(owner, repo)


# validation -------------------------------------------------------------------------------------------------------

def check_url(url: object) -> str:
    if not isinstance(url, str) or not url:
        raise BadRequest("'url' is required: the http(s) address inhouse POSTs each event to, e.g. "
                         "\"https://ci.example.com/hooks/inhouse\".")
    if len(url) > MAX_URL_CHARS:
        raise BadRequest(f"'url' is longer than {MAX_URL_CHARS} characters; use a shorter address.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise BadRequest("'url' is not a valid URL; use e.g. \"https://ci.example.com/hooks/inhouse\".") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest("'url' must be an http:// or https:// address with a host, e.g. "
                         "\"https://ci.example.com/hooks/inhouse\".")
    if any(ord(c) < 33 or ord(c) == 127 for c in url):
        raise BadRequest("'url' may not contain spaces or control characters; percent-encode them.")
    if parts.username or parts.password:
        raise BadRequest("'url' may not carry a user name or password; use the webhook's secret to authenticate.")
    if port == 0:
        raise BadRequest("'url' names port 0; use the receiver's real port.")
    return url


def check_secret(secret: object) -> str | None:
    if secret is None:
        return None
    if not isinstance(secret, str) or len(secret) > MAX_SECRET_CHARS:
        raise BadRequest(f"'secret' must be a string of at most {MAX_SECRET_CHARS} characters.")
    if any(ord(c) < 32 or ord(c) == 127 for c in secret):
        raise BadRequest("'secret' may not contain control characters: it is sent in a header.")
    return secret or None


def check_domains(domains: object) -> list[str]:
    if not isinstance(domains, list) or not domains or len(domains) > len(DOMAINS) or any(
            d not in DOMAINS for d in domains):
        raise BadRequest("'domains' must be a non-empty list of \"repo\" and/or \"discussion\".")
    return [d for d in DOMAINS if d in domains]


def check_watched(conn: Connection, p: Principal, watched: object) -> list[dict[str, str]]:
    """The watched items, each naming a user or organisation that exists or a repo the caller can see (a
    private repo the caller cannot see is refused exactly as a missing one), with canonical names."""
    if not isinstance(watched, list) or not watched:
        raise BadRequest("'watched' must be a non-empty list such as [{\"type\": \"org\", \"name\": \"acme\"}] "
                         "(types: user, org, model, dataset, space).")
    if len(watched) > MAX_WATCHED:
        raise BadRequest(f"A webhook watches at most {MAX_WATCHED} items; watch the organisation instead.")
    out: list[dict[str, str]] = []
    for item in watched:
        kind = item.get("type") if isinstance(item, dict) else None
        name = item.get("name") if isinstance(item, dict) else None
        if kind not in WATCH_TYPES or not isinstance(name, str) or not name:
            raise BadRequest("Each watched item is {\"type\": \"user\"|\"org\"|\"model\"|\"dataset\"|\"space\", "
                             "\"name\": \"...\"}.")
        if kind in ("user", "org"):
            check_name_part(name, f"{kind} name")
            who = user_store.user_by_name_ci(conn, name)
            if who is None or who.kind != ("org" if kind == "org" else "user"):
                raise NotFound(f"No {'organisation' if kind == 'org' else 'user'} named '{name}' to watch.")
            out.append({"type": kind, "name": who.name})
            continue
        namespace, repo_name = split_repo_id(name)
        hit = repo_store.find_repo(conn, RepoType(kind), namespace, repo_name)
        if hit is None or not can_see(p, hit[0]):
            raise NotFound(f"No {kind} repository {name} to watch; check the id (and the type).")
        out.append({"type": kind, "name": hit[0].repo_id})
    unique = {(i["type"], i["name"]): i for i in out}
    return list(unique.values())


# CRUD -------------------------------------------------------------------------------------------------------------

def create(stores: Stores, p: Principal, *, url: object, watched: object, domains: object,
           secret: object) -> WebhookRecord:
    owner = authorize_account(p, AccountAction.MANAGE_WEBHOOKS)
    clean_url, clean_secret, clean_domains = check_url(url), check_secret(secret), check_domains(domains)
    now = time.time()
    with stores.db.write() as conn:
        items = check_watched(conn, p, watched)
        if store.count_of(conn, owner) >= stores.settings.webhook_max_per_user:
            raise Conflict(f"You have {stores.settings.webhook_max_per_user} webhooks, the most one user may have "
                           "(setting webhook_max_per_user); delete one you no longer need.")
        public_id = random.token_hex(12)
        hook_id = store.insert_webhook(conn, public_id=public_id, owner_id=owner, url=clean_url,
                                       secret=clean_secret, watched=items, domains=clean_domains, now=now)
        stores.audit.record(conn, p, Event("webhook.create", details={
            "webhook": public_id, "url": clean_url, "watched": items, "domains": clean_domains}))
        hook = store.webhook_by_id(conn, hook_id)
        assert hook is not None
        return hook


def get(stores: Stores, p: Principal, public_id: str) -> WebhookRecord:
    with stores.db.read() as conn:
        return _mine(conn, p, public_id)


def list_mine(stores: Stores, p: Principal) -> list[WebhookRecord]:
    owner = authorize_account(p, AccountAction.MANAGE_WEBHOOKS)
    with stores.db.read() as conn:
        return store.webhooks_of(conn, owner)


def update(stores: Stores, p: Principal, public_id: str, *, url: object = None, watched: object = None,
           domains: object = None, secret: object = None) -> WebhookRecord:
    """Changes what is given. huggingface_hub sends `"watched": []` when its caller left `watched` out, so an
    empty list keeps the watched items."""
    clean_url = check_url(url) if url is not None else None
    clean_domains = check_domains(domains) if domains is not None else None
    clean_secret = check_secret(secret)
    with stores.db.write() as conn:
        hook = _mine(conn, p, public_id)
        items = check_watched(conn, p, watched) if watched not in (None, []) else None
        store.update_webhook(conn, hook.id, now=time.time(), url=clean_url, watched=items, domains=clean_domains,
                             secret=None if secret is None else clean_secret or "")  # "": no secret any more
        changed = {k: v for k, v in (("url", clean_url), ("watched", items), ("domains", clean_domains)) if v}
        if secret is not None:
            changed["secret"] = "changed"
        stores.audit.record(conn, p, Event("webhook.update", details={"webhook": public_id, **changed}))
        found = store.webhook_by_id(conn, hook.id)
        assert found is not None
        return found


def set_disabled(stores: Stores, p: Principal, public_id: str, disabled: bool) -> WebhookRecord:
    """Disables (no events are written for it; what was waiting stays) or enables a webhook; enabling also puts
    its failed deliveries back in the queue, so a receiver that was down gets every event, in order."""
    with stores.db.write() as conn:
        hook = _mine(conn, p, public_id)
        now = time.time()
        store.update_webhook(conn, hook.id, now=now, disabled=disabled)
        retried = 0 if disabled else store.retry(conn, hook.id, now)
        stores.audit.record(conn, p, Event("webhook.disable" if disabled else "webhook.enable",
                                           details={"webhook": public_id, "retried": retried}))
        found = store.webhook_by_id(conn, hook.id)
        assert found is not None
    if not disabled:
        stores.runtime.webhooks_written()
    return found


def delete(stores: Stores, p: Principal, public_id: str) -> None:
    with stores.db.write() as conn:
        hook = _mine(conn, p, public_id)
        store.delete_webhook(conn, hook.id)
        stores.audit.record(conn, p, Event("webhook.delete", details={"webhook": public_id, "url": hook.url}))


def deliveries(stores: Stores, p: Principal, public_id: str, *, before: int | None, limit: int,
               status: str | None) -> list[DeliveryRecord]:
    if status is not None and status not in (store.QUEUED, store.PENDING, store.DELIVERED, store.FAILED,
                                             store.SKIPPED):
        raise BadRequest("'status' is one of queued, pending, delivered, failed, skipped.")
    limit = max(1, min(limit, MAX_LOG_PAGE))
    with stores.db.read() as conn:
        hook = _mine(conn, p, public_id)
        return store.deliveries_of(conn, hook.id, before=before, limit=limit, status=status)


def resend(stores: Stores, p: Principal, public_id: str, delivery_id: int) -> DeliveryRecord:
    """Sends a delivery again: a failed one goes back in the queue in its place (the events after it, which
    waited, follow it); a delivered or skipped one is queued again as a new delivery."""
    now = time.time()
    with stores.db.write() as conn:
        hook = _mine(conn, p, public_id)
        found = store.delivery(conn, hook.id, delivery_id)
        if found is None:
            raise NotFound(f"No delivery {delivery_id} for webhook {public_id}; list them with "
                           f"GET /api/settings/webhooks/{public_id}/deliveries.")
        if found.status in (store.PENDING, store.QUEUED):
            raise Conflict(f"Delivery {delivery_id} is still to be sent ({found.status}); it needs no resend.")
        # audited first: the audit log's lock before the queues' lock, in the order every change takes them
        stores.audit.record(conn, p, Event("webhook.resend", details={"webhook": public_id,
                                                                      "delivery": delivery_id}))
        if found.status == store.FAILED:
            store.retry(conn, hook.id, now, delivery_id)
            target = delivery_id
        else:
            store.insert_deliveries(conn, [{"webhook_id": hook.id, "repo_key": found.repo_key,
                                            "event": found.event, "payload": found.payload, "created_at": now}])
            target = store.deliveries_of(conn, hook.id, before=None, limit=1)[0].id
        again = store.delivery(conn, hook.id, target)
        assert again is not None
    stores.runtime.webhooks_written()
    return again


# events -----------------------------------------------------------------------------------------------------------

def base_url(stores: Stores) -> str:
    s = stores.settings
    if s.public_url:
        return s.public_url.rstrip("/")
    host = "127.0.0.1" if s.host in ("", "0.0.0.0", "::") else s.host
    return f"http://[{host}]:{s.port}" if ":" in host else f"http://{host}:{s.port}"


def repo_key(repo: RepoRecord) -> str:
    return f"{repo.type.value}:{repo.repo_id}"


def _matches(hook: WebhookRecord, repos: list[RepoRecord], scope: str) -> bool:
    if scope.split(".")[0] not in hook.domains:
        return False
    for item in hook.watched:
        kind, name = item.get("type"), item.get("name", "").lower()
        for repo in repos:
            if kind in ("user", "org") and name == repo.namespace.lower():
                return True
            if kind == repo.type.value and name == repo.repo_id.lower():
                return True
    return False


def _sha(value: object) -> str | None:
    return value if isinstance(value, str) and value and value != ZERO_SHA else None


def _ref(ref: str, old: object = None, new: object = None) -> dict[str, str]:
    out = {"ref": ref}
    if _sha(old):
        out["oldSha"] = str(old)
    if _sha(new):
        out["newSha"] = str(new)
    return out


def _updated_refs(event: Event, before: RepoRecord) -> list[dict[str, str]] | None:
    d = event.details
    if event.action == "git.push":
        updates = d.get("updates")
        return [_ref(str(u.get("ref")), u.get("old"), u.get("new")) for u in updates
                if isinstance(u, dict)] if isinstance(updates, list) else None
    if event.action == "lfs.delete":  # history rewritten to drop the files: {ref: [old, new]}
        refs = d.get("refs")
        return [_ref(str(r), *(v[:2] if isinstance(v, list) else [])) for r, v in refs.items()
                ] if isinstance(refs, dict) and refs else None
    ref = event.revision
    if not ref:
        return None
    if not ref.startswith("refs/"):
        ref = f"refs/heads/{ref}"
    if event.action in ("branch.delete", "tag.delete"):
        return [_ref(ref)]
    old = d.get("old") or (d.get("base") if event.action == "pull_request.merge" else None) or (
        before.head_sha if ref == "refs/heads/main" and event.action == "commit" else None)
    return [_ref(ref, old, d.get("commit") or d.get("target") or d.get("new"))]


def _discussion(conn: Connection, base: str, repo: RepoRecord, num: int) -> dict[str, Any] | None:
    found = disc_store.get_discussion(conn, repo.id, num)
    if found is None:
        return None
    web = f"{base}/{repo.url_path}/discussions/{num}"
    out: dict[str, Any] = {
        "id": str(found.id), "num": num, "author": {"id": found.author or ""}, "title": found.title,
        "isPullRequest": found.is_pr, "status": found.status, "pinned": False,
        "url": {"web": web, "api": f"{base}/api/{repo.plural}/{repo.repo_id}/discussions/{num}"},
    }
    if found.is_pr:
        changes: dict[str, Any] = {"base": found.base_ref or "refs/heads/main"}
        if found.merge_commit:
            changes["mergeCommitId"] = found.merge_commit
        out["changes"] = changes
    return out


def _repo_json(base: str, repo: RepoRecord) -> dict[str, Any]:
    return {"type": repo.type.value, "name": repo.repo_id, "id": str(repo.id), "private": repo.private,
            "url": {"web": f"{base}/{repo.url_path}", "api": f"{base}/api/{repo.plural}/{repo.repo_id}"},
            "headSha": repo.head_sha, "tags": list(repo.tags), "owner": {"id": repo.namespace},
            "subdomain": None}


def _body(stores: Stores, conn: Connection, who: Principal | None, event: Event, before: RepoRecord,
          now_repo: RepoRecord, scope: str, action: str) -> dict[str, Any] | None:
    base = base_url(stores)
    shown = before if event.action == "repo.move" else now_repo  # a move shows the old name, and movedTo
    body: dict[str, Any] = {"event": {"action": "update" if scope == GOVERNANCE else action, "scope": scope},
                            "repo": _repo_json(base, shown)}
    d = event.details
    if event.action == "repo.move":
        to = str(d.get("to", ""))
        body["movedTo"] = {"name": to, "owner": {"id": to.split("/")[0]}}
    if scope == "repo.config":
        body["updatedConfig"] = {k: v for k, v in d.items() if k in ("private", "gated")}
    if scope == GOVERNANCE:
        body["governance"] = _governance(who, event, action)
    if scope == "repo.content":
        refs = _updated_refs(event, before)
        if refs:
            body["updatedRefs"] = refs
    if scope.startswith("discussion") or event.action == "pull_request.merge":
        num = d.get("num")
        disc = _discussion(conn, base, now_repo, num) if isinstance(num, int) else None
        if disc is None:
            return None if scope.startswith("discussion") else body
        if scope.startswith("discussion"):
            body["discussion"] = disc
        if scope == "discussion.comment":
            cid = str(d.get("comment", ""))
            found = store.comment(conn, int(disc["id"]), int(cid)) if cid.isdigit() else None
            if found is None:
                return None
            author, data = found
            hidden = bool(data.get("hidden"))
            comment: dict[str, Any] = {"id": cid, "author": {"id": author or ""}, "hidden": hidden,
                                       "url": {"web": f"{disc['url']['web']}#{cid}"}}
            if not hidden and isinstance(data.get("content"), str):
                comment["content"] = data["content"]
            body["comment"] = comment
    return body


def _governance(who: Principal | None, event: Event, action: str) -> dict[str, Any]:
    """What a governance event says: what happened (`action`: refused, quarantined, approval_requested …; and the
    audit entry's action), by whom, and the audit entry's facts named in GOVERNANCE_KEYS; a refusal's findings as
    rule, outcome and path only (their messages stay behind the governance API's permission check)."""
    out: dict[str, Any] = {"action": action, "auditAction": event.action, "actor": who.name if who else None}
    d = event.details
    for key, name in GOVERNANCE_KEYS.items():
        value = d.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int):
            out[name] = value
        elif isinstance(value, str):
            out[name] = value[:MAX_GOVERNANCE_TEXT]
    if "ref" not in out and event.revision:
        out["ref"] = event.revision[:MAX_GOVERNANCE_TEXT]
    if "path" not in out and event.path:
        out["path"] = event.path[:MAX_GOVERNANCE_TEXT]
    findings = d.get("findings")
    if isinstance(findings, list):
        out["findings"] = [{k: str(f[k])[:MAX_GOVERNANCE_TEXT] for k in ("rule", "outcome", "path")
                            if isinstance(f.get(k), str)}
                           for f in findings[:MAX_GOVERNANCE_FINDINGS] if isinstance(f, dict)]
        out["findingsCount"] = len(findings)
    return out


def _with_webhook(body_json: str, public_id: str) -> str:
    """The body (a JSON object) with its `webhook` member added, without encoding the body once per webhook."""
    member = json.dumps({"id": public_id, "version": PAYLOAD_VERSION}, separators=(",", ":"))
    return f'{body_json[:-1]},"webhook":{member}}}'


REREAD = ("repo.create", "repo.duplicate", "repo.settings")  # rare changes the event's record predates


def _after(conn: Connection, event: Event, before: RepoRecord) -> RepoRecord:
    """The repo as the change left it: read again after the rare changes of its row, else the event's record
    with the default branch's new head (a commit's change of the row is only that)."""
    if event.action in REREAD:
        return repo_store.repo_by_id(conn, before.id) or before
    head = next((r["newSha"] for r in _updated_refs(event, before) or []
                 if r["ref"] == "refs/heads/main" and "newSha" in r), None) if event.action in CONTENT_ACTIONS else None
    return replace(before, head_sha=head) if head else before


def on_audit(stores: Stores) -> Callable[[Connection, Principal | None, Event], None]:
    """The audit observer that writes the webhook events of a change, inside the change's transaction."""
    memo: dict[tuple[Any, ...], WebhookRecord] = {}  # webhook rows already parsed (by all their values)

    def observe(conn: Connection, who: Principal | None, event: Event) -> None:
        kinds = EVENTS.get(event.action)
        if not kinds or (event.outcome != "ok" and event.action not in DENIED_EVENTS) or not isinstance(
                event.repo, RepoRecord):
            return
        before = event.repo
        key = f"{before.type.value}:{before.id}"  # the queue: by id, so that a move keeps the order
        store.lock_queues(conn)
        found = store.webhooks_for_event(conn, key, memo)
        if not found:
            return
        hooks = [h for h, _ in found]
        busy = {(h.id, key) for h, is_busy in found if is_busy}
        now_repo = _after(conn, event, before)
        repos = [before, now_repo]
        if event.action == "repo.move" and isinstance(event.details.get("to"), str):
            to = str(event.details["to"]).split("/")
            if len(to) == 2:
                repos.append(RepoRecord(**{**before.__dict__, "namespace": to[0], "name": to[1]}))
        now = time.time()
        rows: list[dict[str, Any]] = []
        readers: dict[int, bool] = {}
        for scope, action in kinds:
            hits = [h for h in hooks if _matches(h, repos, scope)]
            if not hits:
                continue
            body = _body(stores, conn, who, event, before, now_repo, scope, action)
            if body is None:
                continue
            shared = json.dumps(body, separators=(",", ":"))
            for hook in hits:
                if now_repo.private or before.private:
                    if hook.owner_id not in readers:
                        readers[hook.owner_id] = owner_may_read(conn, hook.owner_id, now_repo)
                    if not readers[hook.owner_id]:
                        continue
                rows.append({"webhook_id": hook.id, "repo_key": key, "event": f"{scope}.{action}",
                             "created_at": now, "payload": _with_webhook(shared, hook.public_id)})
        if rows:
            store.insert_deliveries(conn, rows, busy)
            stores.runtime.webhooks_written(conn)

    return observe
