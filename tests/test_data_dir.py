"""The data folder is private to the account inhouse runs as (issue 7, finding 10): every folder 0700 and every
file 0600 (database and its -wal/-shm, secret.key, audit keys and checkpoints, LFS and Xet files), and a folder
left open to others by an earlier version is made private when inhouse next opens it."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import constants

from inhouse.config import Settings
from inhouse.services.context import Stores
from tests.support.data import random_bytes
from tests.support.live import LiveServer


def inhouse(data: Path, *args: str, db: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INHOUSE_")}
    cmd = [sys.executable, "-m", "inhouse", *args, "--data", str(data), *(["--database-url", db] if db else [])]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    return out


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The usual umask (022) while a test runs: inhouse must not depend on its caller's."""
    before = os.umask(0o022)
    yield
    os.umask(before)


def open_to_others(root: Path) -> list[str]:
    """Every entry under `root` (and root) that its group or other accounts may use, with its mode."""
    found = []
    for path in [root, *root.rglob("*")]:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            continue
        mode = stat.S_IMODE(st.st_mode)
        expected = 0o700 if stat.S_ISDIR(st.st_mode) else 0o600
        if mode & 0o077 or (mode & expected) != expected:
            found.append(f"{path.relative_to(root.parent)} {oct(mode)}")
    return found


def test_everything_a_server_writes_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    inhouse(data, "users", "create", "alice", "--admin")
    token = inhouse(data, "tokens", "create", "--user", "alice", "--role", "write").stdout.strip()
    server = LiveServer(data).start()
    try:
        api = server.api(token)
        repo_id = f"alice/r{uuid.uuid4().hex[:8]}"
        api.create_repo(repo_id, private=True)
        api.upload_file(path_or_fileobj=b"small\n", path_in_repo="README.md", repo_id=repo_id)
        api.upload_file(path_or_fileobj=random_bytes(12 << 20), path_in_repo="xet.bin", repo_id=repo_id)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        api.upload_file(path_or_fileobj=random_bytes(12 << 20), path_in_repo="lfs.bin", repo_id=repo_id)
        api.hf_hub_download(repo_id, "lfs.bin", cache_dir=tmp_path / "cache")
        inhouse(data, "audit", "checkpoint", "--force")
    finally:
        server.close()
    names = {p.name for p in data.rglob("*")}
    assert {"inhouse.db", "secret.key", "lfs", "xet", "audit"} <= names, names
    assert any(p.is_file() for p in (data / "xet").rglob("*")) and any((data / "audit").iterdir())
    assert not open_to_others(data)


def test_an_existing_folder_open_to_others_is_made_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    inhouse(data, "users", "create", "alice")
    # as an older version left it: everything readable by all
    for path in [data, *data.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    (data / "lfs" / "objects" / "ab").mkdir(mode=0o777, parents=True, exist_ok=True)
    (data / "lfs" / "objects" / "ab" / "blob").write_bytes(b"x")
    (data / "lfs" / "objects" / "ab" / "blob").chmod(0o666)
    assert open_to_others(data)
    out = inhouse(data, "users", "list")
    assert "open to other accounts" in out.stderr
    assert not open_to_others(data)


def test_opening_the_stores_in_a_program_makes_the_folder_private(tmp_path: Path) -> None:
    """Not only the command: a program that opens the stores (as the tests and the app do) gets the same."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    (data / "inhouse.db").touch(mode=0o644)
    stores = Stores.open(Settings(data_dir=data))
    stores.close()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE((data / "inhouse.db").stat().st_mode) == 0o600


def test_a_sqlite_database_outside_the_data_folder_is_private(tmp_path: Path) -> None:
    elsewhere = tmp_path / "db"
    elsewhere.mkdir(mode=0o755)
    inhouse(tmp_path / "data", "users", "create", "bob", db=f"sqlite:///{elsewhere / 'hub.db'}")
    files = sorted(elsewhere.iterdir())
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files), [
        (f.name, oct(f.stat().st_mode)) for f in files]
