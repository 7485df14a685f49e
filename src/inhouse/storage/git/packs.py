"""What a clone or fetch sends, and the pack that carries it, streamed from the stored objects.

`plan` walks the objects reachable from what the client wants and not from what it has, in batches: the repo's
commit graph in one query (every commit a repo has is listed in repo_commits), then the trees level by level, at
most 500 per query and 32 MiB per read, each tree read once and compared with its reference, the same tree in the
parent commit (storage/git/tree_diff.py: only the entries that differ are parsed). Blobs are never read by the
walk: their ids come from the trees.

`write_pack` then streams a version-2 pack: objects are read back in bounded groups and written as git's pack
entries straight from the stored zlib bodies (the database keeps each object body zlib-compressed, which is
exactly a pack entry's data), so no object is decompressed or recompressed and memory stays flat whatever the
repo's size. A tree that differs from its reference by one stretch of bytes goes as a REF_DELTA against it (when
the reference is in the pack, or on the client for a thin pack), chains capped at 50 as git's pack.depth.
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from dulwich.object_format import SHA1
from dulwich.pack import pack_object_header
from sqlalchemy import Connection, select

from inhouse.storage.db.schema import git_objects, repo_commits
from inhouse.storage.git.tree_diff import (
    GITLINK_MODE,
    TREE_MODE,
    Parsed,
    boundaries,
    diff_scan,
    make_delta,
    subtree,
    tree_index,
)

BATCH = 500  # ids per IN (…) query
READ_BUDGET = 32 * 1024 * 1024  # bytes of object bodies one read brings into memory (one larger object: alone)
TYPE_NUM = {"commit": 1, "tree": 2, "blob": 3, "tag": 4}
MAX_DELTA_DEPTH = 50  # as git's pack.depth
PARSED_BUDGET = 64 * 1024 * 1024  # bodies of parsed trees kept as references
REF_DELTA = 7
CACHE_BUDGET = 64 * 1024 * 1024  # stored bodies of commits and trees kept from the walk for the writer


class PackError(LookupError):
    """An object the walk needs is missing from the store (the repo is damaged)."""


@dataclass(frozen=True)
class CommitNode:
    tree: str
    parents: tuple[str, ...]
    when: int  # committer time, seconds since the epoch


def parse_commit(body: bytes) -> CommitNode:
    """The tree, parents and committer time of a commit body (only its header is read)."""
    end = body.find(b"\n\n")
    head = body if end < 0 else body[:end]
    tree, parents, when = "", [], 0
    for line in head.split(b"\n"):
        if line.startswith(b"tree "):
            tree = line[5:45].decode("ascii")
        elif line.startswith(b"parent "):
            parents.append(line[7:47].decode("ascii"))
        elif line.startswith(b"committer "):
            try:
                when = int(line.rsplit(b" ", 2)[-2])
            except (ValueError, IndexError):
                when = 0
    return CommitNode(tree, tuple(parents), when)


def parse_tag(body: bytes) -> tuple[str, str]:
    """(object id, object kind) an annotated tag points at."""
    obj, kind = "", ""
    for line in body.split(b"\n\n", 1)[0].split(b"\n"):
        if line.startswith(b"object "):
            obj = line[7:47].decode("ascii")
        elif line.startswith(b"type "):
            kind = line[5:].decode("ascii", "replace")
    return obj, kind


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), BATCH):
        yield items[i : i + BATCH]


def repo_commit_graph(conn: Connection, repo_id: int) -> dict[str, CommitNode]:
    """Every commit the repo has: id → (tree, parents, time), in one query streamed in batches."""
    graph: dict[str, CommitNode] = {}
    q = (select(git_objects.c.sha, git_objects.c.data)
         .select_from(repo_commits.join(git_objects, git_objects.c.sha == repo_commits.c.sha))
         .where(repo_commits.c.repo_id == repo_id))
    result = conn.execution_options(yield_per=2000).execute(q)
    for part in result.partitions():
        for row in part:
            graph[row.sha] = parse_commit(zlib.decompress(row.data))
    return graph


def read_stored(conn: Connection, shas: list[str]) -> dict[str, tuple[str, int, bytes]]:
    """id → (kind, size, stored zlib body) of those of `shas` the store has, 500 per query."""
    out: dict[str, tuple[str, int, bytes]] = {}
    for part in _chunks(shas):
        rows = conn.execute(select(git_objects.c.sha, git_objects.c.kind, git_objects.c.size, git_objects.c.data)
                            .where(git_objects.c.sha.in_(part))).all()
        for r in rows:
            out[r.sha] = (str(r.kind), int(r.size), bytes(r.data))
    return out


def sizes_of(conn: Connection, shas: list[str]) -> dict[str, int]:
    """id → stored object size (its body uncompressed) of those of `shas` the store has, 500 per query."""
    out: dict[str, int] = {}
    for part in _chunks(shas):
        for r in conn.execute(select(git_objects.c.sha, git_objects.c.size).where(git_objects.c.sha.in_(part))):
            out[r.sha] = int(r.size)
    return out


def by_size(shas: list[str], sizes: dict[str, int], budget: int = READ_BUDGET) -> Iterator[list[str]]:
    """`shas` in order, in groups of at most 500 whose bodies together stay under `budget` bytes (an object larger
    than that goes alone): what one read may hold in memory."""
    group: list[str] = []
    total = 0
    for sha in shas:
        size = sizes.get(sha, 0)
        if group and (total + size > budget or len(group) >= BATCH):
            yield group
            group, total = [], 0
        group.append(sha)
        total += size
    if group:
        yield group


def read_bounded(conn: Connection, shas: list[str], budget: int = READ_BUDGET
                 ) -> Iterator[tuple[list[str], dict[str, tuple[str, int, bytes]]]]:
    """`shas` read in groups (`by_size`): (group, its stored rows) each, so memory stays bounded whatever the
    objects' sizes."""
    sizes = sizes_of(conn, shas)
    for group in by_size(shas, sizes, budget):
        yield group, read_stored(conn, group)


