"""ECA: efficient channel attention, a gate without a bottleneck. [ECA]

Wang et al., "ECA-Net: Efficient Channel Attention for Deep Convolutional
Neural Networks", CVPR 2020 (arXiv:1910.03151). Where squeeze-and-excitation
maps the pooled channels through a two-layer bottleneck, ECA lets each
channel's gate see only its `k` neighbours: `y = GAP(X)`,
`ω = σ(conv1d_k(y))` (one kernel shared by all channels, no bias, zero
padding), output `X ⊙ ω`. The kernel size grows with the channel count:
`k = |(log2 K + b) / γ|_odd` with `γ = 2`, `b = 1` (as in the authors' code,
BangguWu/ECANet: the integer part, raised to the next odd number).
"""
from __future__ import annotations

import math

import keras
from keras import layers, ops

from tal.core.layers.base import AttentionLayer, check_positive_int, feature_map_shape


def adaptive_kernel_size(channels: int, gamma: int = 2, b: int = 1) -> int:
    """ECA's `k = |(log2 K + b) / γ|_odd`: e.g. 3 for 16 to 64 channels, 5 for 128 to 256."""
    t = int(abs((math.log2(channels) + b) / gamma))
    return t if t % 2 else t + 1


@keras.saving.register_keras_serializable(package="tal")
class EfficientChannelAttention(AttentionLayer):
    """Channel gate from a 1-D convolution across the pooled channels.

    Args:
        kernel_size: odd size `k` of the convolution across channels; `None`
            (default) picks it from the channel count as the paper does.
        gamma, b: the paper's constants of the adaptive kernel size (2 and 1).

    Call arguments:
        x: features `(B, H, W, K)`.
        return_attention_maps: if True, also return `{"gate": (B, K)}`.

    Input shape: `(B, H, W, K)`. Output shape: same as input.

    Example:
    >>> layer = EfficientChannelAttention()
    >>> y, maps = layer(keras.ops.ones((2, 7, 7, 64)), return_attention_maps=True)
    >>> tuple(maps["gate"].shape), layer.conv.kernel_size
    ((2, 64), (3,))
    """

    def __init__(self, kernel_size=None, gamma=2, b=1, **kwargs):
        super().__init__(**kwargs)
        if kernel_size is not None:
            check_positive_int("kernel_size", kernel_size)
            if kernel_size % 2 == 0:
                raise ValueError(f"Expected an odd kernel_size. Received: kernel_size={kernel_size}")
        check_positive_int("gamma", gamma)
        if not isinstance(b, int) or isinstance(b, bool) or b < 0:
            raise ValueError(f"Expected an integer b >= 0. Received: b={b!r}")
        self.kernel_size = kernel_size
        self.gamma = gamma
        self.b = b

    def build(self, input_shape):
        channels = feature_map_shape(self, input_shape)[-1]
        k = self.kernel_size or adaptive_kernel_size(channels, self.gamma, self.b)
        self.conv = layers.Conv1D(1, k, padding="same", use_bias=False, name="conv")
        self.conv.build((input_shape[0], channels, 1))

    def call(self, x, return_attention_maps=False):
        pooled = ops.mean(x, axis=(1, 2))  # (B, K)
        gate = ops.sigmoid(self.conv(pooled[:, :, None])[:, :, 0])
        out = x * gate[:, None, None, :]
        if return_attention_maps:
            return out, {"gate": gate}
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kernel_size": self.kernel_size, "gamma": self.gamma, "b": self.b}
