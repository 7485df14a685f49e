"""Xet access tokens as the CAS reads them: anything but a token this server signed, unexpired, is Unauthorized
(never a 500), whatever the caller wrote into its parts."""

from __future__ import annotations

import pytest

from inhouse.errors import Unauthorized
from inhouse.services.largefiles import xet_tokens
from inhouse.services.signing import Signer

SIGNER = Signer(b"k" * 32)


@pytest.mark.parametrize("exp", ["¹²", "١٢٣٤٥٦٧٨٩٠", "9" * 40, "", "-1", "1e9"])
def test_an_expiry_that_is_not_ascii_digits_is_unauthorized(exp: str) -> None:
    with pytest.raises(Unauthorized):
        xet_tokens.parse(SIGNER, f"{xet_tokens.PREFIX}.e30.{exp}.sig")


def test_a_forged_signature_is_unauthorized() -> None:
    with pytest.raises(Unauthorized):
        xet_tokens.parse(SIGNER, f"{xet_tokens.PREFIX}.e30.99999999999.{'0' * 64}")
