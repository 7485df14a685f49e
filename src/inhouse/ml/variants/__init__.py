"""Right-sized variants of a model: cheaper forms evaluated as their own rows, and saved back to the hub.

* "int8": PyTorch dynamic quantisation (every nn.Linear to int8 weights, activations quantised on the fly), run under
  inference mode (`inhouse.ml.variants.quantize`).
* "onnx": the model exported to ONNX (TorchScript exporter, fixed opset, dynamic batch and sequence axes) and run by
  ONNX Runtime on the CPU with the worker's thread count (`inhouse.ml.variants.onnx`).
* "onnx-int8": that export with its MatMul weights quantised by ONNX Runtime's dynamic quantisation (int8 weights,
  per channel; uint8 activations).

`build_encoder_variant(name, model_dir, task, workdir)` builds one of them from a local snapshot folder as an
`inhouse.ml.engine.EncoderBackend`; `quantize_generative(model)` is the int8 form of a seq2seq or causal LM (ONNX forms
exist for encoder tasks only); `save_variant(payload, emit)` is the "variant.save" worker kind
(`inhouse.ml.variants.save`).
"""

from __future__ import annotations

from inhouse.ml.variants.build import SAVABLE, VARIANTS, build_encoder_variant
from inhouse.ml.variants.export import ENCODER_OUTPUTS
from inhouse.ml.variants.quantize import quantize_generative
from inhouse.ml.variants.save import save_variant

__all__ = ["ENCODER_OUTPUTS", "SAVABLE", "VARIANTS", "build_encoder_variant", "quantize_generative", "save_variant"]
