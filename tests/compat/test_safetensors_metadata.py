"""get_sharded_safetensors_metadata through the real client: the index (without its weight map) and every shard's
header in one answer, shards stored as large files included; a private repo's read audited, an outsider refused as
if it did not exist; a broken index or shard refused with a message naming the file."""

from __future__ import annotations

import json
import struct
import uuid

import pytest
from huggingface_hub import CommitOperationAdd
from huggingface_hub.errors import BadRequestError, EntryNotFoundError, RepositoryNotFoundError
from sqlalchemy import select

from inhouse.storage.db.schema import audit_log


def _shard(tensors: dict[str, list[int]], pad: int = 0) -> bytes:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors.items():
        size = 4 * (shape[0] * shape[1] if len(shape) == 2 else shape[0])
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * (offset + pad)


def _sharded(api, repo_id: str, folder: str = "") -> None:  # type: ignore[no-untyped-def]
    index = {"metadata": {"total_size": 1234},
             "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                            "a.bias": "model-00001-of-00002.safetensors",
                            "b.weight": "model-00002-of-00002.safetensors"}}
    api.create_commit(repo_id, [
        CommitOperationAdd(f"{folder}model-00001-of-00002.safetensors", _shard({"a.weight": [4, 3], "a.bias": [4]})),
        # a shard over 10 MiB is a large file: its header is read from the large-file store
        CommitOperationAdd(f"{folder}model-00002-of-00002.safetensors", _shard({"b.weight": [2, 2]}, pad=11 << 20)),
        CommitOperationAdd(f"{folder}model.safetensors.index.json", json.dumps(index).encode()),
    ], commit_message="a sharded model")


def test_sharded_metadata_is_every_shard_header_in_one_answer(server, api, repo_id):
    api.create_repo(repo_id)
    _sharded(api, repo_id)
    meta = api.get_sharded_safetensors_metadata(repo_id)
    assert meta.sharded and meta.metadata == {"total_size": 1234}
    assert meta.weight_map == {"a.weight": "model-00001-of-00002.safetensors",
                               "a.bias": "model-00001-of-00002.safetensors",
                               "b.weight": "model-00002-of-00002.safetensors"}
    first = meta.files_metadata["model-00001-of-00002.safetensors"]
    assert first.metadata == {"format": "pt"}
    assert first.tensors["a.weight"].shape == [4, 3] and first.tensors["a.bias"].data_offsets == (48, 64)
    assert meta.files_metadata["model-00002-of-00002.safetensors"].tensors["b.weight"].shape == [2, 2]
    assert meta.parameter_count == {"F32": 20}
    # the same answer as the client's own reading of every shard header with range requests
    assert api.get_safetensors_metadata(repo_id).files_metadata == meta.files_metadata
    # an index in a folder names shards next to it
    _sharded(api, repo_id, folder="sub/")
    sub = api.get_sharded_safetensors_metadata(repo_id, filename="sub/model.safetensors.index.json")
    assert sub.files_metadata == meta.files_metadata


def test_a_private_repo_is_audited_and_hidden_from_outsiders(server, api, user):
    repo_id = f"{user[0]}/p{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id, private=True)
    _sharded(api, repo_id)
    assert api.get_sharded_safetensors_metadata(repo_id).parameter_count == {"F32": 20}
    with server.stores.db.read() as conn:
        rows = conn.execute(select(audit_log.c.action, audit_log.c.path).where(audit_log.c.repo == repo_id)
                            .where(audit_log.c.action == "file.download")).all()
    assert [tuple(r) for r in rows] == [("file.download", "model.safetensors.index.json")]
    outsider = server.make_user()
    with pytest.raises(RepositoryNotFoundError):
        server.api(server.make_token(outsider, "read")).get_sharded_safetensors_metadata(repo_id)


def test_a_broken_index_or_shard_is_refused_naming_the_file(server, api, repo_id):
    api.create_repo(repo_id)
    api.create_commit(repo_id, [
        CommitOperationAdd("missing.index.json", json.dumps({"weight_map": {"x": "gone.safetensors"}}).encode()),
        CommitOperationAdd("bad.safetensors", struct.pack("<Q", 1 << 40) + b"{}"),
        CommitOperationAdd("bad.index.json", json.dumps({"weight_map": {"x": "bad.safetensors"}}).encode()),
        CommitOperationAdd("nomap.index.json", b'{"metadata": {}}'),
        CommitOperationAdd("notjson.index.json", b"{nope"),
    ], commit_message="broken")
    with pytest.raises(EntryNotFoundError, match="gone.safetensors"):
        api.get_sharded_safetensors_metadata(repo_id, filename="missing.index.json")
    with pytest.raises(BadRequestError, match="bad.safetensors"):
        api.get_sharded_safetensors_metadata(repo_id, filename="bad.index.json")
    with pytest.raises(BadRequestError, match="weight_map"):
        api.get_sharded_safetensors_metadata(repo_id, filename="nomap.index.json")
    with pytest.raises(BadRequestError, match="not valid JSON"):
        api.get_sharded_safetensors_metadata(repo_id, filename="notjson.index.json")
    with pytest.raises(BadRequestError, match="index"):
        api.get_sharded_safetensors_metadata(repo_id, filename="bad.safetensors")
    with pytest.raises(EntryNotFoundError):
        api.get_sharded_safetensors_metadata(repo_id, filename="none.index.json")


def test_model_info_counts_the_parameters_of_safetensors_weights(server, api, repo_id):
    api.create_repo(repo_id)
    assert api.model_info(repo_id).safetensors is None  # no weights
    api.upload_file(path_or_fileobj=_shard({"w": [3, 5], "b": [5]}), path_in_repo="model.safetensors",
                    repo_id=repo_id)
    single = api.model_info(repo_id).safetensors
    assert (single.parameters, single.total) == ({"F32": 20}, 20)
    _sharded(api, repo_id)  # an index: its shards are the weights (20 parameters, one shard a large file)
    sharded = api.model_info(repo_id)
    assert (sharded.safetensors.parameters, sharded.safetensors.total) == ({"F32": 20}, 20)
    assert api.model_info(repo_id, revision=api.list_repo_commits(repo_id)[1].commit_id).safetensors == single
    api.upload_file(path_or_fileobj=b'{"weight_map": {"x": "gone.safetensors"}}',
                    path_in_repo="model.safetensors.index.json", repo_id=repo_id)
    assert api.model_info(repo_id).safetensors is None  # a broken index: model info still answers, without it
