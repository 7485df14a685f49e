"""services/git_push fed packs that the real `git pack-objects` made, on SQLite and PostgreSQL: what a push stores,
which pushes are refused (with git's report-status `ng` lines), and that a refused or malformed push writes
nothing at all (no ref moved, no object, no commit row, no audit entry)."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dulwich.protocol import Protocol, pkt_line
from sqlalchemy import func, select

from inhouse.access.identity import Principal, authenticate
from inhouse.errors import BadRequest, Forbidden, RepoNotFound, Unauthorized
from inhouse.services import commits, git_push, repos, users
from inhouse.services.context import Stores
from inhouse.services.repo_access import RepoName
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.schema import audit_log, git_objects, refs, repo_commits
from inhouse.storage.git.ingest import PackError, copy_pack
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.vocabulary import RepoType, TokenRole

ZERO = "0" * 40
CAPS = "report-status side-band-64k quiet atomic ofs-delta agent=git/2.39"


# a local git repository, driven by the real git ----------------------------------------------------------------

class Local:
    def __init__(self, path: Path):
        self.path = path
        self.env = {**os.environ, "HOME": str(path.parent), "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "A",
                    "GIT_AUTHOR_EMAIL": "a@example.com", "GIT_COMMITTER_NAME": "A",
                    "GIT_COMMITTER_EMAIL": "a@example.com"}
        path.mkdir(parents=True)
        self.git("init", "-q", "-b", "main")

    def git(self, *args: str, input: bytes | None = None) -> bytes:
        return subprocess.run(["git", *args], cwd=self.path, env=self.env, input=input, capture_output=True,
                              check=True).stdout

    def commit(self, files: dict[str, bytes], message: str = "change", *, remove: tuple[str, ...] = ()) -> str:
        for name, data in files.items():
            p = self.path / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data)
            self.git("add", "--", name)
        for name in remove:
            self.git("rm", "-q", "--", name)
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self, rev: str = "HEAD") -> str:
        return self.git("rev-parse", rev).decode().strip()

    def pack(self, *include: str, exclude: tuple[str, ...] = (), thin: bool = False) -> bytes:
        lines = "".join(f"{s}\n" for s in include) + "".join(f"^{s}\n" for s in exclude)
        return self.git("pack-objects", "--stdout", "--revs", *(["--thin"] if thin else []), input=lines.encode())

    def import_commit(self, stores: Stores, sha: str) -> None:
        """Copies a commit of the server (and its history and trees) into this repository."""
        with stores.db.read() as conn:
            todo, seen = [sha], set()
            while todo:
                s = todo.pop()
                if s in seen:
                    continue
                seen.add(s)
                kind, body = stores.objects.get(conn, s)
                self.git("hash-object", "-t", kind, "-w", "--stdin", "--literally", input=body)
                if kind == "commit":
                    c = stores.objects.commit(conn, s)
                    todo += [c.tree, *c.parents]
                elif kind == "tree":
                    todo += [e.sha for e in stores.objects.tree(conn, s)]
        self.git("reset", "-q", "--hard", sha)


# the server side ------------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Repo:
    stores: Stores
    name: RepoName
    writer: Principal
    token: str

    @property
    def record(self):  # type: ignore[no-untyped-def]
        with self.stores.db.read() as conn:
            hit = repo_store.find_repo(conn, RepoType.MODEL, self.name.namespace, self.name.name)
        assert hit is not None
        return hit[0]

    def ref(self, ref: str = "refs/heads/main") -> str | None:
        with self.stores.db.read() as conn:
            return repo_store.get_ref(conn, self.record.id, ref)

    def counts(self) -> tuple[int, ...]:
        with self.stores.db.read() as conn:
            return tuple(conn.execute(select(func.count()).select_from(t)).scalar_one()
                         for t in (git_objects, repo_commits, audit_log)) + (
                tuple(sorted(repo_store.list_refs(conn, self.record.id))),)  # type: ignore[return-value]


def new_repo(stores: Stores, *, private: bool = False) -> Repo:
    name = f"u{os.urandom(4).hex()}"
    users.create_user(stores, name)
    token = users.create_token(stores, name, role=TokenRole.WRITE)[1]
    p = authenticate(stores.db, token)
    rec = repos.create(stores, p, repo_type=RepoType.MODEL, namespace=name, name="r", private=private)
    return Repo(stores, RepoName(RepoType.MODEL, rec.namespace, rec.name), p, token)


def request(updates: list[tuple[str, str, str]], pack: bytes = b"", caps: str = CAPS) -> io.BytesIO:
    lines = [f"{old} {new} {ref}".encode() + (b"\0" + caps.encode() if i == 0 else b"") + b"\n"
             for i, (old, new, ref) in enumerate(updates)]
    return io.BytesIO(b"".join(pkt_line(line) for line in lines) + pkt_line(None) + pack)


@dataclasses.dataclass
class Report:
    unpack: str
    refs: dict[str, str]  # ref -> "ok" or the ng reason
    messages: list[str]


def parse(chunks: Iterator[bytes]) -> Report:
    """git's side of the answer: side-band 1 carries report-status, side-band 2 the `remote:` lines."""
    outer = Protocol(io.BytesIO(b"".join(chunks)).read, lambda _d: None)
    status, messages = b"", []
    while (line := outer.read_pkt_line()) is not None:
        if line[0] == 1:
            status += line[1:]
        elif line[0] == 2:
            messages.append(line[1:].decode().rstrip("\n"))
    inner = Protocol(io.BytesIO(status).read, lambda _d: None)
    unpack = (inner.read_pkt_line() or b"").decode().rstrip("\n")
    result = {}
    while (line := inner.read_pkt_line()) is not None:
        kind, ref, *reason = line.decode().rstrip("\n").split(" ", 2)
        result[ref] = "ok" if kind == "ok" else reason[0]
    assert unpack.startswith("unpack ")
    return Report(unpack.removeprefix("unpack "), result, messages)


