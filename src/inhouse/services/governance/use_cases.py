"""Use cases: what an organisation puts models to ("credit scoring", "support chat triage"), each with an
accountable owner, a purpose, a risk tier (the EU AI Act's: minimal, limited, high, unacceptable) and a status.
Models attach to them; the strictest tier among a model's use cases decides how many approvals its promotion
needs (services/governance/approvals reads `store.for_repo`), and an unacceptable one blocks promotion.

Who may (access/policy.decide_use_case): members of the organisation read; org admins and members with the write
role create; the owner (while a member) and org admins change and delete; lowering the tier, and deleting or
detaching models from a high-risk or unacceptable use case, only org admins (those changes lower the approvals a
promotion needs, and the owner may be the one asking for it). Attaching a model takes membership and write access
to the model: the model's maintainers say what it is used for, and attaching only ever makes its promotions
stricter. A model the caller may not see is answered exactly as a missing one; a use case lists only the attached
models its reader may see.

Every change is audited in its transaction: use_case.create / update / delete {org, slug},
use_case.attach / detach {org, slug, repo}.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.access.policy import Action, UseCaseAction, can_see, decide, decide_use_case
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, Conflict, NotFound, RepoNotFound
from inhouse.names import check_label, shown, split_repo_id
from inhouse.services.context import Stores
from inhouse.services.repo_access import find as find_repo
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import use_cases as store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.records import RepoRecord, UserRecord
from inhouse.storage.db.use_cases import AttachedModel as AttachedModel  # re-exported for web/api
from inhouse.storage.db.use_cases import UseCaseRecord as UseCaseRecord
from inhouse.vocabulary import RepoType, RiskTier, Role, UseCaseStatus

MAX_TITLE_CHARS = 200
MAX_PURPOSE_CHARS = 4000
MAX_SLUG_CHARS = 96
MAX_PAGE = 100
MAX_PER_ORG = 10_000  # use cases of one organisation
MAX_MODELS = 500  # models attached to one use case (a use case's page lists them all)
FIELDS = ("title", "owner", "purpose", "riskTier", "status")  # what PATCH changes (the slug names it: fixed)
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?")
_SEVERE = (RiskTier.HIGH, RiskTier.UNACCEPTABLE)
_TIER_RANK = {tier: rank for rank, tier in enumerate(RiskTier)}


@dataclass(frozen=True)
class UseCaseView:
    use_case: UseCaseRecord
    models: list[AttachedModel]  # the attached models the caller may see


# validation -----------------------------------------------------------------------------------------------------

def slugify(title: str) -> str:
    """A slug from a title: lowercase ASCII letters and digits, '-' between words, at most 60 characters."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", ascii_title).strip("-")[:60].rstrip("-")


def check_slug(slug: object) -> str:
    """A use case's slug as given (lowercased): 1-96 ASCII letters, digits, '-', '_' or '.', starting and ending
    with a letter or digit, without '--' or '..' (the rule of repo names)."""
    if not isinstance(slug, str) or not slug:
        raise BadRequest("'slug' must be a non-empty string such as \"credit-scoring\" (or leave it out: the title "
                         "gives one).")
    low = slug.lower()
    if len(low) > MAX_SLUG_CHARS or not _SLUG.fullmatch(low) or "--" in low or ".." in low:
        raise BadRequest(f"Invalid use case slug '{shown(slug, 100)}': use 1-{MAX_SLUG_CHARS} ASCII letters, digits, "
                         "'-', '_' or '.', starting and ending with a letter or digit, without '--' or '..'.")
    return low


