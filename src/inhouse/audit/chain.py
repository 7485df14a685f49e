"""The hash chain: each entry's hash is an HMAC over its content and the previous entry's hash.

The HMAC key lives in the data folder, outside the database, so someone who can only write to the database can
neither edit an entry nor forge a new one without `inhouse audit verify` noticing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Any

from inhouse.storage.private import secret_file

GENESIS = "0" * 64
FIELDS = ("seq", "ts", "actor", "token_id", "action", "repo", "revision", "path", "ip", "request_id", "outcome",
          "details")


def canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps({k: entry.get(k) for k in FIELDS}, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=True).encode()


def entry_hash(key: bytes, prev_hash: str, entry: dict[str, Any]) -> str:
    return hmac.new(key, prev_hash.encode() + b"\n" + canonical(entry), hashlib.sha256).hexdigest()


def load_chain_key(data_dir: Path) -> bytes:
    return secret_file(data_dir / "audit" / "chain.key", lambda: secrets.token_hex(32).encode()).strip()
