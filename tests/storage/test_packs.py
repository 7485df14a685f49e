"""storage/git/packs.py: the object walk of a clone or fetch and the pack streamed from the stored bodies.

The packs are checked by the real `git index-pack` (whole objects and the tree deltas, every id recomputed by git),
and their content against the store; the tree fast path (parse only what differs from a reference tree) is checked
against a full parse on trees built to confuse it.
"""

from __future__ import annotations

import os
import random
import subprocess
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.pack import apply_delta
from hypothesis import given, settings
from hypothesis import strategies as st

from inhouse.access.identity import Principal, authenticate
from inhouse.services import commits, repos, users
from inhouse.services.commits import AddFile, DeleteFile
from inhouse.services.context import Stores
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git import packs, tree_diff
from inhouse.storage.git.objects import MODE_EXEC, MODE_FILE, MODE_LINK, MODE_TREE, TreeEntry, encode_tree
from inhouse.vocabulary import RepoType, TokenRole


def _principal(stores: Stores) -> Principal:
    name = f"u{uuid.uuid4().hex[:8]}"
    users.create_user(stores, name)
    _, secret = users.create_token(stores, name, role=TokenRole.WRITE)
    return authenticate(stores.db, secret, ip="127.0.0.1", request_id=uuid.uuid4().hex)


def _history(stores: Stores, n: int = 12) -> tuple[RepoRecord, list[str]]:
    """A repo with 60 files in folders, then one change per commit (a delete among them); its commits, newest
    first."""
    p = _principal(stores)
    repo = repos.create(stores, p, repo_type=RepoType.MODEL, namespace=None, name="r")
    paths = [f"d{i % 3}/sub{i % 2}/f{i}.txt" if i % 4 else f"top{i}.txt" for i in range(60)]
    commits.commit(stores, p, repo, revision="main", ops=[AddFile(x, f"{x}\n".encode()) for x in paths],
                   summary="all")
    for i in range(n):
        ops = [DeleteFile(paths[i])] if i == 5 else [AddFile(paths[(i * 7) % 60], f"v{i}\n".encode())]
        commits.commit(stores, p, repo, revision="main", ops=ops, summary=f"c{i}")
    with stores.db.read() as conn:
        head = repo_store.get_ref(conn, repo.id, "refs/heads/main")
        assert head is not None
        graph = packs.repo_commit_graph(conn, repo.id)
    order, sha = [], head
    while True:
        order.append(sha)
        if not graph[sha].parents:
            return repo, order
        sha = graph[sha].parents[0]


def _pack(stores: Stores, plan: packs.Plan) -> bytes:
    def read(shas: list[str]) -> Iterator[tuple[list[str], dict[str, tuple[str, int, bytes]]]]:
        with stores.db.read() as conn:
            sizes = packs.sizes_of(conn, shas)
        for group in packs.by_size(shas, sizes, budget=2000):  # tiny groups: many reads per batch
            with stores.db.read() as conn:
                yield group, packs.read_stored(conn, group)

    return b"".join(packs.write_pack(read, plan.objects, dict(plan.cache), plan.deltas, chunk_bytes=1000))


def _index(tmp_path: Path, data: bytes, *, thin_base: Path | None = None) -> dict[str, bytes]:
    """The objects of a pack as git reads them (git recomputes every id): id → `type\\0body`."""
    repo = thin_base or tmp_path / f"g{uuid.uuid4().hex[:6]}"
    if thin_base is None:
        subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    args = ["git", "index-pack", "--stdin", "--strict"] + (["--fix-thin"] if thin_base else [])
    subprocess.run(args, input=data, cwd=repo, check=True, capture_output=True)
    listed = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch-check=%(objectname)"], cwd=repo,
                            check=True, capture_output=True, text=True).stdout.split()
    out = {}
    for sha in listed:
        kind = subprocess.run(["git", "cat-file", "-t", sha], cwd=repo, capture_output=True, text=True).stdout.strip()
        body = subprocess.run(["git", "cat-file", kind, sha], cwd=repo, capture_output=True).stdout
        out[sha] = kind.encode() + b"\0" + body
    return out


