"""Hand-computed checks of the literature zoo's attention layers on tiny inputs."""
from __future__ import annotations

import keras
import numpy as np
import pytest

from tal.core.layers import (
    DANet,
    EfficientChannelAttention,
    LearnToPayAttention,
    NonLocalBlock,
    PositionSelfAttention,
    SpatialWeights,
    create_attention,
    query_attention,
)
from tal.core.layers.eca import adaptive_kernel_size
from backend import gradient

RNG = np.random.default_rng(7)
X = RNG.normal(size=(1, 2, 3, 4)).astype("float32")  # (B, H, W, K): N = 6 positions, K = 4 channels


def relu(x):
    return np.maximum(x, 0.0)


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def randomize(layer, seed=0, scale=0.5):
    """Replace every weight of a built layer by seeded normal values (zero-init weights included)."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(size=w.shape).astype("float32") * scale for w in layer.get_weights()])


def conv1x1(x, conv):
    kernel, bias = conv.get_weights()
    return x @ kernel[0, 0] + bias


# ---------------------------------------------------------------- spatial weights

def test_spatial_weights_hand_computed_with_relu_after_every_conv():
    # x channels (x0, x1) at the four positions; h = ReLU(x0 - x1), W = ReLU(2h - 1)
    x = np.array([[3, 1], [1, 1], [0, 2], [2, 0]], "float32").reshape(1, 2, 2, 2)
    layer = SpatialWeights(width=1, num_convs=2)
    layer.build(x.shape)
    layer.convs[0].set_weights([np.array([1.0, -1.0]).reshape(1, 1, 2, 1), np.zeros(1)])
    layer.convs[1].set_weights([np.array([2.0]).reshape(1, 1, 1, 1), np.array([-1.0])])
    out, maps = layer(x, return_attention_maps=True)
    # h = (2, 0, 0, 2) -> 2h - 1 = (3, -1, -1, 3) -> W = (3, 0, 0, 3): the last ReLU clips to 0
    np.testing.assert_allclose(np.asarray(maps["weights"]).ravel(), [3, 0, 0, 3])
    np.testing.assert_allclose(np.asarray(out), x * np.array([3, 0, 0, 3]).reshape(1, 2, 2, 1))


def test_spatial_weights_chain_matches_numpy_and_starts_near_one():
    layer = SpatialWeights()  # width None -> K hidden channels, three convolutions
    x = np.abs(X)
    out, maps = layer(x, return_attention_maps=True)
    assert [c.filters for c in layer.convs] == [4, 4, 1]
    # paper initialisation: last bias 1, tiny weights -> W ~ 1, the block starts close to identity
    np.testing.assert_allclose(np.asarray(maps["weights"]), 1.0, atol=0.01)
    randomize(layer, seed=1)
    layer.convs[2].bias.assign([0.3])  # keep the map positive, so the check is not of zeros
    out, maps = layer(x, return_attention_maps=True)
    assert np.asarray(maps["weights"]).min() > 0.1
    w = relu(conv1x1(relu(conv1x1(relu(conv1x1(x, layer.convs[0])), layer.convs[1])), layer.convs[2]))[..., 0]
    np.testing.assert_allclose(np.asarray(maps["weights"]), w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(out), x * w[..., None], rtol=1e-5, atol=1e-6)


def test_spatial_weights_gradient_to_the_map_is_divided_by_channels():
    x = keras.ops.convert_to_tensor(np.abs(X))
    grads = {}
    for normalize in (True, False):
        layer = SpatialWeights(width=3, normalize_gradient=normalize)
        layer.build(x.shape)
        randomize(layer, seed=2)
        layer.convs[-1].bias.assign([2.0])  # keep the last ReLU active
        grads[normalize] = gradient(lambda: keras.ops.sum(layer(x)), layer.convs[-1].bias)
    assert abs(grads[False][0]) > 1e-3
    np.testing.assert_allclose(grads[True], grads[False] / 4, rtol=1e-5)


# ---------------------------------------------------------------- DANet

def test_danet_channel_affinity_hand_computed():
    # two positions p1 = (1, 0), p2 = (1, 1): E = X Xᵀ = [[2, 1], [1, 1]]
    x = np.array([[1, 0], [1, 1]], "float32").reshape(1, 1, 2, 2)
    _, maps = DANet(reduction_ratio=2)(x, return_attention_maps=True)
    # max_minus: row 0 -> softmax(0, 1), row 1 -> softmax(0, 0)
    np.testing.assert_allclose(np.asarray(maps["channel_affinity"])[0], [[0.268941, 0.731059], [0.5, 0.5]], rtol=1e-5)
    _, maps = DANet(reduction_ratio=2, channel_softmax="plain")(x, return_attention_maps=True)
    np.testing.assert_allclose(np.asarray(maps["channel_affinity"])[0], [[0.731059, 0.268941], [0.5, 0.5]], rtol=1e-5)


def test_danet_starts_as_identity_and_matches_numpy_with_gammas_set():
    layer = DANet(reduction_ratio=2)
    np.testing.assert_array_equal(np.asarray(layer(X)), X)  # γ_p = γ_c = 0
    assert layer.query.filters == 2
    randomize(layer, seed=3)
    layer.gamma_position.assign(0.7)
    layer.gamma_channel.assign(-0.3)
    out, maps = layer(X, return_attention_maps=True)
    flat = X.reshape(1, 6, 4)
    q, k, v = (conv1x1(X, c).reshape(1, 6, -1) for c in (layer.query, layer.key, layer.value))
    position = softmax(q @ k.transpose(0, 2, 1))
    energy = flat.transpose(0, 2, 1) @ flat
    channel = softmax(energy.max(-1, keepdims=True) - energy)
    np.testing.assert_allclose(channel, softmax(-energy), rtol=1e-5)  # the code's form is softmax(-E)
    expected = flat + 0.7 * (position @ v) + (-0.3) * (flat @ channel.transpose(0, 2, 1))
    np.testing.assert_allclose(np.asarray(maps["position_attention"]), position, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(maps["channel_affinity"]), channel, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(out), expected.reshape(X.shape), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(maps["position_attention"]).sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(maps["channel_affinity"]).sum(-1), 1.0, rtol=1e-6)


def test_query_attention_draws_one_row_on_the_grid():
    attention = softmax(RNG.normal(size=(2, 6, 6)))
    by_index = np.asarray(query_attention(attention, 4, 2, 3))
    by_cell = np.asarray(query_attention(attention, (1, 1), 2, 3))
    np.testing.assert_allclose(by_index, attention[:, 4].reshape(2, 2, 3), rtol=1e-6)
    np.testing.assert_allclose(by_cell, by_index)
    heads = np.stack([attention, attention[:, ::-1]], axis=1)  # (B, heads, N, N)
    np.testing.assert_allclose(np.asarray(query_attention(heads, 4, 2, 3, head=1)), heads[:, 1, 4].reshape(2, 2, 3))
    np.testing.assert_allclose(
        np.asarray(query_attention(heads, 4, 2, 3)), heads[:, :, 4].mean(1).reshape(2, 2, 3), rtol=1e-6
    )
    with pytest.raises(ValueError, match="query_index=6"):
        query_attention(attention, 6, 2, 3)
    with pytest.raises(ValueError, match=r"query_index=\(2, 0\)"):
        query_attention(attention, (2, 0), 2, 3)
    with pytest.raises(ValueError, match="height=3, width=3"):
        query_attention(attention, 0, 3, 3)


# ---------------------------------------------------------------- non-local

def test_nonlocal_starts_as_identity_and_matches_numpy():
    layer = NonLocalBlock()
    np.testing.assert_array_equal(np.asarray(layer(X)), X)  # W_z initialised to zero
    assert layer.theta.filters == 2  # K // 2
    randomize(layer, seed=4)
    out, maps = layer(X, return_attention_maps=True)
    theta, phi, g = (conv1x1(X, c).reshape(1, 6, 2) for c in (layer.theta, layer.phi, layer.g))
    f = softmax(theta @ phi.transpose(0, 2, 1))
    z = conv1x1((f @ g).reshape(1, 2, 3, 2), layer.w_z) + X
    np.testing.assert_allclose(np.asarray(maps["attention"]), f, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(maps["attention"]).sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out), z, rtol=1e-4, atol=1e-5)


def test_nonlocal_inner_dim_sets_the_bottleneck():
    layer = NonLocalBlock(inner_dim=3)
    layer(X)
    assert [c.filters for c in (layer.theta, layer.phi, layer.g, layer.w_z)] == [3, 3, 3, 4]


# ---------------------------------------------------------------- learn to pay attention

L1 = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], "float32").reshape(1, 2, 2, 2)


def test_pay_attention_dot_product_hand_computed():
    g = np.array([[1.0, 2.0]], "float32")
    out, maps = LearnToPayAttention("dp")([L1, g], return_attention_maps=True)
    # c = <l_i, g> = (1, 2, 3, 0); a = softmax(c); g_a = (a0 + a2, a1 + a2) = (σ(1), σ(2))
    a = [0.0871443, 0.2368828, 0.6439143, 0.0320586]
    np.testing.assert_allclose(np.asarray(maps["stage_1"]).ravel(), a, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out)[0], [0.7310586, 0.8807971], rtol=1e-5)
    # a global *map* is averaged over positions first: same result
    g_map = np.array([[0.0, 1.0], [2.0, 3.0]], "float32").reshape(1, 1, 2, 2)  # mean (1, 2)
    np.testing.assert_allclose(np.asarray(LearnToPayAttention("dp")([L1, g_map])), np.asarray(out), rtol=1e-6)


def test_pay_attention_parametrised_compatibility_hand_computed():
    g = np.array([[1.0, 2.0]], "float32")
    layer = LearnToPayAttention("pc")
    layer.build([L1.shape, g.shape])
    assert layer.projections == [None]  # same size: no projection of g
    layer.scorers[0].set_weights([np.array([1.0, -1.0]).reshape(1, 1, 2, 1)])  # u = (1, -1)
    out, maps = layer([L1, g], return_attention_maps=True)
    # c_i = <u, l_i + g> = (l_i0 - l_i1) - 1 = (0, -2, -1, -1)
    a = softmax(np.array([0.0, -2.0, -1.0, -1.0]))
    np.testing.assert_allclose(np.asarray(maps["stage_1"]).ravel(), a, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(out)[0], a @ L1.reshape(4, 2), rtol=1e-5)


@pytest.mark.parametrize("compatibility", ["pc", "dp"])
def test_pay_attention_projects_g_per_stage_and_concatenates(compatibility):
    l1 = RNG.normal(size=(2, 4, 4, 3)).astype("float32")
    l2 = RNG.normal(size=(2, 2, 2, 5)).astype("float32")
    big_g = RNG.normal(size=(2, 2, 2, 5)).astype("float32")
    layer = LearnToPayAttention(compatibility)
    out, maps = layer([l1, l2, big_g], return_attention_maps=True)
    assert out.shape == (2, 8) and layer.projections[1] is None  # K_2 == K_g: no projection
    g = big_g.mean(axis=(1, 2))
    expected = []
    for k, (local, projection, scorer) in enumerate(zip((l1, l2), layer.projections, layer.scorers), start=1):
        g_k = g if projection is None else g @ projection.get_weights()[0] + projection.get_weights()[1]
        if compatibility == "dp":
            c = (local * g_k[:, None, None, :]).sum(-1)
        else:
            c = ((local + g_k[:, None, None, :]) @ scorer.get_weights()[0][0, 0])[..., 0]
        a = softmax(c.reshape(2, -1))
        np.testing.assert_allclose(np.asarray(maps[f"stage_{k}"]).reshape(2, -1), a, rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(np.asarray(maps[f"stage_{k}"]).sum(axis=(1, 2)), 1.0, rtol=1e-6)
        expected.append(np.einsum("bn,bnc->bc", a, local.reshape(2, a.shape[1], -1)))
    np.testing.assert_allclose(np.asarray(out), np.concatenate(expected, -1), rtol=1e-4, atol=1e-6)


def test_pay_attention_rejects_a_single_tensor():
    with pytest.raises(ValueError, match="list"):
        LearnToPayAttention()(X)


# ---------------------------------------------------------------- multi-head self-attention

def _tokens(layer, x):
    flat = x.reshape(x.shape[0], -1, x.shape[-1])
    return flat + np.asarray(layer.position_embedding)[None] if layer.positional_embedding else flat


def test_mhsa_dot_matches_numpy_with_the_keras_sublayer_weights():
    layer = PositionSelfAttention(num_heads=2, key_dim=3)
    out, maps = layer(X, return_attention_maps=True)
    wq, bq, wk, bk, wv, bv, wo, bo = layer.attention.get_weights()
    t = _tokens(layer, X)[0]  # (N, K)
    q, k, v = (np.einsum("nk,khd->nhd", t, w) + b for w, b in ((wq, bq), (wk, bk), (wv, bv)))
    heads = softmax(np.einsum("nhd,mhd->hnm", q, k) / np.sqrt(3))
    attended = np.einsum("nhd,hdk->nk", np.einsum("hnm,mhd->nhd", heads, v), wo) + bo
    assert maps["heads"].shape == (1, 2, 6, 6)
    np.testing.assert_allclose(np.asarray(maps["heads"])[0], heads, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(maps["heads"]).sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out), X + attended.reshape(X.shape), rtol=1e-4, atol=1e-5)


def test_mhsa_additive_matches_numpy():
    layer = PositionSelfAttention(num_heads=2, key_dim=3, score="additive")
    layer.build(X.shape)
    randomize(layer, seed=5)
    out, maps = layer(X, return_attention_maps=True)
    t = _tokens(layer, X)[0]
    (wq, bq), (wk, bk), (wv, bv) = (d.get_weights() for d in (layer.query, layer.key, layer.value))
    wo, bo = layer.attention_output.get_weights()
    u = np.asarray(layer.score_vector)  # (heads, d)
    q, k, v = (np.einsum("nk,khd->nhd", t, w) + b for w, b in ((wq, bq), (wk, bk), (wv, bv)))
    scores = np.einsum("nmhd,hd->hnm", np.tanh(q[:, None] + k[None, :]), u)  # vᵀ tanh(W_q x_i + W_k x_j)
    heads = softmax(scores)
    attended = np.einsum("nhd,hdk->nk", np.einsum("hnm,mhd->nhd", heads, v), wo) + bo
    np.testing.assert_allclose(np.asarray(maps["heads"])[0], heads, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(np.asarray(out), X + attended.reshape(X.shape), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("score", ["dot", "additive"])
def test_mhsa_without_positions_is_permutation_equivariant(score):
    layer = PositionSelfAttention(num_heads=1, key_dim=2, score=score, positional_embedding=False)
    perm = np.array([5, 0, 3, 1, 4, 2])
    shuffled = X.reshape(1, 6, 4)[:, perm].reshape(X.shape)
    out = np.asarray(layer(X)).reshape(1, 6, 4)
    np.testing.assert_allclose(np.asarray(layer(shuffled)).reshape(1, 6, 4), out[:, perm], rtol=1e-5, atol=1e-6)
    assert not hasattr(layer, "position_embedding")


# ---------------------------------------------------------------- ECA

def test_eca_adaptive_kernel_size_follows_the_paper():
    # k = |(log2 K + 1) / 2|_odd: 16 → 2.5 → 2 → 3; 64 → 3.5 → 3; 128 → 4 → 5; 512 → 5
    assert [adaptive_kernel_size(k) for k in (16, 32, 64, 128, 256, 512)] == [3, 3, 3, 5, 5, 5]


def test_eca_gate_hand_computed_with_zero_padding():
    x = np.zeros((1, 1, 2, 4), "float32")
    x[0, 0, 0] = [1.0, 2.0, 3.0, 4.0]
    x[0, 0, 1] = [3.0, 2.0, 1.0, 0.0]  # pooled y = [2, 2, 2, 2]
    layer = EfficientChannelAttention(kernel_size=3)
    layer.build(x.shape)
    layer.conv.kernel.assign(np.array([0.5, -1.0, 2.0], "float32").reshape(3, 1, 1))
    out, maps = layer(x, return_attention_maps=True)
    # ω_c = σ(0.5·y_{c-1} − 1·y_c + 2·y_{c+1}), y outside the channels = 0
    logits = np.array([-2 + 4, 1 - 2 + 4, 1 - 2 + 4, 1 - 2], "float32")
    gate = 1 / (1 + np.exp(-logits))
    np.testing.assert_allclose(np.asarray(maps["gate"])[0], gate, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(out), x * gate, rtol=1e-6)


# ---------------------------------------------------------------- argument checks
# (building, shapes, maps, get_config and save/load of every module: tests/test_catalogue.py)

@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SpatialWeights(width=0), "width=0"),
        (lambda: SpatialWeights(num_convs=1.5), "num_convs=1.5"),
        (lambda: SpatialWeights(normalize_gradient="yes"), "normalize_gradient='yes'"),
        (lambda: DANet(reduction_ratio=0), "reduction_ratio=0"),
        (lambda: DANet(channel_softmax="softmax"), "channel_softmax='softmax'"),
        (lambda: NonLocalBlock(inner_dim=-2), "inner_dim=-2"),
        (lambda: LearnToPayAttention(compatibility="cosine"), "compatibility='cosine'"),
        (lambda: PositionSelfAttention(num_heads=0), "num_heads=0"),
        (lambda: PositionSelfAttention(key_dim=True), "key_dim=True"),
        (lambda: PositionSelfAttention(score="luong"), "score='luong'"),
        (lambda: PositionSelfAttention(positional_embedding=1), "positional_embedding=1"),
        (lambda: EfficientChannelAttention(kernel_size=4), "kernel_size=4"),
        (lambda: EfficientChannelAttention(gamma=0), "gamma=0"),
    ],
)
def test_invalid_arguments_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("kind", ["danet", "nonlocal", "mhsa"])
def test_attention_over_positions_needs_a_static_grid(kind):
    with pytest.raises(ValueError, match="static height and width"):
        create_attention(kind)(keras.Input((None, None, 4)))
