"""Text classification: accuracy and macro-F1 (scikit-learn's definitions), bootstrapped over examples.

macro_f1 is the unweighted mean over the classes that occur among the references or the predictions of
F1 = 2 tp / (2 tp + fp + fn), exactly `sklearn.metrics.f1_score(refs, preds, average="macro")`; in a resample
the classes are those occurring in that resample. Per resample, tp/fp/fn per class come from bincounts of
the drawn examples' class ids, so the cost is O(resamples x examples), whatever the number of classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .bootstrap import Estimate, FloatArray, IndexArray, bootstrap, check_lengths

Label = int | str


def _label(name: str, i: int, value: object) -> Label:
    if isinstance(value, bool) or not isinstance(value, (int, str, np.integer, np.str_)):
        raise ValueError(f"{name}[{i}] is {value!r}: labels must be class ids (int) or label names (str)")
    return str(value) if isinstance(value, (str, np.str_)) else int(value)


def _class_ids(preds: Sequence[Label], refs: Sequence[Label]) -> tuple[IndexArray, IndexArray, int]:
    pred_labels = [_label("preds", i, v) for i, v in enumerate(preds)]
    ref_labels = [_label("refs", i, v) for i, v in enumerate(refs)]
    kinds = {type(v) for v in pred_labels + ref_labels}
    if len(kinds) > 1:
        raise ValueError(
            "predictions and references mix class ids (int) and label names (str): map both to the same kind "
            "(the model's id2label gives the names)"
        )
    ids: dict[Label, int] = {}
    for v in ref_labels + pred_labels:
        ids.setdefault(v, len(ids))
    pred_ids = np.fromiter((ids[v] for v in pred_labels), dtype=np.intp, count=len(pred_labels))
    ref_ids = np.fromiter((ids[v] for v in ref_labels), dtype=np.intp, count=len(ref_labels))
    return pred_ids, ref_ids, len(ids)


def score(preds: Sequence[Label], refs: Sequence[Label], *, resamples: int, seed: int) -> dict[str, Estimate]:
    """accuracy and macro_f1 (0..1) with 95% bootstrap intervals; preds[i] is the predicted label of refs[i]."""
    n = check_lengths("preds", preds, "refs", refs)
    pred_ids, ref_ids, classes = _class_ids(preds, refs)

    def statistic(index: IndexArray) -> FloatArray:
        rows = index.shape[0]
        p = pred_ids[index]
        r = ref_ids[index]
        correct = p == r
        offsets = np.arange(rows, dtype=np.intp)[:, None] * classes
        size = rows * classes
        tp = np.bincount((p + offsets)[correct], minlength=size).reshape(rows, classes)
        fp = np.bincount((p + offsets)[~correct], minlength=size).reshape(rows, classes)
        fn = np.bincount((r + offsets)[~correct], minlength=size).reshape(rows, classes)
        denominator = (2 * tp + fp + fn).astype(np.float64)
        present = denominator > 0
        f1 = np.where(present, 2 * tp / np.where(present, denominator, 1.0), 0.0)
        macro = f1.sum(axis=1) / present.sum(axis=1)
        return np.stack([correct.mean(axis=1), macro], axis=1)

    # Memory per draw: the index, two gathered id arrays, the mask and two offset copies.
    return bootstrap(n, statistic, ["accuracy", "macro_f1"], resamples=resamples, seed=seed, bytes_per_draw=48)
