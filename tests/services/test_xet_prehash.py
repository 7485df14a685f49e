"""The SHA-256 of a Xet upload taken while its xorbs arrive (`xet_prehash`): used when the shard names the
uploader's xorbs whole and in the order they came, and then just as strict as reading the file back; any other
shape of upload is read back as before. On SQLite and PostgreSQL. The chains and their thread are the runtime's
(`stores.runtime.prehash`), started here as the app's lifespan does; `used` counts the files that took a chain's
hash."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import AsyncIterator, Iterator

import anyio
import pytest

from inhouse.access.identity import principal_by_token_id
from inhouse.errors import IntegrityError
from inhouse.services import repos as repo_service
from inhouse.services import users
from inhouse.services.largefiles import xet as xet_service
from inhouse.services.context import Stores
from inhouse.services.largefiles.xet_tokens import CasCaller, XetGrant
from inhouse.storage.db import xet as xet_store
from inhouse.storage.xet import (
    CompressionScheme,
    FileInfo,
    FileSegment,
    Shard,
    XorbEntry,
    build_xorb,
    chunk_boundaries,
    compute_chunk_hash,
    compute_file_hash,
    compute_verification_hash,
    serialize_shard,
)
from inhouse.vocabulary import RepoType, TokenRole
from tests.support.data import random_bytes


@pytest.fixture
def stores(stores: Stores) -> Iterator[Stores]:
    """The stores of conftest.py, with their runtime started as the app's lifespan starts it."""
    stores.runtime.start(stores)
    yield stores
    stores.runtime.stop()


def used(stores: Stores) -> int:
    return stores.runtime.prehash.used


def writer(stores: Stores, name: str = "w") -> CasCaller:
    users.create_user(stores, name)
    token, _ = users.create_token(stores, name, role=TokenRole.WRITE)
    p = principal_by_token_id(stores.db, token.id)
    repo = repo_service.create(stores, p, repo_type=RepoType.MODEL, namespace=name, name="m")
    return CasCaller(repo, p, XetGrant(repo.id, "write", "write", token.id, int(time.time()) + 3600))


class Built:
    """A file cut into xorbs of about `per_xorb` chunks, and the shard hf_xet would send for it."""

    def __init__(self, data: bytes, per_xorb: int, sha256: bytes | None = None):
        ends = chunk_boundaries(data)
        chunks = [data[a:b] for a, b in zip([0, *ends[:-1]], ends)]
        self.data = data
        self.xorbs = [build_xorb(chunks[i : i + per_xorb], CompressionScheme.LZ4)
                      for i in range(0, len(chunks), per_xorb)]
        segments, checks = [], []
        for i, x in zip(range(0, len(chunks), per_xorb), self.xorbs):
            part = chunks[i : i + per_xorb]
            segments.append(FileSegment(x.hash, 0, len(part), sum(map(len, part))))
            checks.append(compute_verification_hash([compute_chunk_hash(c) for c in part]))
        self.file_hash = compute_file_hash([(compute_chunk_hash(c), len(c)) for c in chunks])
        info = FileInfo(self.file_hash, segments, checks, sha256 or hashlib.sha256(data).digest())
        self.shard = serialize_shard(Shard([info], [XorbEntry.from_xorb_info(x.info) for x in self.xorbs]))


async def _body(data: bytes) -> AsyncIterator[bytes]:
    for i in range(0, len(data), 1 << 16):
        yield data[i : i + (1 << 16)]


def send_xorbs(stores: Stores, caller: CasCaller, built: Built, order: list[int] | None = None) -> None:
    for i in order if order is not None else range(len(built.xorbs)):
        x = built.xorbs[i]
        anyio.run(xet_service.upload_xorb, stores, caller, x.hash.to_hex(), _body(x.data), len(x.data))


def stored_sha256(stores: Stores, built: Built) -> str | None:
    with stores.db.read() as conn:
        f = xet_store.file_by_hash(conn, built.file_hash.to_hex())
    return f.sha256 if f is not None else None


def test_xorbs_in_file_order_are_hashed_as_they_arrive(stores: Stores) -> None:
    caller = writer(stores)
    built = Built(random_bytes(1_500_000, 1), per_xorb=6)
    assert len(built.xorbs) >= 3
    before = used(stores)
    send_xorbs(stores, caller, built)
    assert xet_service.upload_shard(stores, caller, built.shard) == 1
    assert used(stores) == before + 1  # the chain's hash was taken: no read-back
    assert stored_sha256(stores, built) == hashlib.sha256(built.data).hexdigest()


