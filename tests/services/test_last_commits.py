"""services/files.last_commits: for each path, the newest first-parent commit that changed it, in one bounded walk.

On random histories (adds, modifications, deletes and re-adds, folder renames, a file replacing a folder and back,
identical content committed again, nested folders, merge commits) the answer equals the straightforward algorithm
it replaced (kept below as `reference`) and `git log --first-parent -1 -- PATH` run by the real git on the very
same objects (they are git objects byte for byte). Its cost is counted in object-store reads, not timed: 1,000
paths over 500 commits cost a few reads per commit, not one per path per commit. SQLite and PostgreSQL.
"""

from __future__ import annotations

import subprocess
import uuid
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inhouse.access.identity import Principal, authenticate
from inhouse.services import commits, files, repos, users
from inhouse.services.commits import AddFile, DeleteFile, DeleteFolder, Operation
from inhouse.services.context import Stores
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.last_change import last_changes
from inhouse.storage.git.objects import Commit, Signature
from inhouse.storage.git.trees import TreeEditor
from inhouse.vocabulary import RepoType, TokenRole
from tests.support.last_commits import old_last_commits

# ---------------------------------------------------------------------------------------------------------------
reference = old_last_commits  # the oracle: tests/support/last_commits.py


def new(stores: Stores, head: str, paths: list[str], **budget: int) -> dict[str, str]:
    return {p: v.oid for p, v in files.last_commits(stores, head, paths, **budget).items()}


# ---------------------------------------------------------------------------------------------------------------
# Building histories through the services


def _principal(stores: Stores) -> Principal:
    name = f"u{uuid.uuid4().hex[:8]}"
    users.create_user(stores, name)
    _, secret = users.create_token(stores, name, role=TokenRole.WRITE)
    return authenticate(stores.db, secret, ip="127.0.0.1", request_id=uuid.uuid4().hex)


def _repo(stores: Stores, p: Principal) -> RepoRecord:
    return repos.create(stores, p, repo_type=RepoType.MODEL, namespace=None, name=f"r{uuid.uuid4().hex[:8]}")


def _head(stores: Stores, repo: RepoRecord) -> str:
    with stores.db.read() as conn:
        head = repo_store.get_ref(conn, repo.id, "refs/heads/main")
    assert head is not None
    return head


SIG = Signature("t", "t@example.com", 1_700_000_000)


def _write(stores: Stores, repo: RepoRecord, base: str | None, ops: list[Operation], message: str,
           extra_parent: str | None = None) -> str:
    """A commit of `ops` on `base` (what the commit service writes); with extra_parent, a merge of it."""
    with stores.db.write() as conn:
        sha = commits.write_commit(stores, conn, repo, base=base, ops=ops, message=message + "\n", author=SIG)
        if extra_parent is None:
            return sha
        tree = stores.objects.commit(conn, sha).tree
        parents = ((base,) if base else ()) + (extra_parent,)
        merge = stores.objects.put_commit(conn, Commit(tree, parents, SIG, SIG, message + "\n"))
        repo_store.add_commit(conn, repo.id, merge)
        return merge


# A random history is a list of steps over a model of the repo (path -> content). Names: folders 'd' and 'e',
# files 'd', 'x' and 'y', so that a file may replace a folder and a folder a file. Contents come from a tiny
# alphabet, so the same content is committed again often (same blob: no change).

NAMES = st.sampled_from(["d", "x", "y"])
FOLDERS = st.lists(st.sampled_from(["d", "e"]), max_size=2)
PATHS = st.builds(lambda fs, n: "/".join([*fs, n]), FOLDERS, NAMES)
CONTENT = st.sampled_from([b"1", b"2", b"3"])
STEP = st.one_of(
    st.tuples(st.just("put"), st.lists(st.tuples(PATHS, CONTENT), min_size=1, max_size=3)),
    st.tuples(st.just("delete"), st.integers(0, 50)),
    st.tuples(st.just("delete_folder"), st.integers(0, 50)),
    st.tuples(st.just("rename_folder"), st.integers(0, 50), PATHS),
    st.tuples(st.just("same"), st.integers(0, 50)),
    st.tuples(st.just("merge"), st.integers(0, 50), st.lists(st.tuples(PATHS, CONTENT), min_size=1, max_size=2),
              st.booleans()),
)


