"""Element-wise attention: per-class attention maps A and confidence maps S.

[SRN] Zhu et al., "Learning Spatial Regularization with Image-level
Supervisions for Multi-label Image Classification", CVPR 2017
(arXiv:1702.05891): the attention estimator, the *spatial* softmax per class,
the confidence maps and the weighted maps `U = σ(S) ⊙ A`.
[A3Net] Wang et al. 2021 cascade this branch after the channel-wise module and
train `score = Σ_{h,w} A ⊙ S` as auxiliary logits with a weighted
cross-entropy.
[ours] How the branch feeds the main path: `M = Σ_c U`, rescaled per image to
[0, 1], then `E ⊙ (1 + M)` ("residual"), `E ⊙ M` ("gate") or `E` ("none").
"""
from __future__ import annotations

import keras
from keras import layers, ops

from tal.core.catalogue import FEATURE_MODES  # declared once, with the module (no Keras import there)
from tal.core.layers.base import AttentionLayer, check_choice, check_positive_int, feature_map_shape, pointwise


def spatial_softmax(logits):
    """Softmax over all positions (H·W) separately for every class.

    `(B, H, W, C)` → `(B, H, W, C)` with `Σ_{h,w} A[b, h, w, c] = 1`. Note that
    `Conv2D(..., activation="softmax")` would normalise over classes instead.
    """
    # Written out rather than ops.softmax(..., axis=1): TensorFlow's softmax over
    # a non-last axis transposes its input and gradient, which cost more than
    # the softmax itself on these small maps. Subtracting the per-class maximum
    # keeps exp finite; it cancels in the ratio, so it carries no gradient.
    shifted = logits - ops.stop_gradient(ops.max(logits, axis=(1, 2), keepdims=True))
    exp = ops.exp(shifted)
    return exp / ops.sum(exp, axis=(1, 2), keepdims=True)


@keras.saving.register_keras_serializable(package="tal")
class ElementWiseAttention(AttentionLayer):
    """Per-class attention (A) and confidence (S) maps with an auxiliary score.

    The attention estimator is `conv1x1(C)(ReLU(conv3x3(w)(ReLU(conv1x1(w)(E)))))`
    followed by a spatial softmax per class; `S = conv1x1(C)(E)` is a linear
    classifier at every pixel. `score[b, c] = Σ_{h,w} A·S` are the auxiliary
    logits. If `A` is uniform, `score` is GAP followed by a linear layer and `S`
    is a class activation map.

    Args:
        num_classes: number of classes `C`.
        width: hidden width `w` of the attention estimator (the paper uses 512;
            MNIST needs far less).
        feature_mode: how features are passed on: `"residual"` (`E ⊙ (1 + M)`),
            `"gate"` (`E ⊙ M`) or `"none"` (`E` unchanged; the branch only adds
            the auxiliary head).

    Call arguments:
        x: features `E` of shape `(B, H, W, K)`.
        return_attention_maps: if True, also return the dict of maps
            `A`, `S`, `U` `(B, H, W, C)`, `M` `(B, H, W)` and `score` `(B, C)`.
        uniform_attention: what-if: every `A` = 1/(H·W) (the score becomes the mean of S).
        bypass_mask: what-if: `M` = 0, the features pass unchanged (in every feature mode).

    Output: the tuple `(features, score)`: features `(B, H, W, K)` and the
    auxiliary logits `(B, C)`; with maps, `((features, score), maps)`.

    Example:
    >>> layer = ElementWiseAttention(num_classes=10, width=16)
    >>> features, score = layer(keras.ops.ones((2, 7, 7, 32)))
    >>> tuple(score.shape)
    (2, 10)
    """

    def __init__(self, num_classes, width=64, feature_mode="residual", **kwargs):
        super().__init__(**kwargs)
        check_positive_int("num_classes", num_classes)
        check_positive_int("width", width)
        check_choice("feature_mode", feature_mode, FEATURE_MODES)
        self.num_classes = num_classes
        self.width = width
        self.feature_mode = feature_mode

    def build(self, input_shape):
        batch, height, width, channels = feature_map_shape(self, input_shape, static_grid=True)
        self.estimator_in = layers.Conv2D(self.width, 1, activation="relu", name="estimator_in")
        self.estimator_mid = layers.Conv2D(
            self.width, 3, padding="same", activation="relu", name="estimator_mid"
        )
        self.estimator_out = layers.Conv2D(self.num_classes, 1, name="estimator_out")
        self.confidence = layers.Conv2D(self.num_classes, 1, name="confidence")
        self.estimator_in.build(input_shape)
        self.estimator_mid.build((batch, height, width, self.width))
        self.estimator_out.build((batch, height, width, self.width))
        self.confidence.build(input_shape)

    def call(self, x, return_attention_maps=False, uniform_attention=False, bypass_mask=False):
        hidden = self.estimator_mid(pointwise(self.estimator_in, x))
        attention = spatial_softmax(pointwise(self.estimator_out, hidden))
        if uniform_attention:  # what-if: A = 1/(H·W), so the score is the mean of S over positions
            attention = ops.ones_like(attention) / ops.cast(ops.shape(x)[1] * ops.shape(x)[2], attention.dtype)
        confidence = pointwise(self.confidence, x)
        score = ops.sum(attention * confidence, axis=(1, 2))
        features = x
        maps = None
        if self.feature_mode != "none" or return_attention_maps:
            weighted = ops.sigmoid(confidence) * attention
            mask = ops.sum(weighted, axis=-1)
            # Per-image rescale to [0, 1]; the epsilon keeps an all-zero mask finite.
            mask = mask / (ops.max(mask, axis=(1, 2), keepdims=True) + 1e-7)
            if bypass_mask:  # what-if: the features pass the branch unchanged
                mask = ops.zeros_like(mask)
            elif self.feature_mode == "residual":
                features = x * (1.0 + mask[..., None])
            elif self.feature_mode == "gate":
                features = x * mask[..., None]
            maps = {"A": attention, "S": confidence, "U": weighted, "M": mask, "score": score}
        if return_attention_maps:
            return (features, score), maps
        return features, score

    def compute_output_shape(self, input_shape):
        return tuple(input_shape), (input_shape[0], self.num_classes)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "width": self.width,
            "feature_mode": self.feature_mode,
        }
