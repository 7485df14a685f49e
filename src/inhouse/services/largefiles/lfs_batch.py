"""The Git LFS batch decision: which objects to send or take, and how (one PUT or parts), within fixed bounds.

Nothing a batch request claims decides how much work the server does: a request names at most MAX_OBJECTS
objects, an upload at most `max_lfs_object_bytes` bytes, a multipart upload at most MAX_PARTS parts (the part size
grows for larger files, as S3 does) and one answer at most MAX_PART_LINKS part links (objects past that budget are
sent in one PUT). Malformed fields are refused before anything is looked up: the request as a whole (422, 413) or,
where git-lfs expects it, the one object (a per-object error in a 200 answer).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.errors import BadRequest, InhouseError, PayloadTooLarge
from inhouse.services.context import Stores
from inhouse.services.governance import quarantine
from inhouse.services.largefiles import xet_content
from inhouse.services import repo_access
from inhouse.services.largefiles.lfs import DOWNLOAD_LINK_TTL_S, MAX_PARTS, part_count, part_size_for
from inhouse.services.largefiles.lfs_grants import Granter, LfsGrant, Transfer
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import resolve
from inhouse.services.signing import Signer
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db.records import RepoRecord

MAX_OBJECTS = 1000  # objects one batch request may name (git-lfs sends 100, huggingface_hub 256)
MAX_PART_LINKS = 2 * MAX_PARTS  # part links one answer may hold; further multipart-able objects get one PUT
MAX_TRANSFERS = 32
MAX_REF_CHARS = 1024
MAX_SIZE = 2**63 - 1  # a claimed size outside a signed 64-bit integer is malformed, whatever the operation
_OID = re.compile(r"[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class BatchRequest:
    operation: str  # upload | download
    multipart: bool  # the client offered the multipart transfer
    ref: str | None  # the ref the objects belong to, when the client named one
    objects: list[object]  # as sent: each is checked on its own


@dataclass(frozen=True)
class ObjectGrants:
    """The signed transfer grants of one object of an answer, all valid for `ttl_s` seconds from when it was made."""

    ttl_s: int
    download: LfsGrant | None = None
    upload: LfsGrant | None = None  # the whole object in one request or, with `parts`, the completion
    verify: LfsGrant | None = None
    parts: tuple[LfsGrant, ...] = ()


@dataclass(frozen=True)
class BatchItem:
    oid: str
    size: int
    action: str | None  # upload | download | None (nothing to do, or an error)
    error: tuple[int, str] | None = None
    part_size: int | None = None  # uploads in parts: the size of each part (all but the last)
    grants: ObjectGrants | None = None  # with an action: what the client may do, signed


@dataclass(frozen=True)
class BatchAnswer:
    repo: RepoRecord  # the repo the request named (its links are signed for it)
    operation: str
    items: list[BatchItem]
    commit: str | None = None  # downloads from private/gated repos: the commit the ref named (the audit's revision)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def parse_request(body: Mapping[str, object]) -> BatchRequest:
    """The fields of a batch request body, checked for type and bounds; BadRequest (422) or PayloadTooLarge."""
    operation = body.get("operation")
    if operation not in ("upload", "download"):
        raise BadRequest(f"Invalid LFS operation {_show(operation)}: use \"upload\" or \"download\".", status=422)
    transfers = body.get("transfers")
    if transfers is None:
        transfers = ["basic"]  # the spec: no list means the basic adapter
    if not isinstance(transfers, list) or len(transfers) > MAX_TRANSFERS or not all(
            isinstance(t, str) and len(t) <= 64 for t in transfers):
        raise BadRequest(f"'transfers' must be a list of at most {MAX_TRANSFERS} transfer adapter names, "
                         "e.g. [\"basic\", \"multipart\"].", status=422)
    if body.get("hash_algo") not in (None, "sha256"):
        raise BadRequest("LFS objects are named by their sha256 here: send \"hash_algo\": \"sha256\" or leave it out.",
                         status=422)
    ref = body.get("ref")
    name = ref.get("name") if isinstance(ref, dict) else None
    if (ref is not None and not isinstance(ref, dict)) or (name is not None and (
            not isinstance(name, str) or not name or len(name) > MAX_REF_CHARS or _CONTROL.search(name))):
        raise BadRequest("'ref' must be {\"name\": \"refs/heads/BRANCH\"} (or left out).", status=422)
    objects = body.get("objects")
    if not isinstance(objects, list):
        raise BadRequest("'objects' must be a list of {\"oid\": <sha256>, \"size\": <bytes>}.", status=422)
    if len(objects) > MAX_OBJECTS:
        raise PayloadTooLarge(f"A batch request may name at most {MAX_OBJECTS} objects ({len(objects)} were sent); "
                              "send them in several requests.")
    return BatchRequest(operation, "multipart" in transfers, name, objects)


def _checked(obj: object, *, upload: bool, max_bytes: int) -> tuple[str, int] | BatchItem:
    """(oid, size) of one requested object, or the per-object error (422) that answers it."""
    oid = obj.get("oid") if isinstance(obj, dict) else None
    size = obj.get("size") if isinstance(obj, dict) else None
    shown = oid[:64] if isinstance(oid, str) else ""
    if not isinstance(oid, str) or not _OID.fullmatch(oid):
        return BatchItem(shown, 0, None, (422, f"Invalid oid {_show(oid)}: expected the object's sha256, "
                                             "64 lowercase hex characters."))
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return BatchItem(oid, 0, None, (422, f"Invalid size {_show(size)} for {oid}: expected a whole number of "
                                             "bytes, at least 0."))
    if upload and size > max_bytes:
        return BatchItem(oid, min(size, MAX_SIZE), None, (
            422, f"Object {oid} is {_show(size)} bytes; this server takes large files of at most {max_bytes} bytes "
                 "(INHOUSE_MAX_LFS_OBJECT_BYTES). Split the file, or ask the operator to raise the limit."))
    if size > MAX_SIZE:
        return BatchItem(oid, 0, None, (422, f"Invalid size {_show(size)} for {oid}: no object is that large."))
    return oid, size


def batch(stores: Stores, signer: Signer, p: Principal, name: RepoName, req: BatchRequest) -> BatchAnswer:
    """What to do with each object of a checked request, and the grants to do it (signed for the caller's Hub token),
    for a caller who may upload to (propose) or download from the repo `name` names (a refusal on a private or
    gated repo is audited). A download batch of a private or gated repo is audited as lfs.batch (it tells which
    objects the repo holds; each download through its grants is audited again as file.download)."""
    upload = req.operation == "upload"
    # uploading only stores bytes; committing them is checked against the target branch or pull request
    repo = repo_access.load(stores, p, name, Action.PROPOSE if upload else Action.DOWNLOAD, follow_moves=False)
    settings = stores.settings
    budget = MAX_PART_LINKS
    items: list[BatchItem] = []
    with stores.db.read() as conn:
        for obj in req.objects:
            checked = _checked(obj, upload=upload, max_bytes=settings.max_lfs_object_bytes)
            if isinstance(checked, BatchItem):
                items.append(checked)
                continue
            oid, size = checked
            held = lfs_store.repo_has_object(conn, repo.id, oid) and xet_content.available(stores, conn, oid)
            stored_size = lfs_store.object_size(conn, oid) if held else None
            if not upload:
                hold = quarantine.held_back(conn, repo, f"sha256:{oid}") if held else None
                if not held:
                    items.append(BatchItem(oid, size, None, (404, "Object does not exist in this repo.")))
                elif hold is not None:  # held back by the organisation's policy: not served from this repo
                    items.append(BatchItem(oid, size, None, (403, quarantine.refuse_download(repo, hold.path,
                                                                                            hold).message)))
                else:
                    items.append(BatchItem(oid, stored_size if stored_size is not None else size, "download"))
            elif held:
                if stored_size != size:
                    items.append(BatchItem(oid, size, None, (422, f"Object {oid} exists with size {stored_size}.")))
                else:
                    items.append(BatchItem(oid, size, None))
            else:
                part_size = part_size_for(size, settings.lfs_part_size)
                parts = part_count(size, part_size)
                if req.multipart and parts > 1 and parts <= budget:
                    budget -= parts
                    items.append(BatchItem(oid, size, "upload", part_size=part_size))
                else:
                    items.append(BatchItem(oid, size, "upload"))
        commit = None
        if not upload and (repo.private or repo.gated):
            try:
                commit = resolve(conn, repo, req.ref).commit
            except InhouseError:
                commit = None  # an unknown ref: the downloads are still audited, by object id
    if not upload:
        repo_access.audit_read(stores, p, repo, "lfs.batch", revision=commit, details={
            "operation": req.operation, "objects": len(req.objects), "ref": req.ref})
    granter = Granter(signer, repo.id, p.token_id, commit)
    # signed after the reads: at most MAX_PART_LINKS part grants in all, and two more per object
    items = [_granted(granter, it, settings.upload_url_ttl_s) for it in items]
    return BatchAnswer(repo, req.operation, items, commit)


def _granted(granter: Granter, it: BatchItem, upload_ttl_s: int) -> BatchItem:
    """`it` with the grants its action needs: a download; or an upload (one request, or parts and their completion)
    and its verification."""
    if it.action == "download":
        ttl = DOWNLOAD_LINK_TTL_S
        return replace(it, grants=ObjectGrants(ttl, download=granter.grant(it.oid, it.size, Transfer.DOWNLOAD, ttl)))
    if it.action != "upload":
        return it
    ttl = upload_ttl_s
    verify = granter.grant(it.oid, it.size, Transfer.VERIFY, ttl)
    if it.part_size is None:
        return replace(it, grants=ObjectGrants(ttl, upload=granter.grant(it.oid, it.size, Transfer.UPLOAD, ttl),
                                               verify=verify))
    parts = tuple(granter.grant(it.oid, it.size, Transfer.PART, ttl, part=n)
                  for n in range(1, part_count(it.size, it.part_size) + 1))
    return replace(it, grants=ObjectGrants(ttl, upload=granter.grant(it.oid, it.size, Transfer.COMPLETE, ttl),
                                           verify=verify, parts=parts))