def _folders(state: dict[str, bytes]) -> list[str]:
    return sorted({"/".join(p.split("/")[:i]) for p in state for i in range(1, p.count("/") + 1)})


def _put(state: dict[str, bytes], path: str, content: bytes) -> list[Operation]:
    """The operations that put `path` as git would: a file in the way of its folders, or a folder where the file
    goes, is deleted in the same commit."""
    ops: list[Operation] = []
    parts = path.split("/")
    for i in range(1, len(parts)):
        prefix = "/".join(parts[:i])
        if prefix in state:
            ops.append(DeleteFile(prefix))
            del state[prefix]
    if any(p.startswith(path + "/") for p in state):
        ops.append(DeleteFolder(path))
        for p in [p for p in state if p.startswith(path + "/")]:
            del state[p]
    ops.append(AddFile(path, content))
    state[path] = content
    return ops


def _ops(state: dict[str, bytes], step: tuple[Any, ...]) -> list[Operation]:
    """The operations of one step, applied to `state`; [] when the step does not apply to this state."""
    kind = step[0]
    if kind in ("put", "merge"):
        return [op for path, content in step[2 if kind == "merge" else 1] for op in _put(state, path, content)]
    if kind in ("delete", "same"):
        if not state:
            return []
        path = sorted(state)[step[1] % len(state)]
        if kind == "same":
            return [AddFile(path, state[path])]
        del state[path]
        return [DeleteFile(path)]
    folders = _folders(state)
    if not folders:
        return []
    folder = folders[step[1] % len(folders)]
    moved = {p: c for p, c in state.items() if p.startswith(folder + "/")}
    for p in moved:
        del state[p]
    ops: list[Operation] = [DeleteFolder(folder)]
    if kind == "rename_folder":
        target = step[2]
        if target.startswith(folder + "/") or target == folder:
            target = "e/" + target  # never into itself
        for p, c in moved.items():
            ops += _put(state, target + p[len(folder):], c)
    return ops


def _build(stores: Stores, repo: RepoRecord, steps: list[tuple[Any, ...]]) -> tuple[str, set[str]]:
    """Commits the steps on top of the repo's initial commit; returns the head and every path ever named."""
    head = _head(stores, repo)
    handle = files.open_file(stores, repo, head, ".gitattributes")
    assert handle.content is not None
    same: list[Operation] = [AddFile(".gitattributes", handle.content)]  # a commit that changes nothing
    chain = [head]  # first-parent history, oldest first
    states = {head: {".gitattributes": handle.content}}  # the model of each commit's tree
    seen = {".gitattributes"}
    for i, step in enumerate(steps):
        state = dict(states[head])
        if step[0] == "merge":
            # A side branch from an older commit of the chain, merged back: the merge's tree is the side's
            # changes applied to the head (step[3]) or the head's tree unchanged ("ours").
            base = chain[step[1] % len(chain)]
            side_state = dict(states[base])
            side = _write(stores, repo, base, _ops(side_state, step), f"side {i}")
            seen.update(side_state)
            ops = _ops(state, step) if step[3] else []
            head = _write(stores, repo, head, ops or same, f"merge {i}", extra_parent=side)
        else:
            ops = _ops(state, step) or same
            head = _write(stores, repo, head, ops, f"step {i}")
        chain.append(head)
        states[head] = state
        seen.update(state)
    return head, seen | {f for s in states.values() for f in _folders(s)}


