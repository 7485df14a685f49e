"""`build_encoder_variant`: one right-sized form of an encoder model, built from its local snapshot folder."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import torch

from inhouse.ml.engine import EncoderBackend, auto_model_class
from inhouse.ml.failures import WorkerFailure
from inhouse.ml.variants.export import ENCODER_OUTPUTS, OnnxBackend, export_onnx, quantize_onnx
from inhouse.ml.variants.quantize import build_int8

VARIANTS = ("int8", "onnx", "onnx-int8")
SAVABLE = ("onnx", "onnx-int8")  # forms a model repo can hold and others can load (see save.py)


def check_variant(name: str, task: str) -> None:
    """WorkerFailure("bad-input") for a variant name this module does not build or a task without encoder
    variants."""
    if name not in VARIANTS:
        raise WorkerFailure("bad-input", f"Unknown variant {name!r}: choose one of {', '.join(VARIANTS)}.")
    if task not in ENCODER_OUTPUTS:
        raise WorkerFailure("bad-input", f"{task} has no encoder variants: int8, onnx and onnx-int8 are built here for "
                                         f"{', '.join(ENCODER_OUTPUTS)}; generative models take quantize_generative "
                                         "(int8) only.")


def load_for_export(model_dir: Path, task: str) -> Any:
    """The task's model from `model_dir` in eval mode, with eager attention (a plain graph to export)."""
    return auto_model_class(task).from_pretrained(str(model_dir), attn_implementation="eager").eval()


def write_onnx(name: str, model_dir: Path, task: str, target: Path) -> None:
    """Writes the "onnx" or "onnx-int8" form of the model in `model_dir` to `target` (one .onnx file)."""
    model = load_for_export(model_dir, task)
    if name == "onnx":
        export_onnx(model, task, target)
        return
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        fp32 = Path(tmp) / "model-fp32.onnx"
        export_onnx(model, task, fp32)
        quantize_onnx(fp32, target)


def build_encoder_variant(name: str, model_dir: Path, task: str, workdir: Path) -> EncoderBackend:
    """The `name` variant ("int8", "onnx", "onnx-int8") of the `task` model saved in `model_dir`, as a backend whose
    outputs carry the keys the original's do (ENCODER_OUTPUTS[task]). ONNX files go to a fresh folder under `workdir`;
    ONNX Runtime uses as many intra-op threads as torch (the worker's thread setting). The backend's `size_bytes` is
    the variant's size (ONNX file, or the quantised state dict)."""
    check_variant(name, task)
    if name == "int8":
        return build_int8(model_dir, task)
    workdir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"variant-{name}-", dir=workdir))
    path = folder / "model.onnx"
    write_onnx(name, model_dir, task, path)
    return OnnxBackend(path, name, torch.get_num_threads())