def test_a_full_clone_pack_holds_every_reachable_object_as_stored(stores: Stores, tmp_path: Path) -> None:
    repo, history = _history(stores)
    with stores.db.read() as conn:
        plan = packs.plan(conn, repo.id, [history[0]], [], client_shallow=set())
    assert plan.objects[: len(history)] == history  # commits first, newest first
    assert len(set(plan.objects)) == len(plan.objects)
    assert plan.deltas  # trees that differ by one entry from their parent's travel as deltas
    got = _index(tmp_path, _pack(stores, plan))
    assert set(got) == set(plan.objects)
    with stores.db.read() as conn:
        stored = packs.read_stored(conn, plan.objects)
    for sha, (kind, size, data) in stored.items():
        body = zlib.decompress(data)
        assert len(body) == size and got[sha] == kind.encode() + b"\0" + body
    # nothing of the repo is missing: git walks the whole history from the head
    git_dir = next(tmp_path.glob("g*"))
    subprocess.run(["git", "update-ref", "refs/heads/main", history[0]], cwd=git_dir, check=True)
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=git_dir, check=True, capture_output=True)


def test_a_fetch_sends_only_what_the_client_lacks_and_a_thin_pack_completes(stores: Stores, tmp_path: Path) -> None:
    repo, history = _history(stores)
    old = history[4]
    with stores.db.read() as conn:
        first = packs.plan(conn, repo.id, [old], [], client_shallow=set())
        update = packs.plan(conn, repo.id, [history[0]], [old], client_shallow=set(), thin=True)
    assert update.objects[:4] == history[:4] and old not in update.objects
    assert not set(update.objects) & set(first.objects)  # nothing the client has is sent again
    # the thin pack resolves against the client's objects
    client = tmp_path / "client"
    subprocess.run(["git", "init", "-q", "--bare", str(client)], check=True)
    subprocess.run(["git", "index-pack", "--stdin", "--strict"], input=_pack(stores, first), cwd=client, check=True,
                   capture_output=True)
    got = _index(tmp_path, _pack(stores, update), thin_base=client)
    assert set(update.objects) <= set(got)
    subprocess.run(["git", "update-ref", "refs/heads/main", history[0]], cwd=client, check=True)
    subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=client, check=True, capture_output=True)


def test_depth_limits_the_commits_and_names_the_boundary(stores: Stores) -> None:
    repo, history = _history(stores)
    with stores.db.read() as conn:
        one = packs.plan(conn, repo.id, [history[0]], [], client_shallow=set(), depth=1)
        three = packs.plan(conn, repo.id, [history[0]], [history[0]], client_shallow={history[0]}, depth=3)
    assert [o for o in one.objects if o in history] == [history[0]] and one.shallow == [history[0]]
    # deepening a depth-1 clone: the old boundary is unshallowed, its two ancestors come, the new boundary named
    assert three.unshallow == [history[0]]
    assert [o for o in three.objects if o in history] == history[1:3]
    assert three.shallow == [history[2]]
    with stores.db.read() as conn:
        # a shallow client (its history ends at history[2]) fetching new commits: nothing behind its boundary
        newer = packs.plan(conn, repo.id, [history[0]], [history[2]], client_shallow={history[2]})
        # git fetch --deepen=2 (deepen-relative): two more commits behind the boundary
        deeper = packs.plan(conn, repo.id, [history[2]], [history[2]], client_shallow={history[2]}, depth=2,
                            relative=True)
    assert [o for o in newer.objects if o in history] == history[:2] and not newer.shallow
    assert [o for o in deeper.objects if o in history] == history[3:5]
    assert deeper.unshallow == [history[2]] and deeper.shallow == [history[4]]


def test_a_missing_object_is_an_error_not_a_short_pack(stores: Stores) -> None:
    repo, history = _history(stores, n=2)
    with stores.db.read() as conn:
        plan = packs.plan(conn, repo.id, [history[0]], [], client_shallow=set())
    plan.cache.clear()
    with pytest.raises(packs.PackError):
        list(packs.write_pack(lambda shas: iter(()), plan.objects, plan.cache))