def test_a_wrong_claimed_sha256_is_refused_on_the_fast_path_too(stores: Stores) -> None:
    caller = writer(stores)
    built = Built(random_bytes(900_000, 2), per_xorb=5, sha256=hashlib.sha256(b"something else").digest())
    send_xorbs(stores, caller, built)
    before = used(stores)
    with pytest.raises(IntegrityError) as e:
        xet_service.upload_shard(stores, caller, built.shard)
    assert used(stores) == before + 1 and "claims sha256" in e.value.message
    assert stored_sha256(stores, built) is None


def test_any_other_order_is_read_back_and_still_checked(stores: Stores) -> None:
    caller = writer(stores)
    built = Built(random_bytes(1_200_000, 3), per_xorb=5)
    assert len(built.xorbs) >= 3
    order = list(range(len(built.xorbs)))
    order[0], order[1] = order[1], order[0]  # two xorbs arrived swapped (parallel uploads)
    before = used(stores)
    send_xorbs(stores, caller, built, order)
    assert xet_service.upload_shard(stores, caller, built.shard) == 1
    assert used(stores) == before  # the chain did not match: the file was read back
    assert stored_sha256(stores, built) == hashlib.sha256(built.data).hexdigest()

    # a second file from the same uploader starts a fresh chain after the shard, and takes it again
    again = Built(random_bytes(700_000, 4), per_xorb=4)
    send_xorbs(stores, caller, again)
    assert xet_service.upload_shard(stores, caller, again.shard) == 1
    assert used(stores) == before + 1
    assert stored_sha256(stores, again) == hashlib.sha256(again.data).hexdigest()


def test_another_uploaders_xorbs_do_not_join_the_chain(stores: Stores) -> None:
    alice, bob = writer(stores, "alice"), writer(stores, "bob")
    a, b = Built(random_bytes(800_000, 5), per_xorb=4), Built(random_bytes(800_000, 6), per_xorb=4)
    for i in range(max(len(a.xorbs), len(b.xorbs))):  # interleaved, as two users uploading at once
        if i < len(a.xorbs):
            send_xorbs(stores, alice, a, [i])
        if i < len(b.xorbs):
            send_xorbs(stores, bob, b, [i])
    before = used(stores)
    assert xet_service.upload_shard(stores, alice, a.shard) == 1
    assert xet_service.upload_shard(stores, bob, b.shard) == 1
    assert used(stores) == before + 2
    assert stored_sha256(stores, a) == hashlib.sha256(a.data).hexdigest()
    assert stored_sha256(stores, b) == hashlib.sha256(b.data).hexdigest()


def test_a_last_xorb_that_overtook_the_one_before_only_reads_back_the_tail(stores: Stores,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """What hf_xet does with its small last xorb: it is uploaded alongside the one before and often lands first."""
    caller = writer(stores)
    built = Built(random_bytes(1_500_000, 7), per_xorb=6)
    n = len(built.xorbs)
    assert n >= 3
    read_back: list[int] = []
    real = xet_service.xet_content.file_sha256

    def spy(stores_, file, xorbs=None, hasher=None):  # type: ignore[no-untyped-def]
        read_back.append(len(file.segments))
        return real(stores_, file, xorbs, hasher)

    monkeypatch.setattr(xet_service.xet_content, "file_sha256", spy)
    before = used(stores)
    send_xorbs(stores, caller, built, [*range(n - 2), n - 1, n - 2])
    assert xet_service.upload_shard(stores, caller, built.shard) == 1
    assert used(stores) == before + 1 and read_back == [2]  # only the two swapped xorbs were read back
    assert stored_sha256(stores, built) == hashlib.sha256(built.data).hexdigest()


def test_a_runtime_that_was_not_started_follows_no_chain_and_still_checks(stores: Stores) -> None:
    """What the CLI and services without an app get: no thread, every file read back (and checked)."""
    stores.runtime.stop()
    assert not stores.runtime.started
    caller = writer(stores)
    built = Built(random_bytes(900_000, 8), per_xorb=5)
    send_xorbs(stores, caller, built)
    assert len(stores.runtime.prehash) == 0
    assert xet_service.upload_shard(stores, caller, built.shard) == 1
    assert used(stores) == 0
    assert stored_sha256(stores, built) == hashlib.sha256(built.data).hexdigest()


def test_stopping_drops_the_chains_and_joins_the_thread(stores: Stores) -> None:
    caller = writer(stores)
    built = Built(random_bytes(900_000, 9), per_xorb=5)
    send_xorbs(stores, caller, built)
    assert len(stores.runtime.prehash) == 1
    hashing = [t for t in threading.enumerate() if t.name.startswith("inhouse-xet-prehash")]
    assert hashing
    stores.runtime.stop()
    assert len(stores.runtime.prehash) == 0
    assert not any(t.is_alive() for t in hashing)  # joined, not left behind
    assert xet_service.upload_shard(stores, caller, built.shard) == 1  # read back, and checked
    assert used(stores) == 0
