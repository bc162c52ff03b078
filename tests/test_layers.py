"""Hand-computed checks of every attention layer on tiny inputs."""
from __future__ import annotations


import keras
import numpy as np
import pytest

from tal.core.layers import (
    CBAM,
    ChannelAttention,
    ElementWiseAttention,
    ScaleAttention,
    available_attention,
    create_attention,
    spatial_softmax,
)
from tal.core.layers.base import pointwise


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def relu(x):
    return np.maximum(x, 0.0)


# ---------------------------------------------------------------- spatial softmax

def test_pointwise_matches_the_1x1_convolution_it_replaces():
    x = np.random.default_rng(7).normal(size=(2, 3, 3, 5)).astype("float32")
    conv = keras.layers.Conv2D(4, 1, activation="relu")
    conv.build(x.shape)
    conv.set_weights([np.arange(20, dtype="float32").reshape(1, 1, 5, 4) / 10 - 1, np.array([0.5, -0.5, 0, 1], "float32")])
    np.testing.assert_allclose(np.asarray(pointwise(conv, x)), np.asarray(conv(x)), rtol=1e-5, atol=1e-6)
    by_hand = np.maximum(x @ conv.get_weights()[0][0, 0] + conv.get_weights()[1], 0)
    np.testing.assert_allclose(np.asarray(pointwise(conv, x)), by_hand, rtol=1e-5, atol=1e-6)


def test_spatial_softmax_hand_computed():
    # exp(log 1..4) = 1, 2, 3, 4 over the 2x2 grid -> 0.1, 0.2, 0.3, 0.4
    logits = np.log(np.array([1.0, 2.0, 3.0, 4.0], dtype="float32")).reshape(1, 2, 2, 1)
    a = np.asarray(spatial_softmax(logits))
    np.testing.assert_allclose(a.ravel(), [0.1, 0.2, 0.3, 0.4], rtol=1e-6)


def test_spatial_softmax_sums_to_one_per_class_not_per_pixel():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 5, 4, 7)).astype("float32") * 3
    a = np.asarray(spatial_softmax(z))
    np.testing.assert_allclose(a.sum(axis=(1, 2)), np.ones((3, 7)), rtol=1e-5)
    # the wrong (per-pixel, over classes) softmax would sum to 1 over the last axis instead
    assert not np.allclose(a.sum(axis=-1), 1.0)


# ---------------------------------------------------------------- element-wise

def _hand_element_layer(feature_mode="residual"):
    """E has one channel; C = 2 classes; width 1. Weights set so that
    Z_0 = E, Z_1 = -E (for E >= 0), S_0 = 2E, S_1 = E + 1."""
    layer = ElementWiseAttention(num_classes=2, width=1, feature_mode=feature_mode)
    layer.build((None, 2, 2, 1))
    layer.estimator_in.set_weights([np.ones((1, 1, 1, 1)), np.zeros(1)])
    mid = np.zeros((3, 3, 1, 1))
    mid[1, 1] = 1.0  # identity 3x3
    layer.estimator_mid.set_weights([mid, np.zeros(1)])
    layer.estimator_out.set_weights([np.array([1.0, -1.0]).reshape(1, 1, 1, 2), np.zeros(2)])
    layer.confidence.set_weights([np.array([2.0, 1.0]).reshape(1, 1, 1, 2), np.array([0.0, 1.0])])
    return layer


E = np.array([[0.0, 1.0], [2.0, 3.0]], dtype="float32").reshape(1, 2, 2, 1)