def _export(stores: Stores, head: str, git_dir: Path) -> None:
    """Writes every object reachable from `head` into a bare git repository, as loose objects."""
    subprocess.run(["git", "init", "-q", "--bare", str(git_dir)], check=True)
    todo, done = [head], set()
    with stores.db.read() as conn:
        while todo:
            sha = todo.pop()
            if sha in done:
                continue
            done.add(sha)
            kind, body = stores.objects.get(conn, sha)
            folder = git_dir / "objects" / sha[:2]
            folder.mkdir(exist_ok=True)
            (folder / sha[2:]).write_bytes(zlib.compress(f"{kind} {len(body)}\0".encode() + body))
            if kind == "commit":
                c = stores.objects.commit(conn, sha)
                todo += [c.tree, *c.parents]
            elif kind == "tree":
                todo += [e.sha for e in stores.objects.tree(conn, sha)]
    (git_dir / "refs" / "heads" / "main").write_text(head + "\n")


def _git_last_change(git_dir: Path, head: str, path: str) -> str | None:
    out = subprocess.run(["git", "--git-dir", str(git_dir), "--literal-pathspecs", "log", "--first-parent",
                          "-1", "--format=%H", head, "--", path], check=True, capture_output=True, text=True)
    return out.stdout.strip() or None


# ---------------------------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(steps=st.lists(STEP, min_size=1, max_size=14), data=st.data())
def test_random_histories_match_the_old_algorithm_and_git(stores: Stores, tmp_path_factory: pytest.TempPathFactory,
                                                          steps: list[tuple[Any, ...]], data: st.DataObject
                                                          ) -> None:
    p = _principal(stores)
    repo = _repo(stores, p)
    head, seen = _build(stores, repo, steps)
    paths = sorted(seen) + ["missing", "d/missing", "x/y", "", "d/"]

    got = new(stores, head, paths)
    assert got == reference(stores, head, paths)
    for path in paths:  # one path at a time: a few names looked up in big trees, rather than a diff of the trees
        assert new(stores, head, [path]) == ({path: got[path]} if path in got else {}), path

    git_dir = tmp_path_factory.mktemp("git") / "repo.git"
    _export(stores, head, git_dir)
    for path in sorted(seen):
        assert got.get(path) == _git_last_change(git_dir, head, path), path

    # A smaller budget of commits answers exactly what the old algorithm answered with that depth.
    depth = data.draw(st.integers(1, len(steps) + 1), label="max_commits")
    assert new(stores, head, paths, max_commits=depth) == reference(stores, head, paths, max_depth=depth)
    # A smaller budget of tree entries answers a part of the truth, never a wrong commit.
    entries = data.draw(st.integers(0, 60), label="max_tree_entries")
    partial = new(stores, head, paths, max_tree_entries=entries)
    assert partial.items() <= got.items()


def test_paths_unchanged_since_the_first_commit_get_the_first_commit(stores: Stores) -> None:
    p = _principal(stores)
    repo = _repo(stores, p)
    first = _head(stores, repo)
    r = commits.commit(stores, p, repo, revision="main", ops=[AddFile("a/b/c.txt", b"1")], summary="add")
    r2 = commits.commit(stores, p, repo, revision="main", ops=[AddFile("a/b/c.txt", b"1")], summary="same again")
    r3 = commits.commit(stores, p, repo, revision="main", ops=[AddFile("z.txt", b"z")], summary="z")
    got = files.last_commits(stores, r3.oid, [".gitattributes", "a", "a/b", "a/b/c.txt", "z.txt", "nope"])
    assert {k: v.oid for k, v in got.items()} == {".gitattributes": first, "a": r.oid, "a/b": r.oid,
                                                   "a/b/c.txt": r.oid, "z.txt": r3.oid}
    assert got["z.txt"].commit.title == "z" and r2.oid not in {v.oid for v in got.values()}


