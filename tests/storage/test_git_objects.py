"""The git object model against the real `git` CLI: blob, tree and commit bytes and shas are git's own.

Every expected value comes from git itself (hash-object, mktree, update-index + write-tree, commit-tree,
cat-file) run in a temporary repository, so a difference in sorting, modes or headers shows up as a sha mismatch.
"""

from __future__ import annotations

import os
import random
import subprocess
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from inhouse.storage.db.engine import Database
from inhouse.storage.db.schema import git_objects
from inhouse.storage.git.lfs_pointer import MAX_POINTER_SIZE, LfsPointer
from inhouse.storage.git.objects import (
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    MODE_TREE,
    Commit,
    Signature,
    TreeEntry,
    blob_sha,
    decode_tree,
    encode_tree,
    make_message,
    object_sha,
)
from inhouse.storage.git.store import ObjectMissing, ObjectStore, small_bodies_and_sizes
from inhouse.storage.git.trees import TreeEditor, find_entry, walk

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"  # git's well-known empty tree

Files = dict[str, tuple[str, bytes]]  # path -> (mode, content)


class Git:
    """A bare-bones temporary git repository driven through the CLI."""

    def __init__(self, root: Path):
        self.root = root
        self.work = root / "work"
        self.work.mkdir(parents=True)
        self._n = 0
        self.env = {
            **os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "HOME": str(root),
            "GIT_DIR": str(root / "repo.git"),
        }
        self.run("init", "-q", "--bare", str(root / "repo.git"))

    def run(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> str:
        res = subprocess.run(["git", *args], input=input, capture_output=True, env={**self.env, **(env or {})},
                             cwd=cwd or self.root, check=False)
        assert res.returncode == 0, f"git {' '.join(args)} failed: {res.stderr.decode()}"
        return res.stdout.decode("utf-8", "surrogateescape")

    def hash_objects(self, contents: list[bytes]) -> list[str]:
        """`git hash-object -w` over each content, in one call."""
        if not contents:
            return []
        folder = self.root / f"blobs{self._n}"
        self._n += 1
        folder.mkdir()
        paths = []
        for i, c in enumerate(contents):
            (folder / str(i)).write_bytes(c)
            paths.append(str(folder / str(i)))
        return self.run("hash-object", "-w", "--no-filters", "--", *paths).split()

    def tree_of(self, files: Files) -> str:
        """The root tree sha git writes for exactly these files (built through a fresh index)."""
        paths = sorted(files)
        shas = self.hash_objects([files[p][1] for p in paths])
        index = self.root / f"index{self._n}"
        self._n += 1
        lines = "".join(f"{files[p][0]} {sha}\t{p}\n" for p, sha in zip(paths, shas))
        self.run("update-index", "--add", "--index-info", input=lines.encode(), env={"GIT_INDEX_FILE": str(index)})
        return self.run("write-tree", env={"GIT_INDEX_FILE": str(index)}).strip()

    def ls_tree(self, tree: str) -> dict[str, tuple[str, str, str]]:
        """path -> (mode, kind, sha) of everything under `tree`, folders included (`git ls-tree -r -t`)."""
        out = {}
        for record in self.run("ls-tree", "-r", "-t", "-z", "--full-tree", tree).split("\0"):
            if record:
                meta, path = record.split("\t", 1)
                mode, kind, sha = meta.split()
                out[path] = (mode.lstrip("0"), kind, sha)  # ls-tree pads folder modes: 040000
        return out

    def cat(self, kind: str, sha: str) -> bytes:
        res = subprocess.run(["git", "cat-file", kind, sha], capture_output=True, env=self.env, check=True)
        return res.stdout


@pytest.fixture
def git(tmp_path: Path) -> Git:
    return Git(tmp_path / "git")


@pytest.fixture
def objects(tmp_path: Path) -> Iterator[tuple[ObjectStore, Database]]:
    db = Database(f"sqlite:///{tmp_path / 'objects.db'}")
    db.create_schema()
    yield ObjectStore(db.engine.dialect.name), db
    db.dispose()


def _editor_tree(store: ObjectStore, db: Database, files: Files, order: list[str] | None = None) -> str:
    with db.write() as conn:
        ed = TreeEditor(store, conn, None)
        for path in order or list(files):
            mode, content = files[path]
            ed.put(path, store.put_blob(conn, content), mode)
        return ed.write()


# names that sort differently depending on whether a folder sorts as "name/" (git) or "name"
TRICKY: Files = {
    "a/inner.txt": (MODE_FILE, b"inside a/\n"),
    "a.b": (MODE_FILE, b"a.b\n"),
    "a-b": (MODE_FILE, b"a-b\n"),
    "a0": (MODE_FILE, b"a0\n"),
    "a_": (MODE_EXEC, b"#!/bin/sh\necho a_\n"),
    "A": (MODE_FILE, b"capital\n"),
    "ab/x": (MODE_FILE, b"ab/x\n"),
    "ab.txt": (MODE_FILE, b""),
    "b/c/d/e.bin": (MODE_FILE, bytes(range(256))),
    "b/c.d": (MODE_LINK, b"c/d/e.bin"),
    "b/c-": (MODE_FILE, b"dash\n"),
    "é/ü nicode.txt": (MODE_FILE, "ünïcødé\n".encode()),
    "with space/x y.txt": (MODE_FILE, b"spaces\n"),
    "~tilde": (MODE_FILE, b"~\n"),
}


# blobs -------------------------------------------------------------------------------------------------------------

def test_blob_sha_matches_git_hash_object(git: Git) -> None:
    rng = random.Random(7)
    contents = [b"", b"hello\n", b"no newline", b"\0\1\2binary\xff", "ünicode\n".encode(),
                rng.randbytes(100_000), b"version https://git-lfs.github.com/spec/v1\n"]
    assert [blob_sha(c) for c in contents] == git.hash_objects(contents)
    assert blob_sha(b"") == "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"  # git's empty blob


# trees -------------------------------------------------------------------------------------------------------------

def test_tree_encoding_matches_git_mktree_byte_for_byte(git: Git) -> None:
    blob = git.hash_objects([b"x\n"])[0]
    sub = git.run("mktree", input=f"100644 blob {blob}\tinner\n".encode()).strip()
    entries = [
        TreeEntry(MODE_FILE, "a.b", blob), TreeEntry(MODE_TREE, "a", sub), TreeEntry(MODE_FILE, "a-b", blob),
        TreeEntry(MODE_FILE, "a0", blob), TreeEntry(MODE_EXEC, "run.sh", blob), TreeEntry(MODE_LINK, "link", blob),
        TreeEntry(MODE_TREE, "ab", sub), TreeEntry(MODE_FILE, "ab.c", blob), TreeEntry(MODE_FILE, "Z", blob),
        TreeEntry(MODE_FILE, "é", blob), TreeEntry(MODE_FILE, "e", blob),
    ]
    listing = "".join(f"{e.mode} {'tree' if e.is_tree else 'blob'} {e.sha}\t{e.name}\n" for e in entries)
    git_sha = git.run("mktree", input=listing.encode()).strip()
    body = encode_tree(entries)
    assert object_sha("tree", body) == git_sha
    assert body == git.cat("tree", git_sha)
    # git's order: "a-b" < "a.b" < "a" (as "a/") < "a0" < "ab.c" < "ab" (as "ab/"); bytes, so "Z" < "e" < "é"
    assert [e.name for e in decode_tree(body)] == ["Z", "a-b", "a.b", "a", "a0", "ab.c", "ab", "e", "link",
                                                   "run.sh", "é"]
    assert sorted(decode_tree(body), key=lambda e: e.name) == sorted(entries, key=lambda e: e.name)
    assert object_sha("tree", encode_tree([])) == EMPTY_TREE


def test_tricky_names_and_modes_build_the_same_tree_as_git(git: Git, objects: tuple[ObjectStore, Database]) -> None:
    store, db = objects
    expected = git.tree_of(TRICKY)
    assert _editor_tree(store, db, TRICKY) == expected
    assert _editor_tree(store, db, TRICKY, order=sorted(TRICKY, reverse=True)) == expected  # order of puts
    # every object the editor stored is byte-identical to git's
    listing = git.ls_tree(expected)
    assert len(listing) == len(TRICKY) + 7  # the files and their 7 folders: a ab b b/c b/c/d é 'with space'
    with db.read() as conn:
        for path, (_, kind, sha) in listing.items():
            assert store.get(conn, sha) == (kind, git.cat(kind, sha)), path


def _random_files(rng: random.Random, count: int) -> Files:
    names = ["a", "a.b", "a-b", "a0", "a_b", "b", "B", "c.txt", "é", "z z", "x.bin", "~", "a.b.c", "data", "10"]
    files: Files = {}
    folders: set[str] = set()
    while len(files) < count:
        depth = rng.choice([0, 0, 1, 1, 2, 3])
        parts = [rng.choice(names) for _ in range(depth + 1)]
        path = "/".join(parts)
        prefixes = {"/".join(parts[:i]) for i in range(1, len(parts))}
        # a path cannot be a file and a folder at once
        if path in files or path in folders or prefixes & set(files):
            continue
        mode = rng.choice([MODE_FILE, MODE_FILE, MODE_FILE, MODE_EXEC, MODE_LINK])
        content = rng.randbytes(rng.choice([0, 1, 20, 300])) if mode != MODE_LINK else b"target/" + parts[-1].encode()
        files[path] = (mode, content)
        folders |= prefixes
    return files


@pytest.mark.parametrize("seed", range(6))
def test_random_file_sets_build_the_same_tree_as_git(seed: int, git: Git, objects: tuple[ObjectStore, Database]) -> None:
    store, db = objects
    rng = random.Random(seed)
    files = _random_files(rng, rng.randint(1, 40))
    order = list(files)
    rng.shuffle(order)
    root = _editor_tree(store, db, files, order)
    assert root == git.tree_of(files)
    git_listing = {path: (mode, sha) for path, (mode, _, sha) in git.ls_tree(root).items()}
    assert set(files) <= set(git_listing)
    with db.read() as conn:
        walked = {path: (e.mode, e.sha) for path, e in walk(store, conn, root)}
        assert walked == git_listing
        for path, (mode, sha) in git_listing.items():
            assert find_entry(store, conn, root, path) == TreeEntry(mode, path.rsplit("/", 1)[-1], sha)
        assert find_entry(store, conn, root, "") == TreeEntry(MODE_TREE, "", root)
        assert find_entry(store, conn, root, "no/such/path") is None
        file_path = next(iter(files))
        assert find_entry(store, conn, root, file_path + "/below") is None  # a file has no children


def test_working_tree_added_with_git_add_matches(git: Git, objects: tuple[ObjectStore, Database]) -> None:
    """The same files written to disk and committed the ordinary way (`git add -A`), exec bit included."""
    store, db = objects
    files = {p: v for p, v in TRICKY.items() if v[0] != MODE_LINK}
    for path, (mode, content) in files.items():
        target = git.work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        target.chmod(0o755 if mode == MODE_EXEC else 0o644)
    env = {"GIT_WORK_TREE": str(git.work), "GIT_INDEX_FILE": str(git.root / "work-index")}
    git.run("-c", "core.autocrlf=false", "-c", "core.fileMode=true", "add", "-A", ".", env=env, cwd=git.work)
    assert _editor_tree(store, db, files) == git.run("write-tree", env=env).strip()


# tree edits --------------------------------------------------------------------------------------------------------

BASE: Files = {
    "README.md": (MODE_FILE, b"# model\n"),
    "config.json": (MODE_FILE, b"{}\n"),
    "f.txt": (MODE_FILE, b"a file that becomes a folder\n"),
    "dir/one.bin": (MODE_FILE, b"1"),
    "dir/two.bin": (MODE_FILE, b"2"),
    "deep/x/y/z.txt": (MODE_FILE, b"alone in a deep folder\n"),
    "keep/a.txt": (MODE_FILE, b"keep\n"),
    "keep/sub/b.txt": (MODE_FILE, b"b\n"),
    "run.sh": (MODE_FILE, b"#!/bin/sh\n"),
}


def test_tree_editor_edits_match_git_step_by_step(git: Git, objects: tuple[ObjectStore, Database]) -> None:
    store, db = objects
    model: Files = dict(BASE)
    root = _editor_tree(store, db, model)
    assert root == git.tree_of(model)

    def step(edit, expect_change: bool = True) -> None:  # type: ignore[no-untyped-def]
        """Applies `edit` to a fresh editor on the current root, writes, and compares with git's tree."""
        nonlocal root
        with db.write() as conn:
            ed = TreeEditor(store, conn, root)
            edit(ed, conn)
            new_root = ed.write()
        assert new_root == git.tree_of(model)
        assert (new_root != root) == expect_change
        root = new_root

    def put(path: str, content: bytes, mode: str = MODE_FILE):  # type: ignore[no-untyped-def]
        def edit(ed: TreeEditor, conn) -> None:  # type: ignore[no-untyped-def]
            ed.put(path, store.put_blob(conn, content), mode)
        for p in [k for k in model if k.startswith(path + "/")]:  # a file replaces a folder
            del model[p]
        for i in range(1, path.count("/") + 1):  # a folder replaces a file
            model.pop("/".join(path.split("/")[:i]), None)
        model[path] = (mode, content)
        return edit

    def delete(path: str, found: bool = True):  # type: ignore[no-untyped-def]
        def edit(ed: TreeEditor, conn) -> None:  # type: ignore[no-untyped-def]
            assert ed.delete(path) is found
        for p in [k for k in model if k == path or k.startswith(path + "/")]:
            del model[p]
        return edit

    step(put("new/nested/file.txt", b"new\n"))  # new folders on the way
    step(put("config.json", b'{"a": 1}\n'))  # overwrite content
    step(put("run.sh", b"#!/bin/sh\n", MODE_EXEC))  # mode change only
    step(put("config.json", b'{"a": 1}\n'), expect_change=False)  # same content again: same tree
    step(put("f.txt/inside.txt", b"file replaced by a folder\n"))
    step(put("dir", b"folder replaced by a file\n"))
    step(delete("README.md"))
    step(delete("deep/x/y/z.txt"))  # the only file: deep/, x/ and y/ all vanish
    assert not any(p.startswith("deep") for p in model)
    step(delete("keep/sub/b.txt"))  # keep/ stays because of keep/a.txt
    step(delete("keep"))  # a whole folder
    step(delete("nothing/here", found=False), expect_change=False)
    step(delete("config.json/below", found=False), expect_change=False)  # through a file
    step(put("a/b.txt", b"x"))
    with db.read() as conn:  # the editor reads: file, folder, missing
        ed = TreeEditor(store, conn, root)
        got = ed.get("a/b.txt")
        assert got is not None and got.sha == blob_sha(b"x") and got.mode == MODE_FILE
        folder = ed.get("a")
        assert folder is not None and folder.mode == MODE_TREE
        assert ed.get("a/missing") is None and ed.get("missing/x") is None
    for path in list(model):  # deleting everything leaves git's empty tree
        step(delete(path))
    assert root == EMPTY_TREE


def test_tree_editor_writes_repeatedly_and_only_changed_subtrees(git: Git,
                                                                  objects: tuple[ObjectStore, Database]) -> None:
    store, db = objects
    with db.write() as conn:
        ed = TreeEditor(store, conn, None)
        ed.put("a/b/c.txt", store.put_blob(conn, b"c"))
        first = ed.write()
        ed.put("a/d.txt", store.put_blob(conn, b"d"))
        second = ed.write()
        assert ed.delete("a/d.txt") is True
        third = ed.write()
    assert first == git.tree_of({"a/b/c.txt": (MODE_FILE, b"c")}) == third
    assert second == git.tree_of({"a/b/c.txt": (MODE_FILE, b"c"), "a/d.txt": (MODE_FILE, b"d")})
    # an editor on an existing tree that changes one deep file stores only the folders on that path
    with db.write() as conn:
        before = conn.execute(git_objects.select()).all()
        ed = TreeEditor(store, conn, second)
        ed.put("a/b/c.txt", store.put_blob(conn, b"c2"))
        ed.write()
        after = conn.execute(git_objects.select()).all()
    assert len(after) - len(before) == 4  # the new blob, b/, a/ and the root


# commits -----------------------------------------------------------------------------------------------------------

def _git_commit(git: Git, tree: str, parents: list[str], author: Signature, committer: Signature,
                message: str) -> str:
    env = {
        "GIT_AUTHOR_NAME": author.name, "GIT_AUTHOR_EMAIL": author.email,
        "GIT_AUTHOR_DATE": f"@{int(author.when)} {author.tz}",
        "GIT_COMMITTER_NAME": committer.name, "GIT_COMMITTER_EMAIL": committer.email,
        "GIT_COMMITTER_DATE": f"@{int(committer.when)} {committer.tz}",
    }
    args = ["commit-tree", tree]
    for p in parents:
        args += ["-p", p]
    return git.run(*args, input=message.encode(), env=env).strip()  # stdin: the message verbatim


def test_commit_encoding_matches_git_commit_tree(git: Git) -> None:
    tree = git.tree_of({"a.txt": (MODE_FILE, b"a\n")})
    alice = Signature("Alice Ünïcode", "alice@example.com", 1_700_000_000, "+0530")
    bot = Signature("inhouse", "bot@inhouse.local", 1_700_000_123.9, "-0800")
    cases: list[tuple[list[str], Signature, Signature, str]] = [
        ([], alice, alice, make_message("Initial commit")),
        ([], alice, bot, make_message("Add weights", "Trained for 3 epochs.\n\nSecond paragraph.")),
    ]
    made: list[str] = []
    for parents, author, committer, message in cases:
        commit = Commit(tree, tuple(parents), author, committer, message)
        sha = _git_commit(git, tree, parents, author, committer, message)
        assert object_sha("commit", commit.encode()) == sha
        assert commit.encode() == git.cat("commit", sha)
        made.append(sha)
    merge = Commit(tree, tuple(made), bot, bot, make_message("Merge"))
    merge_sha = _git_commit(git, tree, made, bot, bot, merge.message)
    assert object_sha("commit", merge.encode()) == merge_sha
    decoded = Commit.decode(git.cat("commit", merge_sha))
    assert decoded.tree == tree and decoded.parents == tuple(made) and decoded.message == "Merge\n"
    assert decoded.author == Signature("inhouse", "bot@inhouse.local", 1_700_000_123, "-0800")
    second = Commit.decode(git.cat("commit", made[1]))
    assert second.title == "Add weights" and second.body == "Trained for 3 epochs.\n\nSecond paragraph."
    assert second.author == alice and second.committer.tz == "-0800"


def test_make_message_shapes_summary_and_description() -> None:
    assert make_message("  Upload  ") == "Upload\n"
    assert make_message("", "") == "Update\n"
    assert make_message("Title", "  body\n") == "Title\n\nbody\n"


# LFS pointers ------------------------------------------------------------------------------------------------------

# The example of https://github.com/git-lfs/git-lfs/blob/main/docs/spec.md, byte for byte.
SPEC_POINTER = (
    b"version https://git-lfs.github.com/spec/v1\n"
    b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
    b"size 12345\n"
)


def test_lfs_pointer_matches_the_spec_example() -> None:
    ptr = LfsPointer("4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393", 12345)
    assert ptr.encode() == SPEC_POINTER
    assert LfsPointer.parse(SPEC_POINTER) == ptr
    zero = LfsPointer("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0)
    assert LfsPointer.parse(zero.encode()) == zero
    huge = LfsPointer("f" * 64, 400 * 1024**3)
    assert LfsPointer.parse(huge.encode()) == huge
    assert len(huge.encode()) < MAX_POINTER_SIZE


@pytest.mark.parametrize("data", [
    b"",
    b"hello world\n",
    SPEC_POINTER.rstrip(b"\n"),  # the spec ends every line with \n
    SPEC_POINTER.replace(b"\n", b"\r\n"),  # pointers are stored with Unix line endings
    SPEC_POINTER + b"trailing\n",
    SPEC_POINTER.replace(b"4d7a", b"4D7A"),  # oids are lowercase hex
    SPEC_POINTER.replace(b"2393\n", b"23\n"),  # too short
    SPEC_POINTER.replace(b"sha256:", b"sha1:"),
    SPEC_POINTER.replace(b"size 12345", b"size -1"),
    SPEC_POINTER.replace(b"size 12345", b"size "),
    SPEC_POINTER.replace(b"spec/v1", b"spec/v2"),
    (b"version https://git-lfs.github.com/spec/v1\nsize 12345\n"  # keys out of order
     b"oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"),
    SPEC_POINTER + b" " * MAX_POINTER_SIZE,
])
def test_lfs_pointer_parse_rejects_what_is_not_a_pointer(data: bytes) -> None:
    assert LfsPointer.parse(data) is None


# the object store on both backends ---------------------------------------------------------------------------------

def test_object_store_round_trip(database_url: str, git: Git) -> None:
    db = Database(database_url)
    db.create_schema()
    try:
        writer = ObjectStore(db.engine.dialect.name)
        files = {"x/y.txt": (MODE_FILE, b"y" * 1000), "z.txt": (MODE_FILE, b"z")}
        commit = Commit(git.tree_of(files), (), Signature("a", "a@b", 1.0), Signature("a", "a@b", 1.0), "m\n")
        root = _editor_tree(writer, db, files)
        assert root == commit.tree
        with db.write() as conn:
            csha = writer.put_commit(conn, commit)
            assert writer.put_commit(conn, commit) == csha  # content addressed: a second put is a no-op
            blobs = [writer.put_blob(conn, f"blob {i}".encode()) for i in range(600)]
        reader = ObjectStore(db.engine.dialect.name)  # a cold cache: everything comes from the database
        with db.read() as conn:
            assert reader.commit(conn, csha) == commit
            assert csha == _git_commit(git, root, [], commit.author, commit.committer, commit.message)
            assert {e.name for e in reader.tree(conn, root)} == {"x", "z.txt"}
            assert reader.get(conn, blob_sha(b"z")) == ("blob", b"z")
            assert reader.exists(conn, root) and not reader.exists(conn, "0" * 40)
            assert reader.size(conn, blob_sha(b"y" * 1000)) == 1000
            assert (reader.kind(conn, root), reader.kind(conn, csha), reader.kind(conn, "0" * 40)) == (
                "tree", "commit", None)
            for missing in (lambda: reader.get(conn, "0" * 40), lambda: reader.size(conn, "0" * 40),
                            lambda: reader.tree(conn, csha), lambda: reader.commit(conn, root)):
                with pytest.raises(ObjectMissing):
                    missing()
            rows = conn.execute(git_objects.select().where(git_objects.c.sha == blob_sha(b"y" * 1000))).one()
            assert zlib.decompress(rows.data) == b"y" * 1000 and rows.size == 1000  # stored without the header
            sizes = small_bodies_and_sizes(conn, [*blobs, blob_sha(b"y" * 1000), "0" * 40], small=256)
        assert len(sizes) == 601 and "0" * 40 not in sizes  # batched over 500, missing ones absent
        assert sizes[blobs[599]] == (8, b"blob 599")
        assert sizes[blob_sha(b"y" * 1000)] == (1000, None)  # above `small`: size only
    finally:
        db.dispose()
