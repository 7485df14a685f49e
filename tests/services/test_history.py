"""History rewriting (services/history.py) on SQLite and PostgreSQL: dropping a large file from every commit every
ref reaches keeps the commits that never named it, keeps merges as merges, removes folders left empty, moves
branches, tags and pull-request refs, and stops the old commits resolving; super-squash leaves one root commit."""

from __future__ import annotations

import time

from sqlalchemy import select

from inhouse.access.identity import authenticate
from inhouse.services import history, lfs_files, repos, users
from inhouse.services.commits import AddFile, AddLfsFile, commit
from inhouse.services.context import Stores
from inhouse.services.repo_access import RepoName
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.schema import audit_log
from inhouse.storage.git.lfs_pointer import LfsPointer
from inhouse.storage.git.objects import Commit
from inhouse.storage.git.trees import walk
from inhouse.vocabulary import RepoType, TokenRole

OID = "ab" * 32
KEEP = "cd" * 32


def _oids_in(stores: Stores, tree: str) -> set[str]:
    with stores.db.read() as conn:
        out = set()
        for _, e in walk(stores.objects, conn, tree):
            if not e.is_tree:
                ptr = LfsPointer.parse(stores.objects.get(conn, e.sha)[1])
                if ptr is not None:
                    out.add(ptr.oid)
        return out


def _paths(stores: Stores, tree: str) -> list[str]:
    with stores.db.read() as conn:
        return [p for p, e in walk(stores.objects, conn, tree)]


def test_dropping_a_large_file_rewrites_only_the_commits_that_name_it(stores: Stores) -> None:
    users.create_user(stores, "alice")
    p = authenticate(stores.db, users.create_token(stores, "alice", role=TokenRole.WRITE)[1])
    repo = repos.create(stores, p, repo_type=RepoType.MODEL, namespace=None, name="r")
    name = RepoName(RepoType.MODEL, "alice", "r")
    with stores.db.write() as conn:
        lfs_store.record_object(conn, repo.id, OID, 5, time.time())
        lfs_store.record_object(conn, repo.id, KEEP, 7, time.time())
    c1 = commit(stores, p, repo, revision="main", ops=[AddFile("a.txt", b"a")], summary="a").oid
    c2 = commit(stores, p, repo, revision="main", ops=[AddLfsFile("dir/x.bin", OID, 5),
                                                       AddLfsFile("keep.bin", KEEP, 7)], summary="x").oid
    c3 = commit(stores, p, repo, revision="main", ops=[AddFile("b.txt", b"b")], summary="b").oid
    with stores.db.write() as conn:
        repo_store.create_ref(conn, repo.id, "refs/heads/dev", c1, time.time())
    d1 = commit(stores, p, repo, revision="dev", ops=[AddLfsFile("y.bin", OID, 5)], summary="y").oid
    with stores.db.write() as conn:  # a merge of dev into main, as git would push it
        main = stores.objects.commit(conn, c3)
        m = stores.objects.put_commit(conn, Commit(main.tree, (c3, d1), main.author, main.committer, "merge\n"))
        repo_store.add_commit(conn, repo.id, m)
        assert repo_store.compare_and_set_ref(conn, repo.id, "refs/heads/main", c3, m, time.time())
        repo_store.create_ref(conn, repo.id, "refs/tags/v1", c2, time.time())
        repo_store.create_ref(conn, repo.id, "refs/pr/1", d1, time.time())

    out = lfs_files.delete_files(stores, p, name, [OID], rewrite_history=True)

    assert out.removed == [OID] and out.purged == [OID]
    assert set(out.refs_rewritten) == {"refs/heads/main", "refs/heads/dev", "refs/tags/v1", "refs/pr/1"}
    with stores.db.read() as conn:
        refs = dict(repo_store.list_refs(conn, repo.id))
        head = stores.objects.commit(conn, refs["refs/heads/main"])
        assert head.message == "merge\n" and len(head.parents) == 2
        reach = history.reachable(stores, conn, refs.values())
        assert c1 in reach  # never named the file: same commit
        assert not reach & {c2, c3, d1, m}
        assert repo_store.repo_has_commit(conn, repo.id, c1)
        assert not any(repo_store.repo_has_commit(conn, repo.id, s) for s in (c2, c3, d1, m))
        trees = [stores.objects.commit(conn, s).tree for s in reach]
        tag = stores.objects.commit(conn, refs["refs/tags/v1"])
        assert tag.message == "x\n" and tag.parents == (c1,)
        assert not lfs_store.repo_has_object(conn, repo.id, OID) and lfs_store.repo_has_object(conn, repo.id, KEEP)
        assert lfs_store.object_size(conn, OID) is None
        entry = conn.execute(select(audit_log.c.details).where(audit_log.c.action == "lfs.delete")).scalar_one()
    for t in trees:
        assert OID not in _oids_in(stores, t)
    assert _paths(stores, head.tree) == [".gitattributes", "a.txt", "b.txt", "keep.bin"]  # dir/ went with x.bin
    assert _paths(stores, tag.tree) == [".gitattributes", "a.txt", "keep.bin"]
    assert '"purged":1' in entry


def test_squash_leaves_one_root_commit_and_forgets_the_rest(stores: Stores) -> None:
    users.create_user(stores, "bob")
    p = authenticate(stores.db, users.create_token(stores, "bob", role=TokenRole.WRITE)[1])
    repo = repos.create(stores, p, repo_type=RepoType.MODEL, namespace=None, name="s")
    name = RepoName(RepoType.MODEL, "bob", "s")
    shas = [commit(stores, p, repo, revision="main", ops=[AddFile(f"f{i}.txt", b"x")], summary=f"{i}").oid
            for i in range(5)]
    with stores.db.read() as conn:
        tree = stores.objects.commit(conn, shas[-1]).tree
    new = history.super_squash(stores, p, name, "main", "one")
    with stores.db.read() as conn:
        c = stores.objects.commit(conn, new)
        assert c.parents == () and c.tree == tree and c.message == "one\n"
        assert repo_store.get_ref(conn, repo.id, "refs/heads/main") == new
        assert not any(repo_store.repo_has_commit(conn, repo.id, s) for s in shas)
        assert repo_store.repo_by_id(conn, repo.id).head_sha == new  # type: ignore[union-attr]
