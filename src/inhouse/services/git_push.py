"""git push over smart HTTP (receive-pack): being written (issue 9). The web layer (web/hub/git_http.py) calls
exactly these two functions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from inhouse.access.identity import Principal
from inhouse.errors import BadRequest
from inhouse.services.context import Stores
from inhouse.services.repo_access import RepoName


def advertise_receive(stores: Stores, principal: Principal, name: RepoName) -> bytes:
    """The body of GET info/refs?service=git-receive-pack (after the '# service=' header the web layer writes)."""
    raise BadRequest("git push is not served yet.")


def receive_pack(stores: Stores, principal: Principal, name: RepoName, body: BinaryIO) -> Iterator[bytes]:
    """The response body of POST git-receive-pack; `body` is the request body, spooled (seekable)."""
    raise BadRequest("git push is not served yet.")
