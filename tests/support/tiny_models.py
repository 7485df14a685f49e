"""Tiny BERT models, a tokenizer over a fixed word list, small generated (learnable) datasets for every encoder task
family, and helpers that push them to a live inhouse with the real huggingface_hub client.

Everything is deterministic for a given seed. The word list covers every generated sentence, so no example contains
[UNK]. In transformers 5.x `BertTokenizerFast(vocab_file=...)` silently ignores the file: the tokenizer is built from
a `vocab=` dict.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
POSITIVE = ["good", "great", "fine", "nice", "happy", "lovely"]
NEGATIVE = ["bad", "awful", "poor", "sad", "ugly", "boring"]
FILLER = ["the", "movie", "was", "a", "plot", "actor", "film", "it", "and", "very", "story", "scene", "this", "of"]
PEOPLE = ["alice", "bob", "carol", "dave", "erin"]
PLACES = ["paris", "rome", "berlin", "madrid", "oslo"]
OTHER = ["lives", "in", "works", "at", "where", "does", "live", "work", "who", ".", "?", "visited", "with"]
TOPICS = {
    "cooking": ["pasta", "oven", "salt", "recipe", "kitchen", "boil"],
    "sport": ["football", "goal", "team", "match", "score", "coach"],
    "music": ["guitar", "song", "band", "concert", "melody", "drum"],
    "space": ["rocket", "planet", "orbit", "star", "moon", "launch"],
    "garden": ["flower", "seed", "soil", "rain", "tree", "leaf"],
}
WORDS = sorted({*POSITIVE, *NEGATIVE, *FILLER, *PEOPLE, *PLACES, *OTHER, *(w for ws in TOPICS.values() for w in ws)})
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
SENTIMENT_LABELS = ["negative", "positive"]
MAX_LENGTH = 64


# tokenizer and models -------------------------------------------------------------------------------------------------

def vocab() -> dict[str, int]:
    return {w: i for i, w in enumerate(SPECIALS + WORDS)}


def tokenizer() -> Any:
    """A fast BERT tokenizer whose vocabulary is SPECIALS + WORDS, lower-casing, model_max_length MAX_LENGTH."""
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(vocab=vocab(), do_lower_case=True, model_max_length=MAX_LENGTH)
    assert tok.unk_token_id not in tok(" ".join(WORDS[:20]))["input_ids"], "the tiny vocabulary must cover its words"
    return tok


def config(*, labels: list[str] | None = None, hidden: int = 32, layers: int = 2, heads: int = 2,
           intermediate: int = 64) -> Any:
    from transformers import BertConfig

    kw: dict[str, Any] = {}
    if labels is not None:
        kw = {"num_labels": len(labels), "id2label": dict(enumerate(labels)),
              "label2id": {name: i for i, name in enumerate(labels)}}
    return BertConfig(vocab_size=len(SPECIALS) + len(WORDS), hidden_size=hidden, num_hidden_layers=layers,
                      num_attention_heads=heads, intermediate_size=intermediate, max_position_embeddings=MAX_LENGTH,
                      **kw)


def model(kind: str, *, seed: int = 0, labels: list[str] | None = None, **sizes: int) -> Any:
    """An untrained tiny BERT. kind: "sequence-classification" (labels default SENTIMENT_LABELS), "token-classification"
    (labels default NER_LABELS), "question-answering" or "base" (a BertModel, for embeddings). sizes: hidden, layers,
    heads, intermediate."""
    import torch
    from transformers import (BertForQuestionAnswering, BertForSequenceClassification, BertForTokenClassification,
                              BertModel)

    torch.manual_seed(seed)
    if kind == "sequence-classification":
        return BertForSequenceClassification(config(labels=labels or SENTIMENT_LABELS, **sizes)).eval()
    if kind == "token-classification":
        return BertForTokenClassification(config(labels=labels or NER_LABELS, **sizes)).eval()
    if kind == "question-answering":
        return BertForQuestionAnswering(config(**sizes)).eval()
    if kind == "base":
        return BertModel(config(**sizes)).eval()
    raise ValueError(f"unknown kind {kind!r}")


def train_classifier(clf: Any, tok: Any, texts: list[str], labels: list[int], *, epochs: int = 8, lr: float = 1e-3,
                     batch_size: int = 16, seed: int = 0) -> Any:
    """Trains a sequence classifier briefly (Adam, cross-entropy) and returns it in eval mode."""
    import torch

    torch.manual_seed(seed)
    enc = tok(texts, padding=True, truncation=True, return_tensors="pt")  # tokenized once; short texts, little padding
    targets = torch.tensor(labels)
    optimizer = torch.optim.Adam(clf.parameters(), lr=lr)
    clf.train()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(texts), generator=generator)
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            out = clf(**{k: v[idx] for k, v in enc.items()}, labels=targets[idx])
            optimizer.zero_grad()
            out.loss.backward()
            optimizer.step()
    return clf.eval()


# generated datasets ---------------------------------------------------------------------------------------------------

def sentiment_rows(n: int, seed: int = 0, *, label_names: bool = False) -> dict[str, list[Any]]:
    """{"text", "label"}: filler words with one or three sentiment words; the label is the majority polarity (0
    negative, 1 positive, or the names when label_names)."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.randrange(2)
        k = rng.choice([1, 3])
        major = POSITIVE if label else NEGATIVE
        minor = NEGATIVE if label else POSITIVE
        marks = [rng.choice(major) for _ in range(k // 2 + 1)] + [rng.choice(minor) for _ in range(k // 2)]
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 12))] + marks
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(SENTIMENT_LABELS[label] if label_names else label)
    return {"text": texts, "label": labels}


