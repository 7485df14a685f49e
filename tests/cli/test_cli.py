"""The `inhouse` command as an operator runs it: `python -m inhouse …` in a subprocess against a temp data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from inhouse.access.identity import authenticate
from inhouse.config import Settings
from inhouse.errors import Unauthorized
from inhouse.services import repos
from inhouse.services.context import Stores
from inhouse.storage.db.schema import audit_log
from inhouse.vocabulary import RepoType


def inhouse(data: Path, *args: str, ok: bool = True, db: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INHOUSE_")}
    cmd = [sys.executable, "-m", "inhouse", *args, "--data", str(data)]
    if db:
        cmd += ["--database-url", db]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)
    if ok:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "data"


def _stores(data: Path, db: str | None = None) -> Stores:
    return Stores.open(Settings(data_dir=data, database_url=db or ""))


def _actions(stores: Stores) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    with stores.db.read() as conn:
        return [(r.action, json.loads(r.details)) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))]


def test_tokens_create_list_revoke(data: Path) -> None:
    inhouse(data, "users", "create", "alice")
    out = inhouse(data, "tokens", "create", "--user", "alice", "--role", "write", "--name", "laptop").stdout
    secret = out.strip()
    assert out == secret + "\n" and secret.startswith("ih_")  # the token alone on stdout

    scoped = inhouse(data, "tokens", "create", "--user", "alice", "--role", "fine-grained", "--expires-in-days", "7",
                     "--scope", "repo:alice/bert:repo.content.read,repo.write",
                     "--scope", "org:acme:repo.content.read").stdout.strip()
    stores = _stores(data)
    try:
        p = authenticate(stores.db, scoped)
        assert p.role == "fine-grained" and p.name == "alice"
        assert [s.to_json() for s in p.scopes] == [
            {"type": "repo", "name": "alice/bert", "permissions": ["repo.content.read", "repo.write"]},
            {"type": "org", "name": "acme", "permissions": ["repo.content.read"]}]

        listing = inhouse(data, "tokens", "list", "--user", "alice").stdout
        assert secret not in listing and scoped not in listing
        lines = [line.split("\t") for line in listing.splitlines()]
        assert [(f[1], f[2], f[3], f[4]) for f in lines] == [
            ("laptop", "write", secret[:7] + "…", "active"), ("fine-grained-token", "fine-grained", scoped[:7] + "…",
                                                             "active")]
        assert lines[1][5].startswith("expires=20") and lines[0][5] == "expires=-"
        assert lines[1][6].startswith("last-used=20")  # authenticated above
        assert lines[1][7] == "scopes=repo:alice/bert:repo.content.read,repo.write org:acme:repo.content.read"

        inhouse(data, "tokens", "revoke", lines[0][0])
        with pytest.raises(Unauthorized):
            authenticate(stores.db, secret)
        assert "revoked" in inhouse(data, "tokens", "list", "--user", "alice").stdout.splitlines()[0]
        assert [a for a, _ in _actions(stores) if a.startswith("token.")] == ["token.create", "token.create",
                                                                               "token.revoke"]
    finally:
        stores.close()

    bad = inhouse(data, "tokens", "create", "--user", "alice", "--role", "fine-grained", "--scope", "repo:alice/x",
                  ok=False)
    assert bad.returncode == 1 and "TYPE:NAME:PERMISSIONS" in bad.stderr and bad.stdout == ""
    bad = inhouse(data, "tokens", "create", "--user", "alice", "--role", "write", "--scope", "org:acme:repo.write",
                  ok=False)
    assert bad.returncode == 1 and "fine-grained" in bad.stderr
    bad = inhouse(data, "tokens", "create", "--user", "alice", "--role", "fine-grained",
                  "--scope", "org:acme:repo.everything", ok=False)
    assert bad.returncode == 1 and "permissions" in bad.stderr
    assert inhouse(data, "tokens", "create", "--user", "bob", "--role", "read", ok=False).returncode == 1


def test_orgs_members_and_groups(data: Path) -> None:
    for name in ("alice", "bob", "carol"):
        inhouse(data, "users", "create", name)
    assert "acme" in inhouse(data, "orgs", "create", "acme", "--admin", "alice", "--fullname", "Acme Inc").stdout
    assert inhouse(data, "orgs", "list").stdout == "acme\tAcme Inc\n"
    assert "acme" not in inhouse(data, "users", "list").stdout
    dup = inhouse(data, "orgs", "create", "ACME", "--admin", "bob", ok=False)
    assert dup.returncode == 1 and "already exists" in dup.stderr
    missing = inhouse(data, "orgs", "create", "beta", "--admin", "nobody", ok=False)
    assert missing.returncode == 1 and "inhouse users create nobody" in missing.stderr

    inhouse(data, "orgs", "members", "add", "acme", "bob", "--role", "read")
    inhouse(data, "orgs", "members", "add", "acme", "carol", "--role", "contributor")
    inhouse(data, "orgs", "members", "add", "acme", "carol", "--role", "write")  # a role change
    assert inhouse(data, "orgs", "members", "list", "acme").stdout == "alice\tadmin\nbob\tread\ncarol\twrite\n"
    last = inhouse(data, "orgs", "members", "remove", "acme", "alice", ok=False)
    assert last.returncode == 1 and "last admin" in last.stderr
    bad_role = inhouse(data, "orgs", "members", "add", "acme", "bob", "--role", "owner", ok=False)
    assert bad_role.returncode == 2  # argparse lists the roles

    secret = inhouse(data, "tokens", "create", "--user", "alice", "--role", "write").stdout.strip()
    stores = _stores(data)
    try:
        alice = authenticate(stores.db, secret)
        repos.create(stores, alice, repo_type=RepoType.MODEL, namespace="acme", name="bert", private=True)
        repos.create(stores, alice, repo_type=RepoType.DATASET, namespace="acme", name="corpus", private=True)
    finally:
        stores.close()

    inhouse(data, "orgs", "groups", "create", "acme", "nlp", "--description", "language models")
    inhouse(data, "orgs", "groups", "add-member", "acme", "nlp", "bob", "--role", "write")
    inhouse(data, "orgs", "groups", "add-repo", "acme", "nlp", "acme/bert")
    inhouse(data, "orgs", "groups", "add-repo", "acme", "nlp", "acme/corpus", "--type", "dataset")
    assert inhouse(data, "orgs", "groups", "list", "acme").stdout == (
        "nlp\tmembers: bob(write)\trepos: acme/bert, datasets/acme/corpus\n")
    not_member = inhouse(data, "orgs", "groups", "add-member", "acme", "nlp", "alice2", "--role", "read", ok=False)
    assert not_member.returncode == 1
    wrong_type = inhouse(data, "orgs", "groups", "add-repo", "acme", "nlp", "acme/corpus", ok=False)
    assert wrong_type.returncode == 1 and "--type dataset" in wrong_type.stderr

    inhouse(data, "orgs", "groups", "remove-repo", "acme", "nlp", "acme/bert")
    inhouse(data, "orgs", "groups", "remove-member", "acme", "nlp", "bob")
    assert inhouse(data, "orgs", "groups", "list", "acme").stdout == (
        "nlp\tmembers: -\trepos: datasets/acme/corpus\n")
    inhouse(data, "orgs", "members", "remove", "acme", "bob")
    inhouse(data, "orgs", "groups", "delete", "acme", "nlp")
    assert inhouse(data, "orgs", "groups", "list", "acme").stdout == ""

    stores = _stores(data)
    try:
        actions = _actions(stores)
    finally:
        stores.close()
    org_actions = [a for a, _ in actions if a.startswith(("org.", "group."))]
    assert org_actions == [
        "org.create", "org.member.add", "org.member.add", "org.member.role", "group.create", "group.member.add",
        "group.repo.add", "group.repo.add", "group.repo.remove", "group.member.remove", "org.member.remove",
        "group.delete"]
    assert ("org.member.role", {"org": "acme", "user": "carol", "role": "write", "previous": "contributor"}) in actions


def test_database_url_option_is_honoured(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = f"sqlite:///{tmp_path / 'elsewhere' / 'meta.db'}"
    inhouse(data, "users", "create", "dora", db=db)
    inhouse(data, "orgs", "create", "dorg", "--admin", "dora", db=db)
    assert inhouse(data, "orgs", "members", "list", "dorg", db=db).stdout == "dora\tadmin\n"
    assert (tmp_path / "elsewhere" / "meta.db").exists()
    # the default database in the data folder knows nothing of it
    assert inhouse(data, "orgs", "list").stdout == ""
    name = f"x{uuid.uuid4().hex[:6]}"
    assert inhouse(data, "orgs", "members", "list", name, ok=False).returncode == 1


def test_commands_refuse_a_data_folder_that_does_not_exist(tmp_path):
    import subprocess
    import sys

    missing = tmp_path / "typo"
    for argv in (["audit", "verify"], ["tokens", "list", "--user", "x"], ["storage", "stats"], ["orgs", "list"]):
        out = subprocess.run([sys.executable, "-m", "inhouse", *argv, "--data", str(missing)],
                             capture_output=True, text=True)
        assert out.returncode == 1, (argv, out.stdout, out.stderr)
        assert "No inhouse data folder" in out.stderr
    assert not missing.exists()


@pytest.mark.parametrize(("name", "value"), [("INHOUSE_TRUSTED_PROXIES", "10.0.0.1, proxy.corp"),
                                             ("INHOUSE_ALLOWED_HOSTS", "hub.corp, http://hub.corp/")])
def test_serve_refuses_a_malformed_address_setting_with_a_clear_message(tmp_path: Path, name: str,
                                                                       value: str) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("INHOUSE_")}, name: value}
    out = subprocess.run([sys.executable, "-m", "inhouse", "serve", "--data", str(tmp_path / "data"), "--port", "1"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.startswith(f"error: {name}: '") and "Traceback" not in out.stderr


def test_commands_write_private_files_whatever_the_callers_umask(tmp_path: Path) -> None:
    before = os.umask(0o022)
    try:
        data = tmp_path / "data"
        inhouse(data, "users", "create", "erin")
        inhouse(data, "tokens", "create", "--user", "erin", "--role", "read")
        inhouse(data, "audit", "checkpoint", "--force")
    finally:
        os.umask(before)
    for path in [data, *data.rglob("*")]:
        assert path.stat().st_mode & 0o077 == 0, (path, oct(path.stat().st_mode))
