"""Uploading the same content again after the repo went away, with the default client (huggingface_hub + hf_xet) in
separate processes sharing one machine's cache, as a user at a terminal would.

hf_xet keeps, per CAS URL, the shards of its successful uploads (and the server's dedup answers) in
HF_HOME/xet/<endpoint>/shard-cache for three weeks, and dedups new files against them: a xorb it finds there is
not sent again, the new shard just names it. The server must therefore either still let that user name those
xorbs (deleting a repo does not make a user's own uploads unreferencable) or, once storage GC has deleted them,
make the client start a fresh cache (the write token's CAS URL changes for each user whose xorbs GC forgot).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from inhouse.storage.db import users as user_store
from inhouse.storage.db import xet as xet_store
from tests.support.data import random_bytes
from tests.support.live import LiveServer

UPLOAD = """
import sys
from huggingface_hub import HfApi
api = HfApi()
api.create_repo(sys.argv[1], exist_ok=True)
api.upload_folder(folder_path=sys.argv[2], repo_id=sys.argv[1], commit_message="weights")
print("uploaded")
"""

DOWNLOAD = """
import sys
from huggingface_hub import snapshot_download
print(snapshot_download(sys.argv[1], cache_dir=sys.argv[2]))
"""

# hf_xet alone, at a CAS URL given on the command line (as a client sharing another user's cache would be)
XET_UPLOAD_AT = """
import os, sys
import hf_xet, httpx
grant = httpx.get(os.environ["HF_ENDPOINT"] + "/api/models/" + sys.argv[1] + "/xet-write-token/main",
                  headers={"Authorization": "Bearer " + os.environ["HF_TOKEN"]}).json()
session = hf_xet.XetSession(hf_xet.XetConfig().with_config({"telemetry.enabled": False}))
with session.new_upload_commit(endpoint=sys.argv[3], token=grant["accessToken"],
                               token_expiry_unix_secs=grant["exp"]) as commit:
    commit.start_upload_file(sys.argv[2])
print("uploaded")
"""


@pytest.fixture(scope="module")
def xet_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A server of its own: these tests run storage GC with no grace window."""
    srv = LiveServer(tmp_path_factory.mktemp("reupload") / "data").start()
    yield srv
    srv.close()


