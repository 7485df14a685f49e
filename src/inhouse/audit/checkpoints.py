"""Signed checkpoints of the chain head, written outside the database (data/audit/checkpoints.jsonl).

A checkpoint pins (seq, hash) with an Ed25519 signature. Deleting the newest entries, or rebuilding the whole
chain, cannot match a checkpoint that was taken before.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from inhouse.storage.private import secret_file


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    hash: str
    ts: float
    sig: str

    def message(self) -> bytes:
        return f"inhouse-audit-checkpoint:{self.seq}:{self.hash}:{self.ts!r}".encode()


class CheckpointBook:
    def __init__(self, data_dir: Path):
        self.dir = data_dir / "audit"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.file = self.dir / "checkpoints.jsonl"
        self._key = self._load_key()

    def _load_key(self) -> Ed25519PrivateKey:
        def generate() -> bytes:
            return Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

        loaded = serialization.load_pem_private_key(secret_file(self.dir / "ed25519.key", generate), password=None)
        assert isinstance(loaded, Ed25519PrivateKey)
        pub_path = self.dir / "ed25519.pub"
        if not pub_path.exists():  # the public half, for whoever checks checkpoints without the private key
            pub_path.write_bytes(loaded.public_key().public_bytes(serialization.Encoding.PEM,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
        return loaded

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def write(self, seq: int, hash_: str) -> Checkpoint:
        ts = time.time()
        unsigned = Checkpoint(seq, hash_, ts, "")
        cp = Checkpoint(seq, hash_, ts, self._key.sign(unsigned.message()).hex())
        line = json.dumps({"seq": cp.seq, "hash": cp.hash, "ts": cp.ts, "sig": cp.sig}) + "\n"
        with open(self.file, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        return cp

    def read(self) -> tuple[list[Checkpoint], list[str]]:
        """The checkpoints whose signature holds, and a problem line for each that does not."""
        good: list[Checkpoint] = []
        problems: list[str] = []
        if not self.file.exists():
            return good, problems
        for n, line in enumerate(self.file.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                cp = Checkpoint(int(d["seq"]), str(d["hash"]), float(d["ts"]), str(d["sig"]))
                self.public_key.verify(bytes.fromhex(cp.sig), cp.message())
                good.append(cp)
            except (ValueError, KeyError, TypeError, InvalidSignature):
                problems.append(f"checkpoint line {n} of {self.file} is malformed or its signature does not verify")
        return good, problems

    def last(self) -> Checkpoint | None:
        good, _ = self.read()
        return good[-1] if good else None
