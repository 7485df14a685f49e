"""The generative task families: summarisation and translation with sequence-to-sequence models, text generation
with causal language models.

- summarization: `text` -> generated summary, scored against `summary` with ROUGE-1/2/L.
- translation: `source` -> generated translation, scored against `target` with chrF and BLEU.
  Both generate greedily (inhouse.ml.tasks.seq2seq) with at most `max_new_tokens` new tokens (the request's value,
  default DEFAULT_SEQ2SEQ_TOKENS, never above MAX_NEW_TOKENS). A T5-style model's task prefix
  ("summarize: ", "translate English to German: ") is read from its config's task_specific_params: for
  summarisation its "summarization" entry, for translation the one "translation_*" entry when it has exactly one.
- text-generation: perplexity over `text` (sliding window over long texts; inhouse.ml.tasks.causal) and/or exact
  match of the greedy continuation of `prompt` (cut at its first newline or EOS, stripped) with `answer`
  (default DEFAULT_ANSWER_TOKENS new tokens).

Variants: "int8" is PyTorch dynamic quantisation of every nn.Linear to int8 weights (activations quantised on the fly);
GPT-2's Conv1D projections are first rewritten as the nn.Linear they are, so they are quantised too; a model with no
linear layer at all gets a skipped row saying so. ONNX export of generation (a decoder with a key/value cache inside a
search loop) is not offered: "onnx" and "onnx-int8" rows are skipped with the reason.

Cost: `single()` serves one request, the example of median length (a generation, or for text-generation without
prompts the scoring of one text); `batch(n)` serves n requests drawn evenly over the data as one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inhouse.ml.failures import WorkerFailure
from inhouse.ml.metrics import METRICS, Estimate, generation
from inhouse.ml.tasks import causal, seq2seq
from inhouse.ml.tasks.base import (LoadedModel, Progress, RunSettings, TaskData, VariantRun, VariantSkipped,
                                   describe_architectures)

MAX_NEW_TOKENS = 512  # hard cap on generated tokens per example, whatever the request asks
DEFAULT_SEQ2SEQ_TOKENS = 128
DEFAULT_ANSWER_TOKENS = 32
COST_POOL = 256  # examples the cost callables draw their requests from
# heads of other tasks: a checkpoint that declares only these is not a generative model, whatever its model type
OTHER_HEADS = ("ForSequenceClassification", "ForTokenClassification", "ForQuestionAnswering", "ForMaskedLM",
               "ForMultipleChoice", "ForNextSentencePrediction", "ForPreTraining")
ONNX_SKIPPED = ("ONNX Runtime variants are not offered for generative models: generation runs a decoder with a "
                "key/value cache inside a search loop, which this evaluation does not export; compare the int8 "
                "variant instead.")


def strings(data: TaskData, role: str) -> list[str]:
    """The values of `role` as strings; bad-input naming the first row that holds something else."""
    values = data.columns[role]
    for i, v in enumerate(values):
        if not isinstance(v, str):
            raise WorkerFailure("bad-input", f"Column role '{role}' must hold text, but row {i} holds "
                                             f"{type(v).__name__} {str(v)[:80]!r}; map the role to a text column.")
    return list(values)


def new_token_limit(settings: RunSettings, default: int) -> int:
    """The request's max_new_tokens (or the family's default), capped at MAX_NEW_TOKENS."""
    asked = settings.max_new_tokens if settings.max_new_tokens is not None else default
    return max(1, min(int(asked), MAX_NEW_TOKENS))


def quantize_int8(model: Any) -> Any:
    """The int8 variant: inhouse.ml.variants.quantize_generative (a copy with every nn.Linear, and GPT-2's Conv1D as
    the Linear it is, dynamically quantised to int8 weights). VariantSkipped when nothing in the model was quantised
    (no linear layer at all), since that row would only repeat the original."""
    from inhouse.ml.variants import quantize_generative

    quantized = quantize_generative(model)
    if not any(".quantized." in type(m).__module__ for m in quantized.modules()):
        raise VariantSkipped(f"{type(model).__name__} has no linear layers (nn.Linear or Conv1D) for dynamic int8 "
                             "quantisation; the int8 variant would be the original model.")
    return quantized


def variant_size(model: Any, variant: str) -> int | None:
    """The int8 variant's size (its state dict as torch.save writes it, packed int8 weights); None for the original,
    whose size is its snapshot's weight files."""
    if variant != "int8":
        return None
    from inhouse.ml.variants.quantize import state_size

    return state_size(model)