def test_element_maps_and_score_hand_computed():
    layer = _hand_element_layer()
    (features, score), maps = layer(E, return_attention_maps=True)
    # A_0 = softmax(0, 1, 2, 3); A_1 = softmax(0, -1, -2, -3), worked out by hand
    a0 = [0.0320586, 0.0871443, 0.2368828, 0.6439143]
    a1 = [0.6439143, 0.2368828, 0.0871443, 0.0320586]
    np.testing.assert_allclose(np.asarray(maps["A"])[0, ..., 0].ravel(), a0, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(maps["A"])[0, ..., 1].ravel(), a1, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(maps["S"])[0, ..., 0].ravel(), [0, 2, 4, 6], rtol=1e-6)
    np.testing.assert_allclose(np.asarray(maps["S"])[0, ..., 1].ravel(), [1, 2, 3, 4], rtol=1e-6)
    # score_0 = 2·(0·a + 1·b + 2·c + 3·d) = 4.985304; score_1 = 1·a' + 2·b' + 3·c' + 4·d' = 1.507348
    np.testing.assert_allclose(np.asarray(score)[0], [4.985304, 1.507348], rtol=1e-5)
    np.testing.assert_allclose(np.asarray(maps["score"]), np.asarray(score), rtol=1e-6)


def test_element_weighted_maps_mask_and_residual_features():
    layer = _hand_element_layer("residual")
    (features, _), maps = layer(E, return_attention_maps=True)
    a = np.asarray(maps["A"])
    s = np.asarray(maps["S"])
    u = sigmoid(s) * a
    np.testing.assert_allclose(np.asarray(maps["U"]), u, rtol=1e-5)
    m = u.sum(-1)
    m = m / m.max()
    np.testing.assert_allclose(np.asarray(maps["M"]), m, rtol=1e-5)
    assert np.asarray(maps["M"]).max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(np.asarray(features), E * (1 + m[..., None]), rtol=1e-5)


def test_element_gate_and_none_modes():
    (gated, _), maps = _hand_element_layer("gate")(E, return_attention_maps=True)
    np.testing.assert_allclose(np.asarray(gated), E * np.asarray(maps["M"])[..., None], rtol=1e-5)
    unchanged, score = _hand_element_layer("none")(E)
    np.testing.assert_allclose(np.asarray(unchanged), E)
    np.testing.assert_allclose(np.asarray(score)[0], [4.985304, 1.507348], rtol=1e-5)


def test_uniform_attention_reduces_to_gap_then_linear():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    layer = ElementWiseAttention(num_classes=3, width=4)
    layer.build(x.shape)
    kernel, bias = layer.estimator_out.get_weights()
    layer.estimator_out.set_weights([np.zeros_like(kernel), np.zeros_like(bias)])  # Z = 0 -> A = 1/(H·W)
    (_, score), maps = layer(x, return_attention_maps=True)
    np.testing.assert_allclose(np.asarray(maps["A"]), np.full((2, 3, 4, 3), 1 / 12), rtol=1e-6)
    w, b = layer.confidence.get_weights()
    expected = x.mean(axis=(1, 2)) @ w[0, 0] + b
    np.testing.assert_allclose(np.asarray(score), expected, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- channel (SE)

def test_channel_gate_matches_numpy_with_layer_weights():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 3, 3, 16)).astype("float32")
    layer = ChannelAttention(reduction_ratio=4, min_hidden=2)
    out, maps = layer(x, return_attention_maps=True)
    w1, b1 = layer.squeeze.get_weights()
    w2, b2 = layer.excite.get_weights()
    assert w1.shape == (16, 4)  # max(16 // 4, 2)
    gate = sigmoid(relu(x.mean(axis=(1, 2)) @ w1 + b1) @ w2 + b2)
    np.testing.assert_allclose(np.asarray(maps["gate"]), gate, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out), x * gate[:, None, None, :], rtol=1e-5)


def test_channel_min_hidden_bounds_the_bottleneck():
    layer = ChannelAttention(reduction_ratio=16, min_hidden=8)
    layer(np.zeros((1, 2, 2, 32), "float32"))
    assert layer.squeeze.units == 8  # 32 // 16 = 2 < 8


# ---------------------------------------------------------------- CBAM

def _conv_same(x, kernel, bias):
    """NumPy 'same' convolution for (B, H, W, Cin) with kernel (k, k, Cin, Cout)."""
    k = kernel.shape[0]
    p = k // 2
    padded = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            patch = padded[:, i : i + k, j : j + k, :]
            out[:, i, j, :] = np.einsum("bhwc,hwco->bo", patch, kernel)
    return out + bias


