"""Class-weighted cross-entropy for the main and auxiliary heads. [A3Net]

A3Net trains both heads with a weighted cross-entropy,
`L = CE_w(main, y) + λ · CE_w(softmax(score), y)`. Single-label data weights
each example by its class's weight (inverse class frequency, mean 1).
Multi-label data uses class-weighted binary cross-entropy with the
ChestX-ray14 weights `β_P = (|P|+|N|)/|P|`, `β_N = (|P|+|N|)/|N|` per class.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

EPSILON = 1e-7


def multilabel_class_weights(targets):
    """ChestX-ray14 weights per class from a multi-hot `(N, C)` matrix: `(β_P, β_N)`."""
    targets = np.asarray(targets, dtype="float64")
    total = targets.shape[0]
    positives = np.maximum(targets.sum(axis=0), 1.0)
    negatives = np.maximum(total - targets.sum(axis=0), 1.0)
    return (total / positives).astype("float32"), (total / negatives).astype("float32")


@keras.saving.register_keras_serializable(package="tal")
class WeightedCrossEntropy(keras.losses.Loss):
    """Class-weighted categorical cross-entropy on probabilities, sparse labels.

    `CE_w(p, y) = mean_i w[y_i] · (−log p[i, y_i])`.

    Args:
        class_weights: one weight per class (None: all ones).
    """

    def __init__(self, class_weights=None, name="weighted_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        probs = ops.clip(y_pred, EPSILON, 1.0)
        picked = ops.take_along_axis(probs, labels[:, None], axis=-1)[:, 0]
        nll = -ops.log(picked)
        if self.class_weights is not None:
            weights = ops.convert_to_tensor(self.class_weights, dtype=nll.dtype)
            nll = nll * ops.take(weights, labels)
        return nll

    def get_config(self):
        return {**super().get_config(), "class_weights": self.class_weights}


@keras.saving.register_keras_serializable(package="tal")
class WeightedBinaryCrossEntropy(keras.losses.Loss):
    """Multi-label BCE with per-class `β_P` on positives and `β_N` on negatives.

    `−mean_c [β_P[c]·y·log p + β_N[c]·(1−y)·log(1−p)]` per example.
    """

    def __init__(self, positive_weights=None, negative_weights=None, name="weighted_binary_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.positive_weights = None if positive_weights is None else [float(w) for w in positive_weights]
        self.negative_weights = None if negative_weights is None else [float(w) for w in negative_weights]

    def call(self, y_true, y_pred):
        y_true = ops.cast(y_true, y_pred.dtype)
        probs = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
        pos = y_true * ops.log(probs)
        neg = (1.0 - y_true) * ops.log(1.0 - probs)
        if self.positive_weights is not None:
            pos = pos * ops.convert_to_tensor(self.positive_weights, dtype=probs.dtype)
        if self.negative_weights is not None:
            neg = neg * ops.convert_to_tensor(self.negative_weights, dtype=probs.dtype)
        return -ops.mean(pos + neg, axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "positive_weights": self.positive_weights,
            "negative_weights": self.negative_weights,
        }
