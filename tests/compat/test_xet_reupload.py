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
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx

from inhouse.services.largefiles import storage_gc
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


def client(server: LiveServer, token: str, home: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs `script` in a new Python process with the default client configured as a user would: HF_ENDPOINT,
    HF_TOKEN, and a HF_HOME (so the Xet cache lives in HF_HOME/xet) shared by every run on this "machine"."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=server.url, HF_TOKEN=token, HF_HOME=str(home), HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_DISABLE_PROGRESS_BARS="1", HF_XET_TELEMETRY_ENABLED="false")
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=600, check=False)


def upload(server: LiveServer, token: str, home: Path, repo_id: str, folder: Path) -> None:
    out = client(server, token, home, UPLOAD, repo_id, str(folder))
    assert out.returncode == 0 and "uploaded" in out.stdout, out.stderr[-3000:]


def downloaded(server: LiveServer, token: str, home: Path, repo_id: str, cache: Path) -> dict[str, bytes]:
    out = client(server, token, home, DOWNLOAD, repo_id, str(cache))
    assert out.returncode == 0, out.stderr[-3000:]
    snap = Path(out.stdout.strip().splitlines()[-1])
    return {str(p.relative_to(snap)): p.read_bytes() for p in snap.rglob("*") if p.is_file()}


def model_folder(root: Path, seed: int) -> dict[str, bytes]:
    files = {"model.safetensors": random_bytes(3_000_000, seed), "extra/shard-2.bin": random_bytes(1_200_000, seed + 1),
             "config.json": b'{"hidden_size": 32}\n'}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def delete_repo(server: LiveServer, token: str, repo_id: str) -> None:
    server.api(token).delete_repo(repo_id)


def test_reupload_after_deleting_the_repo(server: LiveServer, tmp_path: Path) -> None:
    name = server.make_user()
    token = server.make_token(name)
    home = tmp_path / "home"
    files = model_folder(tmp_path / "model", 70)
    repo_id = f"{name}/m{uuid.uuid4().hex[:6]}"
    upload(server, token, home, repo_id, tmp_path / "model")
    assert (home / "xet").is_dir()  # the client's cache: the shard of this upload lives there now
    delete_repo(server, token, repo_id)

    upload(server, token, home, repo_id, tmp_path / "model")  # the same repo name again
    got = downloaded(server, token, home, repo_id, tmp_path / "d1")
    assert {k: v for k, v in got.items() if k in files} == files
    other = f"{name}/again-{uuid.uuid4().hex[:6]}"  # and under another name
    upload(server, token, home, other, tmp_path / "model")
    assert downloaded(server, token, home, other, tmp_path / "d2")["model.safetensors"] == files["model.safetensors"]
