"""THE permission check. Every endpoint asks here, with the caller and the repo it touches.

A caller's role on a repo is the highest of: site admin (admin), owner of a user-namespace repo (admin), their
role in the owning organisation, their role in the repo's resource group. The token then caps what the role may
do: a read token only reads, a write token does what the role allows, a fine-grained token only what its scopes
list for that repo or its namespace. Private repos do not exist for callers without read access; gated repos show
their metadata to everyone who can see them but serve files only to members and users whose request was accepted.
"""

from __future__ import annotations

from enum import Enum

from sqlalchemy import Connection

from inhouse.access.identity import Principal
from inhouse.errors import Forbidden, GatedRepo, RepoDisabled, RepoNotFound, Unauthorized
from inhouse.storage.db import lifecycle as lifecycle_store
from inhouse.storage.db import orgs as org_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.engine import Database
from inhouse.storage.db.records import RepoRecord
from inhouse.vocabulary import Permission, RepoType, Role, ScopeKind, Stage, TokenRole


class Action(str, Enum):
    READ = "read"  # metadata: info, tree, refs, commits, listings
    DOWNLOAD = "download"  # file content
    PROPOSE = "propose"  # open a discussion or pull request, push to one's own PR
    WRITE = "write"  # commit, branches, tags, large-file upload
    MANAGE = "manage"  # settings, move, delete
    MANAGE_ACCESS = "manage_access"  # list, accept, reject, cancel and grant gated-access requests


def repo_role(p: Principal, repo: RepoRecord) -> Role | None:
    if p.anonymous:
        return None
    if p.is_admin or p.user_id == repo.owner_id:
        return Role.ADMIN
    roles = [p.org_roles.get(repo.owner_id)]
    if repo.resource_group_id is not None:
        roles.append(p.group_roles.get(repo.resource_group_id))
    held = [r for r in roles if r]
    best = max(held, key=lambda r: r.rank) if held else None
    if best is Role.CONTRIBUTOR and repo.created_by == p.user_id:
        return Role.WRITE  # contributors write to the org repos they created, as on the Hub
    return best


def token_allows(p: Principal, repo: RepoRecord, permission: Permission) -> bool:
    """Does the caller's token carry `permission` for `repo`?"""
    if p.role is TokenRole.WRITE:
        return True
    if p.role is TokenRole.READ:
        return permission is Permission.READ_CONTENT
    if p.role is TokenRole.FINE_GRAINED:
        names = (repo.url_path.lower(), f"{repo.plural}/{repo.repo_id}".lower())  # names ignore case, as on the Hub
        for scope in p.scopes:
            covered = (scope.kind is ScopeKind.REPO and scope.name.lower() in names) or (
                scope.kind in (ScopeKind.ORG, ScopeKind.USER) and scope.name.lower() == repo.namespace.lower())
            if covered and scope.allows(permission):
                return True
    return False


def can_see(p: Principal, repo: RepoRecord) -> bool:
    if not repo.private:
        return True
    return repo_role(p, repo) is not None and token_allows(p, repo, Permission.READ_CONTENT)


