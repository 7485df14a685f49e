"""A sharded safetensors model's metadata in one answer (`get_sharded_safetensors_metadata`): the index file on
the default branch without its weight map, and the JSON header of every shard it names, read from the start of
each shard (8 bytes of length, then the header) at the commit the index was read from."""

from __future__ import annotations

import json
import math
import posixpath
import struct
from typing import Any

from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.errors import BadRequest, EntryNotFound
from inhouse.names import check_path
from inhouse.services import repo_access
from inhouse.services.context import Stores
from inhouse.services.files import FileHandle, open_file, read_range
from inhouse.services.repo_access import RepoName
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.trees import find_entry

MAX_INDEX_BYTES = 16 << 20  # an index file larger than this is refused (real ones are well under 1 MB)
MAX_HEADER_BYTES = 25_000_000  # one shard's header, as huggingface_hub's SAFETENSORS_MAX_HEADER_LENGTH
MAX_TOTAL_HEADER_BYTES = 64 << 20  # all the shards' headers together, held in memory for one answer
MAX_SHARDS = 4096


def _read(stores: Stores, handle: FileHandle, start: int, end: int) -> bytes:
    return b"".join(read_range(stores, handle, start, min(end, handle.size)))


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise BadRequest(f"{what} is not valid JSON ({type(e).__name__}): fix the file and commit it again.") from e


def sharded_metadata(stores: Stores, principal: Principal, name: RepoName, filename: str) -> dict[str, Any]:
    """{"index": the index without "weight_map", "headers": {shard file name: its decoded header}} for a caller
    who may download from the repo (a read of a private or gated repo is audited as file.download of the index)."""
    check_path(filename)
    if not filename.endswith(".json"):
        raise BadRequest(f"'{filename}' is not a safetensors index: name a '.json' file such as "
                         "'model.safetensors.index.json'.")
    repo = repo_access.load(stores, principal, name, Action.DOWNLOAD)
    index_file = open_file(stores, repo, None, filename)
    repo_access.audit_read(stores, principal, repo, "file.download", revision=index_file.commit, path=filename)
    if index_file.size > MAX_INDEX_BYTES:
        raise BadRequest(f"'{filename}' is larger than {MAX_INDEX_BYTES} bytes; inhouse reads index files up to "
                         "that size.")
    index = _json(_read(stores, index_file, 0, index_file.size), f"'{filename}'")
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise BadRequest(f"'{filename}' has no \"weight_map\" object of tensor names to shard file names.")
    shards = sorted(set(weight_map.values()))
    if len(shards) > MAX_SHARDS:
        raise BadRequest(f"'{filename}' names {len(shards)} shards; inhouse reads at most {MAX_SHARDS}.")
    folder = posixpath.dirname(filename)
    headers: dict[str, Any] = {}
    total = 0
    for shard in shards:
        path = posixpath.join(folder, shard) if folder else shard
        check_path(path)
        try:
            handle = open_file(stores, repo, index_file.commit, path)
        except EntryNotFound as e:
            raise EntryNotFound(f"The shard '{path}' that '{filename}' names is not in the repo.",
                                commit=index_file.commit) from e
        length = _header_length(stores, handle, path)
        total += length
        if total > MAX_TOTAL_HEADER_BYTES:
            raise BadRequest(f"The shards' headers add up to more than {MAX_TOTAL_HEADER_BYTES} bytes; read each "
                             "shard's header with a range request instead (get_safetensors_metadata).")
        headers[shard] = _header(stores, handle, path, length)
    return {"index": {k: v for k, v in index.items() if k != "weight_map"}, "headers": headers}


def _header_length(stores: Stores, handle: FileHandle, path: str) -> int:
    if handle.size < 8:
        raise BadRequest(f"'{path}' is not a safetensors file: it is shorter than its 8-byte header length.")
    (length,) = struct.unpack("<Q", _read(stores, handle, 0, 8))
    if length > MAX_HEADER_BYTES or length > handle.size - 8:
        raise BadRequest(f"'{path}' declares a safetensors header of {length} bytes; it must fit in the file "
                         f"and be at most {MAX_HEADER_BYTES} bytes.")
    return int(length)


def _header(stores: Stores, handle: FileHandle, path: str, length: int) -> dict[str, Any]:
    header = _json(_read(stores, handle, 8, 8 + length), f"The header of '{path}'")
    if not isinstance(header, dict):
        raise BadRequest(f"The header of '{path}' is not a JSON object.")
    return header


MAX_COUNTED_SHARDS = 256  # model info counts the parameters of models in at most this many files


def _counts(stores: Stores, handle: FileHandle) -> dict[str, int]:
    cache = stores.runtime.safetensors_counts  # by git blob id: a file's content never changes under its id
    hit = cache.get(handle.blob_sha)
    if hit is not None:
        return hit
    header = _header(stores, handle, handle.path, _header_length(stores, handle, handle.path))
    counts: dict[str, int] = {}
    for name, tensor in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(tensor, dict) or not isinstance(tensor.get("dtype"), str) \
                or not isinstance(tensor.get("shape"), list) \
                or not all(isinstance(n, int) and n >= 0 for n in tensor["shape"]):
            raise BadRequest(f"The header of '{handle.path}' describes tensor '{name}' without dtype and shape.")
        counts[tensor["dtype"]] = counts.get(tensor["dtype"], 0) + math.prod(tensor["shape"])
    cache.put(handle.blob_sha, counts)
    return counts


def parameters(stores: Stores, repo: RepoRecord, commit: str) -> dict[str, Any] | None:
    """`safetensors` of model info, as the Hub answers it: {"parameters": {dtype: count}, "total": count} of the
    model's weights at `commit` (model.safetensors, or the shards model.safetensors.index.json names), for a repo
    the caller was already allowed to read. None when the model has no safetensors weights or they cannot be read
    (a broken file is not model info's error: get_safetensors_metadata names it)."""
    with stores.db.read() as conn:  # most models' info asks nothing more than these two tree lookups
        root = stores.objects.commit(conn, commit).tree
        has_index, has_single = (find_entry(stores.objects, conn, root, path) is not None
                                 for path in ("model.safetensors.index.json", "model.safetensors"))
    if not (has_index or has_single):
        return None
    try:
        if not has_index:
            paths = ["model.safetensors"]
        else:
            index_file = open_file(stores, repo, commit, "model.safetensors.index.json")
            if index_file.size > MAX_INDEX_BYTES:
                return None
            index = _json(_read(stores, index_file, 0, index_file.size), "the index")
            weight_map = index.get("weight_map") if isinstance(index, dict) else None
            if not isinstance(weight_map, dict):
                return None
            paths = sorted({v for v in weight_map.values() if isinstance(v, str)})
            if not paths or len(paths) > MAX_COUNTED_SHARDS:
                return None
        total: dict[str, int] = {}
        for path in paths:
            check_path(path)
            for dtype, n in _counts(stores, open_file(stores, repo, commit, path)).items():
                total[dtype] = total.get(dtype, 0) + n
    except (EntryNotFound, BadRequest):
        return None
    return {"parameters": total, "total": sum(total.values())}
