"""LFS transfer grants (services/largefiles/lfs_grants.py): the service signs what a link lets its holder do, and
checks it on every use. Whatever part of a grant changes, its signature no longer holds; an expired grant says so;
and a link an older server signed (before grants were typed, when the web layer signed its own URL text) still holds
after an upgrade, since upload links live a day."""

from __future__ import annotations

import dataclasses
import time

import pytest

from inhouse.access.policy import Action
from inhouse.errors import Forbidden
from inhouse.services.largefiles import lfs_grants
from inhouse.services.largefiles.lfs_grants import Granter, LfsGrant, Transfer
from inhouse.services.signing import Signer

SIGNER = Signer(b"k" * 32)
OID = "ab" * 32


def test_a_grant_holds_as_signed_and_only_so() -> None:
    granter = Granter(SIGNER, repo_pk=7, token_id=42, commit="c" * 40)
    grant = granter.grant(OID, 1000, Transfer.PART, 3600, part=2)
    lfs_grants.check(SIGNER, grant)
    assert grant.exp - 3600 <= time.time()
    changes = {"repo_pk": 8, "oid": "cd" * 32, "size": 1001, "transfer": Transfer.UPLOAD, "token_id": 41,
               "commit": None, "exp": grant.exp + 1, "sig": "0" * 64, "part": 1}
    for field, value in changes.items():
        with pytest.raises(Forbidden, match="not valid: request a new one through the LFS batch API"):
            lfs_grants.check(SIGNER, dataclasses.replace(grant, **{field: value}))
    with pytest.raises(Forbidden, match="not valid"):
        lfs_grants.check(Signer(b"other key"), grant)
    with pytest.raises(Forbidden, match="not valid"):  # a signature the comparison cannot even take
        lfs_grants.check(SIGNER, dataclasses.replace(grant, sig="é" * 64))


def test_an_expired_grant_says_it_expired() -> None:
    grant = Granter(SIGNER, 7, None, None).grant(OID, 10, Transfer.DOWNLOAD, -60)
    with pytest.raises(Forbidden, match="has expired"):
        lfs_grants.check(SIGNER, grant)


def test_what_each_transfer_asks_of_its_caller() -> None:
    assert {t: t.action for t in Transfer} == {
        Transfer.UPLOAD: Action.PROPOSE, Transfer.PART: Action.PROPOSE, Transfer.COMPLETE: Action.PROPOSE,
        Transfer.VERIFY: Action.PROPOSE, Transfer.DOWNLOAD: Action.DOWNLOAD}


@pytest.mark.parametrize(("suffix", "transfer", "part"), [
    ("", Transfer.UPLOAD, None), ("/part/3", Transfer.PART, 3), ("/complete", Transfer.COMPLETE, None),
    ("/verify", Transfer.VERIFY, None), ("/get", Transfer.DOWNLOAD, None)])
@pytest.mark.parametrize(("token", "commit"), [("42", "c" * 40), ("", "")])
def test_links_signed_before_grants_were_typed_still_hold(suffix: str, transfer: Transfer, part: int | None,
                                                          token: str, commit: str) -> None:
    # what web/hub/lfs.py signed up to this change: the link's path after /api/lfs-transfer/, its t and its c
    exp, sig = SIGNER.sign(f"lfs|7/{OID}/1000{suffix}|{token}|{commit}", 3600)
    lfs_grants.check(SIGNER, LfsGrant(7, OID, 1000, transfer, int(token) if token else None, commit or None, exp, sig,
                                      part))