def push(repo: Repo, updates: list[tuple[str, str, str]], pack: bytes = b"", caps: str = CAPS,
         who: Principal | None = None) -> Report:
    return parse(git_push.receive_pack(repo.stores, who or repo.writer, repo.name, request(updates, pack, caps)))


@pytest.fixture
def repo(stores: Stores) -> Repo:
    return new_repo(stores)


@pytest.fixture
def local(tmp_path: Path, repo: Repo) -> Local:
    """A clone of the repo's main branch."""
    loc = Local(tmp_path / "work")
    loc.import_commit(repo.stores, repo.ref() or "")
    return loc


# what a push stores ---------------------------------------------------------------------------------------------

def test_advertisement_lists_branches_and_tags_with_capabilities(repo: Repo):
    body = git_push.advertise_receive(repo.stores, repo.writer, repo.name)
    proto = Protocol(io.BytesIO(body).read, lambda _d: None)
    first = proto.read_pkt_line()
    assert first is not None
    line, _, caps = first.partition(b"\0")
    assert line.decode() == f"{repo.ref()} refs/heads/main"
    assert {"report-status", "side-band-64k", "atomic", "delete-refs", "no-thin", "ofs-delta",
            "object-format=sha1"} <= set(caps.decode().split())
    assert proto.read_pkt_line() is None


def test_push_fast_forward_stores_commits_files_and_audit(repo: Repo, local: Local):
    base = local.head()
    local.commit({"a.txt": b"alpha\n", "dir/sub/b.bin": bytes(range(256)) * 40}, "first")
    second = local.commit({"README.md": b"---\nlicense: mit\ntags: [pushed]\n---\n# hi\n"}, "second",
                          remove=("a.txt",))
    report = push(repo, [(base, second, "refs/heads/main")], local.pack(second, exclude=(base,)))
    assert (report.unpack, report.refs) == ("ok", {"refs/heads/main": "ok"})
    assert repo.ref() == second
    stores, rec = repo.stores, repo.record
    with stores.db.read() as conn:
        assert repo_store.repo_has_commit(conn, rec.id, second)
        c = stores.objects.commit(conn, second)
        from inhouse.storage.git.trees import walk
        files = {p: stores.objects.get(conn, e.sha)[1] for p, e in walk(stores.objects, conn, c.tree) if not e.is_tree}
        entry = conn.execute(select(audit_log).where(audit_log.c.action == "git.push")).one()
    assert files["dir/sub/b.bin"] == bytes(range(256)) * 40 and "a.txt" not in files
    assert files["README.md"].startswith(b"---")
    assert rec.head_sha == second and "pushed" in rec.tags  # the card facts follow the default branch
    assert entry.actor == repo.writer.name and second in entry.details and "refs/heads/main" in entry.details


