"""Small helpers the generative families share: length-sorted buckets, padding to a bucket's longest row, and
reading a model's length limit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import torch

from inhouse.ml import engine

NO_LIMIT = 1_000_000  # a model_max_length at or above this is transformers' "no limit" sentinel (1e30)


def length_buckets(lengths: Sequence[int], batch_size: int, *, max_tokens: int | None = None) -> list[list[int]]:
    """engine.length_buckets, unbounded in tokens unless max_tokens is given (generation bounds its own batches)."""
    return engine.length_buckets(lengths, batch_size, max_tokens)


def pad_batch(rows: Sequence[Sequence[int]], pad: int, *,
              side: Literal["left", "right"]) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask) as int64 tensors of shape (len(rows), longest row), padded on `side`."""
    width = max((len(r) for r in rows), default=0)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if not row:
            continue
        start = 0 if side == "right" else width - len(row)
        ids[i, start:start + len(row)] = torch.tensor(list(row), dtype=torch.long)
        mask[i, start:start + len(row)] = 1
    return ids, mask


def sane_max_length(value: object) -> int | None:
    """A positive length limit, or None for a missing one or transformers' 'no limit' sentinel."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if value <= 0 or value >= NO_LIMIT:
        return None
    return int(value)


def pad_id(model: Any, tokenizer: Any) -> int:
    """The id padding is written with: the tokenizer's pad token, else the config's, else EOS, else 0 (padding is
    always masked out, so any id does)."""
    for value in (getattr(tokenizer, "pad_token_id", None), getattr(model.config, "pad_token_id", None),
                  getattr(tokenizer, "eos_token_id", None), getattr(model.config, "eos_token_id", None)):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return 0
