"""Multi-head self-attention over the positions of a feature map. [MHSA]

The sequence-attention family applied to the `N = H·W` positions of a CNN
feature map, each position a token of `K` features:
- `"dot"`: Keras's own `MultiHeadAttention` (Vaswani et al., "Attention Is
  All You Need", NeurIPS 2017): per head `softmax_j(q_i · k_j / √d)`, i.e.
  Luong's dot score (Luong et al., EMNLP 2015) with the Transformer's
  `1/√d` scaling, then a linear output projection back to `K`.
- `"additive"`: Bahdanau's score (Bahdanau et al., ICLR 2015),
  `e_ij = vᵀ tanh(W_q x_i + W_k x_j)`, computed per head with `keras.ops`
  (the same score as `keras.layers.AdditiveAttention` with `use_scale=True`,
  whose learned scale is `v`), with the same query/key/value/output
  projections as the dot form so that the two differ only in the score.
[ours] A learned positional embedding `(N, K)` (default on; attention alone
is blind to where a position is) is added to the tokens that form queries,
keys and values; the residual adds the attention output to the original
features: `out = x + MHSA(x + pos)`. Weights of the embedding start at
N(0, 0.02²) as in ViT. The additive form builds a `(B, heads, N, N, d)`
tensor: fine on 7×7 or 14×14 grids, costly on large ones.
"""
from __future__ import annotations

import keras
from keras import initializers, layers, ops

from tal.core.catalogue import MHSA_SCORES as SCORES  # declared once, with the module's options
from tal.core.layers.base import AttentionLayer, check_choice, check_positive_int, feature_map_shape


@keras.saving.register_keras_serializable(package="tal")
class PositionSelfAttention(AttentionLayer):
    """Multi-head self-attention among the `H·W` positions, with a residual.

    Args:
        num_heads: number of attention heads.
        key_dim: size `d` of each head's queries and keys (and values).
        score: `"dot"` (scaled dot product, `keras.layers.MultiHeadAttention`)
            or `"additive"` (Bahdanau, `vᵀ tanh(W_q x_i + W_k x_j)`).
        positional_embedding: add a learned `(H·W, K)` embedding to the tokens
            before attention.

    Call arguments:
        x: features `(B, H, W, K)` with static `H` and `W`.
        return_attention_maps: if True, also return
            `{"heads": (B, num_heads, N, N)}`, `N = H·W`, where
            `heads[b, h, i, :]` is head `h`'s attention of query position `i`
            (sums to 1). Draw one with
            `tal.core.layers.query_attention(maps["heads"], i, H, W, head=h)`
            (`head=None` averages the heads).

    Input shape: `(B, H, W, K)`. Output shape: same as input.

    Example:
    >>> layer = PositionSelfAttention(num_heads=2, key_dim=8)
    >>> y, maps = layer(keras.ops.ones((2, 7, 7, 32)), return_attention_maps=True)
    >>> tuple(maps["heads"].shape)
    (2, 2, 49, 49)
    """

    def __init__(self, num_heads=2, key_dim=16, score="dot", positional_embedding=True, **kwargs):
        super().__init__(**kwargs)
        check_positive_int("num_heads", num_heads)
        check_positive_int("key_dim", key_dim)
        check_choice("score", score, SCORES)
        if not isinstance(positional_embedding, bool):
            raise ValueError(f"Expected a boolean. Received: positional_embedding={positional_embedding!r}")
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.score = score
        self.positional_embedding = positional_embedding

    def build(self, input_shape):
        batch, height, width, channels = feature_map_shape(self, input_shape, static_grid=True)
        tokens = (batch, height * width, channels)
        if self.positional_embedding:
            self.position_embedding = self.add_weight(
                shape=(height * width, channels),
                initializer=initializers.RandomNormal(stddev=0.02),
                name="position_embedding",
            )
        if self.score == "dot":
            self.attention = layers.MultiHeadAttention(self.num_heads, self.key_dim, name="attention")
            self.attention.build(tokens, tokens)
            return
        heads = (self.num_heads, self.key_dim)
        self.query = layers.EinsumDense("bnk,khd->bnhd", (None, *heads), bias_axes="hd", name="query")
        self.key = layers.EinsumDense("bnk,khd->bnhd", (None, *heads), bias_axes="hd", name="key")
        self.value = layers.EinsumDense("bnk,khd->bnhd", (None, *heads), bias_axes="hd", name="value")
        self.attention_output = layers.EinsumDense(
            "bnhd,hdk->bnk", (None, channels), bias_axes="k", name="attention_output"
        )
        for dense in (self.query, self.key, self.value):
            dense.build(tokens)
        self.attention_output.build((batch, height * width, *heads))
        self.score_vector = self.add_weight(shape=heads, initializer="glorot_uniform", name="score_vector")

    def _additive(self, tokens):
        q = ops.transpose(self.query(tokens), (0, 2, 1, 3))  # (B, h, N, d)
        k = ops.transpose(self.key(tokens), (0, 2, 1, 3))
        v = ops.transpose(self.value(tokens), (0, 2, 1, 3))
        hidden = ops.tanh(q[:, :, :, None, :] + k[:, :, None, :, :])  # (B, h, N, N, d)
        scores = ops.sum(hidden * self.score_vector[None, :, None, None, :], axis=-1)
        weights = ops.softmax(scores, axis=-1)  # (B, h, N, N)
        context = ops.transpose(ops.matmul(weights, v), (0, 2, 1, 3))  # (B, N, h, d)
        return self.attention_output(context), weights

    def call(self, x, return_attention_maps=False):
        _, height, width, channels = x.shape
        tokens = ops.reshape(x, (-1, height * width, channels))
        if self.positional_embedding:
            tokens = tokens + self.position_embedding[None]
        if self.score == "dot":
            attended, weights = self.attention(tokens, tokens, return_attention_scores=True)
        else:
            attended, weights = self._additive(tokens)
        out = x + ops.reshape(attended, (-1, height, width, channels))
        if return_attention_maps:
            return out, {"heads": weights}
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "score": self.score,
            "positional_embedding": self.positional_embedding,
        }
