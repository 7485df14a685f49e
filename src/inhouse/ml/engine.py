"""The inference engine of encoder evaluations: backends, length-sorted batching, cost measurement, the machine.

An EncoderBackend maps a batch of padded numpy inputs (input_ids, attention_mask, token_type_ids) to numpy outputs
("logits", "start_logits", "end_logits", "last_hidden_state"). TorchBackend wraps a transformers model (inference
mode); inhouse.ml.variants builds the int8 and ONNX Runtime ones. `run_batched` feeds a backend examples tokenized
once, sorted by length into buckets each padded only to its own longest example, and returns one output dict per
example in the original order. `measure_cost` times single requests (latency p50/p95) and batches (throughput at the
best batch size); `PeakMemory` samples the process's resident memory while a variant is built and run.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import os
import platform
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, TypedDict

import numpy as np
import numpy.typing as npt
import torch

INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT_NAMES = ("logits", "start_logits", "end_logits", "last_hidden_state")
TOKEN_AXIS_OUTPUTS = frozenset({"start_logits", "end_logits", "last_hidden_state"})  # (batch, sequence, ...) always
MAX_BATCH_TOKENS = 32 * 128  # a bucket holds at most this many tokens (batch size shrinks for long examples)
SAMPLE_INTERVAL_S = 0.005

Array = npt.NDArray[Any]
Reduce = Callable[[dict[str, Array], Array], dict[str, Array]]  # (batch outputs, attention mask) -> batch outputs
# task -> (the transformers Auto class that loads a fitting model, the backend output the family reads)
ENCODER_HEADS: dict[str, tuple[str, str]] = {
    "text-classification": ("AutoModelForSequenceClassification", "logits"),
    "token-classification": ("AutoModelForTokenClassification", "logits"),
    "question-answering": ("AutoModelForQuestionAnswering", "start_logits"),  # and end_logits
    "sentence-similarity": ("AutoModel", "last_hidden_state"),
    "retrieval": ("AutoModel", "last_hidden_state"),
}


class EncoderBackend(Protocol):
    """One form of an encoder model that answers padded batches. Outputs keep the batch axis first; per-token outputs
    keep the sequence axis second."""

    @property
    def name(self) -> str:
        """"original", "int8", "onnx" or "onnx-int8"."""
        ...

    @property
    def input_names(self) -> Sequence[str]:
        """The inputs it takes, a subset of INPUT_NAMES."""
        ...

    def __call__(self, inputs: dict[str, Array]) -> dict[str, Array]:
        """int64 arrays of shape (batch, sequence) -> float arrays keyed by OUTPUT_NAMES."""
        ...


def auto_model_class(task: str) -> Any:
    """The transformers Auto class that loads an encoder model for `task` (KeyError for a generative task)."""
    import transformers

    return getattr(transformers, ENCODER_HEADS[task][0])


def model_inputs(model: Any) -> tuple[str, ...]:
    """The INPUT_NAMES a torch model's forward accepts."""
    params = inspect.signature(model.forward).parameters
    return tuple(n for n in INPUT_NAMES if n in params)


class TorchBackend:
    """A transformers (torch) model as an EncoderBackend, run under torch.inference_mode."""

    def __init__(self, model: Any, name: str = "original"):
        self.model = model.eval()
        self._name = name
        self._inputs = model_inputs(model)

    @property
    def name(self) -> str:
        return self._name

    @property
    def input_names(self) -> Sequence[str]:
        return self._inputs

    def __call__(self, inputs: dict[str, Array]) -> dict[str, Array]:
        with torch.inference_mode():
            out = self.model(**{k: torch.from_numpy(v) for k, v in inputs.items() if k in self._inputs})
        result: dict[str, Array] = {}
        for key in OUTPUT_NAMES:
            value = getattr(out, key, None)
            if isinstance(value, torch.Tensor):
                result[key] = value.float().numpy()
        return result


