"""services/merges.py on stored git objects, on SQLite and PostgreSQL: the merge base of two histories, the
three-way tree merge (what merges cleanly, what conflicts) and the unified diff (its format, large files as
pointer changes, its caps)."""

from __future__ import annotations

import pytest

from inhouse.services import merges
from inhouse.services.context import Stores
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.storage.git.objects import Commit, Signature, blob_sha
from inhouse.storage.git.trees import TreeEditor, walk

WHO = Signature("t", "t@example.com", 1_000_000)


class Repo:
    """Commits made straight in the object store: `commit(parents, files)` with files path → bytes (None deletes)."""

    def __init__(self, stores: Stores):
        self.stores = stores
        self.clock = 1_000_000

    def commit(self, parents: tuple[str, ...], files: dict[str, bytes | None]) -> str:
        objects = self.stores.objects
        self.clock += 10
        with self.stores.db.write() as conn:
            root = objects.commit(conn, parents[0]).tree if parents else None
            editor = TreeEditor(objects, conn, root)
            for path, data in files.items():
                if data is None:
                    editor.delete(path)
                else:
                    editor.put(path, objects.put_blob(conn, data))
            who = Signature("t", "t@example.com", self.clock)
            return objects.put_commit(conn, Commit(editor.write(), parents, who, who, "c\n"))

    def tree(self, sha: str) -> str:
        with self.stores.db.read() as conn:
            return self.stores.objects.commit(conn, sha).tree

    def files(self, tree: str) -> dict[str, bytes]:
        with self.stores.db.read() as conn:
            return {p: self.stores.objects.get(conn, e.sha)[1] for p, e in walk(self.stores.objects, conn, tree)
                    if not e.is_tree}

    def base(self, a: str, b: str) -> str | None:
        with self.stores.db.read() as conn:
            return merges.merge_base(self.stores.objects, conn, a, b)

    def merge(self, base: str | None, ours: str, theirs: str) -> merges.TreeMerge:
        with self.stores.db.read() as conn:
            return merges.merge_trees(self.stores.objects, conn, base and self.tree(base), self.tree(ours),
                                      self.tree(theirs))

    def diff(self, old: str | None, new: str) -> str:
        with self.stores.db.read() as conn:
            return merges.diff(self.stores.objects, conn, old and self.tree(old), self.tree(new))


@pytest.fixture
def repo(stores: Stores) -> Repo:
    return Repo(stores)


def test_merge_base(repo: Repo) -> None:
    root = repo.commit((), {"a": b"1\n"})
    main1 = repo.commit((root,), {"b": b"2\n"})
    pr1 = repo.commit((root,), {"c": b"3\n"})
    pr2 = repo.commit((pr1,), {"c": b"4\n"})
    main2 = repo.commit((main1,), {"d": b"5\n"})
    assert repo.base(main2, pr2) == root
    assert repo.base(pr2, main2) == root
    assert repo.base(main2, main1) == main1  # an ancestor: a fast-forward
    assert repo.base(main1, main1) == main1
    merged = repo.commit((main2, pr2), {"c": b"4\n"})
    pr3 = repo.commit((pr2,), {"e": b"6\n"})
    assert repo.base(merged, pr3) == pr2  # after a merge, the pull request's merged commit
    assert repo.base(repo.commit((), {"z": b"z"}), main2) is None  # unrelated histories


def test_three_way_merge_takes_each_sides_changes(repo: Repo, stores: Stores) -> None:
    base = repo.commit((), {"README.md": b"r\n", "dir/a": b"a\n", "dir/b": b"b\n", "gone/x": b"x\n"})
    ours = repo.commit((base,), {"dir/a": b"a2\n", "main.txt": b"m\n", "same.txt": b"s\n"})
    theirs = repo.commit((base,), {"dir/b": b"b2\n", "gone/x": None, "pr.txt": b"p\n", "same.txt": b"s\n"})
    merged = repo.merge(base, ours, theirs)
    assert merged.conflicts == []
    with stores.db.write() as conn:
        merges.store_trees(stores.objects, conn, merged)
    assert merged.tree is not None
    assert repo.files(merged.tree) == {"README.md": b"r\n", "dir/a": b"a2\n", "dir/b": b"b2\n", "main.txt": b"m\n",
                                       "pr.txt": b"p\n", "same.txt": b"s\n"}


def test_a_text_file_both_sides_changed_merges_line_by_line(repo: Repo, stores: Stores) -> None:
    lines = b"".join(b"line %d\n" % i for i in range(1, 21))
    base = repo.commit((), {"README.md": lines, "model.bin": LfsPointer("a" * 64, 1).encode()})
    ours = repo.commit((base,), {"README.md": lines.replace(b"line 2\n", b"line two\n"),
                                 "model.bin": LfsPointer("b" * 64, 2).encode()})
    theirs = repo.commit((base,), {"README.md": lines.replace(b"line 18\n", b"line eighteen\nmore\n"),
                                   "model.bin": LfsPointer("c" * 64, 3).encode()})
    merged = repo.merge(base, ours, theirs)
    assert merged.conflicts == ["model.bin"]  # two versions of a large file never merge
    ours2 = repo.commit((base,), {"README.md": lines.replace(b"line 2\n", b"line two\n")})
    merged = repo.merge(base, ours2, theirs)
    assert merged.conflicts == []
    with stores.db.write() as conn:
        merges.store_trees(stores.objects, conn, merged)
    assert merged.tree is not None
    assert repo.files(merged.tree)["README.md"] == lines.replace(b"line 2\n", b"line two\n").replace(
        b"line 18\n", b"line eighteen\nmore\n")


