"""Secrets kept in the data folder (the link-signing key, the audit chain and checkpoint keys) are made once: processes
starting together on a new data folder all end up with the same secret, and nothing else is left behind."""

from __future__ import annotations

import stat
import subprocess
import sys
import threading
from pathlib import Path

from inhouse.storage.private import secret_file


def test_threads_racing_on_a_new_secret_all_get_the_first_one(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "secret.key"
    n = 16
    barrier = threading.Barrier(n)
    got: list[bytes] = []

    def one(i: int) -> None:
        barrier.wait()
        got.append(secret_file(path, lambda: f"secret-{i}".encode()))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == n and len(set(got)) == 1 and path.read_bytes() == got[0]
    assert sorted(p.name for p in path.parent.iterdir()) == ["secret.key"]  # no temporary file left
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_file(path, lambda: b"other") == got[0]  # later calls read it


def test_processes_starting_together_on_a_new_data_folder_share_every_key(tmp_path: Path) -> None:
    """What Stores.open makes (secret.key, audit/chain.key, audit/ed25519.key), from several processes at once."""
    data = tmp_path / "data"
    code = ("import sys; from pathlib import Path; from inhouse.services.signing import load_or_create_secret; "
            "from inhouse.audit.chain import load_chain_key; from inhouse.audit.checkpoints import CheckpointBook; "
            "d = Path(sys.argv[1]); b = CheckpointBook(d); "
            "print(load_or_create_secret(d).hex(), load_chain_key(d).hex(), b.public_key.public_bytes_raw().hex())")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(6)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert len({out for out, _ in outs}) == 1