def ner_rows(n: int, seed: int = 0) -> dict[str, list[Any]]:
    """{"tokens", "tags"}: sentences naming people (B-PER) and places (B-LOC); tags are NER_LABELS indices."""
    rng = random.Random(seed)
    tokens, tags = [], []
    for _ in range(n):
        person, place = rng.choice(PEOPLE), rng.choice(PLACES)
        verb = rng.choice(["lives", "works"])
        words = [person, verb, "in" if verb == "lives" else "at", place]
        if rng.random() < 0.5:
            words += ["with", rng.choice(PEOPLE)]
        words.append(".")
        tags.append([NER_LABELS.index("B-PER") if w in PEOPLE else NER_LABELS.index("B-LOC") if w in PLACES else 0
                     for w in words])
        tokens.append(words)
    return {"tokens": tokens, "tags": tags}


def qa_rows(n: int, seed: int = 0) -> dict[str, list[Any]]:
    """{"question", "context", "answers"}: "who lives in X ?" / "where does X live ?" over two-sentence contexts."""
    rng = random.Random(seed)
    questions, contexts, answers = [], [], []
    for _ in range(n):
        a, b = rng.sample(PEOPLE, 2)
        pa, pb = rng.sample(PLACES, 2)
        context = f"{a} lives in {pa} . {b} lives in {pb} ."
        if rng.random() < 0.5:
            question, answer = f"where does {b} live ?", pb
        else:
            question, answer = f"who lives in {pa} ?", a
        start = context.index(f" {answer} ") + 1 if not context.startswith(answer + " ") else 0
        questions.append(question)
        contexts.append(context)
        answers.append({"text": [answer], "answer_start": [start]})
    return {"question": questions, "context": contexts, "answers": answers}


def similarity_rows(n: int, seed: int = 0) -> dict[str, list[Any]]:
    """{"sentence1", "sentence2", "score"}: topic sentences; the score (0..5) is 5 × the share of topic words they
    have in common."""
    rng = random.Random(seed)
    s1, s2, scores = [], [], []
    names = sorted(TOPICS)
    for _ in range(n):
        t1 = rng.choice(names)
        t2 = t1 if rng.random() < 0.5 else rng.choice(names)
        w1 = rng.sample(TOPICS[t1], 4)
        w2 = rng.sample(TOPICS[t2], 4)
        s1.append(" ".join(w1 + rng.sample(FILLER, 2)))
        s2.append(" ".join(w2 + rng.sample(FILLER, 2)))
        scores.append(5.0 * len(set(w1) & set(w2)) / 4)
    return {"sentence1": s1, "sentence2": s2, "score": scores}


def retrieval_rows(n: int, seed: int = 0) -> dict[str, list[Any]]:
    """{"query", "document"}: n distinct documents of topic words; each query is two words of its document."""
    rng = random.Random(seed)
    queries, documents = [], []
    seen: set[str] = set()
    names = sorted(TOPICS)
    while len(documents) < n:
        words = rng.sample(TOPICS[rng.choice(names)], 4) + rng.sample(FILLER, 3)
        rng.shuffle(words)
        doc = " ".join(words)
        if doc in seen:
            continue
        seen.add(doc)
        topical = [w for w in words if w not in FILLER]
        queries.append(" ".join(rng.sample(topical, 2)))
        documents.append(doc)
    return {"query": queries, "document": documents}


# pushing to a live inhouse --------------------------------------------------------------------------------------------

def push_model(api: Any, repo_id: str, mdl: Any, tok: Any) -> str:
    """Creates model repo `repo_id` (if missing) and uploads the model and tokenizer as one commit; returns its sha."""
    api.create_repo(repo_id, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        mdl.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        info = api.upload_folder(folder_path=tmp, repo_id=repo_id, commit_message="tiny model")
    return str(info.oid)


def push_dataset(api: Any, repo_id: str, rows: dict[str, list[Any]], *, split: str = "train",
                 features: Any = None, fmt: str = "parquet") -> str:
    """Creates dataset repo `repo_id` (if missing) and uploads `rows` as one file of `split` (parquet or jsonl under
    data/); returns the commit sha. features: a datasets.Features (e.g. ClassLabel columns), parquet only."""
    import datasets

    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{split}.{fmt}"
        ds = datasets.Dataset.from_dict(rows, features=features)
        if fmt == "parquet":
            ds.to_parquet(str(path))
        elif fmt == "jsonl":
            ds.to_json(str(path), lines=True)
        else:
            raise ValueError(f"unknown format {fmt!r}")
        info = api.upload_file(path_or_fileobj=str(path), path_in_repo=f"data/{split}-00000-of-00001.{fmt}",
                               repo_id=repo_id, repo_type="dataset")
    return str(info.oid)


def ner_features() -> Any:
    """datasets.Features for ner_rows: tags as a sequence of ClassLabel(NER_LABELS)."""
    import datasets

    return datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                              "tags": datasets.Sequence(datasets.ClassLabel(names=NER_LABELS))})