@pytest.mark.parametrize("a,b,expected", [
    ("1 2x 3 4 5 6", "1 2 3 4 5x 6", "1 2x 3 4 5x 6"),  # apart: both land
    ("1 2x 3 4 5 6", "1 2x 3 4 5 6", "1 2x 3 4 5 6"),  # the same change once
    ("1 2 3 4 5 6", "0 1 2 3 4 5 6 7", "0 1 2 3 4 5 6 7"),  # one side unchanged
    ("1 3 4 5 6", "1 2 3 4 5 6 7", "1 3 4 5 6 7"),  # a deletion and an append
    ("1 2x 3 4 5 6", "1 2y 3 4 5 6", None),  # the same line changed differently
    ("1 2x 3 4 5 6", "1 2 3x 4 5 6", None),  # adjacent lines conflict, as in git
])
def test_merge_lines(a: str, b: str, expected: str | None) -> None:
    merged = merges.merge_lines("1 2 3 4 5 6".split(), a.split(), b.split())
    assert (" ".join(merged) if merged is not None else None) == expected


def test_three_way_merge_conflicts_name_the_paths(repo: Repo) -> None:
    base = repo.commit((), {"both.txt": b"0\n", "del.txt": b"0\n", "f": b"file\n", "dir/in": b"0\n", "ok": b"0\n"})
    ours = repo.commit((base,), {"both.txt": b"ours\n", "del.txt": None, "f": None, "f/inner": b"now a folder\n",
                                 "dir/in": b"ours\n", "added.txt": b"ours\n"})
    theirs = repo.commit((base,), {"both.txt": b"theirs\n", "del.txt": b"changed\n", "f": b"file changed\n",
                                   "dir/in": None, "added.txt": b"theirs\n", "ok": b"1\n"})
    assert repo.merge(base, ours, theirs).conflicts == ["added.txt", "both.txt", "del.txt", "dir/in", "f/"]


def test_the_diff_is_gits_unified_format(repo: Repo, stores: Stores) -> None:
    lines = b"".join(b"line %d\n" % i for i in range(1, 11))
    ptr_old = LfsPointer("a" * 64, 100).encode()
    ptr_new = LfsPointer("b" * 64, 200).encode()
    old = repo.commit((), {"text.txt": lines, "gone.txt": b"bye\n", "model.bin": ptr_old, "bin.dat": b"\0\1\2",
                           "same": b"same\n"})
    new = repo.commit((old,), {"text.txt": lines.replace(b"line 5\n", b"line five\n"), "gone.txt": None,
                               "model.bin": ptr_new, "bin.dat": b"\0\1\3", "new.txt": b"no newline"})
    sha = {k: blob_sha(v)[:7] for k, v in {"t0": lines, "t1": lines.replace(b"line 5\n", b"line five\n"),
                                           "gone": b"bye\n", "p0": ptr_old, "p1": ptr_new, "b0": b"\0\1\2",
                                           "b1": b"\0\1\3", "new": b"no newline"}.items()}
    assert repo.diff(old, new) == (
        f"diff --git a/bin.dat b/bin.dat\nindex {sha['b0']}..{sha['b1']} 100644\n"
        "Binary files a/bin.dat and b/bin.dat differ\n"
        f"diff --git a/gone.txt b/gone.txt\ndeleted file mode 100644\nindex {sha['gone']}..0000000\n"
        "--- a/gone.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
        f"diff --git a/model.bin b/model.bin\nindex {sha['p0']}..{sha['p1']} 100644\n"
        "--- a/model.bin\n+++ b/model.bin\n@@ -1,3 +1,3 @@\n version https://git-lfs.github.com/spec/v1\n"
        f"-oid sha256:{'a' * 64}\n-size 100\n+oid sha256:{'b' * 64}\n+size 200\n"
        f"diff --git a/new.txt b/new.txt\nnew file mode 100644\nindex 0000000..{sha['new']}\n"
        "--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+no newline\n\\ No newline at end of file\n"
        f"diff --git a/text.txt b/text.txt\nindex {sha['t0']}..{sha['t1']} 100644\n"
        "--- a/text.txt\n+++ b/text.txt\n@@ -2,7 +2,7 @@\n line 2\n line 3\n line 4\n-line 5\n+line five\n"
        " line 6\n line 7\n line 8\n"
    )
    assert repo.diff(new, new) == ""


def test_the_diff_is_capped(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    old = repo.commit((), {"keep": b"k\n"})
    new = repo.commit((old,), {f"f{i:02d}.txt": b"x\n" * 50 for i in range(12)})
    monkeypatch.setattr(merges, "MAX_DIFF_FILES", 5)
    text = repo.diff(old, new)
    assert text.count("diff --git") == 5 and text.endswith("more files changed; fetch refs/pr/N with git to see "
                                                           "them all\n")
    monkeypatch.setattr(merges, "MAX_DIFF_FILES", 100)
    monkeypatch.setattr(merges, "MAX_DIFF_BYTES", 1000)
    text = repo.diff(old, new)
    assert len(text) < 1200 and text.count("diff --git") == 3 and "# diff truncated at 1000 bytes: 9 more" in text
    monkeypatch.setattr(merges, "MAX_DIFF_BYTES", 1 << 20)
    monkeypatch.setattr(merges, "MAX_DIFF_READ", 450)  # 100 bytes a file
    text = repo.diff(old, new)
    assert text.count("diff --git") == 4 and "# diff truncated at 450 bytes of files read: 8 more" in text
