"""The "variant.save" worker kind: rebuild a variant of a base model repo and upload it as a model repo of its own.

spec = {"base": {"repo": "ns/name", "revision": str | null}, "task": <encoder task>, "variant": "onnx" | "onnx-int8",
        "target_repo": "ns/name", "private": bool}

The base is fetched through the hub at its revision with the payload's token (missing and unreadable repos answer
"not-found" in the same words), checked against the task ("wrong-task"), and its variant rebuilt exactly as an
evaluation builds it. The folder uploaded holds model.onnx, the base's config.json and tokenizer files and a README.md
card naming its lineage (`base_model`, `base_model_relation: quantized`, the base revision in the text, how it was
made and how closely it follows the base on a probe batch). The caller creates `target_repo` (with `private`) before
the job runs; the payload's token is scoped to it. The torch "int8" variant is refused: dynamically quantised PyTorch
weights cannot be reloaded with from_pretrained, so a repo holding them would be of no use.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import yaml

from inhouse.ml.engine import ENCODER_HEADS, TorchBackend
from inhouse.ml.failures import WorkerFailure
from inhouse.ml.models import fetch_snapshot, read_config, snapshot_files, weight_files
from inhouse.ml.tasks.base import get_family
from inhouse.ml.variants.build import SAVABLE, VARIANTS, load_for_export, write_onnx
from inhouse.ml.variants.export import OPSET, OnnxBackend

REPO_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
PIPELINE_TAGS = {"text-classification": "text-classification", "token-classification": "token-classification",
                 "question-answering": "question-answering", "sentence-similarity": "sentence-similarity",
                 "retrieval": "feature-extraction"}
STEPS = 5  # download, build, check, card, upload
PROBE_ROWS, PROBE_LENGTH = 4, 16


class Emit(Protocol):
    def progress(self, done: int, total: int, stage: str = "") -> None: ...

    def log(self, level: str, message: str) -> None: ...


def _bad(message: str) -> WorkerFailure:
    return WorkerFailure("bad-input", message)


def parse_spec(spec: Any) -> dict[str, Any]:
    """The spec's values, checked: WorkerFailure("bad-input") naming the first thing wrong."""
    if not isinstance(spec, dict):
        raise _bad("spec must be an object with base, task, variant and target_repo.")
    base = spec.get("base")
    if not isinstance(base, dict) or not isinstance(base.get("repo"), str) or not REPO_ID.match(base["repo"]):
        raise _bad("spec.base must be {\"repo\": \"namespace/name\", \"revision\": ...}.")
    revision = base.get("revision")
    if revision is not None and (not isinstance(revision, str) or not revision):
        raise _bad("spec.base.revision must be a branch, tag or commit sha (or null for the default branch).")
    task = spec.get("task")
    if task not in ENCODER_HEADS:
        raise _bad(f"spec.task must be one of {', '.join(ENCODER_HEADS)} (variants are saved for encoder models "
                   f"only), got {task!r}.")
    variant = spec.get("variant")
    if variant == "int8":
        raise _bad("The int8 variant is dynamically quantised PyTorch, whose weights cannot be reloaded with "
                   "from_pretrained, so it cannot be saved as a model repo. Save the onnx-int8 variant instead: "
                   "the same int8 weights in an ONNX file any ONNX Runtime loads.")
    if variant not in SAVABLE:
        raise _bad(f"spec.variant must be one of {', '.join(SAVABLE)} (of the variants {', '.join(VARIANTS)}), "
                   f"got {variant!r}.")
    target = spec.get("target_repo")
    if not isinstance(target, str) or not REPO_ID.match(target):
        raise _bad(f"spec.target_repo must be a model repo id 'namespace/name', got {target!r}.")
    if target == base["repo"]:
        raise _bad("spec.target_repo must be a new repo, not the base model's own.")
    private = spec.get("private", False)
    if not isinstance(private, bool):
        raise _bad("spec.private must be true or false.")
    return {"repo": base["repo"], "revision": revision, "task": task, "variant": variant, "target": target,
            "private": private}


