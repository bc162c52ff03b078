"""CBAM: convolutional block attention module, for comparison. [CBAM]

Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018
(arXiv:1807.06521): channel gate `σ(MLP(AvgPool X) + MLP(MaxPool X))` with a
shared MLP, then a spatial gate `σ(conv7x7([mean_c X'; max_c X']))`, applied
in that order.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from tal.core.layers.base import AttentionLayer, check_positive_int, feature_map_shape, hidden_units


@keras.saving.register_keras_serializable(package="tal")
class CBAM(AttentionLayer):
    """Channel then spatial attention (Woo et al. 2018).

    Args:
        reduction_ratio: reduction `r` of the shared channel MLP.
        min_hidden: lower bound on the MLP's hidden width.
        kernel_size: size of the spatial convolution (7 in the paper).

    Call arguments:
        x: features `(B, H, W, K)`.
        return_attention_maps: if True, also return
            `{"channel_gate": (B, K), "spatial": (B, H, W)}`.

    Input shape: `(B, H, W, K)`. Output shape: same as input.

    Example:
    >>> y = CBAM(reduction_ratio=4)(keras.ops.ones((2, 7, 7, 32)))
    >>> tuple(y.shape)
    (2, 7, 7, 32)
    """

    def __init__(self, reduction_ratio=16, min_hidden=8, kernel_size=7, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("reduction_ratio", reduction_ratio)
        check_positive_int("min_hidden", min_hidden)
        check_positive_int("kernel_size", kernel_size)
        self.reduction_ratio = reduction_ratio
        self.min_hidden = min_hidden
        self.kernel_size = kernel_size

    def build(self, input_shape):
        batch, height, width, channels = feature_map_shape(self, input_shape)
        hidden = hidden_units(channels, self.reduction_ratio, self.min_hidden)
        self.mlp_hidden = layers.Dense(hidden, activation="relu", name="mlp_hidden")
        self.mlp_out = layers.Dense(channels, name="mlp_out")
        self.spatial_conv = layers.Conv2D(
            1, self.kernel_size, padding="same", activation="sigmoid", name="spatial_conv"
        )
        self.mlp_hidden.build((batch, channels))
        self.mlp_out.build((batch, hidden))
        self.spatial_conv.build((batch, height, width, 2))

    def call(self, x, return_attention_maps=False):
        avg = self.mlp_out(self.mlp_hidden(ops.mean(x, axis=(1, 2))))
        peak = self.mlp_out(self.mlp_hidden(ops.max(x, axis=(1, 2))))
        channel_gate = ops.sigmoid(avg + peak)
        refined = x * channel_gate[:, None, None, :]
        pooled = ops.concatenate(
            [ops.mean(refined, axis=-1, keepdims=True), ops.max(refined, axis=-1, keepdims=True)], axis=-1
        )
        spatial = self.spatial_conv(pooled)[..., 0]
        out = refined * spatial[..., None]
        if return_attention_maps:
            return out, {"channel_gate": channel_gate, "spatial": spatial}
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "reduction_ratio": self.reduction_ratio,
            "min_hidden": self.min_hidden,
            "kernel_size": self.kernel_size,
        }
