"""services/governance/scans on SQLite and PostgreSQL: which scanners a file needs, scans in the real scanner process
(small files' bytes, large files from the large-file store), results cached by content and scanner version (a
repeat starts no process; errors are not cached), a policy's extra safe globals applied to cached results, secrets
in small files scanned in the server's process, and failures (timeout, memory, a file whose bytes are missing) as
error results that say what happened, never clean ones; one hostile file fails only itself."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from inhouse.access.identity import principal_by_token_id
from inhouse.scanners import VERSIONS
from inhouse.services import repos as repo_service
from inhouse.services import users
from inhouse.services.largefiles import lfs as lfs_service
from inhouse.services.largefiles import xet_convert
from inhouse.services.context import Stores
from inhouse.services.governance import scans
from inhouse.services.governance.policy_doc import DEFAULT_POLICY, PersonalDataRules, PickleRules, Policy, SecretRules
from inhouse.storage.db import scans as scan_store
from inhouse.vocabulary import Outcome, RepoType, Scanner, TokenRole

SYSTEM = {"os.system", "posix.system"}


class RunsSystem:
    def __reduce__(self) -> Any:
        return (os.system, ("echo pwned",))


def small(path: str, data: bytes) -> scans.ScanTarget:
    return scans.ScanTarget(path=path, content_key=f"git:{hashlib.sha1(data).hexdigest()}", size=len(data), data=data)


def large(stores: Stores, path: str, data: bytes) -> scans.ScanTarget:
    upload = stores.blobs.begin()
    upload.write(data)
    oid = upload.commit()
    return scans.ScanTarget(path=path, content_key=f"sha256:{oid}", size=len(data), data=None)


def with_settings(stores: Stores, **changes: Any) -> Stores:
    return dataclasses.replace(stores, settings=dataclasses.replace(stores.settings, **changes))


def _refuse(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the scanner process was started")


@pytest.fixture
def no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails the test if the scanner process is started."""
    monkeypatch.setattr(scans.subprocess, "Popen", _refuse)


EVIL = pickle.dumps({"w": [1.0, 2.0], "hook": RunsSystem()}, protocol=4)
CLEAN = pickle.dumps({"w": [1.0, 2.0]}, protocol=2)


def test_scanners_for() -> None:
    policy = Policy(personal_data=PersonalDataRules(), secrets=SecretRules())
    t = scans.ScanTarget
    assert scans.scanners_for(DEFAULT_POLICY, RepoType.MODEL, t("w/model.BIN", "sha256:0", 9, None)) == [Scanner.PICKLE]
    assert scans.scanners_for(DEFAULT_POLICY, RepoType.MODEL, t("README.md", "git:0", 3, b"hi\n")) == []
    assert scans.scanners_for(DEFAULT_POLICY, RepoType.MODEL, t("model.safetensors", "sha256:0", 9, None)) == []
    assert scans.scanners_for(policy, RepoType.DATASET, t("data/train.csv", "sha256:0", 9, None)) == [
        Scanner.PERSONAL_DATA, Scanner.SECRETS]
    assert scans.scanners_for(policy, RepoType.MODEL, t("data/train.csv", "sha256:0", 9, None)) == [Scanner.SECRETS]
    assert scans.scanners_for(policy, RepoType.MODEL, t("a.bin", "git:0", 9, b"x")) == [Scanner.PICKLE,
                                                                                       Scanner.SECRETS]
    assert scans.scanners_for(DEFAULT_POLICY, RepoType.DATASET, t("df.pkl.gz", "sha256:0", 9, None)) == [
        Scanner.PICKLE]
    assert scans.scanners_for(DEFAULT_POLICY, RepoType.DATASET, t("rows.json.gz", "sha256:0", 9, None)) == []
    # a large binary file is not read for secrets; a small one always is (in this process)
    assert scans.scanners_for(policy, RepoType.MODEL, t("a.gguf", "sha256:0", 9, None)) == []


