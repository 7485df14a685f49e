"""git push over smart HTTP (receive-pack): the ref advertisement, and receiving a push.

Who pushes what: writers push branches and tags; a pull request's author (or a writer) pushes to its refs/pr/N, as
on the Hub (`git push origin <branch>:refs/pr/N` once the pull request is open). Every ref of a push is authorized
from its command, before a byte of the pack is read.

A push is all-or-nothing. The pack is copied and read with dulwich into a temporary folder and everything is
validated with the rules of API commits (paths, LFS pointers, file size, which refs may be written, the protected
default branch) before anything is stored; then one write transaction stores the objects, moves every ref with a
compare-and-set (a ref that moved since the client read it fails the whole push: "fetch first"), records the new
commits and one `git.push` audit entry. Refusals are answered in git's own report-status (`ng <ref> <reason>`), so
that git prints its usual rejection lines; with side-band-64k a longer explanation goes to the pusher as `remote:`
lines. The web layer (web/hub/git_http.py) calls exactly `advertise_receive` and `receive_pack`.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from dulwich.errors import GitProtocolError, HangupException
from dulwich.protocol import Protocol, pkt_line
from sqlalchemy import Connection

from inhouse import __version__
from inhouse.access.identity import Principal
from inhouse.access.policy import Action
from inhouse.audit.log import Event
from inhouse.errors import BadRequest, InhouseError
from inhouse.names import check_path, check_ref_name
from inhouse.services import commits, repo_access
from inhouse.services.context import Stores
from inhouse.services.governance import enforce, held
from inhouse.services.repo_access import RepoName
from inhouse.services.revisions import DEFAULT_BRANCH
from inhouse.storage.db import discussions as disc_store
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import ref_updates
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.git.ingest import (Entry, PackError, ReceivedPack, copy_pack, read_pack, stored_objects,
                                        tree_entries)
from inhouse.storage.git.objects import TreeEntry
from inhouse.storage.git.store import ObjectMissing
from inhouse.vocabulary import PRODUCTION_TAG

ZERO = "0" * 40
MODE_DIR = 0o40000
PUSHABLE = ("refs/heads/", "refs/tags/", "refs/pr/")
DEFAULT_REF = f"refs/heads/{DEFAULT_BRANCH}"
CAPABILITIES = ("report-status", "delete-refs", "side-band-64k", "quiet", "atomic", "ofs-delta", "no-thin",
                "object-format=sha1", f"agent=inhouse/{__version__}")
KNOWN_CAPABILITIES = frozenset(c.split("=", 1)[0] for c in CAPABILITIES)
MAX_COMMANDS = 10_000  # ref updates in one push
MAX_HISTORY_OBJECTS = 500_000  # objects of the repo's history looked through for one the pack leaves out
MAX_ANCESTRY_COMMITS = 200_000  # commits walked to tell whether an update of the default branch fast-forwards
MAX_REF_BYTES = 1024  # a ref name in a push command (branch and tag names are checked further)
STALE_TMP_S = 24 * 3600
PARSED_TREES = 256  # trees kept parsed while a push is checked
MAX_REPORT_LINES = 50  # `remote:` explanation lines
SIDEBAND_CHUNK = 65515  # side-band-64k: 65520-byte pkt-lines, one byte of band


@dataclass(frozen=True)
class RefUpdate:
    old: str
    new: str
    ref: str

    @property
    def is_delete(self) -> bool:
        return self.new == ZERO

    @property
    def is_create(self) -> bool:
        return self.old == ZERO


@dataclass
class _Request:
    updates: list[RefUpdate]
    capabilities: set[str]


@dataclass
class _Report:
    """What the pusher is told: `unpack` status, one `ok`/`ng` per ref, and explanations (side-band 2)."""

    updates: list[RefUpdate]
    sideband: bool
    unpack: str = "ok"
    refused: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def refuse(self, ref: str, reason: str, explanation: str | None = None) -> None:
        self.refused.setdefault(ref, reason)
        if explanation and len(self.messages) < MAX_REPORT_LINES:
            self.messages.append(explanation)

    def refuse_all(self, reason: str, explanation: str | None = None) -> None:
        for u in self.updates:
            self.refuse(u.ref, reason)
        if explanation and len(self.messages) < MAX_REPORT_LINES:
            self.messages.append(explanation)

    def atomic(self) -> None:
        """A push is all-or-nothing: once one ref is refused, the others are too."""
        if self.refused:
            for u in self.updates:
                self.refused.setdefault(u.ref, "atomic push failure")

    def render(self) -> list[bytes]:
        status = [pkt_line(f"unpack {self.unpack}\n".encode())]
        for u in self.updates:
            reason = self.refused.get(u.ref)
            status.append(pkt_line(f"ng {u.ref} {reason}\n".encode() if reason else f"ok {u.ref}\n".encode()))
        body = b"".join(status) + pkt_line(None)
        if not self.sideband:
            return [body]
        out = [pkt_line(b"\x02" + f"{m}\n".encode()) for m in self.messages]
        out += [pkt_line(b"\x01" + body[i : i + SIDEBAND_CHUNK]) for i in range(0, len(body), SIDEBAND_CHUNK)]
        out.append(pkt_line(None))
        return out


class _Refused(Exception):
    """Raised inside the write transaction to roll it back; the report already says why."""


def advertise_receive(stores: Stores, principal: Principal, name: RepoName) -> bytes:
    """The body of GET info/refs?service=git-receive-pack (after the '# service=' header the web layer writes):
    the branches, tags and pull requests with the capabilities, for a caller who may push to the repo (writers, and
    anyone who may open a pull request on it: a pull request's author pushes to its ref, as on the Hub)."""
    repo = repo_access.load(stores, principal, name, Action.PROPOSE, follow_moves=False)
    with stores.db.read() as conn:
        refs = [(n, t) for n, t in repo_store.list_refs(conn, repo.id) if n.startswith(PUSHABLE)]
    caps = " ".join(CAPABILITIES).encode()
    if not refs:
        return pkt_line(f"{ZERO} capabilities^{{}}".encode() + b"\0" + caps + b"\n") + pkt_line(None)
    lines = [pkt_line(f"{refs[0][1]} {refs[0][0]}".encode() + b"\0" + caps + b"\n")]
    lines += [pkt_line(f"{target} {ref}\n".encode()) for ref, target in refs[1:]]
    return b"".join(lines) + pkt_line(None)


def begin(stores: Stores, principal: Principal, name: RepoName) -> None:
    """Raises unless the caller may push to the repo at all (PROPOSE, as `advertise_receive`): the web layer asks
    before it reads a byte of the body, so a caller who may not push cannot make the server spool a pack.
    `receive_pack` checks it all again, ref by ref."""
    repo_access.load(stores, principal, name, Action.PROPOSE, follow_moves=False)


def receive_pack(stores: Stores, principal: Principal, name: RepoName, body: BinaryIO) -> Iterator[bytes]:
    """The response body of POST git-receive-pack; `body` is the request body, spooled (seekable). The push is
    done (or refused) before this returns; the iterator only carries git's report."""
    repo = repo_access.load(stores, principal, name, Action.PROPOSE, follow_moves=False)
    request = _read_request(body)
    if not request.updates:  # a probe: git POSTs a lone flush-pkt before a large (chunked) push
        return iter(())
    report = _Report(request.updates, sideband="side-band-64k" in request.capabilities)
    unknown = sorted(c for c in request.capabilities if c.split("=", 1)[0] not in KNOWN_CAPABILITIES)
    if unknown or "object-format=sha256" in request.capabilities:
        if "report-status" not in request.capabilities:
            raise BadRequest(f"Unknown git capability '{unknown[0] if unknown else 'object-format=sha256'}': this "
                             f"server offers {' '.join(CAPABILITIES)}.")
        report.unpack = f"unknown capability {(unknown or ['object-format=sha256'])[0]}"
        report.refuse_all("unpacker error", f"This server offers only: {' '.join(CAPABILITIES)}.")
        return iter(report.render())
    if "report-status" not in request.capabilities:
        report.sideband = False
    if not _authorize_refs(stores, principal, repo, request.updates, report):  # before a byte of the pack is read
        report.atomic()
        return _answer(request, report)
    with tempfile.TemporaryDirectory(prefix="push-", dir=_tmp_dir(stores)) as tmp:
        pack = _receive_pack_file(stores, body, Path(tmp), request, report)
        if pack is not None:
            _push(stores, principal, repo, request.updates, pack, report)
    report.atomic()
    return _answer(request, report)


def _answer(request: _Request, report: _Report) -> Iterator[bytes]:
    if "report-status" not in request.capabilities:
        if report.refused:
            raise BadRequest(f"The push was refused: {'; '.join(sorted(set(report.refused.values())))}.")
        return iter(())
    return iter(report.render())


def _pr_number(ref: str) -> int | None:
    num = ref.removeprefix("refs/pr/")
    return int(num) if ref.startswith("refs/pr/") and num.isascii() and num.isdigit() and len(num) < 10 else None


def _authorize_refs(stores: Stores, principal: Principal, repo: RepoRecord, updates: list[RefUpdate],
                    report: _Report) -> bool:
    """Branches and tags need write access; a pull request's ref, its author or write access (as API commits to
    it, commits.authorize_commit). Whether each ref may be pushed at all is `_check_ref`'s."""
    for u in updates:
        if not _check_ref(u, report):
            continue
        try:
            if u.ref.startswith("refs/pr/"):
                commits.authorize_commit(stores, principal, repo, revision=u.ref)
            else:
                repo_access.authorize_audited(stores, principal, Action.WRITE, repo)
        except InhouseError as e:
            report.refuse(u.ref, "permission denied", e.message)
    return not report.refused


def _tmp_dir(stores: Stores) -> Path:
    """Where pushes are read (data_dir/tmp/push-*); what a crashed server left there a day ago goes."""
    path = stores.settings.data_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("push-*"):
        with contextlib.suppress(OSError):
            if old.stat().st_mtime < time.time() - STALE_TMP_S:
                shutil.rmtree(old, ignore_errors=True)
    return path


# the request -----------------------------------------------------------------------------------------------------

def _is_sha(text: str) -> bool:
    return len(text) == 40 and all(c in "0123456789abcdef" for c in text)


def _read_request(body: BinaryIO) -> _Request:
    """The ref updates and capabilities of a receive-pack request (pkt-lines up to a flush), read with dulwich;
    `body` is left at the start of the pack. Malformed input: BadRequest, nothing read further."""
    proto = Protocol(body.read, lambda _data: None)
    updates: list[RefUpdate] = []
    caps: set[str] = set()
    seen: set[str] = set()
    try:
        while True:
            line = proto.read_pkt_line()
            if line is None:
                break
            if len(updates) >= MAX_COMMANDS:
                raise BadRequest(f"A push may update at most {MAX_COMMANDS} refs: push in several parts.")
            if not updates and b"\0" in line:
                line, _, cap_text = line.partition(b"\0")
                caps = {c for c in cap_text.decode("utf-8", "replace").split() if c}
            text = line.decode("utf-8", "replace").rstrip("\n")
            if text.startswith("shallow "):
                raise BadRequest("Pushing from a shallow clone is not supported: run `git fetch --unshallow` "
                                 "and push again.")
            if text.startswith("push-cert"):
                raise BadRequest("Signed pushes are not supported: push without --signed.")
            parts = text.split(" ")
            if len(parts) != 3 or not _is_sha(parts[0]) or not _is_sha(parts[1]) or not parts[2]:
                raise BadRequest(f"Malformed receive-pack command {text[:120]!r}: expected '<old-sha> <new-sha> "
                                 "<ref>'.")
            if len(parts[2]) > MAX_REF_BYTES or any(c < " " or c == "\x7f" for c in parts[2]):
                raise BadRequest(f"Malformed ref name {parts[2][:120]!r} in the push: at most {MAX_REF_BYTES} "
                                 "characters, without control characters.")
            if parts[2] in seen:
                raise BadRequest(f"The push names {parts[2][:200]!r} twice.")
            seen.add(parts[2])
            updates.append(RefUpdate(parts[0], parts[1], parts[2]))
    except (GitProtocolError, HangupException) as e:
        raise BadRequest(f"Malformed git request: {e or 'it ended before its flush-pkt'}.") from None
    return _Request(updates, caps)


def _receive_pack_file(stores: Stores, body: BinaryIO, tmp: Path, request: _Request,
                       report: _Report) -> ReceivedPack | None:
    """The pack that follows the commands, copied to `tmp` and read; None (and the report says why) when it is
    refused. A push that only deletes refs carries no pack."""
    if all(u.is_delete for u in request.updates):
        return ReceivedPack(None)
    settings = stores.settings
    try:
        with open(tmp / "push.pack", "wb") as f:
            copy_pack(body, f, max_objects=settings.git_max_push_objects,
                      max_object_bytes=settings.git_max_blob_bytes)
        return read_pack(tmp / "push.pack", tmp / "objects")
    except PackError as e:
        report.unpack = _one_line(str(e), 200)
        report.refuse_all("unpacker error", f"The push was refused: {e}")
        return None


def _one_line(text: str, limit: int) -> str:
    return " ".join(text.split())[:limit]


# validation ------------------------------------------------------------------------------------------------------

class _History:
    """The objects of the repo's history that a check asks about, found by walking the commits from `bases` (the
    commits of this repo the pack builds on) and their trees, lazily, until the object turns up. An object the pack
    leaves out must be found here: objects are stored once for every repo, and naming an object by its sha must
    never reach into a repo the pusher cannot read."""

    def __init__(self, stores: Stores, conn: Connection, bases: set[str]):
        self.stores = stores
        self.conn = conn
        self.queue: deque[str] = deque(sorted(bases))
        self.seen_commits: set[str] = set(bases)
        self.seen: set[str] = set()
        self.pending_trees: deque[str] = deque()

    def contains(self, sha: str) -> bool:
        while sha not in self.seen:
            if len(self.seen) > MAX_HISTORY_OBJECTS:
                return False
            if self.pending_trees:
                tree = self.pending_trees.popleft()
                for e in self._tree(tree):
                    if e.sha not in self.seen:
                        self.seen.add(e.sha)
                        if e.is_tree:
                            self.pending_trees.append(e.sha)
                continue
            if not self.queue:
                return False
            commit = self.queue.popleft()
            try:
                c = self.stores.objects.commit(self.conn, commit)
            except ObjectMissing:
                continue
            if c.tree not in self.seen:
                self.seen.add(c.tree)
                self.pending_trees.append(c.tree)
            for p in c.parents:
                if p not in self.seen_commits:
                    self.seen_commits.add(p)
                    self.queue.append(p)
        return True

    def _tree(self, sha: str) -> tuple[TreeEntry, ...]:
        try:
            return self.stores.objects.tree(self.conn, sha)
        except ObjectMissing:
            return ()


class _Checker:
    """Validates a received pack against the repo, as API commits are validated."""

    def __init__(self, stores: Stores, conn: Connection, repo: RepoRecord, pack: ReceivedPack):
        self.stores = stores
        self.conn = conn
        self.repo = repo
        self.pack = pack
        bases = {p for c in pack.commits.values() for p in c.parents if p not in pack.commits}
        self.history = _History(stores, conn, {b for b in bases if repo_store.repo_has_commit(conn, repo.id, b)})
        self.visited: set[tuple[str, str]] = set()
        self.parsed: dict[str, frozenset[Entry]] = {}
        self.current = ""  # the pushed commit being checked
        self.new_files: dict[str, tuple[str, str]] = {}  # a blob of the pack -> (path, commit): what policy scans

    def entries(self, sha: str) -> frozenset[Entry]:
        """A tree's entries as dulwich parses them (name, mode, hex sha, all bytes but the mode): from the pack,
        else from the object store (the tree of a commit the pack builds on). The last trees read are kept: a
        commit's tree is the next one's parent tree."""
        hit = self.parsed.get(sha)
        if hit is not None:
            return hit
        raw = self.pack.trees.get(sha)
        if raw is not None:
            found = frozenset(tree_entries(raw))
        else:
            try:
                found = frozenset((e.name.encode(), int(e.mode, 8), e.sha.encode())
                                  for e in self.stores.objects.tree(self.conn, sha))
            except ObjectMissing:
                found = frozenset()
        if len(self.parsed) >= PARSED_TREES:
            self.parsed.pop(next(iter(self.parsed)))
        self.parsed[sha] = found
        return found

    def is_repo_commit(self, sha: str) -> bool:
        return sha in self.pack.commits or repo_store.repo_has_commit(self.conn, self.repo.id, sha)

    def check_commits(self) -> None:
        """Every commit's parents and tree are in the pack or in this repo; every changed path is valid."""
        for sha, c in self.pack.commits.items():
            self.current = sha
            for p in c.parents:
                if not self.is_repo_commit(p):
                    raise PackError(f"commit {sha} names a parent {p} that is neither in the pack nor in this repo "
                                    "(missing necessary objects): fetch, rebase onto this repo's history and push "
                                    "again.")
            old_trees = [self._commit_tree(p) for p in c.parents]
            self._check_tree(c.tree, "", [t for t in old_trees if t])

    def _commit_tree(self, sha: str) -> str | None:
        if sha in self.pack.commits:
            return self.pack.commits[sha].tree
        try:
            return self.stores.objects.commit(self.conn, sha).tree
        except ObjectMissing:
            return None

    def _check_tree(self, sha: str, prefix: str, olds: list[str]) -> None:
        if (sha, prefix) in self.visited:
            return
        self.visited.add((sha, prefix))
        if sha not in self.pack.trees:
            self._check_known(sha, "tree", prefix or "/")
            return
        olds_entries = [self.entries(o) for o in olds if o]
        # unchanged since a parent (same name, mode and object): kept as it is, as API commits keep old names
        changed = self.entries(sha).difference(*olds_entries)
        old_dirs: list[dict[bytes, bytes]] | None = None
        for name, mode, child in sorted(changed):
            path = prefix + name.decode()
            try:
                check_path(path)
            except InhouseError as err:
                raise PackError(f"'{path}' is not a valid path here: {err.message}") from None
            if mode == MODE_DIR:
                if old_dirs is None:
                    old_dirs = [{n: s for n, m, s in old if m == MODE_DIR} for old in olds_entries]
                subs = [d[name].decode() for d in old_dirs if name in d]
                self._check_tree(child.decode(), path + "/", subs)
            elif child.decode() not in self.pack.blobs:
                self._check_known(child.decode(), "blob", path)
            else:
                self.new_files.setdefault(child.decode(), (path, self.current))

    def _check_known(self, sha: str, kind: str, path: str) -> None:
        """An object the pack leaves out must be one of this repo's history (git leaves out what the refs it was
        shown already reach)."""
        if self.stores.objects.kind(self.conn, sha) != kind or not self.history.contains(sha):
            raise PackError(f"the {kind} {sha} at '{path}' is neither in the pack nor in this repo's history "
                            "(missing necessary objects)")

    def check_lfs(self) -> None:
        """A pointer is not a capability: it may only name a large file this repo holds, of that size."""
        for sha, (_, ptr) in self.pack.blobs.items():
            if ptr is None:
                continue
            size = lfs_store.object_size(self.conn, ptr.oid)
            if size is None or not lfs_store.repo_has_object(self.conn, self.repo.id, ptr.oid):
                raise PackError(f"blob {sha} is a Git LFS pointer to an object this repo does not hold (sha256 "
                                f"{ptr.oid}): push with git-lfs installed (`git lfs install`), so that it uploads "
                                "the content before the commits.")
            if size != ptr.size:
                raise PackError(f"blob {sha} is a Git LFS pointer of {ptr.size} bytes to an object of {size} bytes.")

    def target(self, u: RefUpdate) -> tuple[str | None, str | None]:
        """(the commit `u.new` names, the reason it cannot be the ref's target)."""
        sha = u.new
        if sha in self.pack.tags:
            if not u.ref.startswith("refs/tags/"):
                return None, "a branch must point at a commit, not a tag"
            seen = 0
            while sha in self.pack.tags and seen < 10:
                sha, _ = self.pack.tags[sha]
                seen += 1
        if self.is_repo_commit(sha):
            return sha, None
        return None, "missing necessary objects"

    def fast_forward(self, old: str, new: str) -> bool | None:
        """Whether `old` is an ancestor of `new` (None: too long a history to tell)."""
        queue, seen = deque([new]), {new}
        while queue:
            sha = queue.popleft()
            if sha == old:
                return True
            if len(seen) > MAX_ANCESTRY_COMMITS:
                return None
            if sha in self.pack.commits:
                parents: tuple[str, ...] = self.pack.commits[sha].parents
            else:
                try:
                    parents = self.stores.objects.commit(self.conn, sha).parents
                except ObjectMissing:
                    continue
            for p in parents:
                if p not in seen:
                    seen.add(p)
                    queue.append(p)
        return False


def _check_ref(u: RefUpdate, report: _Report) -> bool:
    """Only branches and tags with valid names, and existing pull requests' refs, may be pushed; the default branch
    may not be deleted."""
    ref = u.ref
    if ref.startswith("refs/pr/"):
        if _pr_number(ref) is None:
            report.refuse(ref, "invalid pull request ref", f"{ref[:200]}: pull request refs are refs/pr/<number>.")
            return False
        if u.is_create:
            report.refuse(ref, "refs/pr/* is created by opening a pull request",
                          f"{ref}: open the pull request first (HfApi.create_pull_request, or the web page), then "
                          f"push to the ref it names: git push origin <branch>:refs/pr/<number>.")
            return False
        if u.is_delete:
            report.refuse(ref, "pull request refs cannot be deleted", f"{ref}: close the pull request instead.")
            return False
        return True
    if ref.startswith("refs/convert/"):
        report.refuse(ref, "refs/convert/* is read-only", f"{ref}: conversion refs are written by the server.")
        return False
    if not ref.startswith(("refs/heads/", "refs/tags/")):
        report.refuse(ref, "only refs/heads/*, refs/tags/* and refs/pr/* may be pushed",
                      f"{ref[:200]}: push branches (refs/heads/...), tags (refs/tags/...) and pull requests "
                      "(refs/pr/<number>) only.")
        return False
    if ref == f"refs/tags/{PRODUCTION_TAG}":
        report.refuse(ref, f"refs/tags/{PRODUCTION_TAG} is protected",
                      f"{ref} is moved only by an approved promotion (POST /api/models/<id>/promotions).")
        return False
    if ref == f"refs/heads/{PRODUCTION_TAG}" and u.is_create:  # a revision names a branch before a tag
        report.refuse(ref, f"the branch name '{PRODUCTION_TAG}' is reserved",
                      f"A branch '{PRODUCTION_TAG}' would shadow the tag an approved promotion moves: name the "
                      "branch otherwise.")
        return False
    what = "branch" if ref.startswith("refs/heads/") else "tag"
    try:
        check_ref_name(ref.split("/", 2)[2], what)
    except InhouseError as e:
        report.refuse(ref, f"invalid {what} name", e.message)
        return False
    if u.is_delete and ref == DEFAULT_REF:
        report.refuse(ref, "deletion of the current branch prohibited",
                      f"{DEFAULT_BRANCH} is the default branch: it cannot be deleted.")
        return False
    return True


def _validate(stores: Stores, repo: RepoRecord, updates: list[RefUpdate], pack: ReceivedPack,
              report: _Report) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """Checks the whole push; returns ref → the commit it will point at (deletes: ZERO), and the files the pack
    adds (blob → (path, commit)) for the policy's evaluation."""
    targets: dict[str, str] = {}
    with stores.db.read() as conn:
        checker = _Checker(stores, conn, repo, pack)
        try:
            checker.check_commits()
            checker.check_lfs()
        except PackError as e:
            report.refuse_all("rejected by the server's rules", f"The push was refused: {e}")
            return targets, {}
        for u in updates:  # each already passed _check_ref and _authorize_refs
            current = repo_store.get_ref(conn, repo.id, u.ref)
            if (current or ZERO) != u.old:
                report.refuse(u.ref, "fetch first",
                              f"{u.ref} moved since you fetched it: `git pull --rebase` (or fetch and merge), "
                              "then push again.")
                continue
            if u.is_delete:
                targets[u.ref] = ZERO
                continue
            target, why = checker.target(u)
            if target is None:
                report.refuse(u.ref, why or "missing necessary objects")
                continue
            if u.ref == DEFAULT_REF and not u.is_create and current != target:
                ff = checker.fast_forward(u.old, target)
                if not ff:
                    report.refuse(u.ref, "non-fast-forward",
                                  f"{DEFAULT_BRANCH} is the protected default branch: it cannot be force-pushed "
                                  "or rewound. Pull, merge or rebase onto it, and push again"
                                  + (" (its history is too long to compare here)." if ff is None else "."))
                    continue
            targets[u.ref] = target
    return targets, checker.new_files


# the write -------------------------------------------------------------------------------------------------------

def _pull_request_event(stores: Stores, conn: Connection, repo: RepoRecord, p: Principal, ref: str, sha: str,
                        now: float) -> None:
    num = _pr_number(ref)
    d = disc_store.get_discussion(conn, repo.id, num) if num is not None else None
    if d is not None:
        disc_store.add_event(conn, d.id, "commit", p.user_id, now,
                             {"oid": sha, "subject": stores.objects.commit(conn, sha).title})


def _push(stores: Stores, principal: Principal, repo: RepoRecord, updates: list[RefUpdate], pack: ReceivedPack,
          report: _Report) -> None:
    targets, new_files = _validate(stores, repo, updates, pack, report)
    if report.refused:
        return
    verdicts = enforce.check_push(stores, principal, repo, pack, {r: t for r, t in targets.items() if t != ZERO},
                                  new_files)
    parents = {sha: c.parents for sha, c in pack.commits.items()}
    for u in updates:  # a commit held for approval reaches a branch or tag only through its approved merge
        if not u.is_delete and u.ref in verdicts and not verdicts[u.ref].refused:
            pending = held.check_held(stores, principal, repo, u.ref, None if u.is_create else u.old,
                                      targets[u.ref], trigger="push", commits_in=parents)
            verdicts[u.ref] = pending or verdicts[u.ref]
    for ref, verdict in verdicts.items():  # the organisation's policy, per ref (scans before the write)
        if verdict.refused:
            reason, lines = enforce.push_refusal(stores, principal, repo, verdict)
            report.refuse(ref, reason, "\n".join(lines[:MAX_REPORT_LINES]))
    if report.refused:
        return
    now = time.time()
    try:
        with stores.db.write() as conn:
            for u in updates:
                target = targets[u.ref]
                if u.is_delete:
                    moved = ref_updates.compare_and_delete_ref(conn, repo.id, u.ref, u.old)
                elif u.is_create:
                    moved = ref_updates.create_ref_if_absent(conn, repo.id, u.ref, target, now)
                else:
                    moved = repo_store.compare_and_set_ref(conn, repo.id, u.ref, u.old, target, now)
                if not moved:
                    report.refuse(u.ref, "fetch first",
                                  f"{u.ref} moved while the push was checked: `git pull --rebase`, then push again.")
                    raise _Refused()
            for sha, (_, ptr) in pack.blobs.items():  # in use again: storage GC keeps them
                if ptr is not None and lfs_store.touch_object(conn, ptr.oid, now) != ptr.size:
                    report.refuse_all("rejected by the server's rules",
                                      f"The large file {ptr.oid} was deleted while the push was checked: push again.")
                    raise _Refused()
            for rows in stored_objects(pack):
                stores.objects.put_compressed(conn, rows)
            ref_updates.add_commits(conn, repo.id, list(pack.commits))
            for u in updates:
                if u.ref.startswith("refs/heads/") and not u.is_delete:
                    commits.after_branch_update(stores, conn, repo, u.ref, targets[u.ref], now, None)
                elif u.ref.startswith("refs/pr/"):  # the pull request shows the pushed commit, as after an upload
                    _pull_request_event(stores, conn, repo, principal, u.ref, targets[u.ref], now)
            repo_store.update_repo(conn, repo.id, last_modified=now)
            for ref, verdict in verdicts.items():
                enforce.record(stores, conn, principal, repo, verdict, commit=targets[ref])
            stores.audit.record(conn, principal, Event("git.push", repo, details={
                "updates": [{"ref": u.ref, "old": u.old, "new": targets[u.ref]} for u in updates],
                "commits": len(pack.commits), "objects": len(pack)}))
    except _Refused:
        return