def decide(p: Principal, action: Action, repo: RepoRecord, *, gate_accepted: bool = False,
           gate_request: tuple[str, str | None] | None = None, own_pull_request: bool | None = None,
           metadata_only: bool = False) -> None:
    """Raises unless `p` may do `action` on `repo`. Pure: every fact it needs is passed in.
    `own_pull_request`: for PROPOSE on an existing pull request (a push to it), whether `p` opened it; only its
    author and users with write access push to a pull request. `metadata_only`: a DOWNLOAD that reads a file's
    metadata, not its bytes (a HEAD of resolve): a withdrawn model still shows what its model info shows, and
    refuses the bytes (so the Hub's client, which asks for the metadata first, raises its disabled-repo error)."""
    if not can_see(p, repo):
        raise RepoNotFound(anonymous=p.anonymous)
    role = repo_role(p, repo)
    if action is Action.READ:
        return
    if action is Action.DOWNLOAD:
        if repo.stage == Stage.WITHDRAWN and not metadata_only:
            raise RepoDisabled()  # a withdrawn model serves no file to anyone (`authorize` adds its replacement)
        if repo.gated and not gate_accepted and not (role and token_allows(p, repo, Permission.READ_CONTENT)):
            raise GatedRepo(
                f"Access to {repo.type} {repo.repo_id} is restricted and you are not in the authorized list. "
                + _gate_next_step(p, repo, gate_request),
                status=401 if p.anonymous else 403,
            )
        return
    if p.anonymous:
        raise Unauthorized(
            f"Authentication required to change {repo.repo_id}: pass a write token "
            "(`inhouse tokens create --user NAME --role write`)."
        )
    if action is Action.PROPOSE:
        if not token_allows(p, repo, Permission.DISCUSS):
            raise Forbidden(f"Your token '{p.token_name}' cannot open discussions or pull requests on {repo.repo_id}.")
        if own_pull_request is not False:
            return
        if role is None or not role.at_least(Role.WRITE) or not token_allows(p, repo, Permission.WRITE):
            raise Forbidden(f"Only the author of a pull request and users with write access to {repo.repo_id} can "
                            "push to it: open your own pull request instead (create_pr=True).")
        return
    if action is Action.MANAGE_ACCESS:
        if role is not Role.ADMIN:
            raise Forbidden(f"You need the admin role on {repo.repo_id} to review its access requests; ask an admin "
                            f"of '{repo.namespace}' for it.")
        if not token_allows(p, repo, Permission.MANAGE_ACCESS):
            raise Forbidden(f"Your token '{p.token_name}' ({p.role}) cannot review access requests of {repo.repo_id}: "
                            "use a write token or a fine-grained token with repo.access.write on it.")
        return
    needed = Role.ADMIN if action is Action.MANAGE else Role.WRITE
    if role is None or not role.at_least(needed):
        raise Forbidden(
            f"You need the {needed} role on {repo.repo_id} to do this; ask an admin of '{repo.namespace}' for it"
            + (", or open a pull request instead." if needed is Role.WRITE else ".")
        )
    if not token_allows(p, repo, Permission.WRITE):
        raise Forbidden(
            f"Your token '{p.token_name}' ({p.role}) does not allow changing {repo.repo_id}: use a write token "
            "or a fine-grained token with repo.write on it."
        )


def _gate_next_step(p: Principal, repo: RepoRecord, request: tuple[str, str | None] | None) -> str:
    if p.anonymous:
        return "Log in (pass a token), then ask for access on the repo page."
    if request is None:
        return (f"Ask for access: POST /api/{repo.plural}/{repo.repo_id}/user-access-request "
                "(or the repo page).")
    status, reason = request
    if status == "pending":
        return "Your access request is pending: an admin of the repo has to accept it."
    if status == "rejected":
        return "Your access request was rejected" + (f": {reason}" if reason else ".")
    return "Visit the repo page to ask for access."


def authorize(db: Database, p: Principal, action: Action, repo: RepoRecord, *,
              own_pull_request: bool | None = None, metadata_only: bool = False) -> None:
    """`decide`, after loading the one fact that needs the database: the caller's gated-access request."""
    request = None
    if action is Action.DOWNLOAD and repo.gated and p.user_id is not None and repo_role(p, repo) is None:
        with db.read() as conn:
            request = org_store.access_decision(conn, repo.id, p.user_id)
    try:
        decide(p, action, repo, gate_accepted=request is not None and request[0] == "accepted",
               gate_request=request, own_pull_request=own_pull_request, metadata_only=metadata_only)
    except RepoDisabled as e:
        # what to use instead (when the caller may see it: a private replacement's name is not told to others) and
        # why it was withdrawn: the answer's X-Replaced-By header and body
        with db.read() as conn:
            stage = lifecycle_store.get_stage(conn, repo.id)
            replacement = visible_replacement(conn, p, stage.replacement if stage else None)
        if stage is not None:
            e.replacement, e.reason = replacement, stage.reason
        raise


