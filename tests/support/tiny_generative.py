"""Tiny generative models for the summarisation, translation and text-generation families: a word-level tokenizer
built in memory, a tiny T5 (sequence-to-sequence) and a tiny Llama (causal LM), learnable generated data, and brief
training loops. Nothing is downloaded; everything is deterministic for a given seed.

The data follow a cycle of words: CYCLE[i] is always followed by CYCLE[i + 1], and the last word by a newline. A
causal LM learns that bigram rule in a few hundred steps, so its perplexity on such lines falls far below an untrained
copy's and it continues a prompt exactly to the end of the cycle. The sequence-to-sequence data are a made-up
dictionary over the same words (each word "translates" to the next word of WORDS), which a tiny T5 learns in a few
dozen steps; the summarisation tests read the same pairs as text and summary.
"""

from __future__ import annotations

import random
from typing import Any

SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]
CYCLE = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"]
EXTRA = ["kilo", "lima", "mike", "november", "oscar", "papa"]  # in the vocabulary, never in the cycle
WORDS = CYCLE + EXTRA
NEWLINE = "\n"


def tokenizer(*, model_max_length: int = 64, pad: bool = True) -> Any:
    """A fast word-level tokenizer (whitespace split, tokens joined by spaces on decode) over SPECIALS + WORDS, with
    "\\n" as a token of its own, <pad> <unk> <s> </s> as pad, unk, BOS and EOS (no pad token when `pad` is false, as
    GPT-2's); it adds no special tokens to an encoding (the families put BOS first themselves where they need it)."""
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.add_tokens([AddedToken(NEWLINE, normalized=False, special=False)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   model_max_length=model_max_length, **({"pad_token": "<pad>"} if pad else {}))
    assert fast.unk_token_id not in fast(" ".join(WORDS) + NEWLINE)["input_ids"]
    return fast


def causal_lm(*, seed: int = 0, hidden: int = 32, layers: int = 2, max_positions: int = 64) -> Any:
    """An untrained tiny LlamaForCausalLM over tokenizer()'s vocabulary, in eval mode."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=max_positions, pad_token_id=tok.pad_token_id,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, tie_word_embeddings=True)
    return LlamaForCausalLM(config).eval()


def seq2seq_lm(*, seed: int = 0, d_model: int = 32, layers: int = 2) -> Any:
    """An untrained tiny T5ForConditionalGeneration over tokenizer()'s vocabulary, in eval mode."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tok = tokenizer()
    torch.manual_seed(seed)
    config = T5Config(vocab_size=len(tok), d_model=d_model, d_ff=2 * d_model, d_kv=8, num_layers=layers,
                      num_decoder_layers=layers, num_heads=4, pad_token_id=tok.pad_token_id,
                      eos_token_id=tok.eos_token_id, decoder_start_token_id=tok.pad_token_id)
    return T5ForConditionalGeneration(config).eval()


# data -----------------------------------------------------------------------------------------------------------------

def cycle_line(start: int) -> str:
    """The words of the cycle from CYCLE[start] to its last word, then a newline."""
    return " ".join(CYCLE[start:]) + " " + NEWLINE


def text_rows(n: int, seed: int = 0) -> dict[str, list[Any]]:
    """{"text"}: n documents of one to three cycle lines each."""
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        texts.append(" ".join(cycle_line(rng.randrange(len(CYCLE) - 1)) for _ in range(rng.randint(1, 3))))
    return {"text": texts}


def prompt_rows(n: int, seed: int = 0) -> dict[str, list[Any]]:
    """{"prompt", "answer"}: a prompt of one to three cycle words from a random start; the answer is the rest of the
    cycle (what a model that learned the rule continues with before its newline)."""
    rng = random.Random(seed)
    prompts, answers = [], []
    for _ in range(n):
        start = rng.randrange(len(CYCLE) - 3)
        cut = start + rng.randint(1, 3)
        prompts.append(" ".join(CYCLE[start:cut]))
        answers.append(" ".join(CYCLE[cut:]))
    return {"prompt": prompts, "answer": answers}


def dictionary_rows(n: int, seed: int = 0, *, source: str = "source", target: str = "target") -> dict[str, list[Any]]:
    """{source, target}: one random word each; the target is the word after it in WORDS (a made-up dictionary a tiny
    sequence-to-sequence model learns in a few dozen steps)."""
    rng = random.Random(seed)
    sources = [rng.choice(WORDS) for _ in range(n)]
    return {source: sources, target: [translate(w) for w in sources]}


def translate(word: str) -> str:
    """The dictionary of dictionary_rows."""
    return WORDS[(WORDS.index(word) + 1) % len(WORDS)]


# training -------------------------------------------------------------------------------------------------------------

def train_causal(model: Any, tok: Any, texts: list[str], *, steps: int = 150, lr: float = 1e-2, batch_size: int = 16,
                 seed: int = 0) -> Any:
    """Trains a causal LM on texts (BOS + text, right-padded, padding masked from the loss) and returns it in eval
    mode."""
    import torch

    rng = random.Random(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        batch = [texts[rng.randrange(len(texts))] for _ in range(batch_size)]
        enc = tok([tok.bos_token + " " + t for t in batch], padding=True, return_tensors="pt")
        labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()


def train_seq2seq(model: Any, tok: Any, sources: list[str], targets: list[str], *, steps: int = 200,
                  lr: float = 1e-2, batch_size: int = 32, seed: int = 0) -> Any:
    """Trains a sequence-to-sequence model on (source, target + EOS) pairs and returns it in eval mode."""
    import torch

    rng = random.Random(seed)
    torch.manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(steps):
        idx = [rng.randrange(len(sources)) for _ in range(batch_size)]
        enc = tok([sources[i] for i in idx], padding=True, return_tensors="pt")
        dec = tok([targets[i] + " " + tok.eos_token for i in idx], padding=True, return_tensors="pt")
        labels = dec["input_ids"].masked_fill(dec["attention_mask"] == 0, -100)
        loss = model(**enc, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval()
