"""Xet access tokens: short-lived, signed capabilities scoped to one repo and one access level.

`xet-read-token` / `xet-write-token` (web/hub/xet.py) hand them out after the permission check; the CAS
endpoints (web/hub/cas.py) take them as the request's bearer token and turn them back into a `CasCaller`: the
repo, the access level, and the principal of the Hub token that asked for it. That principal is re-checked on
every CAS call (cached for PRINCIPAL_CACHE_S seconds, in the app's runtime: `stores.runtime.cas_callers`), so
revoking the Hub token or losing access to the repo also stops the Xet token that was derived from it.

A write token comes with the CAS URL its client should use, `/cas/u/<key>` with a key of the token's user. hf_xet
keeps one cache per CAS URL (the shards of its uploads, the dedup answers it was given) and dedups new uploads
against it without sending those xorbs again. Storage GC drops the key of every user whose xorbs it deleted
(storage/db/xet.py), so the next upload of such a user goes to a new URL, with a fresh cache that names nothing
the server forgot. It also keeps two users who share a machine from deduping against each other's uploads.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass, replace

from inhouse.access.identity import Principal, principal_by_token_id
from inhouse.access.policy import Action
from inhouse.errors import Forbidden, InhouseError, NotFound, Unauthorized
from inhouse.services.context import Stores
from inhouse.services.repo_access import authorize_audited
from inhouse.services.revisions import resolve
from inhouse.services.signing import Signer
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import xet as xet_store
from inhouse.storage.db.records import RepoRecord

TOKEN_TTL_S = 3600
PREFIX = "xet1"
READ, WRITE = "read", "write"
PRINCIPAL_CACHE_S = 2.0  # how long a checked caller is reused: a revoked hub token stops working after this
MAX_CACHED_CALLERS = 4096  # checked callers (and, apart, xorb-link callers) kept; the least recently used go first


@dataclass(frozen=True)
class XetGrant:
    repo_pk: int
    access: str  # read | write
    action: str  # the policy Action checked when it was issued (download | write | propose)
    token_id: int | None  # the Hub token that asked for it; None for anonymous reads
    exp: int
    commit: str | None = None  # read tokens: the commit the revision named when it was issued (for the audit)


@dataclass(frozen=True)
class CasCaller:
    repo: RepoRecord
    principal: Principal
    grant: XetGrant


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(signer: Signer, p: Principal, repo: RepoRecord, access: str, action: Action,
          ttl_s: int = TOKEN_TTL_S, commit: str | None = None) -> tuple[str, int]:
    """A token for `repo` at `access` level; the caller has been authorized for `action` on it. (token, exp)."""
    claims: dict[str, object] = {"r": repo.id, "a": access, "c": action.value, "t": p.token_id}
    if commit is not None:
        claims["v"] = commit
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    exp, sig = signer.sign(f"{PREFIX}|{payload}", ttl_s)
    return f"{PREFIX}.{payload}.{exp}.{sig}", exp


@dataclass(frozen=True)
class Issued:
    token: str
    exp: int
    #: write tokens: the user's cache key, the last segment of the CAS URL their client should use (see above)
    cache_key: str | None = None


def issue_for_revision(stores: Stores, signer: Signer, p: Principal, repo: RepoRecord, access: str,
                       action: Action, revision: str) -> Issued:
    """`issue`, after checking that a read token's revision exists (it is recorded with the reads it serves);
    a write token comes with its user's cache key."""
    commit = None
    if access == READ:
        with stores.db.read() as conn:
            commit = resolve(conn, repo, revision).commit
    token, exp = issue(signer, p, repo, access, action, commit=commit)
    return Issued(token, exp, cache_key(stores, p) if access == WRITE else None)


def cache_key(stores: Stores, p: Principal) -> str | None:
    """The key of `p`'s user in the CAS URL of their write tokens, made on first use (random, so it names nobody)."""
    if p.user_id is None:
        return None
    with stores.db.read() as conn:
        key = xet_store.xet_cache_key(conn, p.user_id)
    if key is None:
        with stores.db.write() as conn:
            key = xet_store.add_xet_cache_key(conn, p.user_id, secrets.token_hex(8), time.time())
    return key


