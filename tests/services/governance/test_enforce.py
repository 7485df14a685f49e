"""Policy enforcement (services/governance/enforce.py) on each backend: what a commit, a push and a merge hand to the
rules, what is recorded where, and the attacks a door must not let through (a pickle added by one pushed commit and
removed by the next, a base model's license read through a repo the pusher cannot see, the same quarantined
content under another path)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inhouse.access.identity import Principal, authenticate
from inhouse.errors import FileQuarantined, PolicyViolation
from inhouse.services import commits, discussions, files, orgs, repos, users
from inhouse.services.commits import AddFile, DeleteFile
from inhouse.services.context import Stores
from inhouse.services.governance import enforce, policies, quarantine, security, views
from inhouse.services.repo_access import RepoName
from inhouse.storage.db import audit as audit_store
from inhouse.storage.db import policy_evaluations
from inhouse.storage.db import quarantine as quarantine_store
from inhouse.storage.db import repos as repo_store
from inhouse.storage.db.records import RepoRecord
from inhouse.storage.db.schema import policy_evaluations as evaluations_table
from inhouse.vocabulary import RepoType, Role, TokenRole
from tests.services.test_git_push import Local, parse, request

EVIL = b"cos\nsystem\n(S'echo pwned'\ntR."  # GLOBAL os.system, REDUCE: never loaded here
SAFE_PICKLE = b"\x80\x02}q\x00X\x01\x00\x00\x00aq\x01K\x01s."  # {'a': 1}
DENY = "pickles:\n  outcome: deny\n  on_error: quarantine\nlicenses:\n  deny: [gpl-3.0]\n  missing: allow\n" \
       "  unknown: allow\n"
QUARANTINE = "pickles:\n  outcome: quarantine\n"
APPROVAL = "pickles:\n  outcome: approval\n"


def _login(stores: Stores, name: str) -> Principal:
    return authenticate(stores.db, users.create_token(stores, name, role=TokenRole.WRITE)[1], ip="127.0.0.1",
                        request_id=uuid.uuid4().hex)


class Org:
    def __init__(self, stores: Stores, document: str | None):
        self.stores = stores
        self.name = f"o{uuid.uuid4().hex[:8]}"
        admin, writer = (f"u{uuid.uuid4().hex[:8]}" for _ in range(2))
        for n in (admin, writer):
            users.create_user(stores, n)
        orgs.create_org(stores, self.name, admin=admin)
        orgs.set_member(stores, self.name, writer, Role.WRITE)
        self.admin, self.writer = _login(stores, admin), _login(stores, writer)
        if document is not None:
            self.put(document)

    def put(self, document: str) -> int:
        return policies.put(self.stores, self.admin, self.name, document, "test").version

    def repo(self, name: str | None = None, *, private: bool = False) -> RepoRecord:
        return repos.create(self.stores, self.admin, repo_type=RepoType.MODEL, namespace=self.name,
                            name=name or f"r{uuid.uuid4().hex[:6]}", private=private)

    def commit(self, repo: RepoRecord, ops: list[commits.Operation], *, revision: str = "main",
               create_pr: bool = False, who: Principal | None = None) -> commits.CommitResult:
        return commits.commit(self.stores, who or self.writer, repo, revision=revision, ops=ops, summary="change",
                              create_pr=create_pr)


def _name(repo: RepoRecord) -> RepoName:
    return RepoName(repo.type, repo.namespace, repo.name)


def _evaluations(stores: Stores, repo: RepoRecord) -> list[policy_evaluations.EvaluationRecord]:
    with stores.db.read() as conn:
        return policy_evaluations.list_for_repo(conn, repo.id, limit=50)


def _actions(stores: Stores, action: str, repo: RepoRecord) -> list[dict[str, object]]:
    with stores.db.read() as conn:
        return [e for e in audit_store.scan(conn, action=action) if e["repo"] == repo.url_path]


# what a commit hands to the rules ---------------------------------------------------------------------------------

def test_content_keys_are_git_blob_ids_and_lfs_oids(stores: Stores) -> None:
    data = b"hello\n"
    target = enforce.target_of("a.txt", data)
    assert target.content_key == "git:" + hashlib.sha1(b"blob 6\0hello\n").hexdigest()  # `git hash-object`
    assert target.data == data and target.size == 6
    oid = "a" * 64
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize 1234\n".encode()
    lfs = enforce.target_of("w.bin", pointer)
    assert (lfs.content_key, lfs.size, lfs.data) == (f"sha256:{oid}", 1234, None)


def test_a_commit_change_reads_the_card_only_when_the_readme_changes(stores: Stores) -> None:
    org = Org(stores, None)
    repo = org.repo()
    org.commit(repo, [AddFile("NOTICE", b"notice"), AddFile("README.md", b"# hi\n")])
    plain = enforce.commit_change(stores, repo, "refs/heads/main", [AddFile("a/b.json", b"{}")], to_pr=False)
    assert plain.readme is None and [t.path for t in plain.targets] == ["a/b.json"]
    card = b"---\nlicense: mit\n---\n# Model\n## Intended uses\n"
    change = enforce.commit_change(stores, repo, "refs/heads/main", [AddFile("README.md", card),
                                                                    DeleteFile("NOTICE")], to_pr=False)
    assert change.readme == card
    assert "NOTICE" not in change.root_paths and "README.md" in change.root_paths
    gone = enforce.commit_change(stores, repo, "refs/heads/main", [DeleteFile("README.md")], to_pr=False)
    assert gone.readme == b""  # removed: a card with no metadata


# deny, allow, quarantine, approval ------------------------------------------------------------------------------

def test_a_denied_commit_writes_nothing_but_its_refusal(stores: Stores) -> None:
    org = Org(stores, DENY)
    repo = org.repo()
    head = org.commit(repo, [AddFile("a.txt", b"a")]).oid
    with pytest.raises(PolicyViolation) as e:
        org.commit(repo, [AddFile("model.bin", EVIL), AddFile("b.txt", b"b")])
    assert "pickle.unsafe" in e.value.message and "model.bin" in e.value.message
    assert [f["rule"] for f in e.value.findings] == ["pickle.unsafe"]
    with stores.db.read() as conn:
        assert repo_store.get_ref(conn, repo.id, "refs/heads/main") == head
    latest = _evaluations(stores, repo)[0]
    assert (latest.outcome, latest.commit, latest.trigger) == ("deny", None, "commit")
    refused = _actions(stores, "policy.refused", repo)
    assert len(refused) == 1 and refused[0]["outcome"] == "denied"


def test_default_policy_records_only_what_it_flags(stores: Stores) -> None:
    org = Org(stores, None)  # no policy: DEFAULT_POLICY flags pickles, refuses nothing
    repo = org.repo()
    org.commit(repo, [AddFile("a.txt", b"a")])
    assert _evaluations(stores, repo) == []  # nothing found, no organisation's policy: no row
    sha = org.commit(repo, [AddFile("model.bin", EVIL)]).oid
    [row] = _evaluations(stores, repo)
    assert row.outcome == "allow" and row.commit == sha and row.policy_version is None
    assert [f["rule"] for f in row.findings] == ["pickle.unsafe"]


def test_quarantine_holds_the_content_back_under_any_path_until_released(stores: Stores) -> None:
    org = Org(stores, QUARANTINE)
    repo = org.repo()
    org.commit(repo, [AddFile("model.bin", EVIL)])
    with pytest.raises(FileQuarantined):
        files.download(stores, org.writer, _name(repo), "main", "model.bin")
    meta = files.download(stores, org.writer, _name(repo), "main", "model.bin", content=False)  # a HEAD
    assert meta.file.xet_hash is None
    # the same bytes under another name, committed later, are held back too (one row: by content)
    org.commit(repo, [AddFile("copy.pkl", EVIL)])
    with pytest.raises(FileQuarantined):
        files.download(stores, org.writer, _name(repo), "main", "copy.pkl")
    with stores.db.read() as conn:
        held = quarantine_store.list_for_repo(conn, repo.id, active_only=True)
    assert [(q.path, q.rule) for q in held] == [("model.bin", "pickle.unsafe")]
    assert len(_actions(stores, "policy.quarantine", repo)) == 1

    def counted() -> int:  # the repo row's count, which lets downloads from repos holding nothing skip the lookup
        with stores.db.read() as conn:
            found = repo_store.repo_by_id(conn, repo.id)
        assert found is not None
        return found.quarantined

    assert counted() == 1
    with pytest.raises(Exception) as e:
        quarantine.release(stores, org.writer, _name(repo), held[0].id, "mine")
    assert "admins" in str(e.value)
    quarantine.release(stores, org.admin, _name(repo), held[0].id, "reviewed: a test fixture")
    assert counted() == 0
    with pytest.raises(Exception):
        quarantine.release(stores, org.admin, _name(repo), held[0].id, "twice")  # released once, counted once
    assert counted() == 0
    assert files.download(stores, org.writer, _name(repo), "main", "copy.pkl").file.content == EVIL
    other = org.repo()  # another repo holding the same content is not affected by this one's quarantine
    org.put("pickles:\n  outcome: allow\n")
    org.commit(other, [AddFile("model.bin", EVIL)])
    assert files.download(stores, org.writer, _name(other), "main", "model.bin").file.content == EVIL


def test_approval_needs_a_pull_request_and_its_request_approved_to_merge(stores: Stores) -> None:
    org = Org(stores, APPROVAL)
    repo = org.repo()
    with pytest.raises(PolicyViolation) as e:
        org.commit(repo, [AddFile("model.bin", EVIL)])
    assert "create_pr=True" in e.value.message
    pr = org.commit(repo, [AddFile("model.bin", EVIL)], create_pr=True)
    assert pr.pr_num is not None
    from inhouse.services.governance import approvals
    with stores.db.read() as conn:
        [request] = [r for r in approvals.list_requests(conn, repo.id, limit=10) if r.kind == "change"]
    assert request.target == f"refs/pr/{pr.pr_num}" and request.revision == pr.oid and request.status == "open"
    with pytest.raises(PolicyViolation) as e:
        discussions.merge(stores, org.admin, _name(repo), pr.pr_num)
    assert "approv" in e.value.message
    approvals.review(stores, org.admin, _name(repo), request.number, decision="approve", reason="checked")
    merged = discussions.merge(stores, org.admin, _name(repo), pr.pr_num)
    assert _evaluations(stores, repo)[0].trigger == "merge" and _evaluations(stores, repo)[0].commit == merged


def test_a_merge_is_evaluated_under_the_policy_of_the_day(stores: Stores) -> None:
    org = Org(stores, "pickles:\n  outcome: allow\n")
    repo = org.repo()
    pr = org.commit(repo, [AddFile("model.bin", EVIL)], create_pr=True)
    org.put(DENY)  # tightened after the pull request was opened: the merge is a change too
    with pytest.raises(PolicyViolation) as e:
        discussions.merge(stores, org.admin, _name(repo), pr.pr_num or 0)
    assert "pickle.unsafe" in e.value.message
    assert _actions(stores, "policy.refused", repo)[-1]["revision"] == "refs/heads/main"


def test_a_base_model_the_pusher_cannot_see_is_an_unknown_base(stores: Stores) -> None:
    owner = Org(stores, None)
    hidden = owner.repo(private=True)
    owner.commit(hidden, [AddFile("README.md", b"---\nlicense: llama3.1\n---\n# Base\n")])
    other = Org(stores, None)
    card = f"---\nlicense: mit\nbase_model: {hidden.repo_id}\n---\n# Tuned\n".encode()
    facts = enforce._bases  # noqa: SLF001 - the lookup itself
    with stores.db.read() as conn:
        seen_by_outsider = facts(conn, other.writer, enforce._card(card))  # noqa: SLF001
        seen_by_owner = facts(conn, owner.writer, enforce._card(card))  # noqa: SLF001
    assert [(b.found, b.license) for b in seen_by_outsider] == [(False, None)]
    assert [(b.found, b.license) for b in seen_by_owner] == [(True, "llama3.1")]


# git push ---------------------------------------------------------------------------------------------------------

def _push(stores: Stores, who: Principal, repo: RepoRecord, updates: list[tuple[str, str, str]], pack: bytes):
    from inhouse.services import git_push
    return parse(git_push.receive_pack(stores, who, _name(repo), request(updates, pack)))


def test_a_pickle_added_then_removed_within_one_push_is_still_refused(stores: Stores, tmp_path: Path) -> None:
    org = Org(stores, DENY)
    repo = org.repo()
    base = org.commit(repo, [AddFile("a.txt", b"a")]).oid
    local = Local(tmp_path / "work")
    local.import_commit(stores, base)
    local.commit({"model.bin": EVIL}, "add")
    tip = local.commit({}, "remove", remove=("model.bin",))  # the tip's tree is clean; its parent is not
    report = _push(stores, org.writer, repo, [(base, tip, "refs/heads/main")], local.pack(tip, exclude=(base,)))
    assert report.refs == {"refs/heads/main": "policy: pickle.unsafe"}
    assert any("model.bin" in m for m in report.messages)
    entry = _actions(stores, "policy.refused", repo)[-1]
    assert entry["revision"] == "refs/heads/main"


def test_a_push_records_its_evaluation_and_refuses_the_production_tag(stores: Stores, tmp_path: Path) -> None:
    org = Org(stores, DENY)
    repo = org.repo()
    base = org.commit(repo, [AddFile("a.txt", b"a")]).oid
    local = Local(tmp_path / "work")
    local.import_commit(stores, base)
    tip = local.commit({"weights.pkl": SAFE_PICKLE, "README.md": b"---\nlicense: mit\n---\n# M\n"}, "safe")
    report = _push(stores, org.writer, repo, [(base, tip, "refs/heads/main")], local.pack(tip, exclude=(base,)))
    assert report.refs == {"refs/heads/main": "ok"}, report
    latest = _evaluations(stores, repo)[0]
    assert (latest.trigger, latest.ref, latest.commit, latest.outcome) == ("push", "refs/heads/main", tip, "allow")
    report = _push(stores, org.writer, repo, [("0" * 40, tip, "refs/tags/production")], b"")
    assert report.refs["refs/tags/production"].startswith("refs/tags/production is protected")
    gpl = local.commit({"README.md": b"---\nlicense: gpl-3.0\n---\n# M\n"}, "relicense")
    report = _push(stores, org.writer, repo, [(tip, gpl, "refs/heads/main")], local.pack(gpl, exclude=(tip,)))
    assert report.refs == {"refs/heads/main": "policy: license.denied"}


# recheck and securityStatus ---------------------------------------------------------------------------------------

def test_recheck_pages_through_the_repos_and_changes_nothing(stores: Stores) -> None:
    org = Org(stores, "pickles:\n  outcome: allow\n")
    held = [org.repo(f"r{i}") for i in range(3)]
    for repo in held:
        org.commit(repo, [AddFile("model.bin", EVIL)])
    version = org.put(DENY)
    with stores.db.read() as conn:
        before = conn.execute(select(func.count()).select_from(evaluations_table)).scalar_one()
    first = views.recheck(stores, org.admin, org.name, limit=2)
    second = views.recheck(stores, org.admin, org.name, offset=2, limit=2)
    assert first.more and not second.more and first.version == version
    results = first.results + second.results
    assert sorted(r.repo_id for r, _ in results) == sorted(r.repo_id for r in held)
    assert {v.outcome.value for _, v in results} == {"deny"}
    with stores.db.read() as conn:
        after = conn.execute(select(func.count()).select_from(evaluations_table)).scalar_one()
    assert after == before + 3  # recorded as rechecks; nothing else changed
    for repo in held:
        assert files.download(stores, org.writer, _name(repo), "main", "model.bin").file.content == EVIL
    with pytest.raises(Exception) as e:
        views.recheck(stores, org.writer, org.name)
    assert "admins" in str(e.value)


def test_security_status_levels(stores: Stores) -> None:
    org = Org(stores, None)
    repo = org.repo()
    org.commit(repo, [AddFile("model.bin", EVIL), AddFile("ok.pkl", SAFE_PICKLE), AddFile("a.txt", b"a")])
    files_at = [(p, enforce.git_key(d).removeprefix("git:"), None)
                for p, d in (("model.bin", EVIL), ("ok.pkl", SAFE_PICKLE), ("a.txt", b"a"))]
    status = security.security_status(stores, repo, files_at)
    assert status.scans_done
    [issue] = status.files
    assert (issue.path, issue.level, issue.rules) == ("model.bin", "unsafe", ["pickle.unsafe"])
    assert issue.pickle_imports is not None and "os.system" in issue.pickle_imports
    never = security.security_status(stores, repo, [("old.pt", os.urandom(20).hex(), None)])
    assert not never.scans_done and [(f.path, f.level) for f in never.files] == [("old.pt", "unscanned")]


def test_a_push_to_a_pull_request_that_needs_approval_lands_and_opens_its_request(stores: Stores,
                                                                                  tmp_path: Path) -> None:
    org = Org(stores, APPROVAL)
    repo = org.repo()
    base = org.commit(repo, [AddFile("a.txt", b"a")]).oid
    pr = org.commit(repo, [AddFile("b.txt", b"b")], create_pr=True)
    local = Local(tmp_path / "work")
    local.import_commit(stores, pr.oid)
    tip = local.commit({"model.bin": EVIL}, "weights")
    ref = f"refs/pr/{pr.pr_num}"
    refused = _push(stores, org.writer, repo, [(base, tip, "refs/heads/main")], local.pack(tip, exclude=(base,)))
    assert refused.refs["refs/heads/main"] == "policy: pickle.unsafe"
    assert any("git push origin HEAD:refs/pr/<number>" in m for m in refused.messages)
    report = _push(stores, org.writer, repo, [(pr.oid, tip, ref)], local.pack(tip, exclude=(pr.oid,)))
    assert report.refs == {ref: "ok"}, report
    from inhouse.services.governance import approvals
    with stores.db.read() as conn:
        requests = [r for r in approvals.list_requests(conn, repo.id, limit=10) if r.kind == "change"]
    assert [(r.target, r.revision, r.status) for r in requests] == [(ref, tip, "open")]


def test_a_commit_held_for_approval_reaches_no_branch_another_way(stores: Stores, tmp_path: Path) -> None:
    """Not by git push of that commit to main, nor by a branch or tag created from the pull request: only by the
    merge of its approved pull request; after that, branches from main are fine again."""
    from inhouse.services import refs
    from inhouse.services.governance import approvals

    org = Org(stores, APPROVAL)
    repo = org.repo()
    base = org.commit(repo, [AddFile("a.txt", b"a")]).oid
    pr = org.commit(repo, [AddFile("model.bin", EVIL)], create_pr=True)
    num = pr.pr_num or 0
    local = Local(tmp_path / "work")
    local.import_commit(stores, pr.oid)
    report = _push(stores, org.writer, repo, [(base, pr.oid, "refs/heads/main")], local.pack(pr.oid, exclude=(pr.oid,)))
    assert report.refs == {"refs/heads/main": "policy: approval.pending"}, report
    assert any(f"refs/pr/{num}" in m for m in report.messages)
    tip = local.commit({"c.txt": b"c"}, "on top")  # hidden under a new commit: still held
    report = _push(stores, org.writer, repo, [(base, tip, "refs/heads/main")], local.pack(tip, exclude=(pr.oid,)))
    assert report.refs == {"refs/heads/main": "policy: approval.pending"}, report
    for create in (lambda: refs.create_branch(stores, org.writer, _name(repo), "sneaky", f"refs/pr/{num}"),
                   lambda: refs.create_tag(stores, org.writer, _name(repo), f"refs/pr/{num}", "v1")):
        with pytest.raises(PolicyViolation) as e:
            create()
        assert "approval.pending" in e.value.message
    with stores.db.read() as conn:
        [request] = [r for r in approvals.list_requests(conn, repo.id, limit=10) if r.kind == "change"]
    approvals.review(stores, org.admin, _name(repo), request.number, decision="approve", reason="checked")
    discussions.merge(stores, org.admin, _name(repo), num)
    refs.create_branch(stores, org.writer, _name(repo), "after", "main")  # landed: nothing held any more
