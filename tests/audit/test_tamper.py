"""Tampering with the audit log directly in the database (SQLite and PostgreSQL), after real operations through the
real huggingface_hub client: `verify` names each modified, deleted, inserted or swapped entry, a forged checkpoint
line and a deleted checkpoint file; the untouched log verifies OK."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from huggingface_hub import CommitOperationAdd, hf_hub_download
from huggingface_hub.errors import RepositoryNotFoundError
from sqlalchemy import delete, insert, select, text, update

from inhouse.services import audit as audit_service
from inhouse.storage.db.schema import audit_log
from tests.support.live import LiveServer, drop_pg_database, new_pg_database


@dataclass
class World:
    srv: LiveServer
    rows: list[dict[str, Any]]  # the log as the real operations left it, checkpointed
    checkpoints: bytes  # the checkpoint file as it was then

    @property
    def last(self) -> int:
        return int(self.rows[-1]["seq"])

    def seq_of(self, action: str) -> int:
        return next(int(r["seq"]) for r in self.rows if r["action"] == action)

    def execute(self, *statements: Any) -> None:
        with self.srv.stores.db.write() as conn:
            for s in statements:
                conn.execute(s)

    def restore(self) -> None:
        with self.srv.stores.db.write() as conn:
            conn.execute(delete(audit_log))
            conn.execute(insert(audit_log), self.rows)
        self.srv.stores.audit.book.file.write_bytes(self.checkpoints)

    def problems(self) -> list[str]:
        report = audit_service.verify(self.srv.stores)  # what `inhouse audit verify` runs (and audits)
        return report.problems


def _renumber(conn: Any, from_seq: int, by: int) -> None:
    """seq += by for every entry from `from_seq` on, in two steps (a primary key is checked row by row)."""
    conn.execute(update(audit_log).where(audit_log.c.seq >= from_seq).values(seq=-(audit_log.c.seq + by)))
    conn.execute(update(audit_log).where(audit_log.c.seq < 0).values(seq=-audit_log.c.seq))


def _generate(srv: LiveServer, tmp_path: Path) -> None:
    """About 30 entries from real operations: repos, uploads (regular and LFS), branches, tags, a pull request,
    settings, a private repo read and downloaded by its owner and refused to an outsider."""
    owner = srv.make_user()
    token = srv.make_token(owner, "write")
    outsider = srv.make_user()
    outsider_token = srv.make_token(outsider, "read")
    api, stranger = srv.api(token), srv.api(outsider_token)
    public, private, data = f"{owner}/public", f"{owner}/secret", f"{owner}/data"
    api.create_repo(public)
    api.upload_file(path_or_fileobj=b'{"a": 1}', path_in_repo="config.json", repo_id=public)
    api.upload_file(path_or_fileobj=os.urandom(4096), path_in_repo="model.safetensors", repo_id=public)
    api.create_branch(public, branch="dev")
    api.upload_file(path_or_fileobj=b"dev notes", path_in_repo="notes.md", repo_id=public, revision="dev")
    api.create_tag(public, tag="v1")
    api.create_commit(public, operations=[CommitOperationAdd("proposal.txt", b"please")], commit_message="PR",
                      create_pr=True)
    api.create_pull_request(public, title="An empty proposal")
    api.delete_branch(public, branch="dev")
    api.create_repo(private, private=True)
    api.upload_file(path_or_fileobj=b"top secret", path_in_repo="weights.txt", repo_id=private)
    api.repo_info(private)
    api.list_repo_files(private)
    api.list_repo_refs(private)
    api.list_repo_commits(private)
    api.get_paths_info(private, ["weights.txt"])
    assert Path(hf_hub_download(private, "weights.txt", endpoint=srv.url, token=token,
                                cache_dir=tmp_path / "cache")).read_bytes() == b"top secret"
    with pytest.raises(RepositoryNotFoundError):
        stranger.repo_info(private)
    api.create_repo(data, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"a,b\n1,2\n", path_in_repo="train.csv", repo_id=data, repo_type="dataset")
    api.update_repo_settings(public, gated="auto")
    api.delete_tag(public, tag="v1")
    api.create_repo(f"{owner}/scratch")
    api.delete_repo(f"{owner}/scratch")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp(f"tamper-{request.param}")
    url = new_pg_database() if request.param == "postgresql" else f"sqlite:///{base / 'inhouse.db'}"
    srv = LiveServer(base / "data", database_url=url, env={"INHOUSE_AUDIT_CHECKPOINT_INTERVAL_S": "3600"})
    try:
        srv.start()
        _generate(srv, base)
        srv.stop()  # SIGTERM: the server signs the head at shutdown
        cp = audit_service.checkpoint(srv.stores, force=True)  # and the operator takes one: `inhouse audit checkpoint`
        assert cp is not None
        with srv.stores.db.read() as conn:
            rows = [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))]
        book = srv.stores.audit.book.file
        yield World(srv, rows, book.read_bytes())
    finally:
        srv.close()
        if request.param == "postgresql":
            drop_pg_database(url)


@pytest.fixture
def w(world: World) -> Iterator[World]:
    world.restore()
    assert world.problems() == [], "the untouched log must verify"
    world.restore()  # verifying appended its own audit.verify entry
    yield world
    world.restore()


def test_real_operations_leave_an_intact_checkpointed_log(w: World) -> None:
    actions = [r["action"] for r in w.rows]
    assert len(actions) >= 30, actions
    for expected in ("user.create", "token.create", "repo.create", "commit", "branch.create", "branch.delete",
                     "tag.create", "tag.delete", "pull_request.create", "repo.settings", "repo.delete",
                     "repo.info", "repo.tree", "file.metadata", "file.download", "access.read", "audit.checkpoint"):
        assert expected in actions, expected
    assert [int(r["seq"]) for r in w.rows] == list(range(1, len(w.rows) + 1))
    lines = w.checkpoints.decode().splitlines()
    assert len(lines) == 2  # one at shutdown, one by the operator
    report = audit_service.verify(w.srv.stores)
    assert report.ok and report.entries == len(w.rows) and report.checkpoints == 2


def test_modified_entry_is_named(w: World) -> None:
    k = w.seq_of("file.download")  # someone hides who downloaded the private weights
    w.execute(update(audit_log).where(audit_log.c.seq == k).values(actor="nobody"))
    problems = w.problems()
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"entry #{k} was modified") and "file.download" in problems[0]


def test_modified_details_are_named(w: World) -> None:
    k = w.seq_of("commit")
    w.execute(update(audit_log).where(audit_log.c.seq == k).values(details='{"commit":"0"}'))
    problems = w.problems()
    assert len(problems) == 1 and problems[0].startswith(f"entry #{k} was modified"), problems


def test_deleted_middle_entry_is_named(w: World) -> None:
    k = w.seq_of("access.read")  # the refused attempt disappears
    w.execute(delete(audit_log).where(audit_log.c.seq == k))
    problems = w.problems()
    assert len(problems) == 1 and problems[0].startswith(f"entry #{k} was deleted"), problems


def test_deleted_tail_is_caught_by_the_checkpoint(w: World) -> None:
    cut = w.last - 3
    w.execute(delete(audit_log).where(audit_log.c.seq >= cut))
    problems = w.problems()
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"entries #{cut}..#") and "deleted" in problems[0] and "checkpoint" in problems[0]


def test_inserted_middle_entry_with_renumbering_is_named(w: World) -> None:
    k = w.seq_of("file.download")
    forged = {**w.rows[k - 1], "seq": k, "actor": "alibi", "prev_hash": w.rows[k - 2]["hash"], "hash": "ab" * 32}
    with w.srv.stores.db.write() as conn:
        _renumber(conn, k, 1)
        conn.execute(insert(audit_log).values(**forged))
    problems = w.problems()
    inserted = [p for p in problems if "inserted" in p]
    assert len(inserted) == 1 and inserted[0].startswith(f"entry #{k} was inserted"), problems
    assert any(p.startswith(f"entries #{k + 1}..#{w.last + 1} were renumbered") for p in problems), problems
    assert not any("deleted" in p or "modified" in p for p in problems), problems


def test_inserted_entry_at_the_end_with_a_made_up_hash_is_named(w: World) -> None:
    n = w.last + 1
    w.execute(insert(audit_log).values(**{**w.rows[-1], "seq": n, "action": "repo.delete", "actor": "someone",
                                          "prev_hash": w.rows[-1]["hash"], "hash": uuid.uuid4().hex * 2}))
    problems = w.problems()
    assert len(problems) == 1 and problems[0].startswith(f"entry #{n} was inserted"), problems


@pytest.mark.parametrize("distance", [1, 4])
def test_swapped_entries_are_named(w: World, distance: int) -> None:
    a = w.seq_of("repo.create") + 1
    b = a + distance
    with w.srv.stores.db.write() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == a).values(seq=-1))
        conn.execute(update(audit_log).where(audit_log.c.seq == b).values(seq=a))
        conn.execute(update(audit_log).where(audit_log.c.seq == -1).values(seq=b))
    problems = w.problems()
    assert problems == [f"entries #{a} and #{b} were swapped (reordered): each holds what was recorded as the other"]


def test_forged_checkpoint_line_is_named(w: World) -> None:
    book = w.srv.stores.audit.book.file
    with open(book, "a", encoding="utf-8") as f:
        f.write(json.dumps({"seq": 3, "hash": w.rows[2]["hash"], "ts": 1.0, "sig": "00" * 64}) + "\n")
    problems = w.problems()
    assert problems == [f"checkpoint line 3 of {book} is malformed or its signature does not verify"]


def test_altered_checkpoint_line_is_named(w: World) -> None:
    book = w.srv.stores.audit.book.file
    first, second = w.checkpoints.decode().splitlines()
    book.write_text(first.replace('"seq": ', '"seq": 1', 1) + "\n" + second + "\n")  # a checkpoint moved
    problems = w.problems()
    assert any(p.startswith(f"checkpoint line 1 of {book}") for p in problems), problems
    assert any(p.startswith("checkpoint mismatch") and "not in" in p for p in problems), problems


def test_deleted_checkpoint_file_is_named(w: World) -> None:
    book = w.srv.stores.audit.book.file
    book.unlink()
    problems = w.problems()
    assert len(problems) == 1 and problems[0].startswith(f"checkpoint file {book} is missing"), problems


def test_sql_tampering_without_the_key_cannot_pass(w: World) -> None:
    """Editing an entry and recomputing its hash without the key still breaks the chain."""
    import hashlib

    k = w.seq_of("file.download")
    row = {**w.rows[k - 1], "actor": "nobody"}
    fake = hashlib.sha256((row["prev_hash"] + str(row)).encode()).hexdigest()
    w.execute(update(audit_log).where(audit_log.c.seq == k).values(actor="nobody", hash=fake),
              update(audit_log).where(audit_log.c.seq == k + 1).values(prev_hash=fake))
    problems = w.problems()
    assert problems and all(f"#{k}" in p or f"#{k + 1}" in p for p in problems), problems
    with w.srv.stores.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_log")).scalar_one() == len(w.rows) + 1
