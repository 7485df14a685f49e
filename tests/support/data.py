"""Test data: unique random bytes, reproducible from a seed."""

from __future__ import annotations

import numpy as np


def random_bytes(n: int, seed: int | None = None) -> bytes:
    """`n` random bytes; the same seed gives the same bytes (none: fresh ones each call)."""
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()