def visible_replacement(conn: Connection, p: Principal, replacement: str | None) -> str | None:
    """The model a deprecated or withdrawn one names as its replacement ("namespace/name", as it is called now
    if it moved), or None when there is none or `p` may not see it."""
    if not replacement or replacement.count("/") != 1:
        return None
    namespace, name = replacement.split("/")
    hit = repo_store.find_repo(conn, RepoType.MODEL, namespace, name)
    return hit[0].repo_id if hit is not None and can_see(p, hit[0]) else None


def decide_approval(p: Principal, repo: RepoRecord, *, author_id: int | None, approver_roles: tuple[Role, ...],
                    decision: str) -> None:
    """May `p` approve, reject or cancel (`decision`) a request on `repo` that `author_id` opened? Its author
    cancels it (so may a site admin) but never approves or rejects it: two people see every promotion and every
    change a policy holds. Approving and rejecting is for site admins and members of the repo's organisation whose
    role there is one of `approver_roles` (the org policy's lifecycle.approver_roles); a repo in a user's
    namespace has no organisation, so only a site admin reviews its requests. All of it with a write token (or a
    fine-grained one with repo.write on the repo)."""
    if p.anonymous:
        raise Unauthorized(f"Authentication required to {decision} a request: pass a write token.")
    own = p.user_id is not None and p.user_id == author_id
    if decision == "cancel":
        if not (own or p.is_admin):
            raise Forbidden(f"Only the author of a request (or a site admin) can cancel it; reject it instead if you "
                            f"are an approver of {repo.repo_id}.")
    elif own:
        raise Forbidden(f"You opened this request, so you cannot {decision} it yourself (two-person rule): ask "
                        f"another approver of {repo.repo_id} to review it, or cancel it.")
    else:
        role = p.org_roles.get(repo.owner_id)
        if not (p.is_admin or (role is not None and role in approver_roles)):
            roles = ", ".join(r.value for r in approver_roles) or "none"
            raise Forbidden(f"Only members of '{repo.namespace}' with an approver role ({roles}) or a site admin "
                            f"can {decision} requests on {repo.repo_id}; ask one of them to review it.")
    if not token_allows(p, repo, Permission.WRITE):
        raise Forbidden(f"Your token '{p.token_name}' ({p.role}) cannot {decision} requests on {repo.repo_id}: use a "
                        "write token or a fine-grained token with repo.write on it.")


def authorize_create(p: Principal, namespace: str, *, owner_id: int, owner_kind: str) -> None:
    """May `p` create a repo under `namespace` (a user or an organisation)?"""
    if p.anonymous:
        raise Unauthorized("Authentication required to create a repo: pass a write token.")
    if p.is_admin or (owner_kind == "user" and owner_id == p.user_id):
        allowed = True
    elif owner_kind == "org":
        role = p.org_roles.get(owner_id)
        allowed = role is not None and role.at_least(Role.CONTRIBUTOR)
    else:
        allowed = False
    if not allowed:
        raise Forbidden(f"You cannot create repos under '{namespace}': use your own namespace '{p.name}' "
                        "or ask an admin of that organisation for the contributor role.")
    token_ok = p.role is TokenRole.WRITE or (p.role is TokenRole.FINE_GRAINED and any(
        s.kind in (ScopeKind.ORG, ScopeKind.USER) and s.name.lower() == namespace.lower()
        and s.allows(Permission.WRITE) for s in p.scopes))
    if not token_ok:
        raise Forbidden(f"Your token '{p.token_name}' ({p.role}) cannot create repos under '{namespace}': "
                        "use a write token.")


# organisations and tokens -------------------------------------------------------------------------------------------