def test_push_new_branch_tag_and_delete(repo: Repo, local: Local):
    base = local.head()
    local.git("checkout", "-q", "-b", "feature")
    tip = local.commit({"f.txt": b"feature\n"})
    local.git("tag", "-a", "v1", "-m", "release one")
    tag_obj = local.head("v1")
    report = push(repo, [(ZERO, tip, "refs/heads/feature"), (ZERO, tag_obj, "refs/tags/v1")],
                  local.pack(tip, tag_obj, exclude=(base,)))
    assert report.refs == {"refs/heads/feature": "ok", "refs/tags/v1": "ok"}
    assert repo.ref("refs/heads/feature") == tip
    assert repo.ref("refs/tags/v1") == tip  # an annotated tag is kept peeled: refs name commits here
    report = push(repo, [(tip, ZERO, "refs/heads/feature")])
    assert report.refs == {"refs/heads/feature": "ok"} and repo.ref("refs/heads/feature") is None
    # a branch at a commit the repo has: git sends an empty pack
    empty = local.pack(base, exclude=(base,))
    assert push(repo, [(ZERO, base, "refs/heads/copy")], empty).refs == {"refs/heads/copy": "ok"}
    assert repo.ref("refs/heads/copy") == base


def test_push_lfs_pointer_needs_the_object_in_this_repo(repo: Repo, local: Local):
    base = local.head()
    held = LfsPointer("ab" * 32, 1234)
    with repo.stores.db.write() as conn:  # as the LFS batch upload leaves it
        lfs_store.record_object(conn, repo.record.id, held.oid, held.size, time.time())
    ok = local.commit({"model.bin": held.encode()})
    assert push(repo, [(base, ok, "refs/heads/main")], local.pack(ok, exclude=(base,))).refs == {
        "refs/heads/main": "ok"}
    before = repo.counts()
    bad = local.commit({"other.bin": LfsPointer("cd" * 32, 10).encode()})
    report = push(repo, [(ok, bad, "refs/heads/main")], local.pack(bad, exclude=(ok,)))
    assert report.refs == {"refs/heads/main": "rejected by the server's rules"}
    assert any("LFS pointer" in m and "cd" * 32 in m for m in report.messages)
    assert repo.counts() == before


# refused pushes write nothing -----------------------------------------------------------------------------------

def test_default_branch_cannot_be_force_pushed_or_deleted(repo: Repo, local: Local):
    base = local.head()
    local.git("checkout", "-q", "--orphan", "other")
    other = local.commit({"x.txt": b"unrelated\n"})
    before = repo.counts()
    report = push(repo, [(base, other, "refs/heads/main")], local.pack(other))
    assert report.refs == {"refs/heads/main": "non-fast-forward"}
    assert any("protected default branch" in m for m in report.messages)
    assert push(repo, [(base, ZERO, "refs/heads/main")]).refs == {
        "refs/heads/main": "deletion of the current branch prohibited"}
    assert repo.counts() == before
    # other branches may be force-pushed by writers
    local.git("checkout", "-q", "-b", "side", base)
    side = local.commit({"s.txt": b"1\n"})
    assert push(repo, [(ZERO, side, "refs/heads/side")], local.pack(side, exclude=(base,))).refs == {
        "refs/heads/side": "ok"}
    assert push(repo, [(side, other, "refs/heads/side")], local.pack(other)).refs == {"refs/heads/side": "ok"}


