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


def _label_format(true_shape, pred_shape) -> str:
    """"one_hot" or "sparse" from the static shapes, as Keras's two categorical losses read them.

    Sparse: `(B,)` or `(B, 1)` class indices; one-hot (or soft): `(B, C)` like the
    predictions. Anything else gets a message naming both shapes.
    """
    true_shape, pred_shape = tuple(true_shape), tuple(pred_shape)
    classes = pred_shape[-1]
    if len(true_shape) == len(pred_shape) - 1:
        return "sparse"
    if len(true_shape) == len(pred_shape):
        if true_shape[-1] == 1 and classes != 1:
            return "sparse"
        if true_shape[-1] in (classes, None):
            return "one_hot"
    raise ValueError(
        f"Expected labels as class indices of shape (batch,) or one-hot of shape (batch, {classes}) "
        f"to match the predictions. Received: labels of shape {true_shape}, predictions of shape {pred_shape}"
    )


@keras.saving.register_keras_serializable(package="tal")
class WeightedCrossEntropy(keras.losses.Loss):
    """Class-weighted categorical cross-entropy.

    `CE_w(p, y) = mean_i w[y_i] · (−log p[i, y_i])`; with one-hot (or soft)
    labels `t`, `mean_i (Σ_c t_ic w_c) · (−Σ_c t_ic log p_ic)`, which is the
    same number for one-hot `t`.

    Labels follow Keras's conventions: class indices `(B,)` or `(B, 1)` as for
    `SparseCategoricalCrossentropy`, or one-hot `(B, C)` (what
    `keras.utils.to_categorical` gives) as for `CategoricalCrossentropy`.

    Args:
        class_weights: one weight per class (None: all ones).
        from_logits: whether the predictions are logits (softmax applied here)
            rather than probabilities.

    Example:
    >>> loss = WeightedCrossEntropy([2.0, 1.0])
    >>> float(loss([0], [[0.5, 0.5]])) == float(loss([[1.0, 0.0]], [[0.5, 0.5]]))
    True
    """

    def __init__(self, class_weights=None, from_logits=False, name="weighted_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = None if class_weights is None else [float(w) for w in class_weights]
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if self.from_logits:
            log_probs = ops.log_softmax(y_pred, axis=-1)
        else:
            log_probs = ops.log(ops.clip(y_pred, EPSILON, 1.0))
        weights = None
        if self.class_weights is not None:
            weights = ops.convert_to_tensor(self.class_weights, dtype=log_probs.dtype)
        if _label_format(y_true.shape, y_pred.shape) == "one_hot":
            targets = ops.cast(y_true, log_probs.dtype)
            nll = -ops.sum(targets * log_probs, axis=-1)
            return nll if weights is None else nll * ops.sum(targets * weights, axis=-1)
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        nll = -ops.take_along_axis(log_probs, labels[:, None], axis=-1)[:, 0]
        return nll if weights is None else nll * ops.take(weights, labels)

    def get_config(self):
        return {**super().get_config(), "class_weights": self.class_weights, "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="tal")
class WeightedBinaryCrossEntropy(keras.losses.Loss):
    """Multi-label BCE with per-class `β_P` on positives and `β_N` on negatives.

    `−mean_c [β_P[c]·y·log p + β_N[c]·(1−y)·log(1−p)]` per example. Labels are
    multi-hot `(B, C)` like the predictions, as for Keras's `BinaryCrossentropy`.

    Args:
        positive_weights, negative_weights: `β_P`, `β_N`, one per class (None: all ones);
            `multilabel_class_weights(y_train)` gives ChestX-ray14's.
        from_logits: whether the predictions are logits (sigmoid applied here)
            rather than probabilities.

    Example:
    >>> loss = WeightedBinaryCrossEntropy([3.0, 1.0], [1.0, 2.0])
    >>> round(float(loss([[1.0, 0.0]], [[0.8, 0.4]])), 4)
    0.8456
    """

    def __init__(self, positive_weights=None, negative_weights=None, from_logits=False,
                 name="weighted_binary_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.positive_weights = None if positive_weights is None else [float(w) for w in positive_weights]
        self.negative_weights = None if negative_weights is None else [float(w) for w in negative_weights]
        self.from_logits = bool(from_logits)

    def call(self, y_true, y_pred):
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if tuple(y_true.shape) != tuple(y_pred.shape) and None not in (*y_true.shape, *y_pred.shape):
            raise ValueError(
                f"Expected multi-hot labels of the predictions' shape {tuple(y_pred.shape)} (one 0/1 per class). "
                f"Received: labels of shape {tuple(y_true.shape)}"
            )
        y_true = ops.cast(y_true, y_pred.dtype)
        if self.from_logits:  # log σ(z) and log(1 − σ(z)) = log σ(−z), exact for large |z|
            log_p, log_not_p = ops.log_sigmoid(y_pred), ops.log_sigmoid(-y_pred)
        else:
            probs = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
            log_p, log_not_p = ops.log(probs), ops.log(1.0 - probs)
        pos = y_true * log_p
        neg = (1.0 - y_true) * log_not_p
        if self.positive_weights is not None:
            pos = pos * ops.convert_to_tensor(self.positive_weights, dtype=pos.dtype)
        if self.negative_weights is not None:
            neg = neg * ops.convert_to_tensor(self.negative_weights, dtype=neg.dtype)
        return -ops.mean(pos + neg, axis=-1)

    def get_config(self):
        return {
            **super().get_config(),
            "positive_weights": self.positive_weights,
            "negative_weights": self.negative_weights,
            "from_logits": self.from_logits,
        }


from tal.core.registration import register_all  # noqa: E402  (at the end: see tal.core.registration)

register_all()
