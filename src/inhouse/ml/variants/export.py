"""ONNX forms of an encoder model: export, int8 quantisation, and the ONNX Runtime backend that runs them.

Export uses torch's TorchScript exporter (`torch.onnx.export(..., dynamo=False)`) at opset OPSET with dynamic batch
and sequence axes. The dynamo exporter (torch.export + onnxscript) gives the same outputs but took ten times longer
on a two-layer BERT (16 s against 1.6 s), and evaluations rebuild variants for every candidate. The model is loaded
with eager attention for the export: its graph is plain MatMul/Softmax, which ONNX Runtime fuses and quantises.

int8: onnxruntime.quantization.quantize_dynamic with QInt8 weights, per channel. Activations are quantised to uint8
at run time, so the MatMuls run as U8S8, the fast integer path on x86 (AVX2 VPMADDUBSW, AVX-512 VNNI); per-tensor
QInt8 weights cost all-MiniLM-L6-v2 too much (mean cosine to the fp32 embeddings 0.965, per channel 0.992; QUInt8
weights 0.983 and no faster). See bench/README.md.

The runtime session uses the CPU provider, the worker's thread count for intra-op work, one inter-op thread, all
graph optimisations, and no spinning: workers share cores with the hub and with each other, and a spinning thread
pool burns the time they need (on the loaded two-core machine the median latency halved without it).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from inhouse.ml.engine import Array, model_inputs

OPSET = 17  # LayerNormalization is a single op from 17 on
# task -> the outputs its ONNX graph returns, in order (the keys EncoderBackend callers read)
ENCODER_OUTPUTS: dict[str, tuple[str, ...]] = {
    "text-classification": ("logits",),
    "token-classification": ("logits",),
    "question-answering": ("start_logits", "end_logits"),
    "sentence-similarity": ("last_hidden_state",),
    "retrieval": ("last_hidden_state",),
}
PER_EXAMPLE_OUTPUTS = frozenset({("text-classification", "logits")})  # (batch, labels): no sequence axis


class _Positional(torch.nn.Module):
    """The model with positional inputs and a tuple of named outputs, as the TorchScript exporter traces it."""

    def __init__(self, model: torch.nn.Module, inputs: Sequence[str], outputs: Sequence[str]):
        super().__init__()
        self.model = model
        self.inputs = tuple(inputs)
        self.outputs = tuple(outputs)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(**dict(zip(self.inputs, args, strict=True)))
        return tuple(getattr(out, name) for name in self.outputs)


def dummy_inputs(model: torch.nn.Module, names: Sequence[str]) -> tuple[torch.Tensor, ...]:
    """Two rows of eight tokens, the second padded after five, so the attention mask's path is traced."""
    vocab = int(getattr(getattr(model, "config", None), "vocab_size", 0) or 100)
    ids = (torch.arange(16, dtype=torch.int64).reshape(2, 8) * 7 + 5) % max(vocab, 1)
    mask = torch.ones(2, 8, dtype=torch.int64)
    mask[1, 5:] = 0
    values = {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros(2, 8, dtype=torch.int64)}
    return tuple(values[n] for n in names)


def export_onnx(model: torch.nn.Module, task: str, path: Path, *, opset: int = OPSET) -> None:
    """Writes `model` (a transformers model for `task`, in eval mode) to `path` as ONNX with dynamic batch and
    sequence axes; its inputs are the ones the model takes (a subset of input_ids, attention_mask, token_type_ids),
    its outputs ENCODER_OUTPUTS[task]."""
    inputs = model_inputs(model)
    outputs = ENCODER_OUTPUTS[task]
    axes: dict[str, dict[int, str]] = {n: {0: "batch", 1: "sequence"} for n in inputs}
    for name in outputs:
        axes[name] = {0: "batch"} if (task, name) in PER_EXAMPLE_OUTPUTS else {0: "batch", 1: "sequence"}
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes about shape-dependent Python branches
        torch.onnx.export(_Positional(model.eval(), inputs, outputs), dummy_inputs(model, inputs), str(path),
                          input_names=list(inputs), output_names=list(outputs), dynamic_axes=axes,
                          opset_version=opset, do_constant_folding=True, dynamo=False)


def quantize_onnx(source: Path, target: Path) -> None:
    """The int8 form of an fp32 ONNX model (see the module docstring for the choice of weight type)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    quantize_dynamic(source, target, weight_type=QuantType.QInt8, per_channel=True, reduce_range=False)


def session(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session for `path` (see the module docstring for its options)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxBackend:
    """An ONNX model file run by ONNX Runtime as an EncoderBackend ("onnx" or "onnx-int8")."""

    def __init__(self, path: Path, name: str, threads: int):
        self.path = path
        self.session = session(path, threads)
        self._name = name
        self._inputs = tuple(str(i.name) for i in self.session.get_inputs())
        self._outputs = tuple(str(o.name) for o in self.session.get_outputs())
        self.size_bytes = path.stat().st_size

    @property
    def name(self) -> str:
        return self._name

    @property
    def input_names(self) -> Sequence[str]:
        return self._inputs

    @property
    def output_names(self) -> Sequence[str]:
        return self._outputs

    def __call__(self, inputs: dict[str, Array]) -> dict[str, Array]:
        feed = {n: np.ascontiguousarray(inputs[n], dtype=np.int64) for n in self._inputs}
        values = self.session.run(list(self._outputs), feed)
        return {n: np.asarray(v, dtype=np.float32) for n, v in zip(self._outputs, values, strict=True)}