class OrgAction(str, Enum):
    CREATE = "create"  # create a new organisation (the creator becomes its admin)
    VIEW = "view"  # list members and resource groups
    MANAGE = "manage"  # members, resource groups, which repos a group holds
    LEAVE = "leave"  # remove oneself
    READ_POLICY = "read_policy"  # read the organisation's policy document and its history: members
    EDIT_POLICY = "edit_policy"  # write a new version of it: org admins
    GOVERN = "govern"  # re-check its repos against the policy, release quarantined files: org admins


def _token_covers_org(p: Principal, org: str, permission: Permission | None) -> bool:
    """A write token covers every org; a fine-grained one an org it names (or, to view, a repo inside it)."""
    if p.role is TokenRole.WRITE:
        return True
    if p.role is TokenRole.READ:
        return permission is None
    for s in p.scopes if p.role is TokenRole.FINE_GRAINED else ():
        named = (s.kind is ScopeKind.ORG and s.name.lower() == org.lower()) or (
            permission is None and s.kind is ScopeKind.REPO
            and s.name.removeprefix("datasets/").split("/")[0].lower() == org.lower())
        if named and (permission is None or s.allows(permission)):
            return True
    return False


def decide_org(p: Principal, action: OrgAction, org: str, *, role: Role | None) -> None:
    """Raises unless `p` may do `action` on organisation `org`, in which they hold `role` (None: not a member).
    Organisations are visible by name to everyone; their members and resource groups only to members."""
    if p.anonymous:
        raise Unauthorized("Authentication required: pass a token in the Authorization header.")
    if action is OrgAction.READ_POLICY:
        if not (p.is_admin or role):
            raise Forbidden(f"Only members of '{org}' can read its policy; ask an admin of '{org}' to add you.")
        if not _token_covers_org(p, org, None):
            raise Forbidden(f"Your token '{p.token_name}' is not scoped to '{org}': use a read or write token.")
        return
    if action in (OrgAction.EDIT_POLICY, OrgAction.GOVERN):
        what = "change its policy" if action is OrgAction.EDIT_POLICY else \
            "re-check its repos against its policy or release quarantined files"
        if not (p.is_admin or role is Role.ADMIN):
            raise Forbidden(f"Only admins of '{org}' can {what}; ask one of them "
                            f"(`GET /api/organizations/{org}/members` lists them)"
                            + (f", or check a draft with POST /api/orgs/{org}/policy/validate." if
                               action is OrgAction.EDIT_POLICY else "."))
        if not _token_covers_org(p, org, Permission.MANAGE_ACCESS):
            raise Forbidden(f"Your token '{p.token_name}' ({p.role}) cannot {what}: use a write token or a "
                            f"fine-grained token with {Permission.MANAGE_ACCESS} on org '{org}'.")
        return
    if action is OrgAction.VIEW:
        if not (p.is_admin or role):
            raise Forbidden(f"Only members of '{org}' can see its members and resource groups; ask an admin of "
                            f"'{org}' to add you.")
        if not _token_covers_org(p, org, None):
            raise Forbidden(f"Your token '{p.token_name}' is not scoped to '{org}': use a read or write token.")
        return
    if action is OrgAction.MANAGE and not (p.is_admin or role is Role.ADMIN):
        raise Forbidden(f"Only admins of '{org}' can manage its members and resource groups; ask one of them "
                        f"(`GET /api/organizations/{org}/members` lists them).")
    if not _token_covers_org(p, org, Permission.MANAGE_ACCESS):
        raise Forbidden(f"Your token '{p.token_name}' ({p.role}) cannot change organisations: use a write token "
                        f"or a fine-grained token with {Permission.MANAGE_ACCESS} on org '{org}'.")


def decide_tokens(p: Principal, owner_id: int, *, manage: bool) -> None:
    """May `p` list (manage=False) or create/revoke (manage=True) the tokens of user `owner_id`? Users handle
    their own, site admins anyone's; creating or revoking needs a write token, so a leaked read or scoped token
    can neither mint a stronger one nor lock its owner out."""
    if p.anonymous:
        raise Unauthorized("Authentication required: pass a token in the Authorization header.")
    if not (p.is_admin or p.user_id == owner_id):
        raise Forbidden("You can only see and manage your own tokens; a site admin can manage anyone's.")
    if manage and p.role is not TokenRole.WRITE:
        raise Forbidden(f"Your token '{p.token_name}' ({p.role}) cannot create or revoke tokens: use a write token.")