def length_buckets(lengths: Sequence[int], batch_size: int,
                   max_tokens: int | None = MAX_BATCH_TOKENS) -> list[list[int]]:
    """Example indices in batches of at most batch_size, sorted by length (longest first, ties in index order) so each
    batch pads to similar lengths; a batch also holds at most max_tokens tokens (rows × its longest; None: no such
    bound), at least one row."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    buckets: list[list[int]] = []
    current: list[int] = []
    for i in order:
        longest = lengths[current[0]] if current else lengths[i]
        if current and (len(current) >= batch_size or (
                max_tokens is not None and (len(current) + 1) * max(longest, 1) > max_tokens)):
            buckets.append(current)
            current = []
        current.append(i)
    if current:
        buckets.append(current)
    return buckets


def pad(encodings: Mapping[str, Sequence[Sequence[int]]], rows: Sequence[int], names: Sequence[str],
        pad_id: int) -> dict[str, Array]:
    """The `names` inputs of examples `rows` as int64 arrays padded on the right to the longest of them; the
    attention mask is built from the lengths when the encodings have none."""
    ids = encodings["input_ids"]
    width = max((len(ids[r]) for r in rows), default=0)
    out: dict[str, Array] = {}
    for name in names:
        fill = pad_id if name == "input_ids" else 0
        arr = np.full((len(rows), width), fill, dtype=np.int64)
        source = encodings.get(name)
        for j, r in enumerate(rows):
            n = len(ids[r])
            if source is not None:
                arr[j, :n] = source[r]
            elif name == "attention_mask":
                arr[j, :n] = 1
        out[name] = arr
    return out


def run_batched(backend: EncoderBackend, encodings: Mapping[str, Sequence[Sequence[int]]], batch_size: int,
                pad_id: int, *, reduce: Reduce | None = None,
                progress: Callable[[int, int], None] | None = None,
                max_tokens: int = MAX_BATCH_TOKENS) -> list[dict[str, Array]]:
    """Runs every example through `backend` in length-sorted buckets and returns, in the examples' order, one dict per
    example: each output without its batch axis, per-token outputs cut to the example's own length. `encodings` are
    a tokenizer's batched output (input_ids and optionally attention_mask / token_type_ids, one list per example).
    `reduce` (e.g. mean pooling) turns a batch's outputs into others before they are split."""
    ids = encodings["input_ids"]
    lengths = [len(x) for x in ids]
    total = len(lengths)
    results: list[dict[str, Array] | None] = [None] * total
    names = [n for n in backend.input_names if n in INPUT_NAMES]
    if "attention_mask" not in names:
        names.append("attention_mask")  # reduce needs it; dropped again before the call when the backend has none
    done = 0
    for rows in length_buckets(lengths, batch_size, max_tokens):
        inputs = pad(encodings, rows, names, pad_id)
        mask = inputs["attention_mask"]
        outputs = backend({k: v for k, v in inputs.items() if k in backend.input_names})
        if reduce is not None:
            outputs = reduce(outputs, mask)
        for j, r in enumerate(rows):
            n = lengths[r]
            one: dict[str, Array] = {}
            for key, value in outputs.items():
                per_token = key in TOKEN_AXIS_OUTPUTS or (key == "logits" and value.ndim == 3)
                one[key] = np.array(value[j, :n] if per_token else value[j])
            results[r] = one
        done += len(rows)
        if progress is not None:
            progress(done, total)
    return [r for r in results if r is not None]


def mean_pool(outputs: dict[str, Array], mask: Array) -> dict[str, Array]:
    """A Reduce: "embedding" = the mean of last_hidden_state over the real (unmasked) tokens."""
    hidden = outputs["last_hidden_state"].astype(np.float32)
    m = mask[:, : hidden.shape[1], None].astype(np.float32)
    summed = (hidden * m).sum(axis=1)
    counts = np.clip(m.sum(axis=1), 1e-9, None)
    return {"embedding": summed / counts}


# memory ---------------------------------------------------------------------------------------------------------------

