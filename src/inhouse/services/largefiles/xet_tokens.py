"""Xet access tokens: short-lived, signed capabilities scoped to one repo and one access level.

`xet-read-token` / `xet-write-token` (web/hub/xet.py) hand them out after the permission check; the CAS
endpoints (web/hub/cas.py) take them as `Authorization: Bearer …` and turn them back into a `CasCaller`: the
repo, the access level, and the principal of the Hub token that asked for it. That principal is re-checked on
every CAS call (cached for PRINCIPAL_CACHE_S seconds), so revoking the Hub token or losing access to the repo also stops the
Xet token that was derived from it.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, replace

from inhouse.access.identity import Principal, principal_by_token_id, token_from_header
from inhouse.access.policy import Action, authorize
from inhouse.errors import Forbidden, InhouseError, NotFound, Unauthorized
from inhouse.services.context import Stores
from inhouse.services.revisions import resolve
from inhouse.services.signing import Signer
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord

TOKEN_TTL_S = 3600
PREFIX = "xet1"
READ, WRITE = "read", "write"
PRINCIPAL_CACHE_S = 2.0  # how long a checked caller is reused: a revoked hub token stops working after this


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

    @property
    def can_write(self) -> bool:
        return self.grant.access == WRITE


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


def issue_for_revision(stores: Stores, signer: Signer, p: Principal, repo: RepoRecord, access: str,
                       action: Action, revision: str) -> tuple[str, int]:
    """`issue`, after checking that a read token's revision exists (it is recorded with the reads it serves)."""
    commit = None
    if access == READ:
        with stores.db.read() as conn:
            commit = resolve(conn, repo, revision).commit
    return issue(signer, p, repo, access, action, commit=commit)


_INVALID = ("This Xet access token is not valid: ask the hub for a new one "
            "(GET /api/{models|datasets|spaces}/NS/NAME/xet-read-token/REV or xet-write-token/REV).")


def parse(signer: Signer, token: str | None) -> XetGrant:
    """The grant a token carries; Unauthorized when it is missing, forged, malformed or expired."""
    if not token:
        raise Unauthorized("The CAS needs a Xet access token (Authorization: Bearer …); ask the hub for one at "
                           "/api/{models|datasets|spaces}/NS/NAME/xet-read-token/REV.")
    parts = token.split(".")
    if len(parts) != 4 or parts[0] != PREFIX or not parts[2].isdigit():
        raise Unauthorized(_INVALID)
    _, payload, exp_text, sig = parts
    exp = int(exp_text)
    if exp <= time.time():
        raise Unauthorized("This Xet access token has expired: ask the hub for a new one (the client does this by "
                           "itself through the token refresh route).")
    try:
        signer.verify(f"{PREFIX}|{payload}", exp_text, sig)
        data = json.loads(_unb64(payload))
        grant = XetGrant(int(data["r"]), str(data["a"]), str(data["c"]),
                         None if data.get("t") is None else int(data["t"]), exp,
                         None if data.get("v") is None else str(data["v"]))
    except (InhouseError, ValueError, KeyError, TypeError):
        raise Unauthorized(_INVALID) from None
    if grant.access not in (READ, WRITE):
        raise Unauthorized(_INVALID)
    return grant


_cache: dict[tuple[str, str], tuple[float, CasCaller]] = {}
_cache_lock = threading.Lock()


def caller(stores: Stores, signer: Signer, authorization: str | None, *, write: bool,
           ip: str | None = None, request_id: str | None = None) -> CasCaller:
    """Who is calling the CAS, for which repo; raises unless the token allows this kind of call."""
    try:
        token = token_from_header(authorization)
    except InhouseError:
        raise Unauthorized(_INVALID) from None
    grant = parse(signer, token)
    if write and grant.access != WRITE:
        raise Forbidden("This Xet token was issued for reading: uploads need a token from "
                        "/api/{models|datasets|spaces}/NS/NAME/xet-write-token/REV, which needs write access.")
    key = (token or "", ip or "")
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and now - hit[0] < PRINCIPAL_CACHE_S:
        return replace(hit[1], principal=replace(hit[1].principal, request_id=request_id))
    principal = principal_by_token_id(stores.db, grant.token_id, ip=ip, request_id=request_id)
    with stores.db.read() as conn:
        repo = repo_store.repo_by_id(conn, grant.repo_pk)
    if repo is None:
        raise NotFound("The repo this Xet token was issued for no longer exists.")
    authorize(stores.db, principal, Action(grant.action), repo)
    found = CasCaller(repo, principal, grant)
    with _cache_lock:
        if len(_cache) > 4096:
            _cache.clear()
        _cache[key] = (now, found)
    return found