def decide_audit_read(p: Principal) -> None:
    """May `p` read the audit log over HTTP? Site admins only, with a read or write token (not a scoped one)."""
    if p.anonymous:
        raise Unauthorized("Authentication required: pass a site admin's token in the Authorization header.")
    if not p.is_admin:
        raise Forbidden("Only site admins can read the audit log; ask one, or use `inhouse audit export` on the "
                        "server.")
    if p.role not in (TokenRole.READ, TokenRole.WRITE):
        raise Forbidden(f"Your token '{p.token_name}' ({p.role}) is scoped to some repos or orgs; read the audit log "
                        "with a read or write token.")


# collections ---------------------------------------------------------------------------------------------------------

def _token_covers_namespace(p: Principal, namespace: str, permission: Permission) -> bool:
    """A write token covers every namespace, a read token reads them all, a fine-grained one only the user or org
    its scopes name."""
    if p.role is TokenRole.WRITE:
        return True
    if p.role is TokenRole.READ:
        return permission is Permission.READ_CONTENT
    return p.role is TokenRole.FINE_GRAINED and any(
        s.kind in (ScopeKind.ORG, ScopeKind.USER) and s.name.lower() == namespace.lower() and s.allows(permission)
        for s in p.scopes)


def can_see_collection(p: Principal, *, owner_id: int, owner_name: str, private: bool) -> bool:
    """A public collection is everyone's to read; a private one exists only for its owner, the members of its
    organisation (any role) and site admins, through a token that covers the namespace. (Which of its items the
    caller sees is `can_see` of each repo: a collection never opens a repo.)"""
    if not private:
        return True
    if p.anonymous or not (p.is_admin or p.user_id == owner_id or owner_id in p.org_roles):
        return False
    return _token_covers_namespace(p, owner_name, Permission.READ_CONTENT)


def decide_collection_change(p: Principal, *, owner_id: int, owner_name: str, owner_kind: str) -> None:
    """May `p` create, change or delete the collections of `owner_name` (their items included)? The user
    themselves, members of the organisation with the write role or above, and site admins; with a write token or
    a fine-grained token with repo.write on that namespace, as the Hub asks."""
    if p.anonymous:
        raise Unauthorized("Authentication required to change collections: pass a write token.")
    role = p.org_roles.get(owner_id)
    if not (p.is_admin or p.user_id == owner_id or (owner_kind == "org" and role is not None
                                                     and role.at_least(Role.WRITE))):
        raise Forbidden(f"You cannot change the collections of '{owner_name}': use your own namespace '{p.name}' "
                        "or ask an admin of that organisation for the write role.")
    if not _token_covers_namespace(p, owner_name, Permission.WRITE):
        raise Forbidden(f"Your token '{p.token_name}' ({p.role}) cannot change the collections of '{owner_name}': "
                        f"use a write token or a fine-grained token with {Permission.WRITE} on '{owner_name}'.")


# things a user does in their own name, on no one repo ---------------------------------------------------------------

class AccountAction(str, Enum):
    LIKE = "like"  # like or unlike a repo (the repo itself must be visible: READ)
    UPLOAD_ATTACHMENT = "upload_attachment"  # an image or video for a discussion comment
    MANAGE_WEBHOOKS = "manage_webhooks"  # create, read, change, delete one's webhooks (they hold secrets)