def test_cbam_matches_numpy_with_layer_weights():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 6, 8)).astype("float32")
    layer = CBAM(reduction_ratio=2, min_hidden=1, kernel_size=3)
    out, maps = layer(x, return_attention_maps=True)
    w1, b1 = layer.mlp_hidden.get_weights()
    w2, b2 = layer.mlp_out.get_weights()
    mlp = lambda v: relu(v @ w1 + b1) @ w2 + b2  # noqa: E731
    gate = sigmoid(mlp(x.mean(axis=(1, 2))) + mlp(x.max(axis=(1, 2))))
    refined = x * gate[:, None, None, :]
    pooled = np.concatenate([refined.mean(-1, keepdims=True), refined.max(-1, keepdims=True)], -1)
    kernel, bias = layer.spatial_conv.get_weights()
    spatial = sigmoid(_conv_same(pooled, kernel, bias))[..., 0]
    np.testing.assert_allclose(np.asarray(maps["channel_gate"]), gate, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(maps["spatial"]), spatial, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out), refined * spatial[..., None], rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- scale

def test_scale_weights_sum_to_one_and_fuse_as_documented():
    rng = np.random.default_rng(4)
    f1 = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    f2 = rng.normal(size=(2, 4, 4, 5)).astype("float32")
    f3 = rng.normal(size=(2, 2, 2, 6)).astype("float32")
    layer = ScaleAttention(dim=4, reduction_ratio=2, min_hidden=2)
    out, maps = layer([f1, f2, f3], return_attention_maps=True)
    w = np.asarray(maps["weights"])
    assert w.shape == (2, 3)
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-6)

    def avg_pool(f, k):
        b, h, wd, c = f.shape
        return f.reshape(b, h // k, k, wd // k, k, c).mean(axis=(2, 4))

    gamma, beta, mean, var = layer.norm.get_weights()
    rng_bn = np.random.default_rng(5)
    layer.norm.set_weights([gamma + rng_bn.normal(size=4), beta + rng_bn.normal(size=4),
                            mean + rng_bn.normal(size=4), var + rng_bn.random(size=4)])
    gamma, beta, mean, var = layer.norm.get_weights()
    out, maps = layer([f1, f2, f3], return_attention_maps=True)
    w = np.asarray(maps["weights"])
    kernel = layer.projection.get_weights()[0][0, 0]  # (3 + 5 + 6, 4): rows of stage k are W_k
    rows = np.split(kernel, [3, 8])
    projected = [avg_pool(f, k) @ w_k for f, k, w_k in zip((f1, f2, f3), (4, 2, 1), rows)]  # P_k, (2, 2, 2, 4)
    s = sum(projected).mean(axis=(1, 2))
    w1, b1 = layer.squeeze.get_weights()
    w2, b2 = layer.logits.get_weights()
    logits = relu(s @ w1 + b1) @ w2 + b2
    weights = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(w, weights, rtol=1e-5)
    fused = sum(weights[:, k, None, None, None] * projected[k] for k in range(3))
    expected = relu(gamma * (fused - mean) / np.sqrt(var + layer.norm.epsilon) + beta)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-4, atol=1e-5)


def test_scale_rejects_stage_sizes_that_do_not_nest():
    with pytest.raises(ValueError, match="integer multiple"):
        ScaleAttention(dim=4)([np.zeros((1, 6, 6, 2), "float32"), np.zeros((1, 4, 4, 2), "float32")])


# ---------------------------------------------------------------- factory, config, errors

def test_factory_rejects_unknown_kinds_listing_the_valid_ones():
    with pytest.raises(ValueError) as err:
        create_attention("transformer")
    for kind in available_attention():
        assert kind in str(err.value)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ElementWiseAttention(10, feature_mode="mask"), "feature_mode='mask'"),
        (lambda: ElementWiseAttention(0), "num_classes=0"),
        (lambda: ChannelAttention(reduction_ratio=0), "reduction_ratio=0"),
        (lambda: CBAM(kernel_size=-1), "kernel_size=-1"),
        (lambda: ScaleAttention(dim=2.5), "dim=2.5"),
    ],
)
def test_invalid_arguments_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        make()
