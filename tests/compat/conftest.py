"""Fixtures for the real-client compatibility tests: point every client at the live server, with a fresh cache."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live import LiveServer


@pytest.fixture
def hub_endpoint(server: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """Points huggingface_hub, transformers and datasets at the server, each test with its own HF_HOME.

    The three libraries read HF_ENDPOINT / HF_HOME once, at import, into module constants (and huggingface_hub
    builds a module-level ``HfApi`` with that endpoint); the tests share one process, so the constants are
    patched rather than the environment alone. Yields the server URL.
    """
    import huggingface_hub
    from huggingface_hub import HfFileSystem, constants, hf_api

    url = server.url
    home = tmp_path / "hf_home"
    hub_cache = home / "hub"
    hub_cache.mkdir(parents=True)

    for var, value in {"HF_ENDPOINT": url, "HF_HOME": str(home), "HF_HUB_CACHE": str(hub_cache),
                       "HF_DATASETS_CACHE": str(home / "datasets")}.items():
        monkeypatch.setenv(var, value)

    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HOME", str(home))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(constants, "HUGGINGFACE_HUB_CACHE", str(hub_cache))
    monkeypatch.setattr(constants, "HF_ASSETS_CACHE", str(home / "assets"))
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(home / "stored_tokens"))
    # huggingface_hub.create_repo & co. are bound methods of this instance, built with the import-time endpoint.
    monkeypatch.setattr(hf_api.api, "endpoint", url)
    assert huggingface_hub.create_repo.__self__ is hf_api.api  # type: ignore[attr-defined]

    if "transformers.utils.hub" in sys.modules:
        # transformers keeps one lazily built HfApi; drop it so the next one is built with the patched endpoint.
        monkeypatch.setattr(sys.modules["transformers.utils.hub"], "_hf_api", None)

    if "datasets.config" in sys.modules:
        dconfig = sys.modules["datasets.config"]
        dcache = home / "datasets"
        monkeypatch.setattr(dconfig, "HF_ENDPOINT", url)
        monkeypatch.setattr(dconfig, "HUB_DATASETS_URL", url + "/datasets/{repo_id}/resolve/{revision}/{path}")
        monkeypatch.setattr(dconfig, "HF_CACHE_HOME", str(home))
        monkeypatch.setattr(dconfig, "HF_DATASETS_CACHE", dcache)
        monkeypatch.setattr(dconfig, "HF_MODULES_CACHE", home / "modules")
        monkeypatch.setattr(dconfig, "DOWNLOADED_DATASETS_PATH", dcache / "downloads")
        monkeypatch.setattr(dconfig, "EXTRACTED_DATASETS_PATH", dcache / "downloads" / "extracted")

    # fsspec caches file-system instances (and their listings) per constructor arguments across tests.
    HfFileSystem.clear_instance_cache()
    yield url
    HfFileSystem.clear_instance_cache()