def authorize_account(p: Principal, action: AccountAction) -> int:
    """Raises unless `p` is a signed-in user whose token allows `action`; returns their user id."""
    if p.anonymous or p.user_id is None:
        raise Unauthorized({
            AccountAction.LIKE: "Sign in to like a repo: pass a write token in the Authorization header.",
            AccountAction.UPLOAD_ATTACHMENT: "Sign in to upload an attachment: pass a write token (`inhouse tokens "
                                             "create --user NAME --role write`).",
            AccountAction.MANAGE_WEBHOOKS: "Webhooks belong to a user: pass a write token in the Authorization "
                                           "header.",
        }[action])
    if action is AccountAction.LIKE and p.role is TokenRole.READ:
        raise Forbidden("A read token cannot like or unlike repos: use a write token.")
    if action is AccountAction.UPLOAD_ATTACHMENT and not (p.role is TokenRole.WRITE or (
            p.role is TokenRole.FINE_GRAINED and any(s.allows(Permission.DISCUSS) for s in p.scopes))):
        raise Forbidden(f"Your token '{p.token_name}' ({p.role}) cannot upload attachments: use a write token or a "
                        "fine-grained token with discussion.write.")
    if action is AccountAction.MANAGE_WEBHOOKS and p.role is not TokenRole.WRITE:
        raise Forbidden("Managing webhooks needs a write token (they hold secrets and watch private repos); "
                        "create one with `inhouse tokens create --role write`.")
    return p.user_id


# use cases (an organisation's governance records; models attach to them) -----------------------------------------

class UseCaseAction(str, Enum):
    VIEW = "view"  # list and read an organisation's use cases: any member
    CREATE = "create"  # org admins and members with the write role
    EDIT = "edit"  # change, delete; detach a model: the use case's owner (while a member) or org admins
    WEAKEN = "weaken"  # lower the risk tier, or delete / detach from a high or unacceptable use case: org admins
    ATTACH = "attach"  # attach a model: any member, who also needs write access to the model (`decide`, WRITE)


def decide_use_case(p: Principal, action: UseCaseAction, org: str, *, role: Role | None,
                    is_owner: bool = False) -> None:
    """Raises unless `p` may do `action` on the use cases of organisation `org`, in which they hold `role` (None:
    not a member); `is_owner`: `p` owns the use case in question. Site admins may do anything.

    Why WEAKEN is apart: a use case's risk tier decides how many approvals a promotion of its models needs (high:
    more; unacceptable: none is possible), so lowering it, or taking a model out of a high-risk use case, would
    let a model's promotion skip approvals; the owner may be the one who wants the promotion, so an org admin
    decides. Attaching never weakens (the strictest tier of a model's use cases counts)."""
    if p.anonymous:
        raise Unauthorized("Authentication required: pass a token in the Authorization header.")
    member = p.is_admin or role is not None
    if not member:
        raise Forbidden(f"Only members of '{org}' can see and change its use cases; ask an admin of '{org}' to add "
                        "you.")
    if action is UseCaseAction.VIEW:
        if not _token_covers_org(p, org, None):
            raise Forbidden(f"Your token '{p.token_name}' is not scoped to '{org}': use a read or write token.")
        return
    admin = p.is_admin or role is Role.ADMIN
    if action is UseCaseAction.CREATE and not (admin or (role is not None and role.at_least(Role.WRITE))):
        raise Forbidden(f"Creating a use case of '{org}' needs the write or admin role in '{org}'; ask an admin of "
                        f"'{org}' for it.")
    if action is UseCaseAction.EDIT and not (admin or is_owner):
        raise Forbidden(f"Only the use case's owner and admins of '{org}' can change it; ask one of them.")
    if action is UseCaseAction.WEAKEN and not admin:
        raise Forbidden(f"Lowering a use case's risk tier, and deleting or detaching models from a high-risk or "
                        f"unacceptable one, changes the approvals its models need: only admins of '{org}' can; ask "
                        "one of them.")
    if not _token_covers_org(p, org, Permission.WRITE):
        raise Forbidden(f"Your token '{p.token_name}' ({p.role}) cannot change use cases: use a write token or a "
                        f"fine-grained token with {Permission.WRITE} on org '{org}'.")
