"""git clone, fetch and pull over smart HTTP (git-upload-pack), protocol v2 and v0: being written (issue 9)."""

from __future__ import annotations

from collections.abc import Iterator

from inhouse.access.identity import Principal
from inhouse.errors import BadRequest
from inhouse.services.context import Stores
from inhouse.services.repo_access import RepoName

MAX_REQUEST_BYTES = 64 * 1024 * 1024  # an upload-pack request (wants, haves, shallows): far above what git sends


def advertise_upload(stores: Stores, principal: Principal, name: RepoName, protocol: int) -> bytes:
    raise BadRequest("git clone is not served yet.")


def upload_pack(stores: Stores, principal: Principal, name: RepoName, request: bytes,
                protocol: int) -> Iterator[bytes]:
    raise BadRequest("git clone is not served yet.")