def test_scans_small_files_in_the_scanner_process_and_caches(stores: Stores, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    evil, clean = small("evil.pkl", EVIL), small("sub/clean.bin", CLEAN)
    readme = small("README.md", b"# hi\n")
    out = scans.run_scans(stores, [evil, clean, readme], DEFAULT_POLICY, RepoType.MODEL)
    assert set(out) == {evil.content_key, clean.content_key}
    bad = out[evil.content_key][Scanner.PICKLE]
    assert bad.status == "findings" and bad.version == VERSIONS[Scanner.PICKLE] and bad.error is None
    assert {u["global"] for u in bad.findings["unsafe"]} & SYSTEM
    assert out[clean.content_key][Scanner.PICKLE].status == "clean"
    with stores.db.read() as conn:
        rows = scan_store.get_scans(conn, [evil.content_key, clean.content_key])
    assert {k: [r.status for r in v] for k, v in rows.items()} == {evil.content_key: ["findings"],
                                                                   clean.content_key: ["clean"]}
    # the same bytes again (under any path): from the cache, no process started
    monkeypatch.setattr(scans.subprocess, "Popen", _refuse)
    again = scans.run_scans(stores, [dataclasses.replace(evil, path="copy/evil.pt")], DEFAULT_POLICY,
                            RepoType.MODEL)
    assert again[evil.content_key][Scanner.PICKLE] == bad


def test_extra_safe_globals_apply_to_cached_results(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    evil = small("evil.pkl", EVIL)
    first = scans.run_scans(stores, [evil], DEFAULT_POLICY, RepoType.MODEL)[evil.content_key][Scanner.PICKLE]
    name = first.findings["unsafe"][0]["global"]
    monkeypatch.setattr(scans.subprocess, "Popen", _refuse)
    lenient = Policy(pickles=PickleRules(outcome=Outcome.DENY, extra_safe_globals=frozenset({name})))
    result = scans.run_scans(stores, [evil], lenient, RepoType.MODEL)[evil.content_key][Scanner.PICKLE]
    assert result.status == "clean" and result.findings["unsafe"] == []
    assert name in result.findings["imports"]


def test_large_files_are_read_from_the_large_file_store(stores: Stores) -> None:
    target = large(stores, "weights/pytorch_model.bin", EVIL)
    assert stores.blobs.local_path(target.content_key.split(":")[1]) is not None
    out = scans.run_scans(stores, [target], DEFAULT_POLICY, RepoType.MODEL)
    assert out[target.content_key][Scanner.PICKLE].status == "findings"


def test_large_files_only_in_xorbs_are_spooled_and_the_copy_removed(stores: Stores) -> None:
    """A large file converted to Xet storage has no local blob: it is read through read_lfs into a temp file under
    the data folder, scanned, and the temp file removed."""
    users.create_user(stores, "scanowner")
    token, _ = users.create_token(stores, "scanowner", role=TokenRole.WRITE)
    repo = repo_service.create(stores, principal_by_token_id(stores.db, token.id), repo_type=RepoType.MODEL,
                               namespace="scanowner", name="m")
    data = pickle.dumps({"pad": bytes(300_000), "hook": RunsSystem()}, protocol=4)
    oid = hashlib.sha256(data).hexdigest()
    lfs_service.store_stream(stores, repo, oid, len(data), [data])
    assert xet_convert.convert(stores, oid) is not None and stores.blobs.local_path(oid) is None
    target = scans.ScanTarget("model.bin", f"sha256:{oid}", len(data), None)
    result = scans.run_scans(stores, [target], DEFAULT_POLICY, RepoType.MODEL)[target.content_key][Scanner.PICKLE]
    assert result.status == "findings" and {u["global"] for u in result.findings["unsafe"]} & SYSTEM
    assert list(stores.blobs.tmp.glob("scan-*")) == []


def test_a_large_file_whose_bytes_are_missing_is_an_error(stores: Stores) -> None:
    target = scans.ScanTarget("gone.bin", "sha256:" + "0" * 64, 10, None)
    result = scans.run_scans(stores, [target], DEFAULT_POLICY, RepoType.MODEL)[target.content_key][Scanner.PICKLE]
    assert result.status == "error" and "could not be read" in (result.error or "")


def test_secrets_in_small_files_are_scanned_in_this_process(stores: Stores, no_process: None) -> None:
    policy = Policy(secrets=SecretRules())
    target = small("config.py", b"import os\nAWS_KEY = 'AKIAQ7ZB3XK2M9LTR4VW'\n")
    result = scans.run_scans(stores, [target], policy, RepoType.MODEL)[target.content_key][Scanner.SECRETS]
    assert result.status == "findings"
    assert "AKIAQ7ZB3XK2M9LTR4VW" not in str(result.findings)  # never the value


def test_a_timeout_is_an_error_that_says_so_and_is_not_cached(stores: Stores) -> None:
    evil = small("evil.pkl", EVIL)
    hurried = with_settings(stores, scan_timeout_s=0.01)
    result = scans.run_scans(hurried, [evil], DEFAULT_POLICY, RepoType.MODEL)[evil.content_key][Scanner.PICKLE]
    assert result.status == "error"
    assert result.error == "the scan timed out after 0.01 s (scan_timeout_s) and was stopped"
    with stores.db.read() as conn:
        assert scan_store.get_scans(conn, [evil.content_key]) == {}
    # with time enough the same bytes are scanned again
    again = scans.run_scans(stores, [evil], DEFAULT_POLICY, RepoType.MODEL)[evil.content_key][Scanner.PICKLE]
    assert again.status == "findings"


def test_running_out_of_memory_is_an_error_that_says_so(stores: Stores) -> None:
    """An address space too small for the scanner to load: an error result naming the setting."""
    starved = with_settings(stores, scan_max_memory_bytes=16 * 1024 * 1024)
    evil, clean = small("evil.pkl", EVIL), small("clean.pkl", CLEAN)
    out = scans.run_scans(starved, [evil, clean], DEFAULT_POLICY, RepoType.MODEL)
    for target in (evil, clean):
        result = out[target.content_key][Scanner.PICKLE]
        assert result.status == "error", result
        assert result.error == "the scanner ran out of memory (scan_max_memory_bytes)"


def _scanner_processes() -> list[int]:
    """The scanner processes this test process started (children running python -m inhouse.scanners)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"inhouse.scanners" in cmdline:
            found.append(int(entry))
    return found


def test_a_process_that_is_killed_is_an_error_that_says_so(stores: Stores, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scanner process killed while it scans (as the kernel's OOM killer does): that file's result is an error
    naming the signal; the file after it is scanned in a new process. While it runs: no credential of the server's
    environment reached it, and it works in a private folder under the data folder."""
    monkeypatch.setenv("HF_TOKEN", "hf_secret_of_the_server")
    monkeypatch.setenv("INHOUSE_SECRET_KEY", "server-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    slow = large(stores, "slow.pkl", b"\x80\x04" + b"N0" * 45_000_000 + b"N.")
    evil = small("evil.pkl", EVIL)
    results: dict[str, dict[Scanner, scans.ScanResult]] = {}
    worker = threading.Thread(target=lambda: results.update(
        scans.run_scans(stores, [slow, evil], DEFAULT_POLICY, RepoType.MODEL)))
    worker.start()
    killed = False
    for _ in range(600):  # the process scans the slow file for many seconds: find it and kill it
        pids = _scanner_processes()
        if pids:
            with open(f"/proc/{pids[0]}/environ", "rb") as f:
                environ = f.read()
            cwd = Path(os.readlink(f"/proc/{pids[0]}/cwd"))
            os.kill(pids[0], signal.SIGKILL)
            killed = True
            break
        time.sleep(0.05)
    worker.join()
    assert killed
    assert b"secret" not in environ and b"PATH=" in environ
    assert cwd.parent == stores.blobs.tmp.resolve() and cwd.name.startswith("scan-") and not cwd.exists()
    crashed = results[slow.content_key][Scanner.PICKLE]
    assert crashed.status == "error"
    assert crashed.error == ("the scanner crashed (exit -9, SIGKILL: killed, as the kernel does when memory runs "
                             "out) while scanning this file")
    assert results[evil.content_key][Scanner.PICKLE].status == "findings"


def test_one_hostile_file_fails_only_itself(stores: Stores) -> None:
    """A pickle of 45 million opcodes keeps the scanner busy past the timeout: its process is stopped, that file's
    result is the timeout, and the files after it are scanned in a new process."""
    slow = b"\x80\x04" + b"N0" * 45_000_000 + b"N."
    hostile, evil, clean = large(stores, "slow.pkl", slow), small("evil.pkl", EVIL), small("ok.pkl", CLEAN)
    hurried = with_settings(stores, scan_timeout_s=4.0)
    out = scans.run_scans(hurried, [hostile, evil, clean], DEFAULT_POLICY, RepoType.MODEL)
    timed_out = out[hostile.content_key][Scanner.PICKLE]
    assert timed_out.status == "error" and "timed out after 4 s" in (timed_out.error or "")
    assert out[evil.content_key][Scanner.PICKLE].status == "findings"
    assert out[clean.content_key][Scanner.PICKLE].status == "clean"


def test_scan_settings_from_the_environment() -> None:
    from inhouse.config import Settings

    s = Settings.from_env({"INHOUSE_SCAN_TIMEOUT_S": "2.5", "INHOUSE_SCAN_MAX_MEMORY_BYTES": "1000000000"})
    assert s.scan_timeout_s == 2.5 and s.scan_max_memory_bytes == 1_000_000_000


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_a_pickle_is_scanned_whatever_its_name(stores: Stores, protocol: int) -> None:
    data = pickle.dumps(RunsSystem(), protocol=protocol)
    for target in (small("weights", data), large(stores, "checkpoints/final", data)):
        found = scans.run_scans(stores, [target], DEFAULT_POLICY, RepoType.MODEL)[target.content_key]
        assert found[Scanner.PICKLE].status == "findings", target
    # a file that does not begin like one, named like nothing pickled, is not
    plain = small("notes", b"\x80 not a pickle, just bytes")
    assert scans.run_scans(stores, [plain], DEFAULT_POLICY, RepoType.MODEL) == {}