def pool(lengths: Sequence[int]) -> tuple[int, list[int]]:
    """(index of the median-length example, up to COST_POOL indices spread evenly over the data)."""
    count = len(lengths)
    by_length = sorted(range(count), key=lambda i: (lengths[i], i))
    step = max(1, count // COST_POOL)
    return by_length[count // 2], list(range(0, count, step))[:COST_POOL]


def drawn(indices: Sequence[int], n: int) -> list[int]:
    """n indices taken round-robin from `indices`."""
    return [indices[i % len(indices)] for i in range(n)]


@dataclass(frozen=True)
class _Phase:
    """A share of a variant's progress: units [start, start + size) of `total`."""

    progress: Progress
    stage: str
    start: int
    size: int
    total: int

    def __call__(self, done: int, total: int) -> None:
        self.progress(self.start + self.size * min(done, total) // max(total, 1), self.total, self.stage)


class GenerativeFamily:
    """What the three families share: metric names from METRICS, the fit check against transformers' Auto mapping,
    loading, and the variants."""

    name: str = ""
    auto_class: str = ""  # the transformers Auto class that loads a fitting model
    needs: str = ""  # what the task needs, for the wrong-task message

    @property
    def primary(self) -> str:
        return METRICS[self.name].primary

    @property
    def higher_is_better(self) -> Mapping[str, bool]:
        return METRICS[self.name].higher_is_better

    def model_types(self) -> Mapping[str, str]:
        """model_type -> the class auto_class builds for it."""
        from transformers.models.auto import modeling_auto

        names: Mapping[str, str] = getattr(modeling_auto, {
            "AutoModelForSeq2SeqLM": "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
            "AutoModelForCausalLM": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"}[self.auto_class])
        return names

    def check_fit(self, config: Any) -> None:
        model_type = str(getattr(config, "model_type", ""))
        declared = list(getattr(config, "architectures", None) or [])
        other_head = bool(declared) and all(a.endswith(OTHER_HEADS) for a in declared)
        if model_type not in self.model_types() or other_head:
            raise WorkerFailure("wrong-task", f"its architecture is {describe_architectures(config)}, but {self.name} "
                                              f"needs {self.needs}. Choose a model trained for {self.name}.")

    def load(self, model_dir: Path) -> tuple[Any, Any]:
        import transformers
        from transformers import AutoTokenizer

        model = getattr(transformers, self.auto_class).from_pretrained(str(model_dir)).eval()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        except (OSError, ValueError) as e:
            raise WorkerFailure("bad-input", f"the model repo has no tokenizer transformers can load ({e}); push the "
                                             "tokenizer with save_pretrained next to the model.") from None
        return model, tokenizer

    def variant_model(self, loaded: LoadedModel, variant: str) -> Any:
        """The model that serves `variant`: the loaded one, or its int8 copy; VariantSkipped for ONNX forms."""
        if variant == "original":
            return loaded.model
        if variant == "int8":
            return quantize_int8(loaded.model)
        if variant in ("onnx", "onnx-int8"):
            raise VariantSkipped(ONNX_SKIPPED)
        raise VariantSkipped(f"{self.name} has no variant {variant!r}.")


class Seq2SeqFamily(GenerativeFamily):
    """Summarisation or translation: generate from `source_role`, score against `target_role`."""

    auto_class = "AutoModelForSeq2SeqLM"
    needs = ("a sequence-to-sequence language model (an architecture like T5ForConditionalGeneration, "
             "BartForConditionalGeneration or MarianMTModel)")

    def __init__(self, name: str, source_role: str, target_role: str,
                 scorer: Callable[..., dict[str, Estimate]], prefix_key: str) -> None:
        self.name = name
        self.source_role = source_role
        self.target_role = target_role
        self.scorer = scorer
        self.prefix_key = prefix_key

    def prefix(self, config: Any) -> str:
        """The task prefix a T5-style model was trained with (config.task_specific_params), else ""."""
        params = getattr(config, "task_specific_params", None) or {}
        if not isinstance(params, dict):
            return ""
        keys = [k for k in params if k == self.prefix_key or k.startswith(self.prefix_key + "_")]
        entry = params.get(keys[0]) if len(keys) == 1 else None
        value = entry.get("prefix") if isinstance(entry, dict) else None
        return value if isinstance(value, str) else ""

    def encoded(self, loaded: LoadedModel, data: TaskData) -> list[list[int]]:
        """The tokenized sources, once per loaded model and data (every variant reads the same)."""
        key = f"generative:{self.name}:{id(data)}"
        cached = loaded.cache.get(key)
        if not isinstance(cached, list):
            sources = strings(data, self.source_role)
            strings(data, self.target_role)  # bad references fail before the model runs
            cached = loaded.cache[key] = seq2seq.encode_sources(
                loaded.tokenizer, sources, prefix=self.prefix(loaded.config),
                max_tokens=seq2seq.max_input_tokens(loaded.model, loaded.tokenizer))
        return cached

    def run_variant(self, loaded: LoadedModel, variant: str, data: TaskData, settings: RunSettings,
                    progress: Progress) -> VariantRun:
        encoded = self.encoded(loaded, data)
        refs = strings(data, self.target_role)
        model = self.variant_model(loaded, variant)
        limit = new_token_limit(settings, DEFAULT_SEQ2SEQ_TOKENS)
        phase = _Phase(progress, f"{variant}: generating", 0, len(encoded), len(encoded))
        preds = seq2seq.generate(model, loaded.tokenizer, encoded, max_new_tokens=limit,
                                 batch_size=settings.batch_size, progress=phase)
        metrics = self.scorer(preds, refs, resamples=settings.resamples, seed=settings.seed)
        median, spread = pool([len(ids) for ids in encoded])

        def single() -> object:
            return seq2seq.generate(model, loaded.tokenizer, [encoded[median]], max_new_tokens=limit, batch_size=1)

        def batch(n: int) -> object:
            return seq2seq.generate(model, loaded.tokenizer, [encoded[i] for i in drawn(spread, n)],
                                    max_new_tokens=limit, batch_size=n)

        return VariantRun(metrics=metrics, single=single, batch=batch, size_bytes=variant_size(model, variant),
                          notes=[f"greedy decoding, at most {limit} new tokens"])


class TextGeneration(GenerativeFamily):
    """Causal LMs: perplexity on `text`, exact match of the greedy continuation of `prompt` with `answer`."""

    name = "text-generation"
    auto_class = "AutoModelForCausalLM"
    needs = "a causal language model (an architecture like GPT2LMHeadModel or LlamaForCausalLM)"

    def encoded(self, loaded: LoadedModel, data: TaskData, role: str) -> list[list[int]]:
        key = f"generative:{self.name}:{role}:{id(data)}"
        cached = loaded.cache.get(key)
        if not isinstance(cached, list):
            cached = loaded.cache[key] = causal.encode(loaded.tokenizer, strings(data, role))
        return cached

    def run_variant(self, loaded: LoadedModel, variant: str, data: TaskData, settings: RunSettings,
                    progress: Progress) -> VariantRun:
        texts = self.encoded(loaded, data, "text") if data.has("text") else None
        has_prompts = data.has("prompt") and data.has("answer")
        prompts = strings(data, "prompt") if has_prompts else None
        answers = strings(data, "answer") if has_prompts else None
        if texts is None and prompts is None:
            raise WorkerFailure("bad-input", "text-generation needs a text column (perplexity) or prompt and answer "
                                             "columns (exact match).")
        model = self.variant_model(loaded, variant)
        limit = new_token_limit(settings, DEFAULT_ANSWER_TOKENS)
        n_texts = len(texts) if texts is not None else 0
        total = n_texts + (len(prompts) if prompts is not None else 0)
        metrics: dict[str, Estimate] = {}
        notes: list[str] = []
        if texts is not None:
            window = causal.model_window(model)
            sums, counts = causal.negative_log_likelihoods(
                model, texts, batch_size=settings.batch_size, max_length=window,
                progress=_Phase(progress, f"{variant}: perplexity", 0, n_texts, total))
            metrics.update(generation.score_perplexity([max(0.0, s) for s in sums], counts,
                                                       resamples=settings.resamples, seed=settings.seed))
            notes.append(f"perplexity: sliding window of {window} tokens, stride {max(1, window // 2)}")
        if prompts is not None and answers is not None:
            preds = causal.continuations(model, loaded.tokenizer, prompts, max_new_tokens=limit,
                                         batch_size=settings.batch_size,
                                         progress=_Phase(progress, f"{variant}: generating", n_texts, total - n_texts,
                                                         total))
            metrics.update(generation.score_exact(preds, [a.strip() for a in answers], resamples=settings.resamples,
                                                  seed=settings.seed))
            notes.append(f"exact match: greedy decoding, at most {limit} new tokens, cut at the first newline")
        single, batch = self.cost_callables(model, loaded, texts, prompts, limit)
        return VariantRun(metrics=metrics, single=single, batch=batch, size_bytes=variant_size(model, variant),
                          notes=notes)

    def cost_callables(self, model: Any, loaded: LoadedModel, texts: list[list[int]] | None,
                       prompts: list[str] | None, limit: int) -> tuple[Callable[[], object], Callable[[int], object]]:
        """A request is a generation when the data has prompts, else the scoring of one text."""
        if prompts is not None:
            median, spread = pool([len(p) for p in prompts])

            def single() -> object:
                return causal.continuations(model, loaded.tokenizer, [prompts[median]], max_new_tokens=limit,
                                            batch_size=1)

            def batch(n: int) -> object:
                return causal.continuations(model, loaded.tokenizer, [prompts[i] for i in drawn(spread, n)],
                                            max_new_tokens=limit, batch_size=n)

            return single, batch
        assert texts is not None
        median, spread = pool([len(t) for t in texts])

        def score_one() -> object:
            return causal.negative_log_likelihoods(model, [texts[median]], batch_size=1)

        def score_many(n: int) -> object:
            return causal.negative_log_likelihoods(model, [texts[i] for i in drawn(spread, n)], batch_size=n)

        return score_one, score_many


SUMMARIZATION = Seq2SeqFamily("summarization", "text", "summary", generation.score_summaries, "summarization")
TRANSLATION = Seq2SeqFamily("translation", "source", "target", generation.score_translations, "translation")
TEXT_GENERATION = TextGeneration()
