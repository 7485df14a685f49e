"""Contract test of every store function in inhouse.storage.db, run on SQLite and on PostgreSQL.

Each test builds a `Database(url)` + `create_schema()` on the backend the `database_url` fixture names, so one
body of assertions pins the same behaviour on both.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy.exc
from sqlalchemy import select

from inhouse.storage.db import discussions as disc_store
from inhouse.storage.db import lfs as lfs_store
from inhouse.storage.db import likes as likes_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db import users as user_store
from inhouse.storage.db.engine import Database
from inhouse.storage.db.schema import tokens
from inhouse.vocabulary import RepoType, Scope, TokenRole

SHA_A = "a" * 40
SHA_B = "b" * 40
SHA_C = "c" * 40


def _user(db: Database, name: str, *, admin: bool = False) -> int:
    with db.write() as conn:
        return user_store.insert_user(conn, name=name, fullname=name.title(), email=f"{name}@example.com",
                                      kind="user", is_admin=admin, now=1000.0).id


def _repo(db: Database, owner_id: int, namespace: str, name: str, *, type: RepoType = RepoType.MODEL,
          private: bool = False,
          now: float = 1000.0) -> int:
    with db.write() as conn:
        return repo_store.insert_repo(conn, type=type, namespace=namespace, name=name, owner_id=owner_id,
                                      private=private, now=now)


def _in_threads(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Runs fn(0..n-1) in n threads that start together; returns their results (re-raising any error)."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(fn, range(n)))


# transactions ----------------------------------------------------------------------------------------------------

def test_read_transaction_is_one_consistent_snapshot(db: Database) -> None:
    """A commit that lands while a read transaction is open stays invisible to it (the engine's promise)."""
    uid = _user(db, "snap")
    rid = _repo(db, uid, "snap", "r")
    with db.write() as conn:
        repo_store.create_ref(conn, rid, "refs/heads/main", SHA_A, 1.0)
    with db.read() as conn:
        assert repo_store.get_ref(conn, rid, "refs/heads/main") == SHA_A

        def move() -> None:  # another connection, in another thread (SQLite connections stay in theirs)
            with db.write() as other:
                assert repo_store.compare_and_set_ref(other, rid, "refs/heads/main", SHA_A, SHA_B, 2.0)
                repo_store.create_ref(other, rid, "refs/tags/late", SHA_B, 2.0)

        _in_threads(1, lambda _: move())  # a reader never blocks a writer
        assert repo_store.get_ref(conn, rid, "refs/heads/main") == SHA_A
        assert repo_store.list_refs(conn, rid) == [("refs/heads/main", SHA_A)]
    with db.read() as conn:
        assert repo_store.get_ref(conn, rid, "refs/heads/main") == SHA_B


# users and tokens --------------------------------------------------------------------------------------------------

def test_users_insert_lookup_and_listing(db: Database) -> None:
    with db.write() as conn:
        bob = user_store.insert_user(conn, name="Bob", fullname="Bob B", email=None, kind="user", is_admin=False,
                                     now=5.0)
        org = user_store.insert_user(conn, name="acme", fullname="Acme", email="it@acme.test", kind="org",
                                     is_admin=False, now=6.0)
        root = user_store.insert_user(conn, name="root", fullname="", email=None, kind="user", is_admin=True,
                                      now=7.0)
    with db.read() as conn:
        assert user_store.user_by_name(conn, "Bob") == bob
        assert user_store.user_by_name(conn, "bob") is None  # exact lookup is case-sensitive
        assert user_store.user_by_name_ci(conn, "bOB") == bob
        assert user_store.user_by_id(conn, org.id) == org
        assert user_store.user_by_id(conn, 999_999) is None
        got_root = user_store.user_by_name(conn, "root")
        assert got_root is not None and got_root.is_admin is True and got_root.kind == "user"
        assert org.kind == "org" and org.email == "it@acme.test"
        assert [u.name for u in user_store.list_users(conn)] == sorted(["Bob", "acme", "root"])
        assert user_store.list_users(conn)[0] == bob and root in user_store.list_users(conn)


def test_user_names_are_unique(db: Database) -> None:
    _user(db, "dup")
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        _user(db, "dup")
    with db.read() as conn:  # the failed transaction left nothing behind
        assert [u.name for u in user_store.list_users(conn)] == ["dup"]


def test_user_by_name_ci_does_not_treat_underscore_as_a_wildcard(db: Database) -> None:
    _user(db, "axb")
    with db.read() as conn:  # creating "a_b" asks this question; "axb" must not answer it
        assert user_store.user_by_name_ci(conn, "a_b") is None
        assert user_store.user_by_name_ci(conn, "a%") is None
        assert user_store.user_by_name_ci(conn, "AXB") is not None


def test_tokens_lifecycle(db: Database) -> None:
    uid = _user(db, "tok")
    with db.write() as conn:
        t1 = user_store.insert_token(conn, user_id=uid, name="laptop", role=TokenRole.WRITE, token_hash="h" * 64,
                                     hint="hf_abc", now=10.0, expires_at=None)
        t2 = user_store.insert_token(conn, user_id=uid, name="ci", role=TokenRole.READ, token_hash="g" * 64, hint="hf_def",
                                     now=11.0, expires_at=99.5)
    with db.read() as conn:
        found = user_store.token_by_hash(conn, "h" * 64)
        assert found is not None
        tok, owner = found
        assert tok == t1 and owner.name == "tok" and owner.id == uid
        assert user_store.token_by_hash(conn, "x" * 64) is None
        assert user_store.tokens_of(conn, uid) == [t1, t2]
        assert user_store.tokens_of(conn, uid + 1000) == []
        assert user_store.token_by_id(conn, t2.id) == t2 and t2.expires_at == 99.5 and t2.role == "read"
        assert user_store.token_by_id(conn, 424242) is None
    with db.write() as conn:
        assert user_store.revoke_token(conn, t1.id, 20.0) is True
        assert user_store.revoke_token(conn, t1.id, 21.0) is False  # already revoked: the first time stays
        assert user_store.revoke_token(conn, 424242, 21.0) is False
    with db.read() as conn:
        revoked = user_store.token_by_id(conn, t1.id)
        assert revoked is not None and revoked.revoked_at == 20.0
        assert user_store.token_by_id(conn, t2.id).revoked_at is None  # type: ignore[union-attr]


def test_token_roles_and_scopes_keep_their_stored_strings(db: Database) -> None:
    """The typed role and scopes are written and read back as the same strings and JSON as before they were typed."""
    uid = _user(db, "tok3")
    scopes = (Scope.parse({"type": "repo", "name": "tok3/m", "permissions": ["repo.write", "repo.content.read"]}),
              Scope.parse({"type": "org", "name": "acme", "permissions": ["discussion.write"]}))
    with db.write() as conn:
        t = user_store.insert_token(conn, user_id=uid, name="ci", role=TokenRole.FINE_GRAINED, token_hash="s" * 64,
                                    hint="h", now=1.0, expires_at=None, scopes=scopes)
        plain = user_store.insert_token(conn, user_id=uid, name="rw", role=TokenRole.WRITE, token_hash="t" * 64,
                                        hint="h", now=1.0, expires_at=None)
    with db.read() as conn:
        rows = conn.execute(select(tokens.c.role, tokens.c.scopes).where(tokens.c.user_id == uid)
                            .order_by(tokens.c.id)).all()
        assert user_store.tokens_of(conn, uid) == [t, plain]
    assert [tuple(r) for r in rows] == [
        ("fine-grained", '[{"type": "repo", "name": "tok3/m", "permissions": ["repo.content.read", "repo.write"]}, '
                         '{"type": "org", "name": "acme", "permissions": ["discussion.write"]}]'),
        ("write", None)]


def test_token_hashes_are_unique(db: Database) -> None:
    uid = _user(db, "tok2")
    with db.write() as conn:
        user_store.insert_token(conn, user_id=uid, name="a", role=TokenRole.READ, token_hash="z" * 64, hint="h", now=1.0,
                                expires_at=None)
    with pytest.raises(sqlalchemy.exc.IntegrityError), db.write() as conn:
            user_store.insert_token(conn, user_id=uid, name="b", role=TokenRole.READ, token_hash="z" * 64, hint="h",
                                    now=1.0, expires_at=None)


def test_write_transaction_rolls_back_entirely_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as conn:
            user_store.insert_user(conn, name="ghost", fullname="", email=None, kind="user", is_admin=False, now=1)
            raise RuntimeError("boom")
    with db.read() as conn:
        assert user_store.user_by_name(conn, "ghost") is None


# repos, aliases, moves ---------------------------------------------------------------------------------------------

def test_repo_insert_find_update_and_name_taken(db: Database) -> None:
    uid = _user(db, "alice")
    rid = _repo(db, uid, "alice", "Bert", now=50.0)
    dsid = _repo(db, uid, "alice", "Bert", type=RepoType.DATASET, now=51.0)  # same name, other type: allowed
    assert rid != dsid
    with db.read() as conn:
        rec = repo_store.repo_by_id(conn, rid)
        assert rec is not None
        assert (rec.type, rec.namespace, rec.name, rec.owner_id, rec.private) == (RepoType.MODEL, "alice", "Bert", uid, False)
        assert (rec.created_at, rec.last_modified, rec.head_sha, rec.card_data, rec.tags) == (50.0, 50.0, None, None, [])
        assert (rec.downloads, rec.likes, rec.gated) == (0, 0, None)
        assert rec.repo_id == "alice/Bert" and rec.url_path == "alice/Bert"
        assert repo_store.find_repo(conn, RepoType.MODEL, "alice", "Bert") == (rec, False)
        # lookups ignore case, as on the Hub, and give the repo as it was named
        assert repo_store.find_repo(conn, RepoType.MODEL, "alice", "bert") == (rec, False)
        assert repo_store.find_repo(conn, RepoType.MODEL, "ALICE", "BERT") == (rec, False)
        assert repo_store.find_repo(conn, RepoType.MODEL, "alice", "bert2") is None
        ds = repo_store.find_repo(conn, RepoType.DATASET, "alice", "Bert")
        assert ds is not None and ds[0].id == dsid and ds[0].url_path == "datasets/alice/Bert"
        assert repo_store.find_repo(conn, RepoType.SPACE, "alice", "Bert") is None
        assert repo_store.name_taken(conn, RepoType.MODEL, "ALICE", "bert") is True  # taken ignores case
        assert repo_store.name_taken(conn, RepoType.MODEL, "alice", "other") is False
        assert repo_store.name_taken(conn, RepoType.SPACE, "alice", "Bert") is False
        assert repo_store.repo_by_id(conn, 999_999) is None
    with db.write() as conn:
        repo_store.update_repo(conn, rid, card_data={"license": "mit", "tags": ["x"]}, tags=["x", "text"],
                               pipeline_tag="fill-mask", library_name="transformers", license="mit",
                               head_sha=SHA_A, last_modified=60.0, private=True, gated="auto", downloads=3, likes=2)
    with db.read() as conn:
        rec = repo_store.repo_by_id(conn, rid)
        assert rec is not None
        assert rec.card_data == {"license": "mit", "tags": ["x"]} and rec.tags == ["x", "text"]
        assert (rec.pipeline_tag, rec.library_name, rec.license, rec.head_sha) == (
            "fill-mask", "transformers", "mit", SHA_A)
        assert (rec.last_modified, rec.private, rec.gated, rec.downloads, rec.likes) == (60.0, True, "auto", 3, 2)
    with db.write() as conn:
        repo_store.update_repo(conn, rid, card_data=None)
    with db.read() as conn:
        assert repo_store.repo_by_id(conn, rid).card_data is None  # type: ignore[union-attr]


def test_card_facts_and_titles_of_any_length_fit_on_both_backends(db: Database) -> None:
    """SQLite ignores VARCHAR lengths; PostgreSQL enforces them. Free text from cards and commits must fit both."""
    uid = _user(db, "long")
    rid = _repo(db, uid, "long", "r")
    long = "x" * 1000
    with db.write() as conn:
        repo_store.update_repo(conn, rid, pipeline_tag=long, library_name=long, license=long)
        did = disc_store.insert_discussion(conn, repo_id=rid, num=repo_store.next_discussion_number(conn, rid),
                                           title=long, description=long, is_pr=True, author_id=uid, now=1.0,
                                           base_ref="refs/heads/main")
    with db.read() as conn:
        rec = repo_store.repo_by_id(conn, rid)
        assert rec is not None and rec.pipeline_tag == rec.library_name == rec.license == long
        got = disc_store.get_discussion(conn, rid, 1)
        assert got is not None and got.id == did and got.title == long


def test_repo_ids_are_unique_per_type(db: Database) -> None:
    uid = _user(db, "u")
    _repo(db, uid, "u", "m")
    with pytest.raises(sqlalchemy.exc.IntegrityError):
        _repo(db, uid, "u", "m")


def test_move_leaves_an_alias_and_moving_back_reclaims_the_name(db: Database) -> None:
    uid = _user(db, "mover")
    rid = _repo(db, uid, "mover", "one")
    with db.write() as conn:
        rec = repo_store.repo_by_id(conn, rid)
        repo_store.move_repo(conn, rec, "mover", "two")  # type: ignore[arg-type]
    with db.read() as conn:
        now_at = repo_store.find_repo(conn, RepoType.MODEL, "mover", "two")
        assert now_at is not None and now_at[0].id == rid and now_at[1] is False
        old = repo_store.find_repo(conn, RepoType.MODEL, "mover", "one")
        assert old is not None and old[0].id == rid and old[0].name == "two" and old[1] is True
        assert repo_store.find_repo(conn, RepoType.MODEL, "Mover", "ONE") == old  # old names ignore case too
        assert repo_store.name_taken(conn, RepoType.MODEL, "mover", "one") is False  # an alias does not hold the name
    with db.write() as conn:  # two → three → one: the alias "one" must give way to the real repo
        repo_store.move_repo(conn, repo_store.repo_by_id(conn, rid), "mover", "three")  # type: ignore[arg-type]
        repo_store.move_repo(conn, repo_store.repo_by_id(conn, rid), "mover", "one")  # type: ignore[arg-type]
    with db.read() as conn:
        assert repo_store.find_repo(conn, RepoType.MODEL, "mover", "one") == (repo_store.repo_by_id(conn, rid), False)
        for stale in ("two", "three"):
            hit = repo_store.find_repo(conn, RepoType.MODEL, "mover", stale)
            assert hit is not None and hit[1] is True and hit[0].name == "one"
    # a new repo may take an old name; the real repo wins over the alias
    other = _repo(db, uid, "mover", "two")
    with db.read() as conn:
        assert repo_store.find_repo(conn, RepoType.MODEL, "mover", "two") == (repo_store.repo_by_id(conn, other), False)


def test_delete_repo_removes_refs_aliases_and_row(db: Database) -> None:
    uid = _user(db, "del")
    rid = _repo(db, uid, "del", "a")
    with db.write() as conn:
        repo_store.create_ref(conn, rid, "refs/heads/main", SHA_A, 1.0)
        repo_store.move_repo(conn, repo_store.repo_by_id(conn, rid), "del", "b")  # type: ignore[arg-type]
        repo_store.add_commit(conn, rid, SHA_A)
        lfs_store.record_object(conn, rid, "0" * 64, 5, 1.0)
        num = repo_store.next_discussion_number(conn, rid)
        did = disc_store.insert_discussion(conn, repo_id=rid, num=num, title="t", description="", is_pr=False,
                                           author_id=uid, now=1.0, base_ref=None)
        disc_store.add_event(conn, did, "comment", uid, 1.0, {"content": "x"})
    with db.write() as conn:
        repo_store.delete_repo(conn, rid)
    with db.read() as conn:
        assert repo_store.repo_by_id(conn, rid) is None
        assert repo_store.find_repo(conn, RepoType.MODEL, "del", "a") is None
        assert repo_store.find_repo(conn, RepoType.MODEL, "del", "b") is None
        assert repo_store.list_refs(conn, rid) == []
        assert repo_store.repo_has_commit(conn, rid, SHA_A) is False
        assert lfs_store.repo_has_object(conn, rid, "0" * 64) is False
        assert lfs_store.object_size(conn, "0" * 64) == 5  # the object itself is shared and stays
    # the name is free again
    _repo(db, uid, "del", "a")
    with db.read() as conn:
        again = repo_store.find_repo(conn, RepoType.MODEL, "del", "a")
        assert again is not None and again[1] is False and repo_store.list_refs(conn, again[0].id) == []


# search ------------------------------------------------------------------------------------------------------------

def test_search_repos_visibility_filters_sort_and_paging(db: Database) -> None:
    alice = _user(db, "alice")
    bob = _user(db, "bob")
    ids = {
        "alice/bert-base": _repo(db, alice, "alice", "bert-base", now=10.0),
        "alice/secret": _repo(db, alice, "alice", "secret", private=True, now=20.0),
        "bob/GPT-mini": _repo(db, bob, "bob", "GPT-mini", now=30.0),
        "bob/my_model": _repo(db, bob, "bob", "my_model", now=40.0),
        "bob/my-model": _repo(db, bob, "bob", "my-model", now=50.0),
    }
    ds = _repo(db, bob, "bob", "bert-data", type=RepoType.DATASET, now=60.0)
    with db.write() as conn:
        repo_store.update_repo(conn, ids["alice/bert-base"], tags=["text", "en"], downloads=100, likes=1)
        repo_store.update_repo(conn, ids["bob/GPT-mini"], pipeline_tag="text-generation", downloads=5, likes=9)
        repo_store.update_repo(conn, ids["bob/my_model"], library_name="timm", downloads=50)
        repo_store.update_repo(conn, ids["bob/my-model"], tags=["textual", "x-y", 'say "hi"\\'])

    def names(**kw: Any) -> list[str]:
        args: dict[str, Any] = {"type": RepoType.MODEL, "visible_to": None, "is_admin": False, **kw}
        with db.read() as conn:
            return [r.repo_id for r in repo_store.search_repos(conn, **args)]

    public = ["bob/my-model", "bob/my_model", "bob/GPT-mini", "alice/bert-base"]
    assert names() == public  # newest first, private hidden, other types excluded
    assert names(visible_to=alice) == public[:3] + ["alice/secret", "alice/bert-base"]
    assert names(visible_to=bob) == public
    assert names(is_admin=True) == public[:3] + ["alice/secret", "alice/bert-base"]
    assert names(descending=False) == list(reversed(public))
    with db.read() as conn:
        assert [r.id for r in repo_store.search_repos(conn, type=RepoType.DATASET, visible_to=None, is_admin=False)] == [ds]
    # search: case-insensitive substring of "namespace/name", several terms all apply
    assert names(search=["BERT"]) == ["alice/bert-base"]
    assert names(search=["bob/"]) == ["bob/my-model", "bob/my_model", "bob/GPT-mini"]
    assert names(search=["bob", "gpt"]) == ["bob/GPT-mini"]
    assert names(search=["secret"]) == [] and names(search=["secret"], visible_to=alice) == ["alice/secret"]
    # "_" and "%" in a search are literal characters, not SQL wildcards
    assert names(search=["my_model"]) == ["bob/my_model"]
    assert names(search=["my%model"]) == []
    assert names(search=["y-m"]) == ["bob/my-model"]
    # author: case-insensitive namespace
    assert names(author="BOB") == ["bob/my-model", "bob/my_model", "bob/GPT-mini"]
    assert names(author="bo") == []
    # tags: an exact element of the tag list, or the pipeline tag, or the library
    assert names(tags=["text"]) == ["alice/bert-base"]  # "textual" is not "text"
    assert names(tags=["text-generation"]) == ["bob/GPT-mini"]
    assert names(tags=["timm"]) == ["bob/my_model"]
    assert names(tags=["text", "en"]) == ["alice/bert-base"] and names(tags=["text", "timm"]) == []
    assert names(tags=["x_y"]) == [] and names(tags=["x%"]) == [] and names(tags=["x-y"]) == ["bob/my-model"]
    assert names(tags=['say "hi"\\']) == ["bob/my-model"]
    assert names(tags=["TEXT"]) == [] and names(tags=["Timm"]) == []  # tags match case-sensitively on both
    # sorts and paging: "downloads" are the last 30 days' (repo_downloads), "downloads_all_time" every one
    assert names(sort="downloads_all_time") == ["alice/bert-base", "bob/my_model", "bob/GPT-mini", "bob/my-model"]
    with db.write() as conn:
        for _ in range(3):
            likes_store.add_download(conn, ids["bob/GPT-mini"], 1000)
        likes_store.add_download(conn, ids["bob/my-model"], 1000 - 29)
        likes_store.add_download(conn, ids["bob/my_model"], 1000 - 30)  # 31 days ago: all time only
    assert names(sort="downloads", today=1000) == ["bob/GPT-mini", "bob/my-model", "bob/my_model", "alice/bert-base"]
    with db.read() as conn:
        counted = {r.repo_id: (r.recent_downloads, r.downloads) for r in repo_store.search_repos(
            conn, type=RepoType.MODEL, visible_to=None, is_admin=False, today=1000)}
        assert likes_store.recent_downloads(conn, list(ids.values()), 1000) == {
            ids["bob/GPT-mini"]: 3, ids["bob/my-model"]: 1}
    assert counted == {"bob/GPT-mini": (3, 8), "bob/my-model": (1, 1), "bob/my_model": (0, 51),
                       "alice/bert-base": (0, 100)}
    assert names(sort="likes")[:2] == ["bob/GPT-mini", "alice/bert-base"]
    with db.write() as conn:
        repo_store.update_repo(conn, ids["bob/my_model"], gated="manual")
    assert names(gated=True) == ["bob/my_model"] and names(gated=False) == ["bob/my-model", "bob/GPT-mini",
                                                                             "alice/bert-base"]
    assert names(sort="created_at", descending=False) == list(reversed(public))
    assert names(sort="no-such-column") == public  # unknown sorts fall back to last_modified
    assert names(limit=2) == public[:2]
    assert names(limit=2, offset=2) == public[2:]
    assert names(limit=10, offset=10) == []


def test_search_repos_ties_are_broken_by_id(db: Database) -> None:
    uid = _user(db, "tie")
    a = _repo(db, uid, "tie", "a", now=1.0)
    b = _repo(db, uid, "tie", "b", now=1.0)
    with db.read() as conn:
        down = [r.id for r in repo_store.search_repos(conn, type=RepoType.MODEL, visible_to=None, is_admin=False)]
        up = [r.id for r in repo_store.search_repos(conn, type=RepoType.MODEL, visible_to=None, is_admin=False,
                                                    descending=False)]
    assert down == [b, a] and up == [a, b]


# refs and commits --------------------------------------------------------------------------------------------------

def test_refs_create_list_compare_and_set_delete(db: Database) -> None:
    uid = _user(db, "refs")
    rid = _repo(db, uid, "refs", "r")
    other = _repo(db, uid, "refs", "other")
    with db.write() as conn:
        repo_store.create_ref(conn, rid, "refs/heads/main", SHA_A, 1.0)
        repo_store.create_ref(conn, rid, "refs/tags/v1", SHA_A, 1.0)
        repo_store.create_ref(conn, rid, "refs/heads/dev", SHA_B, 1.0)
        repo_store.create_ref(conn, other, "refs/heads/main", SHA_C, 1.0)
    with db.read() as conn:
        assert repo_store.get_ref(conn, rid, "refs/heads/main") == SHA_A
        assert repo_store.get_ref(conn, rid, "refs/heads/nope") is None
        assert repo_store.list_refs(conn, rid) == [
            ("refs/heads/dev", SHA_B), ("refs/heads/main", SHA_A), ("refs/tags/v1", SHA_A)]
    with db.write() as conn:
        assert repo_store.compare_and_set_ref(conn, rid, "refs/heads/main", SHA_B, SHA_C, 2.0) is False  # stale
        assert repo_store.compare_and_set_ref(conn, rid, "refs/heads/gone", SHA_A, SHA_C, 2.0) is False  # missing
        assert repo_store.compare_and_set_ref(conn, rid, "refs/heads/main", SHA_A, SHA_B, 2.0) is True
        assert repo_store.compare_and_set_ref(conn, rid, "refs/heads/main", SHA_A, SHA_C, 2.0) is False  # moved
    with db.read() as conn:
        assert repo_store.get_ref(conn, rid, "refs/heads/main") == SHA_B
        assert repo_store.get_ref(conn, rid, "refs/tags/v1") == SHA_A  # only the named ref moved
        assert repo_store.get_ref(conn, rid, "refs/heads/gone") is None  # CAS never creates
        assert repo_store.get_ref(conn, other, "refs/heads/main") == SHA_C  # nor touches another repo
    with db.write() as conn:
        assert repo_store.delete_ref(conn, rid, "refs/tags/v1") is True
        assert repo_store.delete_ref(conn, rid, "refs/tags/v1") is False
    with db.read() as conn:
        assert [n for n, _ in repo_store.list_refs(conn, rid)] == ["refs/heads/dev", "refs/heads/main"]
    with pytest.raises(sqlalchemy.exc.IntegrityError), db.write() as conn:
            repo_store.create_ref(conn, rid, "refs/heads/main", SHA_C, 3.0)
    with db.read() as conn:
        assert repo_store.get_ref(conn, rid, "refs/heads/main") == SHA_B


def test_compare_and_set_ref_race_has_exactly_one_winner(db: Database) -> None:
    """Writers that all read the same head race to move it: exactly one succeeds, the ref holds its commit."""
    uid = _user(db, "race")
    rid = _repo(db, uid, "race", "r")
    with db.write() as conn:
        repo_store.create_ref(conn, rid, "refs/heads/main", SHA_A, 1.0)
    n = 6
    base = SHA_A
    for round_ in range(5):
        candidates = [f"{round_:02x}{i:038x}" for i in range(n)]

        def attempt(i: int, base: str = base, candidates: list[str] = candidates) -> bool:
            with db.write() as conn:
                return repo_store.compare_and_set_ref(conn, rid, "refs/heads/main", base, candidates[i], 2.0)

        won = _in_threads(n, attempt)
        assert won.count(True) == 1, won
        base = candidates[won.index(True)]
        with db.read() as conn:
            assert repo_store.get_ref(conn, rid, "refs/heads/main") == base


def test_compare_and_set_ref_two_open_transactions_on_postgresql(pg_url: str) -> None:
    """Two connections, each inside its own write transaction having read the same head, both try to move it.

    On PostgreSQL the transactions really overlap (SQLite serialises writers, so this case is PostgreSQL's):
    the second UPDATE waits for the first transaction and then finds the ref no longer at the old target.
    """
    db = Database(pg_url)
    db.create_schema()
    try:
        ns = f"pgrace{uuid.uuid4().hex[:8]}"
        uid = _user(db, ns)
        rid = _repo(db, uid, ns, "r")
        with db.write() as conn:
            repo_store.create_ref(conn, rid, "refs/heads/main", SHA_A, 1.0)
        for round_ in range(10):
            with db.read() as conn:
                base = repo_store.get_ref(conn, rid, "refs/heads/main")
            assert base is not None
            both_read = threading.Barrier(2, timeout=20)
            results: dict[int, bool] = {}
            news = [f"{round_:02x}{i:038x}" for i in (1, 2)]

            def writer(i: int, both_read: threading.Barrier = both_read, base: str = base,
                       results: dict[int, bool] = results, news: list[str] = news) -> None:
                with db.write() as conn:
                    head = repo_store.get_ref(conn, rid, "refs/heads/main")
                    both_read.wait()  # both transactions are open and saw the same head
                    assert head == base
                    results[i] = repo_store.compare_and_set_ref(conn, rid, "refs/heads/main", head, news[i], 2.0)

            _in_threads(2, writer)
            assert sorted(results.values()) == [False, True], results
            winner = news[next(i for i, ok in results.items() if ok)]
            with db.read() as conn:
                assert repo_store.get_ref(conn, rid, "refs/heads/main") == winner
    finally:
        db.dispose()


def test_repo_commits_are_per_repo_and_idempotent(db: Database) -> None:
    uid = _user(db, "c")
    rid = _repo(db, uid, "c", "one")
    other = _repo(db, uid, "c", "two")
    s1, s2, s3 = "abc1" + "0" * 36, "abc2" + "0" * 36, "abd0" + "0" * 36
    with db.write() as conn:
        for sha in (s1, s2, s3, s1):  # adding twice is a no-op
            repo_store.add_commit(conn, rid, sha)
        repo_store.add_commit(conn, other, "abe0" + "0" * 36)
    with db.write() as conn:
        repo_store.add_commit(conn, rid, s1)  # ... also in a later transaction
    with db.read() as conn:
        assert repo_store.repo_has_commit(conn, rid, s1) and repo_store.repo_has_commit(conn, rid, s3)
        assert not repo_store.repo_has_commit(conn, other, s1)
        assert not repo_store.repo_has_commit(conn, rid, "abe0" + "0" * 36)
        assert sorted(repo_store.commits_with_prefix(conn, rid, "abc")) == [s1, s2]  # ambiguous: two come back
        assert repo_store.commits_with_prefix(conn, rid, "abd") == [s3]
        assert repo_store.commits_with_prefix(conn, rid, "ABD") == []  # shas are lowercase; LIKE is case-sensitive
        assert repo_store.commits_with_prefix(conn, rid, "abe") == []  # belongs to the other repo
        assert len(repo_store.commits_with_prefix(conn, rid, "ab")) == 2  # at most two, enough to say ambiguous


# large-file objects ------------------------------------------------------------------------------------------------

def test_lfs_objects_record_and_lookup(db: Database) -> None:
    uid = _user(db, "l")
    rid = _repo(db, uid, "l", "one")
    other = _repo(db, uid, "l", "two")
    oid = "f" * 64
    with db.write() as conn:
        lfs_store.record_object(conn, rid, oid, 123, 1.0)
        lfs_store.record_object(conn, rid, oid, 123, 2.0)  # again: no-op
        lfs_store.record_object(conn, other, oid, 123, 3.0)  # the same object in a second repo
    with db.read() as conn:
        assert lfs_store.object_size(conn, oid) == 123
        assert lfs_store.object_size(conn, "e" * 64) is None
        assert lfs_store.repo_has_object(conn, rid, oid) and lfs_store.repo_has_object(conn, other, oid)
        assert not lfs_store.repo_has_object(conn, rid, "e" * 64)
    big = 5 * 1024**3  # sizes above 2 GiB must survive (LFS files are often larger)
    with db.write() as conn:
        lfs_store.record_object(conn, rid, "d" * 64, big, 4.0)
    with db.read() as conn:
        assert lfs_store.object_size(conn, "d" * 64) == big


# discussions -------------------------------------------------------------------------------------------------------

def test_discussions_insert_list_events_status(db: Database) -> None:
    alice = _user(db, "alice")
    bob = _user(db, "bob")
    rid = _repo(db, alice, "alice", "d")
    other = _repo(db, alice, "alice", "e")
    with db.write() as conn:
        nums = [repo_store.next_discussion_number(conn, rid) for _ in range(3)]
        assert nums == [1, 2, 3]
        assert repo_store.next_discussion_number(conn, other) == 1  # numbers are per repo
        d1 = disc_store.insert_discussion(conn, repo_id=rid, num=1, title="Question", description="why?",
                                          is_pr=False, author_id=alice, now=10.0, base_ref=None)
        d2 = disc_store.insert_discussion(conn, repo_id=rid, num=2, title="Fix", description="", is_pr=True,
                                          author_id=bob, now=11.0, base_ref="refs/heads/main")
        disc_store.insert_discussion(conn, repo_id=rid, num=3, title="Anon", description="", is_pr=False,
                                     author_id=None, now=12.0, base_ref=None)
        disc_store.add_event(conn, d2, "commit", bob, 11.0, {"oid": SHA_A, "subject": "Fix"})
        disc_store.add_event(conn, d2, "comment", alice, 12.0, {"content": "thanks ✓"})
        disc_store.add_event(conn, d2, "status-change", None, 13.0, {})
    with db.read() as conn:
        got = disc_store.get_discussion(conn, rid, 2)
        assert got is not None
        assert (got.id, got.num, got.title, got.is_pr, got.status, got.author, got.base_ref, got.merge_commit) == (
            d2, 2, "Fix", True, "open", "bob", "refs/heads/main", None)
        first = disc_store.get_discussion(conn, rid, 1)
        assert first is not None and first.id == d1 and first.description == "why?" and first.is_pr is False
        assert disc_store.get_discussion(conn, rid, 3).author is None  # type: ignore[union-attr]
        assert disc_store.get_discussion(conn, rid, 4) is None
        assert disc_store.get_discussion(conn, other, 1) is None

        def listed(**kw: Any) -> tuple[list[int], int]:
            args: dict[str, Any] = {"is_pr": None, "status": None, "author": None, "offset": 0, "limit": 50, **kw}
            items, total = disc_store.list_discussions(conn, rid, **args)
            return [d.num for d in items], total

        assert listed() == ([3, 2, 1], 3)
        assert listed(is_pr=True) == ([2], 1)
        assert listed(is_pr=False) == ([3, 1], 2)
        assert listed(author="alice") == ([1], 1)
        assert listed(status="closed") == ([], 0)
        assert listed(limit=1) == ([3], 3)  # the total counts every match, not just the page
        assert listed(offset=1, limit=1) == ([2], 3)
        events = disc_store.events_of(conn, d2)
        assert [(e.type, e.author, e.data) for e in events] == [
            ("commit", "bob", {"oid": SHA_A, "subject": "Fix"}),
            ("comment", "alice", {"content": "thanks ✓"}),
            ("status-change", None, {}),
        ]
        assert disc_store.events_of(conn, d1) == []
    with db.write() as conn:
        disc_store.set_status(conn, d2, "merged", merge_commit=SHA_B)
        disc_store.set_status(conn, d1, "closed")
    with db.read() as conn:
        merged = disc_store.get_discussion(conn, rid, 2)
        assert merged is not None and (merged.status, merged.merge_commit) == ("merged", SHA_B)
        assert listed(status="closed") == ([1], 1)
    with pytest.raises(sqlalchemy.exc.IntegrityError), db.write() as conn:  # a number is taken once per repo
            disc_store.insert_discussion(conn, repo_id=rid, num=1, title="dup", description="", is_pr=False,
                                         author_id=None, now=1.0, base_ref=None)


def test_next_discussion_number_never_repeats_under_concurrent_writers(db: Database) -> None:
    uid = _user(db, "n")
    rid = _repo(db, uid, "n", "r")
    threads, each = 8, 12
    start = threading.Barrier(threads, timeout=20)

    def take(i: int) -> list[int]:
        start.wait()
        got = []
        for _ in range(each):
            with db.write() as conn:
                num = repo_store.next_discussion_number(conn, rid)
                disc_store.insert_discussion(conn, repo_id=rid, num=num, title=f"t{i}", description="",
                                             is_pr=False, author_id=uid, now=1.0, base_ref=None)
            got.append(num)
        return got

    taken = [n for part in _in_threads(threads, take) for n in part]
    assert sorted(taken) == list(range(1, threads * each + 1))
    with db.read() as conn:
        _, total = disc_store.list_discussions(conn, rid, is_pr=None, status=None, author=None, offset=0, limit=1)
    assert total == threads * each


def test_next_discussion_number_is_not_consumed_by_a_rolled_back_transaction(db: Database) -> None:
    uid = _user(db, "rb")
    rid = _repo(db, uid, "rb", "r")
    with pytest.raises(RuntimeError), db.write() as conn:
            assert repo_store.next_discussion_number(conn, rid) == 1
            raise RuntimeError("abort")
    with db.write() as conn:
        assert repo_store.next_discussion_number(conn, rid) == 1
