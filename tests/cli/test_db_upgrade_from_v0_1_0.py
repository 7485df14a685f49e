"""Data made by the released inhouse 0.1.0 upgrades in place with nothing lost, on SQLite (the data folder) and on
PostgreSQL. The tag's own code (git archive of v0.1.0, run from this venv with PYTHONPATH pointing at it) fills an
installation through its CLI and a live server driven by the real huggingface_hub client: users, tokens, an org with
members and a resource group, a private repo with commits and large files (Xet and Git LFS), a pull request and a
discussion, gated access requests, audit entries. This checkout's code then refuses it until `inhouse db upgrade`,
and afterwards serves all of it back to the same tokens, takes new writes, and `inhouse audit verify` passes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, constants, hf_hub_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from inhouse.config import Settings
from inhouse.errors import SchemaMismatch
from inhouse.services.context import Stores, upgrade_command
from inhouse.storage.db.migrations import runner
from tests.support.data import random_bytes
from tests.support.live import LiveServer, drop_pg_database, free_port, new_pg_database
from tests.support.schema import schema_diff

ROOT = Path(__file__).resolve().parents[2]
RELEASE = "v0.1.0"
RELEASE_COMMIT = "ed0dd6f624300ae9b20483589457e379fa159a7a"  # what the tag names; any full clone has it
SECRET, GATED = "acme/secret", "alice/gated"


def _release_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{RELEASE}^{{commit}}"], cwd=ROOT,
                         capture_output=True, text=True)
    if out.returncode != 0:  # a clone without tags
        return RELEASE_COMMIT
    assert out.stdout.strip() == RELEASE_COMMIT, f"the tag {RELEASE} moved: a release must keep naming its commit"
    return RELEASE_COMMIT


@pytest.fixture(scope="module")
def old_src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """inhouse 0.1.0's source tree (src/), from git."""
    dest = tmp_path_factory.mktemp("inhouse-v0.1.0")
    archive = subprocess.run(["git", "archive", "--format=tar", _release_commit(), "src"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    assert (dest / "src/inhouse/storage/db/schema.py").is_file()
    return dest / "src"


@dataclass
class Install:
    """One installation: its data folder and database ("": SQLite in the data folder)."""

    data: Path
    database_url: str
    tokens: dict[str, str] = field(default_factory=dict)
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)  # (repo, path) -> content

    @property
    def settings(self) -> Settings:
        return Settings(data_dir=self.data, database_url=self.database_url)

    def cli(self, *args: str, src: Path | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
        """`inhouse ARGS` run by inhouse 0.1.0 (`src`) or by this checkout (None)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("INHOUSE_") and k != "PYTHONPATH"}
        if src is not None:
            env["PYTHONPATH"] = str(src)
        db = ["--database-url", self.database_url] if self.database_url else []
        out = subprocess.run([sys.executable, "-m", "inhouse", *args, "--data", str(self.data), *db],
                             capture_output=True, text=True, env=env, timeout=300)
        if ok:
            assert out.returncode == 0, out.stdout + out.stderr
        return out

    def server(self, src: Path | None = None) -> LiveServer:
        return LiveServer(self.data, database_url=self.database_url,
                          env={"PYTHONPATH": str(src)} if src is not None else {}).start()


@pytest.fixture(params=["sqlite", "postgresql"])
def install(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Install]:
    url = new_pg_database() if request.param == "postgresql" else ""
    try:
        yield Install(tmp_path / "data", url)
    finally:
        if url:
            drop_pg_database(url)


def _ask_access(srv: LiveServer, token: str, repo_id: str, fields: dict[str, str]) -> None:
    """What the Hub's gate form does (the client has no call for it)."""
    r = httpx.post(f"{srv.url}/api/models/{repo_id}/user-access-request", json={"fields": fields},
                   headers={"authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text


def _fill_with_v0_1_0(inst: Install, old_src: Path, tmp_path: Path) -> tuple[dict[str, Any], list[tuple[Any, ...]]]:
    """Fills the installation with inhouse 0.1.0; returns what its server listed and its audit log."""
    def old(*args: str) -> str:
        return inst.cli(*args, src=old_src).stdout

    for name in ("alice", "bob", "carol", "dave"):
        old("users", "create", name, *(["--admin"] if name == "alice" else []))
    t = inst.tokens
    t["alice"] = old("tokens", "create", "--user", "alice", "--role", "write", "--name", "laptop").strip()
    t["bob"] = old("tokens", "create", "--user", "bob", "--role", "write").strip()
    t["carol"] = old("tokens", "create", "--user", "carol", "--role", "read").strip()
    t["dave"] = old("tokens", "create", "--user", "dave", "--role", "write").strip()
    t["scoped"] = old("tokens", "create", "--user", "carol", "--role", "fine-grained", "--scope",
                      f"repo:{SECRET}:repo.content.read", "--expires-in-days", "30").strip()
    old("orgs", "create", "acme", "--admin", "alice")
    old("orgs", "members", "add", "acme", "bob", "--role", "write")
    old("orgs", "members", "add", "acme", "carol", "--role", "read")

    f = inst.files
    f[SECRET, "config.json"] = b'{"model_type": "bert"}\n'
    f[SECRET, "weights.bin"] = random_bytes(3_000_000)  # fresh bytes: nothing in any Xet cache names them
    f[SECRET, "tokenizer.bin"] = random_bytes(1_500_000)
    f[GATED, "config.json"] = b'{"model_type": "gated"}\n'
    srv = inst.server(old_src)
    try:
        alice, bob = HfApi(endpoint=srv.url, token=t["alice"]), HfApi(endpoint=srv.url, token=t["bob"])
        alice.create_repo(SECRET, private=True)
        for path in ("config.json", "weights.bin"):  # weights.bin through the Xet CAS
            alice.upload_file(path_or_fileobj=f[SECRET, path], path_in_repo=path, repo_id=SECRET,
                              commit_message=f"Add {path}")
        with pytest.MonkeyPatch.context() as mp:  # and one through the Git LFS batch API
            mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
            alice.upload_file(path_or_fileobj=f[SECRET, "tokenizer.bin"], path_in_repo="tokenizer.bin",
                              repo_id=SECRET, commit_message="Add tokenizer.bin")
        pr = bob.create_commit(SECRET, [CommitOperationAdd("README.md", b"# Secret model\n")],
                               commit_message="Add a model card", create_pr=True)
        assert pr.pr_num == 1
        bob.create_commit(SECRET, [CommitOperationAdd("README.md", b"# Secret model\n\nFor research.\n")],
                          commit_message="Say what it is for", revision="refs/pr/1")
        alice.create_discussion(SECRET, title="Release plan", description="When do we ship?")
        old("orgs", "groups", "create", "acme", "research", "--description", "The research team")
        old("orgs", "groups", "add-member", "acme", "research", "carol", "--role", "write")
        old("orgs", "groups", "add-repo", "acme", "research", SECRET)

        alice.create_repo(GATED)
        alice.upload_file(path_or_fileobj=f[GATED, "config.json"], path_in_repo="config.json", repo_id=GATED)
        alice.update_repo_settings(GATED, gated="manual")
        _ask_access(srv, t["bob"], GATED, {"company": "Acme"})
        alice.accept_access_request(GATED, "bob")
        _ask_access(srv, t["dave"], GATED, {"company": "Elsewhere"})

        assert _download(srv, t["bob"], SECRET, "weights.bin", tmp_path / "old-cache") == f[SECRET, "weights.bin"]
        before = _snapshot(srv, t)
    finally:
        srv.close()  # signs an audit checkpoint at shutdown
    assert old("audit", "verify").startswith("OK: ")
    return before, _audit(inst, old_src)


def _download(srv: LiveServer, token: str | None, repo_id: str, path: str, cache: Path, **kw: Any) -> bytes:
    return Path(hf_hub_download(repo_id, path, endpoint=srv.url, token=token if token else False,  # type: ignore[arg-type]
                                cache_dir=cache, **kw)).read_bytes()


def _snapshot(srv: LiveServer, t: dict[str, str]) -> dict[str, Any]:
    """What a client can list: commits, refs, files, discussions, members, groups, access requests."""
    alice = HfApi(endpoint=srv.url, token=t["alice"])
    refs = alice.list_repo_refs(SECRET, include_pull_requests=True)
    groups = httpx.get(f"{srv.url}/api/organizations/acme/resource-groups",
                       headers={"authorization": f"Bearer {t['alice']}"})
    assert groups.status_code == 200, groups.text
    return {
        "commits": [(c.commit_id, c.title) for c in alice.list_repo_commits(SECRET)],
        "refs": sorted((r.ref, r.target_commit) for r in [*refs.branches, *(refs.pull_requests or [])]),
        "files": sorted((e.path, e.size, e.blob_id, e.lfs.sha256 if e.lfs else None)
                        for e in alice.list_repo_tree(SECRET, recursive=True)),  # type: ignore[union-attr]
        "info": [(i.id, i.private, i.gated, i.sha) for i in (alice.model_info(SECRET), alice.model_info(GATED))],
        "discussions": [(d.num, d.title, d.status, d.is_pull_request, d.author)
                        for d in alice.get_repo_discussions(SECRET)],
        "comments": [[(e.type, e.author, getattr(e, "content", None))
                      for e in alice.get_discussion_details(SECRET, n).events] for n in (1, 2)],
        "members": sorted(m.username for m in alice.list_organization_members("acme")),
        "groups": [(g["name"], g["description"], sorted((m["user"], m["role"]) for m in g["members"]),
                    [r["name"] for r in g["repos"]]) for g in groups.json()],
        "pending": [(r.username, r.fields) for r in alice.list_pending_access_requests(GATED)],
        "accepted": [(r.username, r.fields) for r in alice.list_accepted_access_requests(GATED)],
    }


def _audit(inst: Install, src: Path | None = None) -> list[tuple[Any, ...]]:
    entries = [json.loads(line) for line in inst.cli("audit", "export", src=src).stdout.splitlines()]
    return [(e["seq"], e["action"], e["actor"], e["repo"], e["hash"]) for e in entries]


def test_v0_1_0_data_upgrades_in_place_with_nothing_lost(install: Install, old_src: Path, tmp_path: Path) -> None:
    inst = install
    before, audit_before = _fill_with_v0_1_0(inst, old_src, tmp_path)
    command = upgrade_command(inst.settings)
    assert command == (f"inhouse db upgrade --database-url {inst.database_url}" if inst.database_url
                       else f"inhouse db upgrade --data {inst.data}")

    # this code refuses it, in process, from the CLI and as a server, naming both revisions and the command
    with pytest.raises(SchemaMismatch) as e:
        Stores.open(inst.settings)
    assert "was made by inhouse 0.1.0 (it records no schema revision" in e.value.message
    assert f"needs schema revision {runner.head_revision()}" in e.value.message
    assert e.value.message.endswith(f"upgrade in place: {command}")
    for args in (["users", "list"], ["serve", "--port", str(free_port())]):
        out = inst.cli(*args, ok=False)
        assert (out.returncode, out.stderr.splitlines()[-1], out.stdout) == (1, f"error: {e.value.message}", "")

    # the schema 0.1.0 made is revision 0001 exactly; the upgrade records that, then runs the later revisions
    assert inst.cli("db", "upgrade").stdout.endswith(
        f"from inhouse 0.1.0's schema (revision 0001, recorded now) to revision {runner.head_revision()}\n")
    assert schema_diff(inst.settings.resolved_database_url) == []

    srv = inst.server()
    try:
        t, f = inst.tokens, inst.files
        assert _snapshot(srv, t) == before
        cache = tmp_path / "new-cache"
        for (repo_id, path), content in f.items():
            assert _download(srv, t["alice"], repo_id, path, cache / "alice") == content
        with pytest.MonkeyPatch.context() as mp:  # large files also as plain HTTP, rebuilt from storage
            mp.setattr(constants, "HF_HUB_DISABLE_XET", True)
            for path in ("weights.bin", "tokenizer.bin"):
                assert _download(srv, t["alice"], SECRET, path, cache / "http") == f[SECRET, path]
        assert _download(srv, t["carol"], SECRET, "weights.bin", cache / "carol") == f[SECRET, "weights.bin"]
        assert _download(srv, t["scoped"], SECRET, "config.json", cache / "scoped") == f[SECRET, "config.json"]
        assert _download(srv, t["bob"], SECRET, "README.md", cache / "pr", revision="refs/pr/1") == (
            b"# Secret model\n\nFor research.\n")
        assert _download(srv, t["bob"], GATED, "config.json", cache / "bob") == f[GATED, "config.json"]
        with pytest.raises(GatedRepoError):  # dave's request is still pending
            _download(srv, t["dave"], GATED, "config.json", cache / "dave")
        with pytest.raises(RepositoryNotFoundError):  # still private
            _download(srv, t["dave"], SECRET, "config.json", cache / "dave")

        # and it takes new writes
        alice = HfApi(endpoint=srv.url, token=t["alice"])
        more = random_bytes(2_000_000)
        alice.upload_file(path_or_fileobj=more, path_in_repo="weights-v2.bin", repo_id=SECRET,
                          commit_message="Add weights-v2.bin")
        HfApi(endpoint=srv.url, token=t["bob"]).create_commit(
            SECRET, [CommitOperationAdd("NOTES.md", f"{uuid.uuid4()}\n".encode())], commit_message="Add notes",
            revision="refs/pr/1")
        assert [e.type for e in alice.get_discussion_details(SECRET, 1).events][-1] == "commit"
        assert _download(srv, t["carol"], SECRET, "weights-v2.bin", cache / "carol") == more
        assert len(alice.list_repo_commits(SECRET)) == len(before["commits"]) + 1
    finally:
        srv.close()

    # every entry 0.1.0 wrote is still there, unchanged, and the chain with the new ones verifies
    assert _audit(inst)[: len(audit_before)] == audit_before
    assert inst.cli("audit", "verify").stdout.startswith("OK: ")