def repo_holds(conn: Connection, repo_id: int, shas: list[str]) -> set[str]:
    """Those of `shas` that are commits of the repo (objects are stored once for all repos: this is what keeps
    one repo's content out of another's clone)."""
    out: set[str] = set()
    for part in _chunks(shas):
        out.update(r.sha for r in conn.execute(select(repo_commits.c.sha).where(
            repo_commits.c.repo_id == repo_id, repo_commits.c.sha.in_(part))))
    return out


def tag_targets(conn: Connection, shas: list[str]) -> dict[str, str]:
    """annotated tag id → the id it points at, for those of `shas` that are tag objects."""
    kinds = kinds_of(conn, shas)
    tags = [s for s in shas if kinds.get(s) == "tag"]
    return {sha: parse_tag(zlib.decompress(row[2]))[0] for sha, row in read_stored(conn, tags).items()}


def kinds_of(conn: Connection, shas: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in _chunks(shas):
        for r in conn.execute(select(git_objects.c.sha, git_objects.c.kind).where(git_objects.c.sha.in_(part))):
            out[r.sha] = str(r.kind)
    return out


@dataclass
class Plan:
    """What to send: the objects in pack order, and the shallow boundary for the client."""

    objects: list[str] = field(default_factory=list)
    shallow: list[str] = field(default_factory=list)  # commits the client must treat as having no parents
    unshallow: list[str] = field(default_factory=list)  # client-shallow commits whose parents now come
    cache: dict[str, tuple[str, int, bytes]] = field(default_factory=dict)  # stored bodies read by the walk
    deltas: dict[str, tuple[bytes, bytes, int]] = field(default_factory=dict)  # tree → (base, zlib delta, size)


class Walker:
    """The object walk of one fetch, over one read connection."""

    def __init__(self, conn: Connection, repo_id: int, *, thin: bool = False):
        self.conn = conn
        self.graph = repo_commit_graph(conn, repo_id)
        self.cache: dict[str, tuple[str, int, bytes]] = {}
        self._cached_bytes = 0
        self.parsed: dict[str, Parsed] = {}  # trees parsed so far (bounded): references for the next ones
        self._parsed_bytes = 0
        self.deltas: dict[str, tuple[bytes, bytes, int]] = {}  # tree → (base id, zlib'd delta, delta size)
        self.in_pack: set[str] = set()
        self.thin = thin  # the client takes deltas against trees it has (a thin pack; git completes it)
        self.client_trees: set[str] = set()

    def commits(self, shas: Iterable[str]) -> None:
        """Makes sure the graph holds `shas` (a commit outside repo_commits: read by id)."""
        missing = [s for s in shas if s not in self.graph]
        if not missing:
            return
        for sha, (kind, _, data) in read_stored(self.conn, missing).items():
            if kind == "commit":
                self.graph[sha] = parse_commit(zlib.decompress(data))

    def _keep(self, sha: str, row: tuple[str, int, bytes]) -> None:
        if self._cached_bytes + len(row[2]) <= CACHE_BUDGET:
            self.cache[sha] = row
            self._cached_bytes += len(row[2])

    def closure(self, tips: Iterable[str], *, stop: set[str], parentless: set[str]) -> list[str]:
        """Commits reachable from `tips`, not walking into `stop`; `parentless` commits are not walked past."""
        seen: set[str] = set()
        order: list[str] = []
        frontier = [t for t in tips if t not in stop]
        while frontier:
            self.commits(frontier)
            nxt: list[str] = []
            for sha in frontier:
                if sha in seen or sha in stop:
                    continue
                node = self.graph.get(sha)
                if node is None:
                    raise PackError(sha)
                seen.add(sha)
                order.append(sha)
                if sha not in parentless:
                    nxt.extend(p for p in node.parents if p not in seen and p not in stop)
            frontier = nxt
        return order

    def depth_limited(self, tips: list[str], depth: int | None, since: int | None
                      ) -> tuple[list[str], set[str]]:
        """Commits within `depth` of `tips` (and not older than `since`: tips always count); and the boundary:
        included commits some of whose parents are left out. Level by level, so a commit is first met at its
        least depth."""
        met: set[str] = set()
        order: list[str] = []
        frontier = list(dict.fromkeys(tips))
        level = 1
        boundary: set[str] = set()
        while frontier:
            self.commits(frontier)
            nxt: list[str] = []
            for sha in frontier:
                if sha in met:
                    continue
                node = self.graph.get(sha)
                if node is None:
                    raise PackError(sha)
                met.add(sha)
                order.append(sha)
                if depth is not None and level >= depth:
                    if node.parents:
                        boundary.add(sha)
                    continue
                nxt.extend(p for p in node.parents if p not in met)
            frontier = nxt
            level += 1
        if since is not None:
            tipset = set(tips)
            kept = {s for s in order if self.graph[s].when >= since or s in tipset}
            boundary = {s for s in kept if s in boundary or any(p not in kept for p in self.graph[s].parents)}
            order = [s for s in order if s in kept]
        return order, boundary

    def _remember(self, sha: str, parsed: Parsed) -> None:
        self.parsed[sha] = parsed
        self._parsed_bytes += len(parsed.body)
        while self._parsed_bytes > PARSED_BUDGET and self.parsed:
            old = next(iter(self.parsed))
            self._parsed_bytes -= len(self.parsed.pop(old).body)

    def trees(self, roots: list[tuple[str, str | None]], seen: set[bytes], *, emit: bool) -> list[str]:
        """Trees and blobs reachable from the trees `roots` and not in `seen` (binary ids, updated), level by
        level, 500 trees per query. Each root comes with a reference: a tree parsed before that it likely
        resembles (its commit's parent's tree), or None. `emit` False: only marks them seen (what the client
        has). Emitted trees that differ from an emitted reference by one stretch of bytes become deltas."""
        out: list[str] = []
        frontier: list[tuple[str, str | None]] = []
        for r, ref in roots:
            b = bytes.fromhex(r)
            if b not in seen:
                seen.add(b)
                frontier.append((r, ref))
        blobs: list[bytes] = []
        while frontier:
            nxt: list[tuple[str, str | None]] = []
            refs = dict(frontier)
            for group, rows in read_bounded(self.conn, [sha for sha, _ in frontier]):
                for sha in group:
                    row = rows.get(sha)
                    if row is None or row[0] != "tree":
                        raise PackError(sha)
                    self._tree(sha, refs[sha], row, seen, emit, nxt, blobs)
                    if emit:
                        out.append(sha)
            frontier = nxt
        out.extend(b.hex() for b in blobs)
        return out

    def _tree(self, sha: str, ref: str | None, row: tuple[str, int, bytes], seen: set[bytes], emit: bool,
              nxt: list[tuple[str, str | None]], blobs: list[bytes]) -> None:
        body = zlib.decompress(row[2])
        base = self.parsed.get(ref) if ref is not None else None
        scan = diff_scan(body, base) if base is not None else None
        depth = 0
        if scan is None:  # no reference: every entry, in C
            index = tree_index(body)
            fresh = index.keys() - seen
            seen |= fresh
            for child in fresh:
                mode = index[child]
                if mode == TREE_MODE:
                    nxt.append((child.hex(), None))
                elif emit and mode != GITLINK_MODE:
                    blobs.append(child)
            cps = boundaries(body)
        else:
            assert base is not None and ref is not None
            entries, cps, p, s = scan
            for mode, name, child in entries:
                if child in seen:
                    continue
                seen.add(child)
                if mode == TREE_MODE:
                    nxt.append((child.hex(), subtree(base.body, name)))
                elif emit and mode != GITLINK_MODE:
                    blobs.append(child)
            if emit and base.depth < MAX_DELTA_DEPTH and (ref in self.in_pack or ref in self.client_trees):
                delta = make_delta(len(base.body), body, p, s)
                if len(delta) * 2 < len(body):
                    self.deltas[sha] = (bytes.fromhex(ref), zlib.compress(delta, 1), len(delta))
                    depth = base.depth + 1
        if emit:
            self.in_pack.add(sha)
            if sha not in self.deltas:
                self._keep(sha, row)
        elif self.thin:
            self.client_trees.add(sha)
        self._remember(sha, Parsed(body, cps, depth))


def plan(conn: Connection, repo_id: int, wants: list[str], haves: list[str], *, client_shallow: set[str],
         depth: int | None = None, since: int | None = None, tags: dict[str, str] | None = None,
         relative: bool = False, include_tag: bool = False, thin: bool = False) -> Plan:
    """The objects to send for `wants` to a client that has `haves` (ids this repo has, checked by the caller).
    `client_shallow`: the client's shallow commits; `depth`/`since`: a shallow fetch (`relative`: `depth` more
    commits behind the client's shallow boundary); `tags`: annotated tag id → the id it points at, for
    include-tag; `thin`: trees may be deltas against trees the client has."""
    w = Walker(conn, repo_id, thin=thin)
    kinds = kinds_of(conn, wants)
    out = Plan()
    want_commits: list[str] = []
    other_roots: list[str] = []  # trees and blobs asked for by id
    sent_tags: list[str] = []
    pending = list(wants)
    while pending:  # peel annotated tags
        nxt: list[str] = []
        rows = read_stored(conn, [s for s in pending if kinds.get(s) == "tag"])
        for sha in pending:
            kind = kinds.get(sha)
            if kind == "commit":
                want_commits.append(sha)
            elif kind == "tag":
                if sha not in sent_tags:
                    sent_tags.append(sha)
                    target, _ = parse_tag(zlib.decompress(rows[sha][2]))
                    nxt.append(target)
            elif kind in ("tree", "blob"):
                other_roots.append(sha)
            else:
                raise PackError(sha)
        kinds.update(kinds_of(conn, nxt))
        pending = nxt
    have_commits = [h for h in haves if h in w.graph or kinds_of(conn, [h]).get(h) == "commit"]
    # what the client has: every commit reachable from its haves (its shallow commits have no parents for it)
    has = set(w.closure(have_commits, stop=set(), parentless=client_shallow))
    if depth is not None and relative:
        # deepen-relative (git fetch --deepen=N): N more commits behind the client's shallow boundary, and
        # whatever the wants bring that the client lacks
        within, boundary = w.depth_limited(sorted(client_shallow), depth + 1, None)
        newer = w.closure(want_commits, stop=has | client_shallow, parentless=set())
        within = [c for c in newer if c not in within] + within
        out.unshallow = [c for c in within if c in client_shallow and c not in boundary]
        out.shallow = sorted(c for c in boundary if c not in has or c in client_shallow)
        send_commits = [c for c in within if c not in has]
    elif depth is not None or since is not None:
        within, boundary = w.depth_limited(want_commits, depth, since)
        # a client-shallow commit now inside the depth is unshallowed: its parents come (the client's walk of what
        # it has stopped at it, so they are not in `has`)
        out.unshallow = [c for c in within if c in client_shallow and c not in boundary]
        out.shallow = sorted(c for c in boundary if c not in has or c in client_shallow)
        send_commits = [c for c in within if c not in has]
    else:
        # a shallow client's shallow commits are where its history ends: nothing behind them is sent
        send_commits = w.closure(want_commits, stop=has | client_shallow, parentless=set())
    # the trees the client has: those of the commits at the edge of what it has (as git does, not all history)
    seen: set[bytes] = set()
    sending = set(send_commits)
    edge = {p for c in send_commits for p in w.graph[c].parents if p in has}
    edge.update(have_commits)
    w.commits(edge)
    w.trees([(w.graph[c].tree, None) for c in edge if c in w.graph], seen, emit=False)
    objects: list[str] = list(send_commits)
    # oldest first, each root tree with its first parent's tree as the reference it is likely to resemble
    roots: list[tuple[str, str | None]] = []
    for c in reversed(send_commits):
        parents = w.graph[c].parents
        roots.append((w.graph[c].tree, w.graph[parents[0]].tree if parents and parents[0] in w.graph else None))
    objects += w.trees(roots, seen, emit=True)
    for root in other_roots:
        if kinds.get(root) == "tree":
            objects += w.trees([(root, None)], seen, emit=True)
        elif bytes.fromhex(root) not in seen:
            seen.add(bytes.fromhex(root))
            objects.append(root)
    if include_tag and tags:
        for tag, target in tags.items():
            if tag not in sent_tags and (target in sending or bytes.fromhex(target) in seen):
                sent_tags.append(tag)
    out.objects = sent_tags + objects
    out.cache = w.cache
    out.deltas = w.deltas
    return out


def write_pack(read: Callable[[list[str]], Iterator[tuple[list[str], dict[str, tuple[str, int, bytes]]]]],
               objects: list[str], cache: dict[str, tuple[str, int, bytes]],
               deltas: dict[str, tuple[bytes, bytes, int]] | None = None, *, chunk_bytes: int = 65_000
               ) -> Iterator[bytes]:
    """A version-2 pack of `objects` in chunks of about `chunk_bytes`. Each entry is written from its stored zlib
    body, or as the delta the walk made (`deltas`: id → (base id, zlib'd delta, delta size), a REF_DELTA).
    `read(ids)` reads stored objects in groups bounded in bytes (`read_bounded`, each group in a short read
    transaction of its own) and yields (group, rows); `cache` holds some already (taken out as they are written)."""
    deltas = deltas or {}
    digest = hashlib.sha1()
    buf = bytearray(b"PACK" + struct.pack(">II", 2, len(objects)))

    def entries() -> Iterator[bytes]:
        for part in _chunks(objects):
            need = [s for s in part if s not in cache and s not in deltas]
            rows: dict[str, tuple[str, int, bytes]] = {}
            groups = read(need) if need else iter(())
            for sha in part:
                d = deltas.get(sha)
                if d is not None:
                    base, data, size = d
                    yield bytes(pack_object_header(REF_DELTA, base, size, SHA1)) + data
                    continue
                row = cache.pop(sha, None)
                if row is None:
                    while sha not in rows:  # the next group: the ids come back in the order asked
                        group = next(groups, None)
                        if group is None:
                            raise PackError(sha)
                        rows = group[1]
                    row = rows.pop(sha)
                kind, size, data = row
                yield bytes(pack_object_header(TYPE_NUM[kind], None, size, SHA1)) + data

    for entry in entries():
        buf += entry
        if len(buf) >= chunk_bytes:
            chunk = bytes(buf)
            digest.update(chunk)
            buf.clear()
            yield chunk
    digest.update(buf)
    buf += digest.digest()
    yield bytes(buf)
