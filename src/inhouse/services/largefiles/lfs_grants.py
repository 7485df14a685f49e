"""LFS transfer grants: signed capabilities to move one object of one repo, for the Hub token that asked, until a
time. The batch answer (services/largefiles/lfs_batch.py) decides and signs them; the web layer lays each out as a
link and reads it back (web/hub/lfs.py); every use checks the signature here, then the caller it acts for again
(services/largefiles/lfs.py, link_caller).

The signature covers everything a grant says: the repo, the object and its size, the transfer (and the part), the
token (none for an anonymous download) and, for downloads, the commit the batch request's ref named (for the audit).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from inhouse.access.policy import Action
from inhouse.services.signing import Signer

RENEW = "request a new one through the LFS batch API"
#: what the holder of a link that does not even read as a grant is told (web/hub/lfs.py)
MALFORMED = f"This link is malformed: {RENEW}."


class Transfer(Enum):
    """What a grant lets its holder do with its object."""

    UPLOAD = "upload"  # send the whole object
    PART = "part"  # send one part of a multipart upload
    COMPLETE = "complete"  # join the parts sent
    VERIFY = "verify"  # confirm the object arrived whole
    DOWNLOAD = "download"

    @property
    def action(self) -> Action:
        """What the caller the grant acts for must still be allowed on the repo at every use."""
        return Action.DOWNLOAD if self is Transfer.DOWNLOAD else Action.PROPOSE


@dataclass(frozen=True)
class LfsGrant:
    repo_pk: int
    oid: str
    size: int
    transfer: Transfer
    token_id: int | None  # the Hub token that asked for it; None for anonymous downloads
    commit: str | None  # downloads: the commit the batch request's ref named, when it named one
    exp: int  # unix time it stops working
    sig: str
    part: int | None = None  # Transfer.PART: which part, from 1


# The signed text of each transfer. It is the layout the links had before grants were typed, so that links handed out
# by an older server still verify after an upgrade (upload links live a day).
_SIGNED_AS = {Transfer.UPLOAD: "", Transfer.COMPLETE: "/complete", Transfer.VERIFY: "/verify",
              Transfer.DOWNLOAD: "/get"}


def _message(repo_pk: int, oid: str, size: int, transfer: Transfer, part: int | None, token_id: int | None,
             commit: str | None) -> str:
    what = f"/part/{part}" if transfer is Transfer.PART else _SIGNED_AS[transfer]
    token = "" if token_id is None else str(token_id)
    return f"lfs|{repo_pk}/{oid}/{size}{what}|{token}|{commit or ''}"


@dataclass(frozen=True)
class Granter:
    """Signs the grants of one batch answer: one repo, one caller (its Hub token), one commit."""

    signer: Signer
    repo_pk: int
    token_id: int | None
    commit: str | None

    def grant(self, oid: str, size: int, transfer: Transfer, ttl_s: int, part: int | None = None) -> LfsGrant:
        exp, sig = self.signer.sign(
            _message(self.repo_pk, oid, size, transfer, part, self.token_id, self.commit), ttl_s)
        return LfsGrant(self.repo_pk, oid, size, transfer, self.token_id, self.commit, exp, sig, part)


def check(signer: Signer, grant: LfsGrant) -> None:
    """Raises Forbidden unless this server signed `grant`, as it reads, and it has not expired."""
    signer.verify(_message(grant.repo_pk, grant.oid, grant.size, grant.transfer, grant.part, grant.token_id,
                           grant.commit), grant.exp, grant.sig, renew=RENEW)
