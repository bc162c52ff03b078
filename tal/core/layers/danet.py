"""DANet: position and channel self-attention in parallel. [DANet]

Fu et al., "Dual Attention Network for Scene Segmentation", CVPR 2019
(arXiv:1809.02983). Verified against the authors' code (junfu1115/DANet,
`encoding/nn/da_att.py`); below `X` is `(K, N)` per image, `N = H·W`:
- Position attention (PAM): `Q = conv1x1(K/r)(X)`, `Kq = conv1x1(K/r)(X)`
  (r = 8 in the code), `V = conv1x1(K)(X)`; `P = softmax over j of Q_iᵀ Kq_j`
  `(N, N)`, row `i` is query position `i`; `out_p = γ_p · V Pᵀ + X`.
- Channel attention (CAM), no convolutions: `E = X Xᵀ` `(K, K)`; the code
  uses `C = softmax(max_row(E) − E)`, which equals `softmax(−E)` row by row
  (softmax ignores a per-row shift), while the paper's equation (as
  reproduced on paperswithcode; we could not open the paper here) is
  `softmax(E)`; `out_c = γ_c · C X + X`.
- `γ_p` and `γ_c` are learnable scalars initialised to 0.
[ours] The authors' head (`DANetHead`) gives each branch its own 3×3
conv–BN–ReLU down to K/4 channels before the module and another after it,
then sums the branches; that targets segmentation, and we omit those
convolutions: `out = X + γ_p · V Pᵀ + γ_c · C X`, i.e. X appears once. This
equals `(PAM(X) + CAM(X)) / 2` with both γ doubled, so it is the paper's sum up
to a scale, and it starts as the identity (γ = 0) like the other residual
blocks.
`channel_softmax` chooses between the code's (`"max_minus"`, default) and the
equation's (`"plain"`) channel affinity.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from tal.core.layers.base import AttentionLayer, check_choice, check_positive_int, feature_map_shape

CHANNEL_SOFTMAX = ("max_minus", "plain")


@keras.saving.register_keras_serializable(package="tal")
class DANet(AttentionLayer):
    """Dual attention: position and channel self-attention, fused residually.

    Args:
        reduction_ratio: query/key width of the position module is
            `max(K // reduction_ratio, 1)` (8 in the authors' code).
        channel_softmax: `"max_minus"` (default, the authors' code:
            `softmax(max(E) − E)`) or `"plain"` (`softmax(E)`, the paper's
            equation) for the channel affinity, `E = X Xᵀ` over channels.

    Call arguments:
        x: features `(B, H, W, K)` with static `H` and `W`.
        return_attention_maps: if True, also return
            `{"position_attention": (B, N, N), "channel_affinity": (B, K, K)}`,
            `N = H·W`; rows sum to 1. Use `query_attention` to draw one row.

    Input shape: `(B, H, W, K)`. Output shape: same as input.

    Example:
    >>> layer = DANet(reduction_ratio=8)
    >>> y, maps = layer(keras.ops.ones((2, 7, 7, 32)), return_attention_maps=True)
    >>> tuple(maps["position_attention"].shape), tuple(maps["channel_affinity"].shape)
    ((2, 49, 49), (2, 32, 32))
    """

    def __init__(self, reduction_ratio=8, channel_softmax="max_minus", **kwargs):
        super().__init__(**kwargs)
        check_positive_int("reduction_ratio", reduction_ratio)
        check_choice("channel_softmax", channel_softmax, CHANNEL_SOFTMAX)
        self.reduction_ratio = reduction_ratio
        self.channel_softmax = channel_softmax

    def build(self, input_shape):
        channels = feature_map_shape(self, input_shape, static_grid=True)[-1]
        inner = max(channels // self.reduction_ratio, 1)
        self.query = layers.Conv2D(inner, 1, name="query")
        self.key = layers.Conv2D(inner, 1, name="key")
        self.value = layers.Conv2D(channels, 1, name="value")
        for conv in (self.query, self.key, self.value):
            conv.build(input_shape)
        self.gamma_position = self.add_weight(shape=(), initializer="zeros", name="gamma_position")
        self.gamma_channel = self.add_weight(shape=(), initializer="zeros", name="gamma_channel")

    def call(self, x, return_attention_maps=False):
        _, height, width, channels = x.shape
        n = height * width
        flat = ops.reshape(x, (-1, n, channels))  # (B, N, K)
        q = ops.reshape(self.query(x), (-1, n, self.query.filters))
        k = ops.reshape(self.key(x), (-1, n, self.key.filters))
        v = ops.reshape(self.value(x), (-1, n, channels))
        position = ops.softmax(ops.matmul(q, ops.transpose(k, (0, 2, 1))), axis=-1)  # (B, N, N)
        pam = ops.matmul(position, v)  # (B, N, K)

        energy = ops.matmul(ops.transpose(flat, (0, 2, 1)), flat)  # (B, K, K)
        if self.channel_softmax == "max_minus":
            energy = ops.max(energy, axis=-1, keepdims=True) - energy
        channel = ops.softmax(energy, axis=-1)
        cam = ops.matmul(flat, ops.transpose(channel, (0, 2, 1)))  # out[:, n, c] = Σ_c' C[c, c'] X[n, c']

        fused = self.gamma_position * pam + self.gamma_channel * cam
        out = x + ops.reshape(fused, (-1, height, width, channels))
        if return_attention_maps:
            return out, {"position_attention": position, "channel_affinity": channel}
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "reduction_ratio": self.reduction_ratio,
            "channel_softmax": self.channel_softmax,
        }