def _counting(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts the object store's reads: raw objects (`get`, a database query), and decoded trees and commits
    (`tree`, `commit`, cached or not; a cache miss counts its `get` too)."""
    counts = {"get": 0, "tree": 0, "commit": 0}
    for kind in counts:
        real: Callable[..., Any] = getattr(stores.objects, kind)

        def counted(conn: Any, sha: str, _real: Callable[..., Any] = real, _kind: str = kind) -> Any:
            counts[_kind] += 1
            return _real(conn, sha)

        monkeypatch.setattr(stores.objects, kind, counted)
    return counts


def test_cost_is_a_few_reads_per_commit_not_per_path(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    """1,000 paths (half at the root, half in ten folders) x 500 commits that each change one file."""
    p = _principal(stores)
    repo = _repo(stores, p)
    paths = [f"f{i:03d}.txt" for i in range(500)] + [f"d{i % 10}/g{i:03d}.txt" for i in range(500)]
    added = commits.commit(stores, p, repo, revision="main", ops=[AddFile(x, b"0") for x in paths],
                           summary="add all").oid
    changed: dict[str, str] = {}
    for i in range(500):
        path = paths[i // 2] if i % 2 == 0 else paths[500 + i // 2]  # root and nested files, in turn
        changed[path] = commits.commit(stores, p, repo, revision="main", ops=[AddFile(path, f"v{i}".encode())],
                                       summary=f"c{i}").oid
    head = _head(stores, repo)
    history = 502  # the initial commit, "add all", 500 changes

    counts = _counting(stores, monkeypatch)
    got = files.last_commits(stores, head, paths)
    reads = sum(counts.values())
    assert {k: v.oid for k, v in got.items()} == {x: changed.get(x, added) for x in paths}
    # Per commit: the parent commit, its root tree, and for a nested change that folder on both sides.
    # (The old algorithm made two lookups of every pending path in every commit: over 500,000 here.)
    assert reads <= 4 * history, counts

    with stores.db.read() as conn:
        work = last_changes(stores.objects, conn, head, paths, max_commits=10_000, max_entries=10**9).work
    # Each commit reads the parent's root tree (its own was read as the previous commit's parent), and for a
    # nested change the folder on both sides: three trees every other commit, one in between.
    assert work.commits == history and work.trees <= 2 * history + 10
    root_entries = 500 + 10 + 1  # the root files, the ten folders, .gitattributes
    assert work.entries <= (history + 1) * (root_entries + 1) + history * (50 + 1)


def test_budget_answers_what_it_knows_and_stops(stores: Stores) -> None:
    p = _principal(stores)
    repo = _repo(stores, p)
    paths = [f"f{i}.txt" for i in range(100)]
    commits.commit(stores, p, repo, revision="main", ops=[AddFile(x, b"0") for x in paths], summary="add all")
    recent = {}
    for i in range(20):
        recent[paths[i]] = commits.commit(stores, p, repo, revision="main", ops=[AddFile(paths[i], b"1")],
                                          summary=f"c{i}").oid
    head = _head(stores, repo)
    truth = new(stores, head, paths)
    assert len(truth) == 100

    # 10 commits back: the 10 newest changes are known, the other 90 paths are left out.
    assert new(stores, head, paths, max_commits=10) == {x: recent[x] for x in paths[10:20]}
    # Room for about 5 root trees of 100 entries: what is answered is right, and the walk stopped early.
    with stores.db.read() as conn:
        r = last_changes(stores.objects, conn, head, paths, max_commits=2000, max_entries=500)
    assert not r.complete and r.work.entries <= 500 + 101 and 0 < len(r.changed_in) < 100
    assert r.changed_in.items() <= truth.items()
    # Without arguments the budget is the server's settings.
    tight = replace(stores, settings=replace(stores.settings, last_commit_max_commits=5))
    assert new(tight, head, paths) == {x: recent[x] for x in paths[15:20]}
    tight = replace(stores, settings=replace(stores.settings, last_commit_max_tree_entries=500))
    assert new(tight, head, paths) == {p: r.changed_in[p] for p in r.changed_in}
