"""Channel-wise attention: squeeze-and-excitation. [A3Net] [SE]

Hu et al., "Squeeze-and-Excitation Networks", arXiv:1709.01507; A3Net uses it
as its channel-wise module. `z = GAP(X)`, `g = σ(W2·ReLU(W1·z + b1) + b2)`,
output `X ⊙ g` broadcast over height and width.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from tal.core.layers.base import AttentionLayer, check_positive_int, feature_map_shape, hidden_units


@keras.saving.register_keras_serializable(package="tal")
class ChannelAttention(AttentionLayer):
    """Squeeze-and-excitation channel gate.

    Args:
        reduction_ratio: bottleneck reduction `r`; the hidden layer has
            `max(K // r, min_hidden)` units. Default 16 as in the SE paper
            (KerasCV's layer defaults to 4).
        min_hidden: lower bound on the hidden width, so narrow MNIST
            backbones keep a usable bottleneck.

    Call arguments:
        x: features `(B, H, W, K)`.
        return_attention_maps: if True, also return `{"gate": (B, K)}`.
        gate_one: what-if: the gate is 1 for every channel (the input passes unchanged).

    Input shape: `(B, H, W, K)`. Output shape: same as input.

    Example:
    >>> layer = ChannelAttention(reduction_ratio=4)
    >>> y, maps = layer(keras.ops.ones((2, 7, 7, 32)), return_attention_maps=True)
    >>> tuple(maps["gate"].shape)
    (2, 32)
    """

    def __init__(self, reduction_ratio=16, min_hidden=8, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("reduction_ratio", reduction_ratio)
        check_positive_int("min_hidden", min_hidden)
        self.reduction_ratio = reduction_ratio
        self.min_hidden = min_hidden

    def build(self, input_shape):
        channels = feature_map_shape(self, input_shape)[-1]
        hidden = hidden_units(channels, self.reduction_ratio, self.min_hidden)
        self.squeeze = layers.Dense(hidden, activation="relu", name="squeeze")
        self.excite = layers.Dense(channels, activation="sigmoid", name="excite")
        self.squeeze.build((input_shape[0], channels))
        self.excite.build((input_shape[0], hidden))

    def call(self, x, return_attention_maps=False, gate_one=False):
        gate = self.excite(self.squeeze(ops.mean(x, axis=(1, 2))))
        if gate_one:  # what-if: every channel passes unchanged
            gate = ops.ones_like(gate)
        out = x * gate[:, None, None, :]
        if return_attention_maps:
            return out, {"gate": gate}
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "reduction_ratio": self.reduction_ratio,
            "min_hidden": self.min_hidden,
        }
