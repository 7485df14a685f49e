"""Batched greedy generation with a sequence-to-sequence model (summarisation, translation).

Sources are tokenized once (truncated to the model's input length), sorted by length and generated in buckets of
`batch_size`, each padded only to its own longest source; the outputs come back in the sources' order. Decoding is
greedy (one beam, no sampling), so a run is deterministic; `max_new_tokens` bounds every output. The rest of the
model's generation config (forced BOS for a target language, no-repeat n-grams, ...) is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from inhouse.ml.tasks.sequences import length_buckets, pad_batch, pad_id, sane_max_length

DEFAULT_INPUT_TOKENS = 1024  # sources are truncated to min(this, the model's own limit)


def max_input_tokens(model: Any, tokenizer: Any, limit: int = DEFAULT_INPUT_TOKENS) -> int:
    """How many source tokens the model reads: the smallest of `limit`, the tokenizer's model_max_length and the
    config's position limit (a sentinel like 1e30 counts as no limit)."""
    config = model.config
    candidates = [limit, sane_max_length(getattr(tokenizer, "model_max_length", None)),
                  sane_max_length(getattr(config, "max_position_embeddings", None)),
                  sane_max_length(getattr(config, "n_positions", None))]
    return min(c for c in candidates if c is not None)


def encode_sources(tokenizer: Any, sources: Sequence[str], *, prefix: str, max_tokens: int) -> list[list[int]]:
    """Token ids of prefix + source for each source, truncated to max_tokens (special tokens included). A source
    that encodes to nothing (an empty text) becomes the EOS token alone, so every row has something to attend to."""
    if not sources:
        return []
    enc = tokenizer([prefix + s for s in sources], truncation=True, max_length=max_tokens)
    filler = [token for token in (getattr(tokenizer, "eos_token_id", None), getattr(tokenizer, "pad_token_id", None), 0)
              if isinstance(token, int)][0]
    return [list(ids) or [filler] for ids in enc["input_ids"]]


def generate(model: Any, tokenizer: Any, encoded: Sequence[list[int]], *, max_new_tokens: int, batch_size: int,
             progress: Callable[[int, int], None] | None = None) -> list[str]:
    """Greedy outputs (decoded, special tokens skipped, stripped) for already-encoded sources, in their order."""
    pad = pad_id(model, tokenizer)
    outputs: list[str] = [""] * len(encoded)
    done = 0
    for bucket in length_buckets([len(ids) for ids in encoded], batch_size):
        input_ids, attention_mask = pad_batch([encoded[i] for i in bucket], pad, side="right")
        with torch.inference_mode():
            generated = model.generate(input_ids=input_ids, attention_mask=attention_mask, max_new_tokens=max_new_tokens,
                                       num_beams=1, do_sample=False, pad_token_id=pad)
        texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
        for i, text in zip(bucket, texts, strict=True):
            outputs[i] = str(text).strip()
        done += len(bucket)
        if progress is not None:
            progress(done, len(encoded))
    return outputs


def generate_texts(model: Any, tokenizer: Any, sources: Sequence[str], *, max_new_tokens: int, batch_size: int,
                   prefix: str = "", progress: Callable[[int, int], None] | None = None) -> list[str]:
    """encode_sources + generate: the outputs for raw source texts."""
    encoded = encode_sources(tokenizer, sources, prefix=prefix, max_tokens=max_input_tokens(model, tokenizer))
    return generate(model, tokenizer, encoded, max_new_tokens=max_new_tokens, batch_size=batch_size,
                    progress=progress)
