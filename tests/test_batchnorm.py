"""FusedBatchNormalization: the fused training kernel must match Keras's layer exactly."""
from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from tal.core.batchnorm import FusedBatchNormalization, batchnorm_layers, recalibrate_batchnorm


def _pair(momentum=0.9, **kwargs):
    reference, fused = keras.layers.BatchNormalization(momentum=momentum, **kwargs), FusedBatchNormalization(
        momentum=momentum, **kwargs
    )
    shape = (8, 5, 5, 3)
    reference.build(shape)
    fused.build(shape)
    weights = [np.array(w, "float32") for w in ([1.5, 0.5, 2.0], [0.1, -0.2, 0.3], [0.0, 1.0, -1.0], [1.0, 2.0, 0.5])]
    reference.set_weights(weights[: len(reference.weights)])
    fused.set_weights(weights[: len(fused.weights)])
    return reference, fused


def _images():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(8, 5, 5, 3)) * [3.0, 1.0, 0.5] + [1.0, -2.0, 4.0]).astype("float32")


def test_training_output_is_the_hand_computed_normalisation():
    x = _images()
    _, fused = _pair()
    out = np.asarray(fused(x, training=True))
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # biased batch statistics
    expected = np.array([1.5, 0.5, 2.0]) * (x - mean) / np.sqrt(var + 1e-3) + np.array([0.1, -0.2, 0.3])
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-5)
    # Moving statistics: 0.9 · old + 0.1 · batch, with the biased variance as Keras keeps it.
    np.testing.assert_allclose(fused.moving_mean.numpy(), 0.9 * np.array([0.0, 1.0, -1.0]) + 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(fused.moving_variance.numpy(), 0.9 * np.array([1.0, 2.0, 0.5]) + 0.1 * var, rtol=1e-5)


@pytest.mark.parametrize("kwargs", [{}, {"scale": False}, {"center": False}])
def test_gradients_and_updates_match_keras(kwargs):
    reference, fused = _pair(**kwargs)
    x = tf.constant(_images())
    weight = tf.sin(x) * tf.range(1.0, 4.0)  # an arbitrary loss that depends on every output
    grads = []
    for layer in (reference, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * weight)
        grads.append(tape.gradient(loss, [x, *layer.trainable_weights]))
    for g_ref, g_fused in zip(*grads):
        np.testing.assert_allclose(np.asarray(g_fused), np.asarray(g_ref), rtol=1e-4, atol=1e-4)
    for w_ref, w_fused in zip(reference.get_weights(), fused.get_weights()):
        np.testing.assert_allclose(w_fused, w_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(fused(x)), np.asarray(reference(x)), rtol=1e-5, atol=1e-5)


def test_falls_back_to_keras_for_inputs_the_kernel_cannot_take():
    reference = keras.layers.BatchNormalization(momentum=0.5)
    fused = FusedBatchNormalization(momentum=0.5)
    x = np.random.default_rng(1).normal(size=(16, 3)).astype("float32")  # 2-D: no fused kernel
    np.testing.assert_allclose(np.asarray(fused(x, training=True)), np.asarray(reference(x, training=True)), rtol=1e-5)
    np.testing.assert_allclose(fused.moving_mean.numpy(), reference.moving_mean.numpy(), rtol=1e-5)


def test_is_found_and_recalibrated_like_any_batchnorm():
    inputs = keras.Input((4, 4, 3))
    bn = FusedBatchNormalization(momentum=0.99)
    model = keras.Model(inputs, bn(inputs))
    assert batchnorm_layers(model) == [bn]
    x = np.random.default_rng(2).normal(loc=[1.0, -2.0, 5.0], scale=[1.0, 2.0, 0.5], size=(512, 4, 4, 3))
    x = x.astype("float32")
    # All 512 images in every batch: the exact running mean of 16 identical batch statistics.
    recalibrate_batchnorm(model, x, batches=16, batch_size=512)
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(bn.moving_variance.numpy(), x.var(axis=(0, 1, 2)), rtol=1e-4)
    assert bn.momentum == 0.99


def test_saves_and_loads(tmp_path):
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, FusedBatchNormalization(momentum=0.8, epsilon=1e-4, name="bn")(inputs))
    model.get_layer("bn").set_weights([np.full(3, v, "float32") for v in (2.0, 0.5, 1.0, 3.0)])
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    layer = loaded.get_layer("bn")
    assert type(layer) is FusedBatchNormalization and layer.momentum == 0.8 and layer.epsilon == 1e-4
    x = np.ones((1, 4, 4, 3), "float32")
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), rtol=1e-6)


def test_traced_recalibration_is_the_exact_running_mean_of_batch_statistics():
    inputs = keras.Input((4, 4, 2))
    hidden = FusedBatchNormalization(momentum=0.9, name="first")(keras.layers.Conv2D(3, 1, name="conv")(inputs))
    model = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.5, name="second")(hidden))
    x = np.random.default_rng(3).normal(size=(40, 4, 4, 2)).astype("float32")
    recalibrate_batchnorm(model, x, batches=5, batch_size=8, seed=7)
    # By hand: the same 5 batches, each layer's batch statistics averaged.
    rng = np.random.default_rng(7)
    kernel = model.get_layer("conv").get_weights()[0][0, 0]
    bias = model.get_layer("conv").get_weights()[1]
    first, second = model.get_layer("first"), model.get_layer("second")
    gamma, beta = first.gamma.numpy(), first.beta.numpy()
    means1, vars1, means2, vars2 = [], [], [], []
    for _ in range(5):
        batch = x[np.sort(rng.choice(40, size=8, replace=False))]
        z = batch @ kernel + bias
        means1.append(z.mean(axis=(0, 1, 2)))
        vars1.append(z.var(axis=(0, 1, 2)))
        h = gamma * (z - means1[-1]) / np.sqrt(vars1[-1] + first.epsilon) + beta
        means2.append(h.mean(axis=(0, 1, 2)))
        vars2.append(h.var(axis=(0, 1, 2)))
    np.testing.assert_allclose(first.moving_mean.numpy(), np.mean(means1, axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(first.moving_variance.numpy(), np.mean(vars1, axis=0), rtol=1e-4)
    np.testing.assert_allclose(second.moving_mean.numpy(), np.mean(means2, axis=0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(second.moving_variance.numpy(), np.mean(vars2, axis=0), rtol=1e-4)
    assert (first.momentum, second.momentum) == (0.9, 0.5)
    assert isinstance(first.momentum, float)


def test_the_traced_recalibration_does_not_keep_the_model_alive():
    import gc
    import weakref

    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, FusedBatchNormalization()(inputs))
    recalibrate_batchnorm(model, np.ones((8, 4, 4, 1), "float32"), batches=2, batch_size=4)
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None