def rss_bytes() -> int:
    """This process's resident set size now (Linux /proc/self/statm; elsewhere the peak so far from getrusage)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak) * (1 if sys.platform == "darwin" else 1024)


class PeakMemory:
    """`with PeakMemory() as mem: build(); run()` then `mem.peak_bytes`: the highest resident memory sampled (every
    SAMPLE_INTERVAL_S by a thread, and at both ends) minus the resident memory just before the block."""

    def __init__(self, interval_s: float = SAMPLE_INTERVAL_S):
        self.interval_s = interval_s
        self.baseline = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> None:
        self.peak = max(self.peak, rss_bytes())

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> PeakMemory:
        self.baseline = rss_bytes()
        self.peak = self.baseline
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="inhouse-peak-memory", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self.sample()

    @property
    def peak_bytes(self) -> int:
        return max(0, self.peak - self.baseline)


# cost -----------------------------------------------------------------------------------------------------------------

class Cost(TypedDict):
    parameters: int
    size_bytes: int
    peak_memory_bytes: int
    latency_p50_ms: float
    latency_p95_ms: float
    throughput_per_s: float
    best_batch_size: int
    cost_per_million_usd: float
    price_per_hour: float
    threads: int


class Timing(TypedDict):
    latency_p50_ms: float
    latency_p95_ms: float
    throughput_per_s: float
    best_batch_size: int
    cost_per_million_usd: float
    throughput_by_batch_size: dict[str, float]


def measure_cost(single: Callable[[], object], batch: Callable[[int], object], *, batch_sizes: Sequence[int],
                 latency_samples: int, price_per_hour: float, min_batch_time_s: float = 0.2,
                 min_batch_runs: int = 2) -> Timing:
    """Latency of `single()` (one request; p50 and p95 over latency_samples timed calls after one warm-up call) and
    throughput of `batch(n)` (n requests at once) at each batch size: each size is warmed up once, then run at least
    min_batch_runs times and for at least min_batch_time_s; its throughput is n over the median run time. The best
    batch size is the one with the highest throughput; cost per million requests = price_per_hour / 3600 / throughput
    × 1e6 (USD)."""
    if latency_samples < 1:
        raise ValueError("latency_samples must be at least 1")
    single()
    latencies = []
    for _ in range(latency_samples):
        start = time.perf_counter()
        single()
        latencies.append(time.perf_counter() - start)
    by_size: dict[str, float] = {}
    for n in sorted({int(b) for b in batch_sizes if int(b) >= 1}) or [1]:
        batch(n)
        times: list[float] = []
        began = time.perf_counter()
        while len(times) < min_batch_runs or time.perf_counter() - began < min_batch_time_s:
            start = time.perf_counter()
            batch(n)
            times.append(time.perf_counter() - start)
        by_size[str(n)] = n / max(float(np.median(times)), 1e-9)
    best = max(by_size, key=lambda k: (by_size[k], -int(k)))
    throughput = by_size[best]
    return Timing(latency_p50_ms=float(np.percentile(latencies, 50)) * 1000,
                  latency_p95_ms=float(np.percentile(latencies, 95)) * 1000,
                  throughput_per_s=throughput, best_batch_size=int(best),
                  cost_per_million_usd=price_per_hour / 3600 / throughput * 1e6,
                  throughput_by_batch_size=by_size)


def parameter_count(model: Any) -> int:
    return int(sum(p.numel() for p in model.parameters()))


# the machine ----------------------------------------------------------------------------------------------------------

def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """The machine the measurements were taken on: host, OS, CPU model, cores, the threads torch uses, memory and the
    versions of the runtimes."""
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": _cpu_name(),
        "cores": os.cpu_count() or 1,
        "threads": torch.get_num_threads(),
        "memory_bytes": _memory_bytes(),
        "torch": torch.__version__,
        "transformers": _version("transformers"),
        "onnxruntime": _version("onnxruntime"),
        "python": platform.python_version(),
    }
