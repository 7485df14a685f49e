"""PyTorch dynamic int8 quantisation: every linear layer gets int8 weights (`torch.qint8`, one scale per output
channel) and quantises its activations on the fly, run by the x86 / fbgemm kernels under inference mode. Per channel
rather than per tensor: on all-MiniLM-L6-v2 the mean cosine of the int8 embeddings to the original's rose from 0.947
to 0.977 at the same latency (bench/minilm_variants.py).

GPT-2-style models hold their projections in transformers' `Conv1D` (a linear layer with its weight transposed),
which quantize_dynamic does not know: `as_linear` rewrites them into nn.Linear first, so a causal LM is quantised
throughout, not only its output head.
"""

from __future__ import annotations

import copy
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import torch

from inhouse.ml.engine import TorchBackend, auto_model_class


def as_linear(model: torch.nn.Module) -> int:
    """Replaces every transformers Conv1D in `model` (in place) by the equivalent nn.Linear; returns how many."""
    from transformers.pytorch_utils import Conv1D

    replaced = 0
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                n_in, n_out = child.weight.shape
                linear = torch.nn.Linear(n_in, n_out, bias=True, dtype=child.weight.dtype)
                with torch.no_grad():
                    linear.weight.copy_(child.weight.t())
                    linear.bias.copy_(child.bias)
                setattr(parent, child_name, linear)
                replaced += 1
    return replaced


def quantize_linear(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of `model` in eval mode with every nn.Linear (and Conv1D) dynamically quantised to int8; the model
    passed in is left as it was."""
    quantized = copy.deepcopy(model).eval()
    as_linear(quantized)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao's notice that eager-mode quantisation is moving to torchao
        quantize = cast(Callable[..., torch.nn.Module], torch.ao.quantization.quantize_dynamic)  # untyped in torch
        qconfig = torch.ao.quantization.per_channel_dynamic_qconfig
        return quantize(quantized, {torch.nn.Linear: qconfig}, dtype=torch.qint8, inplace=True)


def quantize_generative(model: Any) -> Any:
    """The int8 form of a seq2seq or causal LM (transformers, torch): a quantised copy in eval mode that `generate`s
    as the original does. Run it under torch.inference_mode."""
    return quantize_linear(model)


def state_size(model: torch.nn.Module) -> int:
    """Bytes of the model's state dict as torch.save writes it (packed int8 weights for a quantised model)."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.getbuffer().nbytes


class QuantizedTorchBackend(TorchBackend):
    """The "int8" variant: a dynamically quantised torch model, run under inference mode."""

    def __init__(self, model: torch.nn.Module):
        super().__init__(model, name="int8")
        self.size_bytes = state_size(model)


def build_int8(model_dir: Path, task: str) -> QuantizedTorchBackend:
    """Loads the task's model from `model_dir` and quantises it."""
    model = auto_model_class(task).from_pretrained(str(model_dir)).eval()
    return QuantizedTorchBackend(quantize_linear(model))