def _title(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise BadRequest("'title' is required: a short name such as \"Credit scoring\".")
    return check_label(value.strip(), "title", MAX_TITLE_CHARS)


def _purpose(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest("'purpose' must be a string: what the models are used for, by whom, and why.")
    # line breaks and tabs are text here; every other control or invisible character is refused
    check_label(value.replace("\r\n", "\n").translate({10: 32, 9: 32}), "purpose", MAX_PURPOSE_CHARS)
    return value


def _tier(value: object) -> RiskTier:
    if isinstance(value, str) and value in RiskTier._value2member_map_:
        return RiskTier(value)
    choices = ", ".join(t.value for t in RiskTier)
    if value is None:
        raise BadRequest(f"'riskTier' is required: one of {choices} (the EU AI Act's risk levels).")
    raise BadRequest(f"Invalid riskTier {shown(str(value), 100)!r}: use one of {choices}.")


def _status(value: object) -> UseCaseStatus:
    if isinstance(value, str) and value in UseCaseStatus._value2member_map_:
        return UseCaseStatus(value)
    raise BadRequest(f"Invalid status {shown(str(value), 100)!r}: use one of "
                     f"{', '.join(s.value for s in UseCaseStatus)}.")


def _model_id(value: object) -> tuple[str, str]:
    if not isinstance(value, str) or not value:
        raise BadRequest("'repo' is required: the model's id, e.g. {\"repo\": \"acme/credit-bert\"}.")
    return split_repo_id(value)


# lookups --------------------------------------------------------------------------------------------------------

def _org(conn: Connection, name: str) -> UserRecord:
    """The organisation `name` names, in any casing."""
    org = user_store.user_by_name(conn, name) or user_store.user_by_name_ci(conn, name)
    if org is None or org.kind != "org":
        raise NotFound(f"No organisation named '{shown(name, 100)}'; check the name (GET /api/organizations/"
                       "{org}/overview).")
    return org


def _role(conn: Connection, p: Principal, org: UserRecord) -> Role | None:
    """The caller's role in the organisation, read in this transaction."""
    return org_store.member_role(conn, org.id, p.user_id) if p.user_id is not None else None


def _use_case(conn: Connection, org: UserRecord, slug: str) -> UseCaseRecord:
    found = store.by_slug(conn, org.id, slug.lower()) if len(slug) <= MAX_SLUG_CHARS else None
    if found is None:
        raise NotFound(f"No use case '{shown(slug, 100)}' in '{org.name}'; list them with "
                       f"GET /api/orgs/{org.name}/use-cases.")
    return found


def _member(conn: Connection, org: UserRecord, name: object) -> UserRecord:
    """A user who is a member of the organisation (any role): a use case's owner."""
    if not isinstance(name, str) or not name:
        raise BadRequest("'owner' must be a user name, a member of the organisation.")
    valid = len(name) <= MAX_SLUG_CHARS and all(c.isascii() and c.isprintable() for c in name)
    user = (user_store.user_by_name(conn, name) or user_store.user_by_name_ci(conn, name)) if valid else None
    if user is None or user.kind != "user" or org_store.member_role(conn, org.id, user.id) is None:
        raise BadRequest(f"The owner '{shown(name, 100)}' is not a member of '{org.name}': a use case's owner is one "
                         f"of its members (GET /api/organizations/{org.name}/members lists them).")
    return user


def _view(conn: Connection, p: Principal, use_case: UseCaseRecord) -> UseCaseView:
    models = [m for m in store.models_of(conn, use_case.id, limit=MAX_MODELS) if can_see(p, m.repo)]
    return UseCaseView(use_case, models)


def _guard(conn: Connection, p: Principal, org_name: str, action: UseCaseAction,
           slug: str | None = None) -> tuple[UserRecord, UseCaseRecord | None]:
    """The organisation and (by slug) the use case, once the caller may do `action` on them. The caller's
    membership is checked before the use case is looked for: outsiders learn nothing of which exist."""
    org = _org(conn, org_name)
    role = _role(conn, p, org)
    decide_use_case(p, UseCaseAction.VIEW, org.name, role=role)
    found = _use_case(conn, org, slug) if slug is not None else None
    if action is not UseCaseAction.VIEW:
        owner = found is not None and p.user_id is not None and found.owner_id == p.user_id
        decide_use_case(p, action, org.name, role=role, is_owner=owner)
    return org, found


# reads ----------------------------------------------------------------------------------------------------------

def list_for_org(stores: Stores, p: Principal, org_name: str, *, offset: int = 0,
                 limit: int = 50) -> tuple[list[UseCaseRecord], int]:
    """A page of the organisation's use cases (by slug) and how many it has in all."""
    limit = max(1, min(limit, MAX_PAGE))
    with stores.db.read() as conn:
        org, _ = _guard(conn, p, org_name, UseCaseAction.VIEW)
        return store.list_for_org(conn, org.id, offset=offset, limit=limit), store.count_for_org(conn, org.id)


def get(stores: Stores, p: Principal, org_name: str, slug: str) -> UseCaseView:
    with stores.db.read() as conn:
        _, found = _guard(conn, p, org_name, UseCaseAction.VIEW, slug)
        assert found is not None
        return _view(conn, p, found)


# changes --------------------------------------------------------------------------------------------------------

def create(stores: Stores, p: Principal, org_name: str, *, title: object, slug: object = None, owner: object = None,
           purpose: object = None, risk_tier: object = None, status: object = None) -> UseCaseView:
    clean_title = _title(title)
    clean_slug = check_slug(slug) if slug is not None else slugify(clean_title)
    if not clean_slug:
        raise BadRequest(f"The title '{shown(clean_title, 100)}' gives no slug (it has no ASCII letters or digits): "
                         "pass a 'slug' such as \"credit-scoring\".")
    clean_purpose, tier = _purpose(purpose), _tier(risk_tier)
    clean_status = _status(status) if status is not None else UseCaseStatus.PROPOSED
    now = time.time()
    with stores.db.write() as conn:
        org, _ = _guard(conn, p, org_name, UseCaseAction.CREATE)
        org_store.lock_org(conn, org.id)
        if owner is None and (p.user_id is None or _role(conn, p, org) is None):
            raise BadRequest(f"You are not a member of '{org.name}': name the use case's 'owner', one of its members.")
        who = _member(conn, org, owner if owner is not None else p.name)
        if store.by_slug(conn, org.id, clean_slug) is not None:
            raise Conflict(f"'{org.name}' has a use case '{clean_slug}' already; pick another slug, or change that "
                           f"one (PATCH /api/orgs/{org.name}/use-cases/{clean_slug}).")
        if store.count_for_org(conn, org.id) >= MAX_PER_ORG:
            raise Conflict(f"'{org.name}' has {MAX_PER_ORG} use cases, the most one organisation may have; delete "
                           "retired ones first.")
        new_id = store.insert_use_case(conn, org_id=org.id, slug=clean_slug, title=clean_title, owner_id=who.id,
                                       purpose=clean_purpose, risk_tier=tier, status=clean_status, now=now)
        stores.audit.record(conn, p, Event("use_case.create", details={
            "org": org.name, "slug": clean_slug, "title": clean_title, "owner": who.name, "riskTier": tier.value,
            "status": clean_status.value}))
        made = store.by_id(conn, new_id)
        assert made is not None
        return UseCaseView(made, [])


def update(stores: Stores, p: Principal, org_name: str, slug: str, changes: dict[str, Any]) -> UseCaseView:
    """Changes the fields given (title, owner, purpose, riskTier, status); the slug stays."""
    unknown = sorted(k for k in changes if k not in FIELDS)
    if unknown:
        raise BadRequest(f"Cannot change {', '.join(repr(shown(k, 40)) for k in unknown[:5])}: a use case's "
                         f"changeable fields are {', '.join(FIELDS)} (the slug names it and stays).")
    if not changes:
        raise BadRequest(f"Nothing to change: send one or more of {', '.join(FIELDS)}.")
    values: dict[str, Any] = {}
    if "title" in changes:
        values["title"] = _title(changes["title"])
    if "purpose" in changes:
        values["purpose"] = _purpose(changes["purpose"])
    tier = _tier(changes["riskTier"]) if "riskTier" in changes else None
    if tier is not None:
        values["risk_tier"] = tier.value
    if "status" in changes:
        values["status"] = _status(changes["status"]).value
    with stores.db.write() as conn:
        org, found = _guard(conn, p, org_name, UseCaseAction.EDIT, slug)
        assert found is not None
        if tier is not None and _TIER_RANK[tier] < _TIER_RANK[found.risk_tier]:
            decide_use_case(p, UseCaseAction.WEAKEN, org.name, role=_role(conn, p, org))
        if "owner" in changes:
            values["owner_id"] = _member(conn, org, changes["owner"]).id
        store.update_use_case(conn, found.id, now=time.time(), **values)
        after = store.by_id(conn, found.id)
        assert after is not None
        diff: dict[str, dict[str, object]] = {key: {"from": old, "to": new} for key, old, new in (
            ("title", found.title, after.title), ("owner", found.owner, after.owner),
            ("riskTier", found.risk_tier.value, after.risk_tier.value),
            ("status", found.status.value, after.status.value)) if old != new}
        if found.purpose != after.purpose:
            diff["purpose"] = {"from": len(found.purpose), "to": len(after.purpose)}  # lengths: the text is long
        stores.audit.record(conn, p, Event("use_case.update", details={"org": org.name, "slug": found.slug,
                                                                       "changes": diff}))
        return _view(conn, p, after)


def delete(stores: Stores, p: Principal, org_name: str, slug: str) -> None:
    """Deletes a use case and detaches its models (a high-risk or unacceptable one with models: org admins)."""
    with stores.db.write() as conn:
        org, found = _guard(conn, p, org_name, UseCaseAction.EDIT, slug)
        assert found is not None
        attached = store.count_models(conn, found.id)
        if found.risk_tier in _SEVERE and attached:
            decide_use_case(p, UseCaseAction.WEAKEN, org.name, role=_role(conn, p, org))
        store.delete_use_case(conn, found.id)
        stores.audit.record(conn, p, Event("use_case.delete", details={
            "org": org.name, "slug": found.slug, "riskTier": found.risk_tier.value, "models": attached}))


def _model(stores: Stores, p: Principal, repo: object, action: Action) -> RepoRecord:
    """The model `repo` names, if the caller may see it (a missing and an invisible one answer the same) and do
    `action` on it (a refusal on a private repo is audited, as every refused access is)."""
    namespace, name = _model_id(repo)
    return find_repo(stores, p, RepoType.MODEL, namespace, name, action).repo


def attach(stores: Stores, p: Principal, org_name: str, slug: str, repo: object) -> UseCaseView:
    """Attaches a model; attaching one that is attached already changes nothing (and audits nothing)."""
    with stores.db.read() as conn:  # membership first: an outsider learns nothing of the model either
        _guard(conn, p, org_name, UseCaseAction.ATTACH, slug)
    model = _model(stores, p, repo, Action.WRITE)
    with stores.db.write() as conn:
        org, found = _guard(conn, p, org_name, UseCaseAction.ATTACH, slug)
        assert found is not None
        now_model = repo_store.repo_by_id(conn, model.id)
        if now_model is None:
            raise RepoNotFound(anonymous=p.anonymous)
        decide(p, Action.WRITE, now_model)
        if not store.is_attached(conn, found.id, model.id):
            if store.count_models(conn, found.id) >= MAX_MODELS:
                raise Conflict(f"Use case '{found.slug}' has {MAX_MODELS} models attached, the most one may have; "
                               "detach models it no longer uses.")
            store.attach(conn, found.id, model.id, added_by=p.user_id, now=time.time())
            stores.audit.record(conn, p, Event("use_case.attach", now_model, details={
                "org": org.name, "slug": found.slug, "repo": now_model.repo_id}))
        return _view(conn, p, found)


def detach(stores: Stores, p: Principal, org_name: str, slug: str, repo: object) -> UseCaseView:
    """Detaches a model (the use case's owner or org admins; from a high-risk or unacceptable use case, org
    admins)."""
    with stores.db.read() as conn:
        _guard(conn, p, org_name, UseCaseAction.EDIT, slug)
    model = _model(stores, p, repo, Action.READ)
    with stores.db.write() as conn:
        org, found = _guard(conn, p, org_name, UseCaseAction.EDIT, slug)
        assert found is not None
        if found.risk_tier in _SEVERE:
            decide_use_case(p, UseCaseAction.WEAKEN, org.name, role=_role(conn, p, org))
        if not store.detach(conn, found.id, model.id):
            raise NotFound(f"{model.repo_id} is not attached to use case '{found.slug}'; GET "
                           f"/api/orgs/{org.name}/use-cases/{found.slug} lists its models.")
        stores.audit.record(conn, p, Event("use_case.detach", model, details={
            "org": org.name, "slug": found.slug, "repo": model.repo_id}))
        return _view(conn, p, found)


def for_repo(stores: Stores, repo: RepoRecord) -> list[UseCaseRecord]:
    """The use cases a model is attached to (callers decided already that the model may be seen)."""
    with stores.db.read() as conn:
        return store.for_repo(conn, repo.id)
