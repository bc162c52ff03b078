"""The element-wise branch's maps that follow from `A` and `S`, on arrays already read out of a model.

The layer computes the same quantities in Keras while it runs
(`tal.core.layers.element`); these are their NumPy twins, for maps that come
back from `tal.inspect`, a saved timeline or a figure's input:

* `A⊙S` [SRN]: each position's contribution to the auxiliary logit, so that
  `score_c = Σ_{h,w} (A⊙S)_{h,w,c}`;
* `U = σ(S)⊙A` [SRN]: attention kept where the class is also confident.

Every view of these maps asks here, so the grid, the equation check and the
replay can never disagree on them.
"""
from __future__ import annotations

import numpy as np


def contribution(A, S) -> np.ndarray:
    """`A⊙S`: what each position adds to each class's auxiliary logit (same shape as `A`)."""
    return np.asarray(A) * np.asarray(S)


def weighted_attention(A, S) -> np.ndarray:
    """`U = σ(S)⊙A` (same shape as `A`)."""
    return np.asarray(A) / (1.0 + np.exp(-np.asarray(S)))


def auxiliary_score(A, S) -> np.ndarray:
    """`score_c = Σ_{h,w} A⊙S` of maps `(…, H, W, C)`: the auxiliary logits `(…, C)`."""
    return contribution(A, S).sum(axis=(-3, -2))


_DERIVE = {"AS": contribution, "U": weighted_attention}


def with_derived(maps: dict, keys) -> dict:
    """`maps` with each of `keys` that it lacks ("AS", "U") computed from its `A` and `S`.

    Keys the maps already hold, keys that are not derived maps, and every key
    when `A` or `S` is missing are left as they are. Returns a new dict.
    """
    out = dict(maps)
    if "A" in out and "S" in out:
        for key in keys:
            if key in _DERIVE and key not in out:
                out[key] = _DERIVE[key](out["A"], out["S"])
    return out
