"""Learn to Pay Attention: global-to-local compatibility at several stages. [LTPA]

Jetley, Lord, Lee and Torr, "Learn To Pay Attention", ICLR 2018
(arXiv:1804.02391). Verified against the authors' Torch code
(saumya-jetley/cd_ICLR18_LearnToPayAttention, VGGNet models):
- For each stage `s` with local features `l_i` (`K_s` channels, positions
  `i`) and the global feature `g`: when `K_s` differs from `g`'s size, `g` is
  projected with a linear layer (`nn.Linear(512, 256)` in the code); the
  descriptor uses the unprojected `l_i`.
- Compatibility `"pc"` (parametrised): `c_i = ⟨u, l_i + g⟩`, a 1×1 convolution
  to one channel on `l + g`; `"dp"` (dot product): `c_i = ⟨l_i, g⟩`.
- `a = softmax_i(c)` over all positions; descriptor `g_a = Σ_i a_i l_i`.
- `"concat"` combination: the stage descriptors are concatenated and one
  linear classifier follows (the model's `Dense(C)`, not part of this layer).
[ours] `g` is the global average of the last feature map `G` (the paper's
`g` comes from the network's layers after its last stage, fully connected in
their VGG; the code also applies BN–ReLU–dropout to it before projecting).
The 1×1 compatibility convolution has no bias: a constant over positions
cancels in the softmax. We project `g` down to each stage (the code's main
variant), not `l` up to `g` (its "upprojecting" variant).
"""
from __future__ import annotations

import keras
from keras import layers, ops

from tal.core.layers.base import AttentionLayer, check_choice

COMPATIBILITIES = ("pc", "dp")


@keras.saving.register_keras_serializable(package="tal")
class LearnToPayAttention(AttentionLayer):
    """Attention-pooled descriptors of several stages, steered by a global feature.

    Args:
        compatibility: `"pc"` (default; `c_i = ⟨u, l_i + g⟩`, learned `u`) or
            `"dp"` (`c_i = ⟨l_i, g⟩`).

    Call arguments:
        x: list `[L_1, …, L_s, G]`: local stage features `L_k` of shape
            `(B, H_k, W_k, K_k)` (static `H_k`, `W_k`), and the global
            feature `G`, either a map `(B, h, w, K_g)` (averaged over
            positions) or a vector `(B, K_g)`.
        return_attention_maps: if True, also return
            `{"stage_1": (B, H_1, W_1), …, "stage_s": (B, H_s, W_s)}`, each
            summing to 1 over positions.

    Output shape: `(B, K_1 + … + K_s)`: the concatenated descriptors `g_a^k`
    (a vector, not a feature map; put the classifier on it).

    Example:
    >>> layer = LearnToPayAttention()
    >>> out = layer([keras.ops.ones((2, 14, 14, 16)), keras.ops.ones((2, 7, 7, 32)),
    ...              keras.ops.ones((2, 7, 7, 32))])
    >>> tuple(out.shape)
    (2, 48)
    """

    def __init__(self, compatibility="pc", **kwargs):
        super().__init__(**kwargs)
        check_choice("compatibility", compatibility, COMPATIBILITIES)
        self.compatibility = compatibility

    def build(self, input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or len(input_shape) < 2
            or not all(isinstance(s, (list, tuple)) for s in input_shape)
        ):
            raise ValueError(
                "LearnToPayAttention expects a list [L_1, ..., L_s, G] of at least two tensors. "
                f"Received: input_shape={input_shape}"
            )
        *local_shapes, global_shape = input_shape
        if len(global_shape) not in (2, 4):
            raise ValueError(f"Expected G of rank 2 or 4. Received: G shape={global_shape}")
        global_dim = global_shape[-1]
        self.projections, self.scorers = [], []
        for k, shape in enumerate(local_shapes, start=1):
            if len(shape) != 4 or shape[1] is None or shape[2] is None:
                raise ValueError(
                    "Expected each local stage to be (B, H, W, K) with static H and W. "
                    f"Received: stage {k} shape={shape}"
                )
            channels = shape[-1]
            projection = None
            if channels != global_dim:
                projection = layers.Dense(channels, name=f"project_g_{k}")
                projection.build((shape[0], global_dim))
            scorer = None
            if self.compatibility == "pc":
                scorer = layers.Conv2D(1, 1, use_bias=False, name=f"compatibility_{k}")
                scorer.build(shape)
            self.projections.append(projection)
            self.scorers.append(scorer)

    def call(self, x, return_attention_maps=False):
        *stages, global_feature = x
        g = ops.mean(global_feature, axis=(1, 2)) if len(global_feature.shape) == 4 else global_feature
        descriptors, maps = [], {}
        for k, (local, projection, scorer) in enumerate(zip(stages, self.projections, self.scorers), start=1):
            _, height, width, channels = local.shape
            g_k = g if projection is None else projection(g)
            if scorer is None:
                scores = ops.sum(local * g_k[:, None, None, :], axis=-1)
            else:
                scores = scorer(local + g_k[:, None, None, :])[..., 0]
            attention = ops.softmax(ops.reshape(scores, (-1, height * width)), axis=-1)
            flat = ops.reshape(local, (-1, height * width, channels))
            descriptors.append(ops.sum(flat * attention[..., None], axis=1))
            maps[f"stage_{k}"] = ops.reshape(attention, (-1, height, width))
        out = ops.concatenate(descriptors, axis=-1) if len(descriptors) > 1 else descriptors[0]
        if return_attention_maps:
            return out, maps
        return out

    def compute_output_shape(self, input_shape):
        *local_shapes, _ = input_shape
        return (local_shapes[0][0], sum(shape[-1] for shape in local_shapes))

    def get_config(self):
        return {**super().get_config(), "compatibility": self.compatibility}
