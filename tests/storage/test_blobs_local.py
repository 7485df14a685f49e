"""LocalBlobStore: verify-then-rename uploads, nothing kept on a mismatch, ranged reads, crash leftovers."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from inhouse.errors import IntegrityError
from inhouse.storage.blobs.local import LocalBlobStore, check_oid


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _upload(store: LocalBlobStore, data: bytes, piece: int = 4096) -> str:
    up = store.begin()
    for i in range(0, len(data), piece):
        up.write(data[i : i + piece])
    return up.commit(hashlib.sha256(data).hexdigest(), len(data))


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "lfs")


def test_upload_commit_publishes_under_the_sha256(store: LocalBlobStore) -> None:
    data = os.urandom(300_000)
    oid = hashlib.sha256(data).hexdigest()
    up = store.begin()
    for i in range(0, len(data), 65_536):
        up.write(data[i : i + 65_536])
        assert not store.exists(oid)  # nothing is visible before commit
    assert up.size == len(data) and up.sha256() == oid
    assert up.commit(expected_oid=oid, expected_size=len(data)) == oid
    assert store.exists(oid) and store.size(oid) == len(data)
    assert store.local_path(oid) == store.objects / oid[:2] / oid[2:4] / oid
    assert b"".join(store.read(oid)) == data
    assert _files(store.tmp) == []  # the temporary file was renamed, not copied
    assert _files(store.root) == [store.objects / oid[:2] / oid[2:4] / oid]


def test_commit_without_expectations_and_empty_object(store: LocalBlobStore) -> None:
    up = store.begin()
    oid = up.commit()
    assert oid == hashlib.sha256(b"").hexdigest() and store.size(oid) == 0
    assert list(store.read(oid)) == []


def test_uploading_the_same_content_twice_keeps_one_object(store: LocalBlobStore) -> None:
    data = b"same bytes" * 1000
    assert _upload(store, data) == _upload(store, data, piece=7)
    assert len(_files(store.objects)) == 1 and _files(store.tmp) == []


def test_hash_mismatch_keeps_nothing(store: LocalBlobStore) -> None:
    up = store.begin()
    up.write(b"actual content")
    wrong = hashlib.sha256(b"announced content").hexdigest()
    with pytest.raises(IntegrityError, match="not the announced"):
        up.commit(expected_oid=wrong, expected_size=len(b"actual content"))
    assert not store.exists(wrong) and not store.exists(hashlib.sha256(b"actual content").hexdigest())
    assert _files(store.root) == []


def test_size_mismatch_keeps_nothing(store: LocalBlobStore) -> None:
    data = b"twelve bytes"
    oid = hashlib.sha256(data).hexdigest()
    up = store.begin()
    up.write(data)
    with pytest.raises(IntegrityError, match="13 were announced"):
        up.commit(expected_oid=oid, expected_size=13)  # right hash, wrong size: still refused
    assert not store.exists(oid) and _files(store.root) == []


def test_abort_discards_the_upload(store: LocalBlobStore) -> None:
    up = store.begin()
    up.write(b"half an upload")
    assert len(_files(store.tmp)) == 1
    up.abort()
    up.abort()  # twice is harmless
    assert _files(store.root) == []


def test_ranged_reads(store: LocalBlobStore) -> None:
    data = bytes(range(256)) * 40  # 10240 bytes, every offset distinguishable
    oid = _upload(store, data)
    cases = [(0, None), (0, 1), (1, 2), (100, 5000), (10_239, None), (10_239, 10_240), (5000, 5000), (10_240, None),
             (0, 10_240)]
    for start, end in cases:
        assert b"".join(store.read(oid, start, end)) == data[start:end], (start, end)
    chunks = list(store.read(oid, 10, 1000, chunk_size=100))
    assert [len(c) for c in chunks] == [100] * 9 + [90] and b"".join(chunks) == data[10:1000]
    assert b"".join(store.read(oid, 10_000, 20_000)) == data[10_000:]  # an end past the object is clamped


def test_clean_tmp_removes_leftovers_only(store: LocalBlobStore, tmp_path: Path) -> None:
    kept = _upload(store, b"published")
    left = [store.begin() for _ in range(3)]  # uploads a crash interrupted
    for up in left:
        up.write(b"partial")
    (store.tmp / "unrelated.txt").write_bytes(b"not an upload")
    assert store.clean_tmp() == 3
    assert _files(store.tmp) == [store.tmp / "unrelated.txt"]
    assert store.exists(kept) and b"".join(store.read(kept)) == b"published"
    assert store.clean_tmp() == 0
    # a store opened again on the same folder sees the same objects
    assert LocalBlobStore(tmp_path / "lfs").size(kept) == len(b"published")


def test_delete_and_missing_objects(store: LocalBlobStore) -> None:
    oid = _upload(store, b"to delete")
    store.delete(oid)
    store.delete(oid)  # deleting a missing object is a no-op
    assert not store.exists(oid) and store.size(oid) is None and store.local_path(oid) is None
    with pytest.raises(FileNotFoundError):
        list(store.read(oid))


@pytest.mark.parametrize("bad", ["", "abc", "A" * 64, "g" * 64, "../" + "a" * 61, "a" * 63 + "/", "a" * 65,
                                 "a" * 64 + "\n"])
def test_object_ids_are_checked_before_touching_the_disk(store: LocalBlobStore, bad: str) -> None:
    with pytest.raises(IntegrityError, match="sha256 object id"):
        check_oid(bad)
    for call in (store.exists, store.size, store.delete, store.local_path):
        with pytest.raises(IntegrityError):
            call(bad)
    with pytest.raises(IntegrityError):
        list(store.read(bad))


def test_xorb_hashes_with_a_trailing_newline_are_refused() -> None:
    from inhouse.storage.blobs.xorbs import check_hash_hex

    assert check_hash_hex("a" * 64) == "a" * 64
    with pytest.raises(ValueError):
        check_hash_hex("a" * 64 + "\n")


def test_scan_folders_are_removed_after_use_and_after_a_crash_but_not_while_in_use(store: LocalBlobStore) -> None:
    import subprocess
    import sys

    with store.scan_dir() as folder:
        (folder / "0").write_bytes(b"bytes a scanner reads")
        assert folder.parent == store.tmp and folder.name.startswith("scan-")
    assert not folder.exists()

    crashed = store.tmp / "scan-crashed"  # what a server killed mid-scan leaves: its lock held by nobody
    crashed.mkdir()
    (crashed / ".lock").touch()
    (crashed / "0").write_bytes(b"x" * 1000)
    in_use = store.tmp / "scan-in-use"  # another live process scanning: it holds the lock
    in_use.mkdir()
    (in_use / ".lock").touch()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
         "fcntl.lockf(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.read()", str(in_use / ".lock")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert store.clean_tmp() == 1
        assert not crashed.exists() and in_use.exists()
    finally:
        holder.kill()
        holder.wait()
    assert store.clean_tmp() == 1 and not in_use.exists()
