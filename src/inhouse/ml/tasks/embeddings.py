"""Embedding families: sentence similarity (Spearman of cosine similarities against gold scores) and retrieval
(nDCG@10, recall@1, recall@10 of the corpus ranked by cosine similarity to each query).

An embedding is the mean of the encoder's last hidden states over the real tokens (mean pooling, as
sentence-transformers models such as all-MiniLM-L6-v2 are trained with); each distinct text is encoded once.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from inhouse.ml.engine import Array, Reduce, mean_pool
from inhouse.ml.failures import WorkerFailure
from inhouse.ml.metrics import Estimate, retrieval, similarity
from inhouse.ml.tasks.base import LoadedModel, RunSettings, TaskData
from inhouse.ml.tasks.encoder import EncoderFamily, Prepared, max_length, model_inputs_only

GENERATIVE_SUFFIXES = ("ForCausalLM", "LMHeadModel", "ForConditionalGeneration", "ForSeq2SeqLM")
TOP_K = 10


def distinct(texts: list[str]) -> tuple[list[str], list[int]]:
    """(distinct texts in order of first appearance, the index of each input text among them)."""
    index: dict[str, int] = {}
    positions = [index.setdefault(t, len(index)) for t in texts]
    return list(index), positions


def unit_rows(embeddings: Array) -> Array:
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    result: Array = embeddings / np.clip(norms, 1e-12, None)
    return result


class EmbeddingFamily(EncoderFamily):
    needs = "an encoder whose hidden states embed text (an architecture like BertModel); generative models do not fit"

    def fits(self, config: Any) -> bool:
        from inhouse.ml.tasks.base import architectures

        if getattr(config, "is_encoder_decoder", False) or getattr(config, "is_decoder", False):
            return False
        return not any(a.endswith(GENERATIVE_SUFFIXES) for a in architectures(config))

    def reducer(self) -> Reduce | None:
        return mean_pool

    def encode_texts(self, loaded: LoadedModel, texts: list[str]) -> dict[str, Any]:
        return model_inputs_only(loaded.tokenizer(texts, truncation=True, max_length=max_length(loaded)))


def _strings(data: TaskData, role: str) -> list[str]:
    values = data.columns[role]
    if not all(isinstance(v, str) for v in values):
        raise WorkerFailure("bad-input", f"The column of role '{role}' must hold text.")
    return [str(v) for v in values]


class SentenceSimilarity(EmbeddingFamily):
    name = "sentence-similarity"

    def prepare(self, loaded: LoadedModel, data: TaskData) -> Prepared:
        gold: list[float] = []
        for row, value in enumerate(data.columns["score"]):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise WorkerFailure("bad-input", f"The score column must hold numbers; row {row} has {value!r}.")
            gold.append(float(value))
        first, second = _strings(data, "sentence1"), _strings(data, "sentence2")
        texts, positions = distinct(first + second)
        return Prepared(self.encode_texts(loaded, texts), (gold, positions))

    def score(self, loaded: LoadedModel, data: TaskData, prepared: Prepared, outputs: list[dict[str, Array]],
              settings: RunSettings) -> dict[str, Estimate]:
        gold, positions = prepared.extra
        vectors = unit_rows(np.stack([o["embedding"] for o in outputs]))
        n = len(gold)
        a, b = vectors[positions[:n]], vectors[positions[n:]]
        sims = [float(x) for x in np.sum(a * b, axis=1)]
        return similarity.score(sims, gold, resamples=settings.resamples, seed=settings.seed)


class Retrieval(EmbeddingFamily):
    name = "retrieval"

    def prepare(self, loaded: LoadedModel, data: TaskData) -> Prepared:
        queries, documents = _strings(data, "query"), _strings(data, "document")
        corpus, doc_ids = distinct(documents)
        distinct_queries, query_ids = distinct(queries)
        relevant: list[set[int]] = [set() for _ in distinct_queries]
        for q, d in zip(query_ids, doc_ids, strict=True):
            relevant[q].add(d)
        texts = distinct_queries + corpus
        return Prepared(self.encode_texts(loaded, texts), (len(distinct_queries), relevant))

    def score(self, loaded: LoadedModel, data: TaskData, prepared: Prepared, outputs: list[dict[str, Array]],
              settings: RunSettings) -> dict[str, Estimate]:
        n_queries, relevant = prepared.extra
        vectors = unit_rows(np.stack([o["embedding"] for o in outputs]))
        queries, corpus = vectors[:n_queries], vectors[n_queries:]
        sims = queries @ corpus.T
        k = min(TOP_K, corpus.shape[0])
        rankings = [[int(d) for d in np.argsort(-row, kind="stable")[:k]] for row in sims]
        return retrieval.score(rankings, relevant, resamples=settings.resamples, seed=settings.seed)


SENTENCE_SIMILARITY = SentenceSimilarity()
RETRIEVAL = Retrieval()
