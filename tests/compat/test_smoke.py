"""The basic round trip with the real huggingface_hub client: create, upload (regular + LFS), download."""

from __future__ import annotations

import os

from huggingface_hub import hf_hub_download


def test_upload_and_download_round_trip(server, api, repo_id, tmp_path):
    api.create_repo(repo_id)
    big = os.urandom(3 * 1024 * 1024 + 7)
    (tmp_path / "w.bin").write_bytes(big)
    api.upload_file(path_or_fileobj=str(tmp_path / "w.bin"), path_in_repo="w/w.bin", repo_id=repo_id)
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="a.txt", repo_id=repo_id)
    assert sorted(api.list_repo_files(repo_id)) == [".gitattributes", "a.txt", "w/w.bin"]
    got = hf_hub_download(repo_id, "w/w.bin", endpoint=server.url, cache_dir=tmp_path / "cache", token=False)
    assert open(got, "rb").read() == big
    info = api.model_info(repo_id, files_metadata=True)
    lfs = {s.rfilename: s.lfs for s in info.siblings}
    assert lfs["w/w.bin"].size == len(big) and lfs["a.txt"] is None