def copy_side_files(snapshot: Path, names: list[str], folder: Path) -> list[str]:
    """Copies the base's config and tokenizer files (the snapshot's top-level side files, no weights or weight
    index) into `folder`; returns their names."""
    weights = set(weight_files(names))
    copied = []
    for name in snapshot_files(names):
        if name in weights or name == "README.md" or not (snapshot / name).is_file():
            continue
        shutil.copyfile(snapshot / name, folder / name)
        copied.append(name)
    return copied


def probe(model_dir: Path, task: str, onnx_file: Path) -> dict[str, Any]:
    """How closely the saved file follows the base model: both run a fixed batch of PROBE_ROWS random token rows
    (the last half padded); the largest absolute difference of any output, and for logits the share of positions
    whose argmax agrees."""
    model = load_for_export(model_dir, task)
    original = TorchBackend(model)
    variant = OnnxBackend(onnx_file, "probe", torch.get_num_threads())
    vocab = int(getattr(model.config, "vocab_size", 100) or 100)
    rng = np.random.default_rng(0)
    inputs = {"input_ids": rng.integers(0, vocab, (PROBE_ROWS, PROBE_LENGTH), dtype=np.int64),
              "attention_mask": np.ones((PROBE_ROWS, PROBE_LENGTH), dtype=np.int64),
              "token_type_ids": np.zeros((PROBE_ROWS, PROBE_LENGTH), dtype=np.int64)}
    inputs["attention_mask"][PROBE_ROWS // 2:, PROBE_LENGTH // 2:] = 0
    expected = original({k: v for k, v in inputs.items() if k in original.input_names})
    got = variant({k: v for k, v in inputs.items() if k in variant.input_names})
    diff = 0.0
    agree, total = 0, 0
    mask = inputs["attention_mask"].astype(bool)
    for key, value in got.items():
        ref = expected[key]
        if value.ndim >= 2 and value.shape[:2] == mask.shape:  # per-token outputs: compare real tokens only
            value, ref = value[mask], ref[mask]
        diff = max(diff, float(np.max(np.abs(value - ref))))
        if key != "last_hidden_state":
            agree += int(np.sum(value.argmax(-1) == ref.argmax(-1)))
            total += int(np.prod(value.shape[:-1])) if value.ndim > 1 else 1
    return {"max_abs_diff": diff, "argmax_agreement": agree / total if total else None}


def card(*, repo: str, revision: str, task: str, variant: str, target: str, check: dict[str, Any]) -> str:
    """README.md of the saved variant: front matter with its lineage, then how it was made."""
    tags = ["onnx", "inhouse-variant"] + (["int8"] if variant == "onnx-int8" else [])
    meta = {"base_model": repo, "base_model_relation": "quantized", "library_name": "onnx",
            "pipeline_tag": PIPELINE_TAGS[task], "tags": tags}
    import onnxruntime

    if variant == "onnx":
        how = (f"exported from the PyTorch model with `torch.onnx.export` (TorchScript exporter, opset {OPSET}, "
               "dynamic batch and sequence axes), fp32 weights")
    else:
        how = (f"exported from the PyTorch model with `torch.onnx.export` (TorchScript exporter, opset {OPSET}, "
               "dynamic batch and sequence axes), then quantised with ONNX Runtime's `quantize_dynamic` (int8 "
               "weights per channel, uint8 activations quantised at run time)")
    agreement = check.get("argmax_agreement")
    closeness = (f"On a fixed probe batch of {PROBE_ROWS} random token sequences its outputs differ from the base "
                 f"model's by at most {check['max_abs_diff']:.2g}")
    closeness += f" and pick the same top class at {agreement:.0%} of positions." if agreement is not None else "."
    body = f"""
# {target.split('/', 1)[1]}

The **{variant}** variant of [{repo}](../{repo}) at revision `{revision}`, made by inhouse for
{task}: {how}. Built with torch {torch.__version__} and onnxruntime {onnxruntime.__version__}.

{closeness} Evaluate it on your own data with an inhouse evaluation before relying on it.

## Use

```python
import onnxruntime
from huggingface_hub import snapshot_download
from transformers import AutoTokenizer

folder = snapshot_download("{target}")
tokenizer = AutoTokenizer.from_pretrained(folder)
session = onnxruntime.InferenceSession(f"{{folder}}/model.onnx", providers=["CPUExecutionProvider"])
names = [i.name for i in session.get_inputs()]  # a subset of input_ids, attention_mask, token_type_ids
outputs = session.run(None, {{k: v for k, v in tokenizer(["an example"], return_tensors="np").items() if k in names}})
```
"""
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n" + body


def upload(endpoint: str | None, token: str | None, target: str, folder: Path, message: str) -> str:
    """Uploads `folder` to model repo `target` as one commit; returns its sha."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    api = HfApi(endpoint=endpoint, token=token if token else False)
    refused = WorkerFailure("not-found", f"Model repo {target} was not found or this job cannot write to it: create "
                                         "the repo before saving a variant into it.")
    try:
        info = api.upload_folder(repo_id=target, folder_path=str(folder), commit_message=message)
    except RepositoryNotFoundError:
        raise refused from None
    except HfHubHTTPError as e:
        if e.response is not None and e.response.status_code in (401, 403, 404):
            raise refused from None
        raise
    return str(info.oid)


def save_variant(payload: dict[str, Any], emit: Emit) -> dict[str, Any]:
    """Runs one "variant.save" task (see the module docstring); returns {"repo", "commit", "variant", "task",
    "base": {"repo", "revision"}, "files", "size_bytes", "check"}."""
    spec = parse_spec(payload.get("spec"))
    token = payload.get("token") or None
    endpoint = payload.get("endpoint") or None
    repo, variant, task, target = spec["repo"], spec["variant"], spec["task"], spec["target"]
    emit.progress(0, STEPS, f"downloading {repo}")
    snapshot, sha, names = fetch_snapshot(repo, spec["revision"], token=token, weights=False)
    try:
        get_family(task).check_fit(read_config(snapshot))
    except WorkerFailure as f:
        raise WorkerFailure(f.code, f"Model {repo}: {f.message}") from None
    snapshot, sha, names = fetch_snapshot(repo, sha, token=token)
    with tempfile.TemporaryDirectory(prefix="inhouse-variant-save-") as tmp:
        folder = Path(tmp) / "repo"
        folder.mkdir()
        emit.progress(1, STEPS, f"building {variant}")
        onnx_file = folder / "model.onnx"
        write_onnx(variant, snapshot, task, onnx_file)
        side = copy_side_files(snapshot, names, folder)
        emit.progress(2, STEPS, "checking against the base model")
        check = probe(snapshot, task, onnx_file)
        emit.log("info", f"{variant} of {repo}@{sha[:12]}: max |difference| {check['max_abs_diff']:.3g} on the probe "
                         "batch")
        emit.progress(3, STEPS, "writing the card")
        (folder / "README.md").write_text(card(repo=repo, revision=sha, task=task, variant=variant, target=target,
                                               check=check), encoding="utf-8")
        size = onnx_file.stat().st_size
        emit.progress(4, STEPS, f"uploading to {target}")
        commit = upload(endpoint, token, target, folder,
                        f"{variant} variant of {repo} at {sha[:12]} (inhouse variant.save)")
    emit.progress(STEPS, STEPS, "saved")
    return {"repo": target, "commit": commit, "variant": variant, "task": task, "base": {"repo": repo, "revision": sha},
            "files": sorted(["model.onnx", "README.md", *side]), "size_bytes": size, "check": check}
