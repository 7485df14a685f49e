"""`inhouse serve`'s access log never shows the signature of a signed link (issue 7, finding 6): LFS transfer
links and Xet xorb links are logged with `sig=REDACTED`. A live server with the access log on."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import constants, hf_hub_download

from inhouse.cli.server import redact
from tests.support.data import random_bytes
from tests.support.live import LiveServer


def test_redact_hides_secret_query_values_only() -> None:
    assert redact("/api/lfs-transfer/1/ab/5/get?exp=17&sig=c0ffee") == "/api/lfs-transfer/1/ab/5/get?exp=17&sig=REDACTED"
    assert redact("/x?token=ih_abc&b=1&SIG=z&access_token=q") == "/x?token=REDACTED&b=1&SIG=REDACTED&access_token=REDACTED"
    assert redact("/api/models?search=sig=1") == "/api/models?search=sig=1"  # a value that only looks like one


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    srv = LiveServer(tmp_path_factory.mktemp("access-log") / "data", access_log=True,
                     env={"PYTHONUNBUFFERED": "1"}).start()  # each log line reaches the file at once
    yield srv
    srv.close()


def test_signed_links_reach_the_access_log_without_their_signature(logged: LiveServer, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    name = logged.make_user()
    token = logged.make_token(name, "write")
    api = logged.api(token)
    repo_id = f"{name}/r{uuid.uuid4().hex[:8]}"
    api.create_repo(repo_id, private=True)
    xet_data = random_bytes(3 << 20)
    api.upload_file(path_or_fileobj=xet_data, path_in_repo="xet.bin", repo_id=repo_id)
    # a Xet download: the client fetches signed /cas/xorb-data/… links
    got = hf_hub_download(repo_id, "xet.bin", token=token, endpoint=logged.url, cache_dir=tmp_path / "cache")
    assert Path(got).read_bytes() == xet_data
    # an LFS download: the batch API hands out a signed /api/lfs-transfer/… link
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    lfs_data = random_bytes(1 << 20)
    api.upload_file(path_or_fileobj=lfs_data, path_in_repo="lfs.bin", repo_id=repo_id)
    oid = hashlib.sha256(lfs_data).hexdigest()
    batch = httpx.post(f"{logged.url}/{repo_id}.git/info/lfs/objects/batch", timeout=60,
                       headers={"Authorization": f"Bearer {token}"},
                       json={"operation": "download", "objects": [{"oid": oid, "size": len(lfs_data)}]})
    href = batch.json()["objects"][0]["actions"]["download"]["href"]
    assert httpx.get(href, timeout=60).content == lfs_data
    signatures = [httpx.URL(href).params["sig"]]

    log = Path(logged.log.name).read_text(encoding="utf-8", errors="replace")
    assert re.search(r'"GET /api/lfs-transfer/\S+/get\?\S*sig=REDACTED HTTP/1.1" 200', log), log[-3000:]
    assert re.search(r'"GET /cas/xorb-data/\S+&sig=REDACTED HTTP/1.1" 20[06]', log), log[-3000:]
    assert signatures[0] not in log
    assert not re.search(r"sig=(?!REDACTED)", log), "a signature reached the access log"
