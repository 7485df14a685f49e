"""Causal language models: per-example negative log-likelihood (for perplexity) and greedy continuations (for exact
match on prompt/answer pairs).

Perplexity. Each text is tokenized with the model's tokenizer; when the tokenizer has a BOS token and did not put it
first, it is prepended, so every token of the text is predicted from something (with no BOS token the first token is
context only). A text longer than the model's window is scored with a **sliding window**: windows of at most
`max_length` tokens whose ends advance by `stride` tokens, each token predicted exactly once, with at least
`max_length - stride` tokens of left context once the first window has passed (stride defaults to half the window;
the Hugging Face "perplexity of fixed-length models" recipe). Windows of all texts are scored together in
length-sorted, right-padded batches (positions count from 0 in every window); padding is masked out of the attention
and the loss. For each example the result is the **sum** of its tokens' NLL (natural log) and the number of tokens
scored, so corpus perplexity is exp(sum of sums / sum of counts) and the bootstrap resamples examples.

Exact match. Prompts are encoded the same way (BOS first), left-padded in length-sorted batches and continued
greedily (one beam, no sampling) until EOS, a token whose text contains a newline, or `max_new_tokens`. The
continuation is cut at its first newline and stripped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
from transformers import StoppingCriteria, StoppingCriteriaList

from inhouse.ml.tasks.sequences import length_buckets, pad_batch, pad_id, sane_max_length

DEFAULT_WINDOW = 1024  # perplexity windows are at most min(this, the model's position limit) tokens
LOGITS_BUDGET = 1 << 25  # at most this many logits (rows × tokens × vocabulary, float32) in one scoring batch


def encode(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text, BOS first when the tokenizer has a BOS token (added when its template does not)."""
    if not texts:
        return []
    bos = getattr(tokenizer, "bos_token_id", None)
    rows = [list(ids) for ids in tokenizer(list(texts))["input_ids"]]
    if isinstance(bos, int):
        rows = [ids if ids[:1] == [bos] else [bos, *ids] for ids in rows]
    return rows


def encode_prompts(tokenizer: Any, prompts: Sequence[str]) -> list[list[int]]:
    """encode(), with an empty prompt of a tokenizer without BOS given the EOS token as its context (generation needs
    at least one token to continue from)."""
    eos = getattr(tokenizer, "eos_token_id", None)
    filler = [eos if isinstance(eos, int) else 0]
    return [ids or filler for ids in encode(tokenizer, prompts)]


def model_window(model: Any, limit: int = DEFAULT_WINDOW) -> int:
    """The longest sequence the model takes: min(limit, the config's position limit when it has one)."""
    config = model.config
    candidates = [limit, sane_max_length(getattr(config, "max_position_embeddings", None)),
                  sane_max_length(getattr(config, "n_positions", None))]
    return min(c for c in candidates if c is not None)


@dataclass(frozen=True)
class Window:
    """One scored slice of an example: ids[0:] are fed to the model; targets at positions first..len(ids)-1 (each
    predicted from the position before it) count for the example."""

    example: int
    ids: list[int]
    first: int


def windows(ids: Sequence[int], example: int, *, max_length: int, stride: int) -> list[Window]:
    """The sliding windows of one example's ids (see the module docstring); none for fewer than two tokens."""
    if max_length < 2:
        raise ValueError("max_length must be at least 2")
    if not 1 <= stride <= max_length - 1:
        raise ValueError("stride must be between 1 and max_length - 1 (a window needs a token of context)")
    n = len(ids)
    out: list[Window] = []
    prev_end = 1  # position 0 is never a target
    end = min(max_length, n)
    while prev_end < n:
        begin = max(0, end - max_length)
        out.append(Window(example, list(ids[begin:end]), prev_end - begin))
        prev_end = end
        end = min(end + stride, n)
    return out


def negative_log_likelihoods(model: Any, encoded: Sequence[Sequence[int]], *, batch_size: int,
                             max_length: int | None = None, stride: int | None = None,
                             progress: Callable[[int, int], None] | None = None) -> tuple[list[float], list[int]]:
    """(NLL sums in nats, scored token counts), one of each per encoded example (see the module docstring).
    max_length defaults to model_window(model), stride to half of it."""
    window = max_length if max_length is not None else model_window(model)
    step = stride if stride is not None else max(1, window // 2)
    all_windows = [w for i, ids in enumerate(encoded) for w in windows(ids, i, max_length=window, stride=step)]
    sums = [0.0] * len(encoded)
    counts = [0] * len(encoded)
    vocab = int(model.config.vocab_size) if getattr(model.config, "vocab_size", None) else 50_000
    budget = max(window, LOGITS_BUDGET // max(vocab, 1))
    done = 0
    for bucket in length_buckets([len(w.ids) for w in all_windows], batch_size, max_tokens=budget):
        batch = [all_windows[i] for i in bucket]
        input_ids, attention_mask = pad_batch([w.ids for w in batch], 0, side="right")
        with torch.inference_mode():
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
            logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
            targets = input_ids[:, 1:]
            token_nll = -logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            # a target at position p (1-based in the window) counts when p >= first and p is a real token
            positions = torch.arange(1, input_ids.shape[1]).unsqueeze(0)
            firsts = torch.tensor([w.first for w in batch]).unsqueeze(1)
            scored = (positions >= firsts) & attention_mask[:, 1:].bool()
            row_sums = (token_nll * scored).sum(dim=1).tolist()
            row_counts = scored.sum(dim=1).tolist()
        for w, s, c in zip(batch, row_sums, row_counts, strict=True):
            sums[w.example] += float(s)
            counts[w.example] += int(c)
        done += len(bucket)
        if progress is not None:
            progress(done, len(all_windows))
    return sums, counts


class _StopAtNewline(StoppingCriteria):
    """Stops a row once its newest token's text holds a newline (token texts are decoded once and remembered)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.known: dict[int, bool] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any) -> torch.BoolTensor:
        last = input_ids[:, -1].tolist()
        for token in last:
            if token not in self.known:
                self.known[token] = "\n" in str(self.tokenizer.decode([token]))
        return cast(torch.BoolTensor, torch.tensor([self.known[t] for t in last], dtype=torch.bool))


def continuations(model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int, batch_size: int,
                  progress: Callable[[int, int], None] | None = None) -> list[str]:
    """The greedy continuation of each prompt, up to its first newline or EOS, stripped, in the prompts' order."""
    encoded = encode_prompts(tokenizer, prompts)
    window = model_window(model, limit=1 << 30)
    encoded = [ids[-max(1, window - max_new_tokens):] for ids in encoded]  # keep the prompt's end when too long
    pad = pad_id(model, tokenizer)
    stop = StoppingCriteriaList([_StopAtNewline(tokenizer)])
    outputs = [""] * len(encoded)
    done = 0
    for bucket in length_buckets([len(ids) for ids in encoded], batch_size):
        input_ids, attention_mask = pad_batch([encoded[i] for i in bucket], pad, side="left")
        with torch.inference_mode():
            generated = model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                       max_new_tokens=max_new_tokens, num_beams=1, do_sample=False,
                                       pad_token_id=pad, stopping_criteria=stop)
        new_tokens = generated[:, input_ids.shape[1]:]
        for i, text in zip(bucket, tokenizer.batch_decode(new_tokens, skip_special_tokens=True), strict=True):
            outputs[i] = str(text).split("\n", 1)[0].strip()
        done += len(bucket)
        if progress is not None:
            progress(done, len(encoded))
    return outputs

