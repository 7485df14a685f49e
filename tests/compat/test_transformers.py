"""transformers push_to_hub / from_pretrained against the live server with a tiny locally built BERT."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
from huggingface_hub import HfApi, constants
from transformers import AutoConfig, AutoModel, AutoTokenizer, BertConfig, BertModel, BertTokenizer

WORDS = ["hello", "world", "the", "cat", "##s", "sat", "on", "mat", "in", "house", "##e", "a", "dog"]
SENTENCE = "hello the cats sat on a mat in the house"


def tiny_model(seed: int) -> BertModel:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64)
    return BertModel(config).eval()


def tiny_tokenizer(tmp_path: Path) -> BertTokenizer:
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = specials + list("abcdefghijklmnopqrstuvwxyz") + WORDS
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(vocab) + "\n")
    tok = BertTokenizer(vocab=str(path))
    assert tok.unk_token_id not in tok(SENTENCE)["input_ids"], "the tiny vocabulary must cover the sentence"
    return tok


@contextmanager
def hub_warnings() -> Iterator[list[str]]:
    """Collects every warning (log records and warnings.warn) that transformers and huggingface_hub emit."""
    seen: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(f"{record.name}: {record.getMessage()}")

    handler = Collect(logging.WARNING)
    loggers = [logging.getLogger(n) for n in ("transformers", "huggingface_hub", "httpx", "httpx2")]
    for lg in loggers:
        lg.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield seen
        seen.extend(f"warning: {w.message}" for w in caught)
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


def encode(tokenizer, model) -> torch.Tensor:  # type: ignore[no-untyped-def]
    with torch.no_grad():
        return model(**tokenizer(SENTENCE, return_tensors="pt")).last_hidden_state


def test_push_and_load_model_and_tokenizer(hub_endpoint: str, user: tuple[str, str], repo_id: str,
                                           tmp_path: Path) -> None:
    token = user[1]
    model, tokenizer = tiny_model(0), tiny_tokenizer(tmp_path)
    expected = encode(tokenizer, model)
    model.push_to_hub(repo_id, token=token)
    tokenizer.push_to_hub(repo_id, token=token)

    api = HfApi(endpoint=hub_endpoint)
    files = set(api.list_repo_files(repo_id))
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= files
    sha = api.repo_info(repo_id).sha

    with hub_warnings() as seen:
        config = AutoConfig.from_pretrained(repo_id)
        loaded_tok = AutoTokenizer.from_pretrained(repo_id)
        loaded = AutoModel.from_pretrained(repo_id).eval()
    # no "couldn't connect", "not served by a Hub endpoint", offline fallback ... : nothing at all to warn about
    assert seen == [], seen
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (32, 2, 37)
    assert loaded_tok(SENTENCE)["input_ids"] == tokenizer(SENTENCE)["input_ids"]
    assert torch.equal(encode(loaded_tok, loaded), expected)

    # Everything was fetched into the fresh cache at the commit the server reported; optional files that the
    # clients probe were answered 404 EntryNotFound + X-Repo-Commit, which the client records as known-absent.
    cache = Path(constants.HF_HUB_CACHE) / f"models--{repo_id.replace('/', '--')}"
    assert (cache / "refs" / "main").read_text() == sha
    assert (cache / "snapshots" / sha / "model.safetensors").is_file()
    absent = {p.name for p in (cache / ".no_exist" / sha).rglob("*")}
    assert {"added_tokens.json", "chat_template.jinja"} <= absent
    assert not absent & files

    # a second load needs no new downloads and gives the same result
    again = AutoModel.from_pretrained(repo_id).eval()
    assert torch.equal(encode(loaded_tok, again), expected)


def test_push_and_load_on_a_branch(hub_endpoint: str, user: tuple[str, str], repo_id: str, tmp_path: Path) -> None:
    token = user[1]
    tokenizer = tiny_tokenizer(tmp_path)
    main_model, dev_model = tiny_model(1), tiny_model(2)
    main_model.push_to_hub(repo_id, token=token)
    tokenizer.push_to_hub(repo_id, token=token)
    dev_model.push_to_hub(repo_id, token=token, revision="dev")

    on_dev = AutoModel.from_pretrained(repo_id, revision="dev").eval()
    on_main = AutoModel.from_pretrained(repo_id).eval()
    assert torch.equal(encode(tokenizer, on_dev), encode(tokenizer, dev_model))
    assert torch.equal(encode(tokenizer, on_main), encode(tokenizer, main_model))
    assert not torch.equal(encode(tokenizer, on_dev), encode(tokenizer, on_main))
    # dev was branched from main after the tokenizer was pushed there
    tok_dev = AutoTokenizer.from_pretrained(repo_id, revision="dev")
    assert tok_dev(SENTENCE)["input_ids"] == tokenizer(SENTENCE)["input_ids"]


def test_missing_repo_and_revision_raise_clear_errors(hub_endpoint: str, user: tuple[str, str], repo_id: str,
                                                      tmp_path: Path) -> None:
    with pytest.raises(OSError, match="not a valid model identifier"):
        AutoConfig.from_pretrained(repo_id)
    tiny_model(3).push_to_hub(repo_id, token=user[1])
    with pytest.raises(OSError, match="not a valid git identifier"):
        AutoConfig.from_pretrained(repo_id, revision="no-such-branch")


def test_sharded_checkpoint(hub_endpoint: str, user: tuple[str, str], repo_id: str, tmp_path: Path) -> None:
    tokenizer, model = tiny_tokenizer(tmp_path), tiny_model(4)
    model.push_to_hub(repo_id, token=user[1], max_shard_size="30KB")
    files = HfApi(endpoint=hub_endpoint).list_repo_files(repo_id)
    shards = [f for f in files if f.startswith("model-") and f.endswith(".safetensors")]
    assert len(shards) >= 2 and "model.safetensors.index.json" in files, files
    loaded = AutoModel.from_pretrained(repo_id).eval()  # index, then snapshot_download of the shards
    assert torch.equal(encode(tokenizer, loaded), encode(tokenizer, model))


def test_push_as_pull_request(hub_endpoint: str, user: tuple[str, str], repo_id: str, tmp_path: Path) -> None:
    tokenizer, base, proposed = tiny_tokenizer(tmp_path), tiny_model(5), tiny_model(6)
    base.push_to_hub(repo_id, token=user[1])
    commit = proposed.push_to_hub(repo_id, token=user[1], create_pr=True)
    assert commit.pr_num is not None
    on_pr = AutoModel.from_pretrained(repo_id, revision=f"refs/pr/{commit.pr_num}").eval()
    assert torch.equal(encode(tokenizer, on_pr), encode(tokenizer, proposed))
    on_main = AutoModel.from_pretrained(repo_id).eval()
    assert torch.equal(encode(tokenizer, on_main), encode(tokenizer, base))