def client(server: LiveServer, token: str, home: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs `script` in a new Python process with the default client configured as a user would: HF_ENDPOINT,
    HF_TOKEN, and a HF_HOME (so the Xet cache lives in HF_HOME/xet) shared by every run on this "machine"."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=server.url, HF_TOKEN=token, HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_DISABLE_PROGRESS_BARS="1")
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def upload(server: LiveServer, token: str, home: Path, repo_id: str, folder: Path) -> None:
    out = client(server, token, home, UPLOAD, repo_id, str(folder))
    assert out.returncode == 0 and "uploaded" in out.stdout, out.stderr[-3000:]


def downloaded(server: LiveServer, token: str, home: Path, repo_id: str, cache: Path) -> dict[str, bytes]:
    out = client(server, token, home, DOWNLOAD, repo_id, str(cache))
    assert out.returncode == 0, out.stderr[-3000:]
    snap = Path(out.stdout.strip().splitlines()[-1])
    return {str(p.relative_to(snap)): p.read_bytes() for p in snap.rglob("*")
            if p.is_file() and p.name != ".gitattributes"}


def write_folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def model_files(seed: int) -> dict[str, bytes]:
    return {"model.safetensors": random_bytes(3_000_000, seed), "extra/shard-2.bin": random_bytes(1_200_000, seed + 1),
            "config.json": b'{"hidden_size": 32}\n'}


def gc(server: LiveServer) -> dict:  # type: ignore[type-arg]
    """`inhouse storage gc --grace-minutes 0`, from the shell, while the server runs."""
    env = {**os.environ, "INHOUSE_DATABASE_URL": server.database_url}
    out = subprocess.run([sys.executable, "-m", "inhouse", "storage", "gc", "--grace-minutes", "0", "--data",
                          str(server.data_dir), "--json"], env=env, capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def cas_url(server: LiveServer, token: str, repo_id: str) -> str:
    r = httpx.get(f"{server.url}/api/models/{repo_id}/xet-write-token/main", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return str(r.json()["casUrl"])


def user_xorb_rights(server: LiveServer, name: str) -> tuple[set[str], set[str]]:
    """(xorbs the user uploaded, xorbs a dedup answer named to them), as the server records them."""
    from sqlalchemy import select

    from inhouse.storage.db.schema import user_xorbs

    with server.stores.db.read() as conn:
        uid = user_store.user_by_name(conn, name).id  # type: ignore[union-attr]
        rows = conn.execute(select(user_xorbs).where(user_xorbs.c.user_id == uid)).all()
    return ({r.xorb_hash for r in rows if r.uploaded_at is not None},
            {r.xorb_hash for r in rows if r.uploaded_at is None and r.answered_until is not None})


def new_user(server: LiveServer) -> tuple[str, str]:
    name = server.make_user()
    return name, server.make_token(name)


def test_reupload_after_deleting_the_repo(xet_server: LiveServer, tmp_path: Path) -> None:
    server = xet_server
    name, token = new_user(server)
    home = tmp_path / "home"
    files = model_files(70)
    folder = write_folder(tmp_path / "model", files)
    repo_id = f"{name}/m{uuid.uuid4().hex[:6]}"
    upload(server, token, home, repo_id, folder)
    assert list((home / "xet").glob("*/shard-cache/*.mdb"))  # the client's cache: this upload's shard is there
    server.api(token).delete_repo(repo_id)

    upload(server, token, home, repo_id, folder)  # the same repo name again, from the same cache
    assert downloaded(server, token, home, repo_id, tmp_path / "d1") == files
    other = f"{name}/again-{uuid.uuid4().hex[:6]}"  # and under another name
    upload(server, token, home, other, folder)
    assert downloaded(server, token, home, other, tmp_path / "d2") == files


def test_reupload_after_deleting_the_repo_and_collecting_storage(xet_server: LiveServer, tmp_path: Path) -> None:
    server = xet_server
    name, token = new_user(server)
    home = tmp_path / "home"
    files = model_files(72)
    folder = write_folder(tmp_path / "model", files)
    repo_id = f"{name}/m{uuid.uuid4().hex[:6]}"
    upload(server, token, home, repo_id, folder)
    uploaded, _ = user_xorb_rights(server, name)
    assert uploaded
    before = cas_url(server, token, repo_id)
    server.api(token).delete_repo(repo_id)
    report = gc(server)
    with server.stores.db.read() as conn:
        assert not xet_store.known_xorbs(conn, uploaded)  # the xorbs are gone; the client's cache still lists them
    assert report["xorbs_deleted"] >= len(uploaded)

    server.api(token).create_repo(repo_id)
    after = cas_url(server, token, repo_id)
    assert after != before  # a new CAS URL: the client starts a fresh cache, which names nothing forgotten
    upload(server, token, home, repo_id, folder)
    assert downloaded(server, token, home, repo_id, tmp_path / "d") == files
    assert user_xorb_rights(server, name)[0]  # sent again


def test_reupload_of_a_file_deduped_against_a_repo_that_went_away(xet_server: LiveServer, tmp_path: Path) -> None:
    server = xet_server
    w_name, w_token = new_user(server)
    u_name, u_token = new_user(server)
    base = random_bytes(6_000_000, 74)
    variant = base[:3_000_000] + random_bytes(300_000, 75) + base[3_000_000:]
    r0 = f"{w_name}/base-{uuid.uuid4().hex[:6]}"
    upload(server, w_token, tmp_path / "w-home", r0, write_folder(tmp_path / "base", {"model.bin": base}))

    # U, on their own machine, uploads a variant: the server's dedup answer lets it name W's xorbs
    home = tmp_path / "u-home"
    folder = write_folder(tmp_path / "variant", {"model.bin": variant})
    r2 = f"{u_name}/variant-{uuid.uuid4().hex[:6]}"
    upload(server, u_token, home, r2, folder)
    sent, answered = user_xorb_rights(server, u_name)
    assert answered - sent  # some of W's xorbs were named to U and not sent by U
    # both repos go away; U's client still knows those xorbs from the answer in its cache
    server.api(w_token).delete_repo(r0)
    server.api(u_token).delete_repo(r2)
    r3 = f"{u_name}/variant-{uuid.uuid4().hex[:6]}"
    upload(server, u_token, home, r3, folder)
    assert downloaded(server, u_token, home, r3, tmp_path / "d3")["model.bin"] == variant

    # and once storage GC has removed them too
    server.api(u_token).delete_repo(r3)
    assert gc(server)["xorbs_deleted"] > 0
    r4 = f"{u_name}/variant-{uuid.uuid4().hex[:6]}"
    upload(server, u_token, home, r4, folder)
    assert downloaded(server, u_token, home, r4, tmp_path / "d4")["model.bin"] == variant


def test_another_user_cannot_name_those_xorbs(xet_server: LiveServer, tmp_path: Path) -> None:
    """V shares no repo with U. Even on U's machine, with U's cache and U's CAS URL, V's client cannot build a file
    on U's xorbs: the shard is refused. With their own CAS URL (what their token names) V uploads the same
    content as anyone would, sending it."""
    server = xet_server
    u_name, u_token = new_user(server)
    v_name, v_token = new_user(server)
    home = tmp_path / "shared-home"
    secret = random_bytes(2_000_000, 76)
    (tmp_path / "secret.bin").write_bytes(secret)
    u_repo = f"{u_name}/private-{uuid.uuid4().hex[:6]}"
    server.api(u_token).create_repo(u_repo, private=True)
    upload(server, u_token, home, u_repo, write_folder(tmp_path / "u", {"secret.bin": secret}))
    u_xorbs, _ = user_xorb_rights(server, u_name)

    v_repo = f"{v_name}/mine-{uuid.uuid4().hex[:6]}"
    server.api(v_token).create_repo(v_repo)
    out = client(server, v_token, home, XET_UPLOAD_AT, v_repo, str(tmp_path / "secret.bin"),
                 cas_url(server, u_token, u_repo))
    assert out.returncode != 0 and "400" in out.stderr, (out.stdout, out.stderr[-3000:])
    assert not (user_xorb_rights(server, v_name)[0] | user_xorb_rights(server, v_name)[1]) & u_xorbs
    with server.stores.db.read() as conn:
        v_holds = {h for h, repos in xet_store.repos_holding(conn, u_xorbs).items() if len(repos) > 1}
    assert not v_holds

    # the normal way, V's client keeps its own cache and sends the bytes
    upload(server, v_token, home, v_repo, write_folder(tmp_path / "v", {"secret.bin": secret}))
    assert downloaded(server, v_token, home, v_repo, tmp_path / "d")["secret.bin"] == secret
    assert hashlib.sha256(secret).hexdigest() == hashlib.sha256(
        downloaded(server, u_token, home, u_repo, tmp_path / "du")["secret.bin"]).hexdigest()
