"""Test-set scores of a trained model, single-label and multi-label.

Single-label (MNIST): accuracy, per-class accuracy and the confusion matrix.
Multi-label (multidigit, as A3Net on ChestX-ray14): per-class ROC AUC and
their mean, exact-match accuracy and micro-F1 at a 0.5 threshold, computed
with scikit-learn rather than by hand. `headline` names the one number a run
is ranked by (test accuracy, or mean AUC).
"""
from __future__ import annotations

import numpy as np

from tal.core.config import PRESENT_THRESHOLD as THRESHOLD  # a class counts as present above it


def single_label_scores(y, probabilities, num_classes: int) -> dict:
    """Accuracy, per-class accuracy and the confusion matrix (rows: true class)."""
    predicted = np.asarray(probabilities).argmax(axis=-1)
    y = np.asarray(y).astype(int)
    confusion = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(confusion, (y, predicted), 1)
    totals = confusion.sum(axis=1)
    per_class = np.where(totals > 0, np.diag(confusion) / np.maximum(totals, 1), np.nan)
    return {
        "test_accuracy": float((predicted == y).mean()),
        "per_class_accuracy": [None if np.isnan(v) else float(v) for v in per_class],
        "confusion_matrix": confusion.tolist(),
    }


def per_class_auc(y, probabilities) -> list[float | None]:
    """ROC AUC of every class; None for a class that is always or never present in `y`."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    probabilities = np.asarray(probabilities)
    out: list[float | None] = []
    for c in range(y.shape[1]):
        if y[:, c].min() == y[:, c].max():
            out.append(None)  # AUC is undefined with one kind of example only
        else:
            out.append(float(roc_auc_score(y[:, c], probabilities[:, c])))
    return out


def multi_label_scores(y, probabilities, threshold: float = THRESHOLD) -> dict:
    """Per-class ROC AUC and their mean, exact-match accuracy and micro-F1 at `threshold`.

    Args:
        y: multi-hot targets (N, C).
        probabilities: predicted probabilities (N, C) (sigmoid outputs).
        threshold: probability above which a class counts as predicted.

    Example:

    >>> scores = multi_label_scores([[1, 0], [0, 1]], [[0.9, 0.2], [0.3, 0.6]])
    >>> scores["mean_auc"], scores["exact_match"]
    (1.0, 1.0)
    """
    from sklearn.metrics import f1_score

    y = np.asarray(y).astype(int)
    predicted = (np.asarray(probabilities) > threshold).astype(int)
    aucs = per_class_auc(y, probabilities)
    defined = [a for a in aucs if a is not None]
    return {
        "mean_auc": float(np.mean(defined)) if defined else None,
        "per_class_auc": aucs,
        "exact_match": float((predicted == y).all(axis=1).mean()),
        "micro_f1": float(f1_score(y, predicted, average="micro", zero_division=0)),
        "threshold": threshold,
    }


def evaluate_model(model, x, y, num_classes, *, prediction="main", batch_size=512) -> dict:
    """The test scores of `model` on `(x, y)`: multi-label ones when `y` is multi-hot (N, C)."""
    from tal.core.models import head_probabilities

    outputs = model.predict(x, batch_size=batch_size, verbose=0)
    probabilities = head_probabilities(outputs, prediction)
    y = np.asarray(y)
    if y.ndim == 2:
        metrics = multi_label_scores(y, probabilities)
        if "aux" in outputs:
            metrics["mean_auc_aux"] = multi_label_scores(y, outputs["aux"])["mean_auc"]
    else:
        metrics = single_label_scores(y, probabilities, num_classes)
        if "aux" in outputs:
            metrics["test_accuracy_aux"] = float((outputs["aux"].argmax(-1) == y.astype(int)).mean())
    metrics["test_images"] = int(len(y))
    return metrics


# What a run is ranked by: (metrics key, label) for each task.
HEADLINES = {"single_label": ("test_accuracy", "test accuracy"), "multi_label": ("mean_auc", "mean AUC")}


def headline(metrics: dict) -> tuple[str, float | None]:
    """(label, value) of the number a run is ranked by: mean AUC for multi-label runs, else test accuracy."""
    key, label = HEADLINES["multi_label" if "mean_auc" in metrics else "single_label"]
    value = metrics.get(key)
    return label, None if value is None else float(value)
