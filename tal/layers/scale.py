"""Scale-wise attention: re-weight features from several backbone stages.

[A3Net] names the idea (attention over features of different scales); the
exact form here is [ours]: `P_k = ReLU(BN(conv1x1(D)(AvgPool(F_k))))` on the
last stage's grid, `s = GAP(Σ_k P_k)`,
`w = softmax_k(Dense(n)(ReLU(Dense(D/r)(s))))`, output `Σ_k w_k · P_k` —
a selective-kernel style fusion with one weight per stage and image.
DESIGN §1 pools after the projection; pooling first is the same linear map
up to the BN/ReLU order and costs (H_k/H_n)² times less on fine stages.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from tal.layers.base import AttentionLayer, check_positive_int, hidden_units


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
        self.projections, self.pools = [], []
        for k, shape in enumerate(input_shape):
            factor = shape[1] // final_h
            if shape[1] % final_h or shape[2] % final_w or shape[1] // final_h != shape[2] // final_w:
                raise ValueError(
                    "Each stage's size must be an integer multiple of the last stage's. "
                    f"Received: stage {k} is {shape[1]}x{shape[2]}, last stage is {final_h}x{final_w}"
                )
            proj = layers.Conv2D(self.dim, 1, use_bias=False, name=f"project_{k}")
            proj.build((shape[0], final_h, final_w, shape[3]))
            self.projections.append(proj)
            self.pools.append(factor)
        n = len(input_shape)
        # One BatchNorm over the concatenated projections: per-channel statistics,
        # so identical to one BatchNorm per stage, at a third of the op count.
        self.norm = layers.BatchNormalization(momentum=self.bn_momentum, name="norm")
        self.norm.build((input_shape[-1][0], final_h, final_w, n * self.dim))
        self.squeeze = layers.Dense(
            hidden_units(self.dim, self.reduction_ratio, self.min_hidden), activation="relu", name="squeeze"
        )
        self.logits = layers.Dense(n, name="stage_logits")
        self.squeeze.build((None, self.dim))
        self.logits.build((None, self.squeeze.units))

    def call(self, x, return_attention_maps=False, training=None):
        projected = []
        for feature, proj, factor in zip(x, self.projections, self.pools):
            if factor > 1:
                feature = ops.average_pool(feature, pool_size=factor, strides=factor, padding="valid")
            projected.append(proj(feature))
        normed = ops.relu(self.norm(ops.concatenate(projected, axis=-1), training=training))
        _, height, width, _ = normed.shape
        stacked = ops.reshape(normed, (-1, height, width, len(x), self.dim))  # (B, H, W, n, D)
        summary = ops.mean(ops.sum(stacked, axis=3), axis=(1, 2))
        weights = ops.softmax(self.logits(self.squeeze(summary)), axis=-1)
        out = ops.sum(stacked * weights[:, None, None, :, None], axis=3)
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
