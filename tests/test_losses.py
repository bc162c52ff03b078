"""Weighted losses with hand-computed numbers, and λ as a live loss weight."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from tal.core.config import ModelConfig, TrainConfig
from tal.core.losses import WeightedBinaryCrossEntropy, WeightedCrossEntropy, multilabel_class_weights
from tal.core.models import build_model
from tal.engine.training import compile_model
from backend import tensorflow_only


def test_weighted_cross_entropy_hand_computed():
    probs = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]], "float32")
    labels = np.array([0, 1])
    # mean(2·(−ln 0.5), 1·(−ln 0.8)) = (1.386294 + 0.223144) / 2
    loss = WeightedCrossEntropy([2.0, 1.0, 1.0])(labels, probs)
    assert float(loss) == pytest.approx(0.804719, abs=1e-5)
    unweighted = WeightedCrossEntropy()(labels, probs)
    assert float(unweighted) == pytest.approx((math.log(2) - math.log(0.8)) / 2, abs=1e-5)


def test_one_hot_and_sparse_labels_give_the_same_loss():
    probs = np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]], "float32")
    loss = WeightedCrossEntropy([2.0, 1.0, 1.0])
    one_hot = keras.utils.to_categorical([0, 1], 3)
    for labels in ([0, 1], [[0], [1]], one_hot):
        assert float(loss(np.array(labels), probs)) == pytest.approx(0.804719, abs=1e-5)


def test_from_logits_applies_the_softmax():
    logits = np.array([[2.0, 0.0, -1.0]], "float32")
    # −log softmax(z)_0 = log(e² + 1 + e⁻¹) − 2, weighted by 3
    expected = 3.0 * (math.log(math.exp(2) + 1 + math.exp(-1)) - 2)
    loss = WeightedCrossEntropy([3.0, 1.0, 1.0], from_logits=True)
    assert float(loss(np.array([0]), logits)) == pytest.approx(expected, abs=1e-5)
    assert float(loss(np.array([[1.0, 0.0, 0.0]]), logits)) == pytest.approx(expected, abs=1e-5)
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert clone.from_logits is True


def test_label_shape_mismatch_says_what_was_expected():
    probs = np.full((4, 10), 0.1, "float32")
    with pytest.raises(ValueError, match=r"one-hot of shape \(batch, 10\).*labels of shape \(4, 5\)"):
        WeightedCrossEntropy()(np.zeros((4, 5), "float32"), probs)


def test_one_hot_labels_train_through_fit():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile(optimizer="sgd", loss=WeightedCrossEntropy([1.0, 2.0, 1.0]))
    x = np.random.default_rng(0).random((32, 4)).astype("float32")
    y = keras.utils.to_categorical(np.arange(32) % 3, 3)
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_weighted_binary_cross_entropy_hand_computed():
    y = np.array([[1.0, 0.0]], "float32")
    p = np.array([[0.8, 0.4]], "float32")
    # −mean(β_P0·ln 0.8, β_N1·ln 0.6) with β_P = [3, 1], β_N = [1, 2]
    loss = WeightedBinaryCrossEntropy([3.0, 1.0], [1.0, 2.0])(y, p)
    expected = -(3 * math.log(0.8) + 2 * math.log(0.6)) / 2
    assert float(loss) == pytest.approx(expected, abs=1e-5)


def test_weighted_binary_cross_entropy_from_logits_and_label_shapes():
    y = np.array([[1.0, 0.0]], "float32")
    logits = np.array([[math.log(4.0), math.log(2 / 3)]], "float32")  # σ = 0.8, 0.4
    loss = WeightedBinaryCrossEntropy([3.0, 1.0], [1.0, 2.0], from_logits=True)
    assert float(loss(y, logits)) == pytest.approx(-(3 * math.log(0.8) + 2 * math.log(0.6)) / 2, abs=1e-5)
    # far past where σ rounds to 1: the logits form stays exact (ln σ(−40) ≈ −40)
    assert float(WeightedBinaryCrossEntropy(from_logits=True)([[0.0]], [[40.0]])) == pytest.approx(40.0, rel=1e-5)
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert clone.from_logits and clone.positive_weights == [3.0, 1.0]
    with pytest.raises(ValueError, match=r"multi-hot labels of the predictions' shape \(1, 2\)"):
        WeightedBinaryCrossEntropy()(np.array([1], "float32"), np.array([[0.5, 0.5]], "float32"))


def test_multilabel_weights_follow_chestxray14():
    targets = np.array([[1, 0], [0, 0], [0, 1], [0, 1]])
    beta_p, beta_n = multilabel_class_weights(targets)
    np.testing.assert_allclose(beta_p, [4 / 1, 4 / 2])
    np.testing.assert_allclose(beta_n, [4 / 3, 4 / 2])


def test_losses_serialise():
    loss = WeightedCrossEntropy([1.5, 0.5], name="main_ce")
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert clone.class_weights == [1.5, 0.5]


@tensorflow_only
def test_changing_lambda_changes_the_loss_by_lambda_times_aux_loss():
    config = ModelConfig(stage_filters=(4, 8), scale=False, channel=False, element_width=4)
    model = build_model(config)
    aux_weight = keras.Variable(0.5, trainable=False)
    compile_model(model, config, TrainConfig(), [1.0] * 10, aux_weight, total_steps=10)
    rng = np.random.default_rng(0)
    x = rng.random((32, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 32)
    before = model.evaluate(x, {"main": y, "aux": y}, verbose=0, return_dict=True)
    aux_weight.assign(2.0)  # no recompile
    after = model.evaluate(x, {"main": y, "aux": y}, verbose=0, return_dict=True)
    assert after["aux_loss"] == pytest.approx(before["aux_loss"], rel=1e-6)
    assert after["loss"] - before["loss"] == pytest.approx(1.5 * before["aux_loss"], rel=1e-4)
    assert before["loss"] == pytest.approx(before["main_loss"] + 0.5 * before["aux_loss"], rel=1e-4)
