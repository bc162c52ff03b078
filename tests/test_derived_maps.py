"""The maps derived from A and S, with hand-computed numbers."""
from __future__ import annotations

import numpy as np
from tal.core import derived_maps


def _maps():
    # one image, a 1×2 grid, two classes: A sums to 1 over positions for each class
    A = np.array([[[[0.25, 1.0], [0.75, 0.0]]]])  # (1, 1, 2, 2)
    S = np.array([[[[2.0, -1.0], [0.0, 3.0]]]])
    return A, S


def test_contribution_and_score_by_hand():
    A, S = _maps()
    np.testing.assert_allclose(derived_maps.contribution(A, S)[0, 0], [[0.5, -1.0], [0.0, 0.0]])
    # class 0: 0.25·2 + 0.75·0 = 0.5; class 1: 1·(−1) + 0·3 = −1
    np.testing.assert_allclose(derived_maps.auxiliary_score(A, S), [[0.5, -1.0]])
    # a timeline's (T, P, H, W, C) arrays sum over the same two grid axes
    np.testing.assert_allclose(derived_maps.auxiliary_score(A[None], S[None]), [[[0.5, -1.0]]])


def test_weighted_attention_by_hand():
    A, S = _maps()
    U = derived_maps.weighted_attention(A, S)[0, 0]
    # σ(2) = 0.880797, σ(−1) = 0.268941, σ(0) = 0.5, σ(3) = 0.952574
    np.testing.assert_allclose(U, [[0.25 * 0.880797, 0.268941], [0.375, 0.0]], atol=1e-6)


def test_with_derived_fills_only_what_is_missing():
    A, S = _maps()
    given = np.zeros_like(A)
    out = derived_maps.with_derived({"A": A, "S": S, "U": given}, ["A", "S", "AS", "U", "M"])
    assert out["U"] is given and "M" not in out
    np.testing.assert_allclose(out["AS"], A * S)
    assert derived_maps.with_derived({"A": A}, ["AS"]) == {"A": A}  # no S: nothing to derive


def test_the_layer_and_the_numpy_twins_agree():
    from tal.core.layers.element import ElementWiseAttention

    layer = ElementWiseAttention(num_classes=3, width=4)
    x = np.random.default_rng(0).normal(size=(2, 4, 4, 5)).astype("float32")
    _, maps = layer(x, return_attention_maps=True)
    A, S = np.asarray(maps["A"]), np.asarray(maps["S"])
    np.testing.assert_allclose(derived_maps.weighted_attention(A, S), np.asarray(maps["U"]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(derived_maps.auxiliary_score(A, S), np.asarray(maps["score"]), rtol=1e-4, atol=1e-5)
