"""The Authorization header is read in web alone (web/credentials.py): access and services take the token secret it
carries, and whether the header was no credential at all (refused as a bad token is, and counted by the throttle:
tests/access/test_throttle.py)."""

from __future__ import annotations

import base64

import pytest

from inhouse.web.credentials import MALFORMED, NONE, Credentials, read_credentials


def _basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(("header", "expected"), [
    (None, NONE),
    ("", NONE),
    ("Bearer ih_secret", Credentials("ih_secret")),
    ("bearer   ih_secret  ", Credentials("ih_secret")),  # the scheme in any case, spaces around the token
    ("  BEARER ih_secret", Credentials("ih_secret")),
    ("Bearer", NONE),  # an empty token is none
    ("Bearer   ", NONE),
    (_basic("alice:ih_secret"), Credentials("ih_secret")),  # git clients: the token is the password
    (_basic(":ih_secret"), Credentials("ih_secret")),
    (_basic("alice:pass:with:colons"), Credentials("pass:with:colons")),
    (_basic("alice"), NONE),  # no password
    (_basic("alice:"), NONE),
    ("Basic !!!", MALFORMED),  # not base64
    ("Basic " + base64.b64encode(b"alice:\xff\xfe").decode(), MALFORMED),  # not UTF-8
    ("Token ih_secret", MALFORMED),  # a scheme this server does not read
    ("ih_secret", MALFORMED),
])
def test_an_authorization_header_reads_as_plain_credentials(header: str | None, expected: Credentials) -> None:
    assert read_credentials(header) == expected