def test_forbidden_refs_fail_the_whole_push(repo: Repo, local: Local):
    base = local.head()
    tip = local.commit({"a.txt": b"a\n"})
    pack = local.pack(tip, exclude=(base,))
    before = repo.counts()
    for ref, reason in [("refs/pr/1", "refs/pr/* is created by opening a pull request"),
                        ("refs/pr/x", "invalid pull request ref"),
                        ("refs/convert/parquet", "refs/convert/* is read-only"),
                        ("refs/notes/x", "only refs/heads/*, refs/tags/* and refs/pr/* may be pushed"),
                        ("refs/heads/bad..name", "invalid branch name")]:
        report = push(repo, [(base, tip, "refs/heads/main"), (ZERO, tip, ref)], pack)
        assert report.refs == {"refs/heads/main": "atomic push failure", ref: reason}, ref
    assert repo.counts() == before


def test_pull_request_ref_is_pushed_by_its_author_or_writers(repo: Repo, local: Local, stores: Stores):
    base = local.head()
    author_name = f"u{os.urandom(4).hex()}"
    users.create_user(stores, author_name)
    author = authenticate(stores.db, users.create_token(stores, author_name, role=TokenRole.WRITE)[1])
    pr = commits.commit(stores, author, repo.record, revision="main", ops=[commits.AddFile("p.txt", b"1\n")],
                        summary="proposal", create_pr=True)
    assert pr.ref == "refs/pr/1"
    local.import_commit(stores, pr.oid)
    tip = local.commit({"p.txt": b"2\n"}, "second thoughts")
    pack = local.pack(tip, exclude=(pr.oid,))
    # the author may push to the pull request, not to main
    assert push(repo, [(base, tip, "refs/heads/main")], pack, who=author).refs == {
        "refs/heads/main": "permission denied"}
    stranger_name = f"u{os.urandom(4).hex()}"
    users.create_user(stores, stranger_name)
    stranger = authenticate(stores.db, users.create_token(stores, stranger_name, role=TokenRole.WRITE)[1])
    report = push(repo, [(pr.oid, tip, "refs/pr/1")], pack, who=stranger)
    assert report.refs == {"refs/pr/1": "permission denied"}
    assert any("Only the author of a pull request" in m for m in report.messages)
    assert push(repo, [(pr.oid, ZERO, "refs/pr/1")], who=author).refs == {
        "refs/pr/1": "pull request refs cannot be deleted"}
    assert push(repo, [(pr.oid, tip, "refs/pr/1")], pack, who=author).refs == {"refs/pr/1": "ok"}
    assert repo.ref("refs/pr/1") == tip and repo.ref() == base
    from inhouse.storage.db import discussions as disc_store
    with stores.db.read() as conn:
        d = disc_store.get_discussion(conn, repo.record.id, 1)
        assert d is not None
        events = [(e.type, e.data) for e in disc_store.events_of(conn, d.id)]
    assert ("commit", {"oid": tip, "subject": "second thoughts"}) in [(t, dict(data)) for t, data in events]
    # a writer may push to it too, even rewriting it
    local.git("checkout", "-q", "--orphan", "other")
    other = local.commit({"o.txt": b"o\n"})
    assert push(repo, [(tip, other, "refs/pr/1")], local.pack(other)).refs == {"refs/pr/1": "ok"}


def test_invalid_path_in_a_pushed_tree_is_refused(repo: Repo, local: Local):
    base = local.head()
    tip = local.commit({"bad\u202etxt.exe": b"x"})
    before = repo.counts()
    report = push(repo, [(base, tip, "refs/heads/main")], local.pack(tip, exclude=(base,)))
    assert report.refs == {"refs/heads/main": "rejected by the server's rules"}
    assert any("not a valid path" in m for m in report.messages)
    assert repo.counts() == before