_INVALID = ("This Xet access token is not valid: ask the hub for a new one "
            "(GET /api/{models|datasets|spaces}/NS/NAME/xet-read-token/REV or xet-write-token/REV).")


def parse(signer: Signer, token: str | None) -> XetGrant:
    """The grant a token carries; Unauthorized when it is missing, forged, malformed or expired."""
    if not token:
        raise Unauthorized("The CAS needs a Xet access token, sent as a bearer token; ask the hub for one at "
                           "/api/{models|datasets|spaces}/NS/NAME/xet-read-token/REV.")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != PREFIX or not (parts[2].isascii() and parts[2].isdigit()) or len(parts[2]) > 12:
        raise Unauthorized(_INVALID)  # str.isdigit() alone admits '¹²', which int() refuses (a 500)
    _, payload, exp_text, sig = parts
    exp = int(exp_text)
    if exp <= time.time():
        raise Unauthorized("This Xet access token has expired: ask the hub for a new one (the client does this by "
                           "itself through the token refresh route).")
    try:
        signer.verify(f"{PREFIX}|{payload}", exp, sig, renew="ask the hub for a new Xet token")
        data = json.loads(_unb64(payload))
        grant = XetGrant(int(data["r"]), str(data["a"]), str(data["c"]),
                         None if data.get("t") is None else int(data["t"]), exp,
                         None if data.get("v") is None else str(data["v"]))
    except (InhouseError, ValueError, KeyError, TypeError):
        raise Unauthorized(_INVALID) from None
    if grant.access not in (READ, WRITE):
        raise Unauthorized(_INVALID)
    return grant


def caller(stores: Stores, signer: Signer, token: str | None, *, write: bool, malformed: bool = False,
           ip: str | None = None, request_id: str | None = None) -> CasCaller:
    """Who is calling the CAS with Xet token `token` (None: none was presented, or with `malformed`, credentials
    that are no token), for which repo; raises unless the token allows this kind of call."""
    if malformed:
        raise Unauthorized(_INVALID)
    grant = parse(signer, token)
    if write and grant.access != WRITE:
        raise Forbidden("This Xet token was issued for reading: uploads need a token from "
                        "/api/{models|datasets|spaces}/NS/NAME/xet-write-token/REV, which needs write access.")
    key = (token or "", ip or "")
    hit = stores.runtime.cas_callers.get(key)
    if hit is not None:
        return replace(hit, principal=replace(hit.principal, request_id=request_id))
    principal = principal_by_token_id(stores.db, grant.token_id, ip=ip, request_id=request_id)
    with stores.db.read() as conn:
        repo = repo_store.repo_by_id(conn, grant.repo_pk)
    if repo is None:
        raise NotFound("The repo this Xet token was issued for no longer exists.")
    authorize_audited(stores, principal, Action(grant.action), repo)  # a refusal on a protected repo is evidence
    found = CasCaller(repo, principal, grant)
    stores.runtime.cas_callers.put(key, found)
    return found


def check_link(stores: Stores, token_id: int | None, repo_pk: int) -> None:
    """Raises unless the caller a xorb link was signed for (by the id of its Hub token, None: anonymous) may still
    download from repo `repo_pk`: revoking that token or losing access stops the links it was given, as it stops
    its Xet token (checked at most every PRINCIPAL_CACHE_S seconds per token and repo)."""
    key = (token_id, repo_pk)
    if stores.runtime.xorb_links.get(key):
        return
    principal = principal_by_token_id(stores.db, token_id)
    with stores.db.read() as conn:
        repo = repo_store.repo_by_id(conn, repo_pk)
    if repo is None:
        raise NotFound("The repo this xorb link was issued for no longer exists.")
    authorize_audited(stores, principal, Action.DOWNLOAD, repo)
    stores.runtime.xorb_links.put(key, True)