# trees: the fast path against a full parse -------------------------------------------------------------------------

_NAMES = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\0/", blacklist_categories=("Cs",)), min_size=1,
            max_size=12),
    st.sampled_from(["40000 x", "100644 y", "a b", "\u00e9t\u00e9", " ", "x" * 200]),
)


def _random_id(rng: random.Random) -> str:
    # ids full of NULs, spaces and digits: the bytes a careless parser trips on
    return bytes(rng.choice(b"\x00 0123456789\xff") for _ in range(20)).hex()


def _entries(rng: random.Random, names: list[str]) -> list[TreeEntry]:
    modes = [MODE_FILE, MODE_EXEC, MODE_LINK, MODE_TREE, "160000"]
    return [TreeEntry(rng.choice(modes), n, _random_id(rng) if rng.random() < 0.5 else os.urandom(20).hex())
            for n in dict.fromkeys(names)]


def _apply(base: bytes, delta: bytes) -> bytes:
    """dulwich's delta application (an independent reading of git's delta format)."""
    return b"".join(apply_delta(base, delta))


def _full(body: bytes) -> set[tuple[bytes, bytes]]:
    return {(m, oid) for m, oid in tree_diff.ENTRY.findall(body)}


@settings(max_examples=200, deadline=None)
@given(names=st.lists(_NAMES, min_size=1, max_size=120), seed=st.integers(0, 2**32), edits=st.integers(1, 4))
def test_the_tree_fast_path_finds_every_entry_a_full_parse_finds(names: list[str], seed: int, edits: int) -> None:
    rng = random.Random(seed)
    entries = _entries(rng, names)
    base_body = encode_tree(entries)
    parsed = tree_diff.Parsed(base_body, tree_diff.boundaries(base_body), 0)
    changed = list(entries)
    for _ in range(edits):
        what = rng.random()
        if what < 0.5 and changed:
            i = rng.randrange(len(changed))
            changed[i] = TreeEntry(changed[i].mode, changed[i].name, os.urandom(20).hex())
        elif what < 0.75 and len(changed) > 1:
            changed.pop(rng.randrange(len(changed)))
        else:
            new = TreeEntry(MODE_FILE, f"new{rng.random()}", os.urandom(20).hex())
            changed.append(new)
    body = encode_tree(changed)
    if body == base_body:
        return
    scan = tree_diff.diff_scan(body, parsed)
    assert scan is not None
    found, new_cps, p, s = scan
    truth = _full(body)
    assert {(m, oid) for m, _, oid in found} | {(m, oid) for m, oid in _full(base_body) if (m, oid) in truth} \
        >= truth
    # every boundary it hands on is a real entry boundary of the new tree
    for c in new_cps:
        assert c == len(body) or tree_diff.ENTRY_NAMED.match(body, c) is not None
        assert c == 0 or c in {m.end() for m in tree_diff.ENTRY_NAMED.finditer(body)}
    # and the delta it makes rebuilds the tree from its reference
    assert _apply(base_body, tree_diff.make_delta(len(base_body), body, p, s)) == body


def test_deltas_of_large_copies_and_inserts_apply() -> None:
    base = os.urandom(20_000_000)
    target = base[:17_000_000] + os.urandom(300) + base[17_000_100:]
    p = tree_diff.common_prefix(target, base, min(len(target), len(base)))
    s = tree_diff.common_suffix(target, base, min(len(target), len(base)) - p)
    assert p >= 17_000_000 and s >= len(base) - 17_000_100
    assert _apply(base, tree_diff.make_delta(len(base), target, p, s)) == target


def test_reads_are_grouped_by_bytes_so_memory_stays_bounded() -> None:
    sizes = {"a": 10, "b": 10, "c": 100, "d": 1, "e": 1}
    assert list(packs.by_size(list("abcde"), sizes, budget=25)) == [["a", "b"], ["c"], ["d", "e"]]
    many = [f"{i:040x}" for i in range(1200)]
    groups = list(packs.by_size(many, {}, budget=10))
    assert [len(g) for g in groups] == [500, 500, 200] and sum(groups, []) == many
