"""Scale-wise attention: re-weight features from several backbone stages.

[A3Net] names the idea (attention over features of different scales); the
exact form here is [ours], a selective-kernel style fusion with one weight
per stage and image:

    P_k = W_k · AvgPool(F_k)                  (linear 1x1 projection to D, last stage's grid)
    s   = GAP(Σ_k P_k)
    w   = softmax_k(Dense(n)(ReLU(Dense(D/r)(s))))
    out = ReLU(BN(Σ_k w_k · P_k))

Because the projections are linear, `Σ_k w_k P_k` is one 1x1 projection
(a matmul) of the concatenated, stage-weighted inputs, and `s` needs only
each stage's channel means: the branch costs one projection instead of one
per stage. (An earlier form put BN and ReLU inside each `P_k`, so it needed
one convolution per stage and a BN over n·D channels; the branch's forward
and backward pass took 1.4–1.5× as long: `python bench/scale_forms.py`.)
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from tal.core.batchnorm import FusedBatchNormalization
from tal.core.layers.base import AttentionLayer, check_positive_int, hidden_units, pointwise


@keras.saving.register_keras_serializable(package="tal")
class ScaleAttention(AttentionLayer):
    """Softmax-weighted fusion of backbone stages.

    Args:
        dim: projection width `D` shared by all stages.
        reduction_ratio: bottleneck reduction `r` of the weighting MLP.
        min_hidden: lower bound on the MLP's hidden width.
        bn_momentum: momentum of the projections' batch normalisation (low,
            because short live runs otherwise leave the moving statistics
            far behind the weights).

    Call arguments:
        x: list of stage tensors `[F_1, …, F_n]`, `(B, H_k, W_k, K_k)`, each
            `H_k` an integer multiple of the last stage's height.
        return_attention_maps: if True, also return `{"weights": (B, n)}`.
        uniform_weights: what-if: every stage weighs 1/n.

    Output shape: `(B, H_n, W_n, D)`.

    Example:
    >>> layer = ScaleAttention(dim=32)
    >>> out = layer([keras.ops.ones((2, 14, 14, 16)), keras.ops.ones((2, 7, 7, 32))])
    >>> tuple(out.shape)
    (2, 7, 7, 32)
    """

    def __init__(self, dim, reduction_ratio=16, min_hidden=8, bn_momentum=0.9, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("dim", dim)
        check_positive_int("reduction_ratio", reduction_ratio)
        check_positive_int("min_hidden", min_hidden)
        self.dim = dim
        self.reduction_ratio = reduction_ratio
        self.min_hidden = min_hidden
        self.bn_momentum = bn_momentum

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(
            input_shape[0], (list, tuple)
        ):
            raise ValueError(f"ScaleAttention expects a list of stage tensors. Received: input_shape={input_shape}")
        final_h, final_w = input_shape[-1][1], input_shape[-1][2]
        self.pools, self.stage_channels = [], []
        for k, shape in enumerate(input_shape):
            if shape[1] % final_h or shape[2] % final_w or shape[1] // final_h != shape[2] // final_w:
                raise ValueError(
                    "Each stage's size must be an integer multiple of the last stage's. "
                    f"Received: stage {k} is {shape[1]}x{shape[2]}, last stage is {final_h}x{final_w}"
                )
            self.pools.append(shape[1] // final_h)
            self.stage_channels.append(shape[3])
        # stage_of_channel[k, j] = 1 when stacked channel j belongs to stage k.
        self.stage_of_channel = ops.convert_to_tensor(
            np.repeat(np.eye(len(input_shape), dtype="float32"), self.stage_channels, axis=1)
        )
        # Rows of the kernel are the stages' channels in order: rows of stage k are W_k.
        self.projection = layers.Conv2D(self.dim, 1, use_bias=False, name="project")
        self.projection.build((input_shape[-1][0], final_h, final_w, sum(self.stage_channels)))
        self.norm = FusedBatchNormalization(momentum=self.bn_momentum, name="norm")
        self.norm.build((input_shape[-1][0], final_h, final_w, self.dim))
        self.squeeze = layers.Dense(
            hidden_units(self.dim, self.reduction_ratio, self.min_hidden), activation="relu", name="squeeze"
        )
        self.logits = layers.Dense(len(input_shape), name="stage_logits")
        self.squeeze.build((None, self.dim))
        self.logits.build((None, self.squeeze.units))

    def call(self, x, return_attention_maps=False, training=None, uniform_weights=False):
        pooled = [
            ops.average_pool(feature, pool_size=factor, strides=factor, padding="valid") if factor > 1 else feature
            for feature, factor in zip(x, self.pools)
        ]
        stacked = ops.concatenate(pooled, axis=-1)  # (B, H, W, ΣK)
        # s = GAP(Σ_k W_k pooled_k) = (channel means of the stacked inputs) · W.
        kernel = ops.reshape(self.projection.kernel, (-1, self.dim))
        summary = ops.matmul(ops.mean(stacked, axis=(1, 2)), kernel)
        weights = ops.softmax(self.logits(self.squeeze(summary)), axis=-1)
        if uniform_weights:  # what-if: every stage weighs 1/n, whatever the image
            weights = ops.ones_like(weights) / ops.cast(ops.shape(weights)[-1], weights.dtype)
        # w_k for each of stage k's channels; a matmul with a constant 0/1 matrix
        # because ops.repeat becomes a boolean mask and a gather on TensorFlow.
        per_channel = ops.matmul(weights, self.stage_of_channel)
        fused = pointwise(self.projection, stacked * per_channel[:, None, None, :])
        out = ops.relu(self.norm(fused, training=training))
        if return_attention_maps:
            return out, {"weights": weights}
        return out

    def compute_output_shape(self, input_shape):
        last = input_shape[-1]
        return (last[0], last[1], last[2], self.dim)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "reduction_ratio": self.reduction_ratio,
            "min_hidden": self.min_hidden,
            "bn_momentum": self.bn_momentum,
        }