def test_stale_old_value_is_fetch_first_and_loses_no_commit(repo: Repo, local: Local):
    base = local.head()
    api_commit = commits.commit(repo.stores, repo.writer, repo.record, revision="main",
                                ops=[commits.AddFile("api.txt", b"from the API\n")], summary="api")
    tip = local.commit({"git.txt": b"from git\n"})
    before = repo.counts()
    report = push(repo, [(base, tip, "refs/heads/main")], local.pack(tip, exclude=(base,)))
    assert report.refs == {"refs/heads/main": "fetch first"}
    assert repo.ref() == api_commit.oid and repo.counts() == before


def test_compare_and_set_catches_a_commit_that_lands_during_the_push(repo: Repo, local: Local,
                                                                    monkeypatch: pytest.MonkeyPatch):
    base = local.head()
    tip = local.commit({"git.txt": b"from git\n"})
    landed = []
    real = git_push._validate

    def validate_then_commit(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real(*args, **kwargs)  # the push has read main's head; an API commit moves it now
        landed.append(commits.commit(repo.stores, repo.writer, repo.record, revision="main",
                                     ops=[commits.AddFile("api.txt", b"api\n")], summary="api").oid)
        return out

    monkeypatch.setattr(git_push, "_validate", validate_then_commit)
    before_objects = repo.counts()[0]
    report = push(repo, [(base, tip, "refs/heads/main")], local.pack(tip, exclude=(base,)))
    assert report.refs == {"refs/heads/main": "fetch first"}
    assert repo.ref() == landed[0]
    with repo.stores.db.read() as conn:  # the push's transaction rolled back entirely: its commit is unknown
        assert not repo_store.repo_has_commit(conn, repo.record.id, tip)
        assert not repo.stores.objects.exists(conn, tip)
        assert conn.execute(select(func.count()).select_from(git_objects)).scalar_one() > before_objects
    monkeypatch.undo()
    # after fetching (the API commit) and rebasing, the push lands on top: both commits kept
    local.import_commit(repo.stores, landed[0])
    rebased = local.commit({"git.txt": b"from git\n"})
    assert push(repo, [(landed[0], rebased, "refs/heads/main")], local.pack(rebased, exclude=(landed[0],))).refs == {
        "refs/heads/main": "ok"}
    with repo.stores.db.read() as conn:
        assert repo.stores.objects.commit(conn, rebased).parents == (landed[0],)


# bad input ------------------------------------------------------------------------------------------------------

def test_malformed_pkt_lines_are_a_bad_request(repo: Repo, local: Local):
    base = local.head()
    before = repo.counts()
    for body in [b"zz00garbage", b"00", b"0010short", f"0032{base} {base}".encode(),
                 pkt_line(b"not a command\n") + b"0000",
                 pkt_line(f"{base} {base} refs/heads/{'x' * 2000}\0report-status\n".encode()) + b"0000",
                 pkt_line(f"{base} {base} refs/heads/a\x01b\0report-status\n".encode()) + b"0000",
                 pkt_line(f"{base} {base} refs/heads/main\0report-status\n".encode())]:  # no flush
        with pytest.raises(BadRequest):
            git_push.receive_pack(repo.stores, repo.writer, repo.name, io.BytesIO(body))
    # a lone flush-pkt is git's probe before a large push: an empty answer
    assert list(git_push.receive_pack(repo.stores, repo.writer, repo.name, io.BytesIO(b"0000"))) == []
    assert repo.counts() == before


def test_corrupt_truncated_and_thin_packs_are_refused(repo: Repo, local: Local):
    base = local.head()
    local.commit({"big.txt": b"line of text\n" * 2000})
    tip = local.commit({"big.txt": b"line of text\n" * 2001})
    pack = local.pack(tip, exclude=(base,))
    before = repo.counts()
    corrupt = bytearray(pack)
    corrupt[len(pack) // 2] ^= 0xFF
    truncated = pack[: len(pack) - 30]
    for bad in (bytes(corrupt), truncated, pack[:-1] + bytes([pack[-1] ^ 1])):
        report = push(repo, [(base, tip, "refs/heads/main")], bad)
        assert report.refs == {"refs/heads/main": "unpacker error"}, report
        assert report.unpack != "ok"
    # a thin pack: the second commit's file is a delta against the first one's, which the pack leaves out
    mid = local.head("HEAD~1")
    thin = local.pack(tip, exclude=(mid,), thin=True)
    report = push(repo, [(base, tip, "refs/heads/main")], thin)
    assert report.refs == {"refs/heads/main": "unpacker error"} and "deltas against objects" in report.unpack
    assert repo.counts() == before


def test_malformed_objects_are_refused(repo: Repo, local: Local):
    base = local.head()
    base_tree = local.git("rev-parse", base + "^{tree}").decode().strip()

    def literal(kind: str, body: bytes) -> str:
        return local.git("hash-object", "-t", kind, "-w", "--stdin", "--literally", input=body).decode().strip()

    def commit_on(tree: str, message: bytes = b"m\n") -> str:
        return literal("commit", f"tree {tree}\nparent {base}\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n\n"
                       .encode() + message)

    blob = literal("blob", b"x\n")
    garbage_tree = literal("tree", b"100644 no-nul-and-no-sha")
    unsorted = literal("tree", b"100644 b\0" + bytes.fromhex(blob) + b"100644 a\0" + bytes.fromhex(blob))
    submodule = literal("tree", b"160000 sub\0" + bytes.fromhex(base))
    latin1_name = literal("tree", b"100644 caf\xe9.txt\0" + bytes.fromhex(blob))
    cases = [(garbage_tree, "is malformed"), (unsorted, "is malformed"), (submodule, "submodules are not supported"),
             (latin1_name, "not UTF-8")]
    before = repo.counts()
    for tree, words in cases:
        tip = commit_on(tree)
        pack = local.git("pack-objects", "--stdout", input=f"{tip}\n{tree}\n{blob}\n".encode())
        report = push(repo, [(base, tip, "refs/heads/main")], pack)
        assert report.refs == {"refs/heads/main": "unpacker error"} and words in report.unpack, (words, report)
    tip = commit_on(base_tree, "caf\xe9\n".encode("latin-1"))
    report = push(repo, [(base, tip, "refs/heads/main")], local.git("pack-objects", "--stdout", input=f"{tip}\n".encode()))
    assert "is not UTF-8 text" in report.unpack
    assert repo.counts() == before


def test_missing_objects_and_objects_of_other_repos_are_refused(repo: Repo, local: Local, stores: Stores):
    base = local.head()
    mid = local.commit({"secret.txt": b"known to another repo\n"})
    tip = local.commit({"next.txt": b"n\n"})
    before = repo.counts()
    # the pack leaves out `mid` (its parent): nothing here holds it
    report = push(repo, [(base, tip, "refs/heads/main")], local.pack(tip, exclude=(mid,)))
    assert report.refs == {"refs/heads/main": "rejected by the server's rules"}
    assert any("missing necessary objects" in m for m in report.messages)
    # another (private) repo holds secret.txt: naming its blob by sha must not reach into that repo
    other = new_repo(stores, private=True)
    commits.commit(stores, other.writer, other.record, revision="main",
                   ops=[commits.AddFile("secret.txt", b"known to another repo\n")], summary="s")
    local.git("read-tree", base)
    blob = local.git("hash-object", "-w", "--stdin", input=b"known to another repo\n").decode().strip()
    local.git("update-index", "--add", "--cacheinfo", f"100644,{blob},stolen.txt")
    stolen = local.git("commit-tree", local.git("write-tree").decode().strip(), "-p", base, "-m", "steal",
                       ).decode().strip()
    pack = local.git("pack-objects", "--stdout", input=f"{stolen}\n{local.git('rev-parse', stolen + '^{tree}').decode().strip()}\n".encode())
    before = repo.counts()
    report = push(repo, [(base, stolen, "refs/heads/main")], pack)
    assert report.refs == {"refs/heads/main": "rejected by the server's rules"}
    assert any("neither in the pack nor in this repo's history" in m for m in report.messages)
    assert repo.counts() == before


def test_blob_over_the_limit_is_refused_before_it_is_inflated(repo: Repo, local: Local):
    base = local.head()
    tip = local.commit({"huge.bin": bytes(3 * 1024 * 1024)})  # 3 MiB of zeros: a few KiB in the pack
    pack = local.pack(tip, exclude=(base,))
    assert len(pack) < 100_000
    small = dataclasses.replace(repo.stores, settings=dataclasses.replace(repo.stores.settings,
                                                                           git_max_blob_bytes=1024 * 1024))
    before = repo.counts()
    report = parse(git_push.receive_pack(small, repo.writer, repo.name,
                                         request([(base, tip, "refs/heads/main")], pack)))
    assert report.refs == {"refs/heads/main": "unpacker error"}
    assert "over the limit of 1048576 bytes" in report.unpack
    assert any("git lfs" in m for m in report.messages)
    assert repo.counts() == before
    few = dataclasses.replace(repo.stores, settings=dataclasses.replace(repo.stores.settings, git_max_push_objects=2))
    report = parse(git_push.receive_pack(few, repo.writer, repo.name, request([(base, tip, "refs/heads/main")], pack)))
    assert "over the limit of 2" in report.unpack and repo.counts() == before


def test_unknown_capability_is_refused(repo: Repo, local: Local):
    base = local.head()
    tip = local.commit({"a.txt": b"a\n"})
    before = repo.counts()
    report = push(repo, [(base, tip, "refs/heads/main")], local.pack(tip, exclude=(base,)),
                  caps=CAPS + " push-options")
    assert report.refs == {"refs/heads/main": "unpacker error"}
    assert report.unpack == "unknown capability push-options"
    with pytest.raises(BadRequest):
        push(repo, [(base, tip, "refs/heads/main")], local.pack(tip, exclude=(base,)), caps="frobnicate")
    assert repo.counts() == before


def test_read_token_and_anonymous_may_not_push(repo: Repo, local: Local, stores: Stores):
    base = local.head()
    tip = local.commit({"a.txt": b"a\n"})
    reader = authenticate(stores.db, users.create_token(stores, repo.writer.name or "", role=TokenRole.READ)[1])
    before = repo.counts()
    with pytest.raises(Forbidden):
        git_push.advertise_receive(stores, reader, repo.name)
    with pytest.raises(Forbidden):
        push(repo, [(base, tip, "refs/heads/main")], local.pack(tip, exclude=(base,)), who=reader)
    with pytest.raises(Unauthorized):  # 401: git asks for credentials
        push(repo, [(base, tip, "refs/heads/main")], local.pack(tip, exclude=(base,)), who=Principal())
    assert repo.counts() == before
    private = new_repo(stores, private=True)
    with pytest.raises(RepoNotFound) as e:  # as a missing repo
        git_push.advertise_receive(stores, Principal(), private.name)
    assert e.value.status == 401


def test_delta_chains_are_bounded_before_they_are_resolved(tmp_path: Path):
    """dulwich holds a chain's bases while it resolves it: the bytes a chain needs are summed from the headers, for
    deltas against an offset (what git sends) and against a sha (what libgit2 sends) alike."""
    loc = Local(tmp_path / "w")
    lines = [b"line %d of a file edited many times, one line more each time\n" % i for i in range(3000)]
    text = b"".join(lines)
    for i in range(30):  # each version one line away from the one before: git chains the deltas
        lines[i * 97] = b"edited line %d, each version edits one more\n" % i
        loc.commit({"f.txt": b"".join(lines)})
    tip = loc.head()
    for flags in (["--delta-base-offset"], []):
        pack = loc.git("pack-objects", "--stdout", "--revs", "--depth=50", *flags, input=f"{tip}\n".encode())
        assert copy_pack(io.BytesIO(pack), io.BytesIO(), max_objects=1000, max_object_bytes=1 << 20) == 90
        with pytest.raises(PackError, match="delta chain"):
            copy_pack(io.BytesIO(pack), io.BytesIO(), max_objects=1000, max_object_bytes=1 << 20,
                      max_chain_bytes=len(text) * 5)
