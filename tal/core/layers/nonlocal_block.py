"""Non-local block, embedded-Gaussian form. [NL]

Wang, Girshick, Gupta and He, "Non-local Neural Networks", CVPR 2018
(arXiv:1711.07971).
[NL] `y_i = (1 / C(x)) Σ_j f(x_i, x_j) g(x_j)` with the embedded Gaussian
`f = exp(θ(x_i)ᵀ φ(x_j))` and `C(x) = Σ_j f`, i.e. a softmax over all
positions `j` (no 1/√d scaling); `θ`, `φ`, `g` are 1×1 convolutions to half
the input channels (the bottleneck); `z = W_z y + x`. The paper puts a BN
after `W_z` with its scale initialised to zero so that the block starts as
an identity, and optionally subsamples `φ` and `g` by max pooling.
[ours] No BN and no subsampling: `W_z` (a 1×1 convolution back to `K`) has
its kernel and bias initialised to zero instead, which gives the same
identity start (the inputs here are 7×7 or 14×14 grids, so the N×N
attention is cheap). `inner_dim` defaults to `K // 2` as in the paper.
"""
from __future__ import annotations

import keras
from keras import layers, ops

from tal.core.layers.base import AttentionLayer, check_positive_int, feature_map_shape


@keras.saving.register_keras_serializable(package="tal")
class NonLocalBlock(AttentionLayer):
    """Embedded-Gaussian non-local block with a residual connection (Wang et al. 2018).

    `f = softmax_j(θ_iᵀ φ_j)` `(B, N, N)`, `y = f g`, `z = W_z y + x`.

    Args:
        inner_dim: width of `θ`, `φ` and `g`; `None` (default) uses
            `max(K // 2, 1)`, the paper's bottleneck.

    Call arguments:
        x: features `(B, H, W, K)` with static `H` and `W`.
        return_attention_maps: if True, also return `{"attention": (B, N, N)}`,
            `N = H·W`, row `i` the attention of query position `i` (rows sum
            to 1; draw one with `tal.core.layers.query_attention`).

    Input shape: `(B, H, W, K)`. Output shape: same as input.

    Example:
    >>> layer = NonLocalBlock()
    >>> y, maps = layer(keras.ops.ones((2, 7, 7, 32)), return_attention_maps=True)
    >>> tuple(maps["attention"].shape)
    (2, 49, 49)
    """

    def __init__(self, inner_dim=None, **kwargs):
        super().__init__(**kwargs)
        if inner_dim is not None:
            check_positive_int("inner_dim", inner_dim)
        self.inner_dim = inner_dim

    def build(self, input_shape):
        batch, height, width, channels = feature_map_shape(self, input_shape, static_grid=True)
        inner = self.inner_dim or max(channels // 2, 1)
        self.theta = layers.Conv2D(inner, 1, name="theta")
        self.phi = layers.Conv2D(inner, 1, name="phi")
        self.g = layers.Conv2D(inner, 1, name="g")
        self.w_z = layers.Conv2D(
            channels, 1, kernel_initializer="zeros", bias_initializer="zeros", name="w_z"
        )
        for conv in (self.theta, self.phi, self.g):
            conv.build(input_shape)
        self.w_z.build((batch, height, width, inner))

    def call(self, x, return_attention_maps=False):
        _, height, width, _ = x.shape
        n = height * width
        inner = self.theta.filters
        theta = ops.reshape(self.theta(x), (-1, n, inner))
        phi = ops.reshape(self.phi(x), (-1, n, inner))
        g = ops.reshape(self.g(x), (-1, n, inner))
        attention = ops.softmax(ops.matmul(theta, ops.transpose(phi, (0, 2, 1))), axis=-1)  # (B, N, N)
        y = ops.reshape(ops.matmul(attention, g), (-1, height, width, inner))
        out = self.w_z(y) + x
        if return_attention_maps:
            return out, {"attention": attention}
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "inner_dim": self.inner_dim}
