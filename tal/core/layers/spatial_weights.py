"""Spatial weights: one learned map that re-weights every channel. [SWCNN]

Zhang, Sugano, Fritz and Bulling, "It's Written All over Your Face:
Full-Face Appearance-Based Gaze Estimation", CVPRW 2017 (arXiv:1611.08860).

[SWCNN] Three 1×1 convolutions on the feature tensor `U` `(B, H, W, N)`, each
followed by a ReLU; the first two keep `N` channels (256 on AlexNet's conv5),
the last has one channel. The result is one weight map `W` `(B, H, W)` and the
output is `V_c = W ⊙ U_c` for every channel `c` (no sigmoid, no softmax: the
map is non-negative and unbounded). Initialisation: Gaussian weights with
std 0.01 (first layers) and 0.001 (last layer), biases 0.1 and 1, so that `W`
starts close to 1 (the block starts as an identity); the gradient reaching
`W` is divided by `N`, because `W` receives the summed gradient of all `N`
channels. We could not open the paper's text in this project; the structure,
the ReLU after the last convolution, the initialisation and the gradient
normalisation are as implemented in hysts/pytorch_mpiigaze, a public
reimplementation of the paper's model that we read line by line.
[ours] `width` and `num_convs` generalise the paper's fixed 256 and 3; the
gradient normalisation is a `stop_gradient` identity (forward unchanged) and
can be switched off.
"""
from __future__ import annotations

import keras
from keras import initializers, layers, ops

from tal.core.layers.base import AttentionLayer, check_positive_int, feature_map_shape


@keras.saving.register_keras_serializable(package="tal")
class SpatialWeights(AttentionLayer):
    """One non-negative spatial weight map shared by all channels (Zhang et al. 2017).

    `W = ReLU(conv1x1(1)(… ReLU(conv1x1(w)(x)) …))`, output `x ⊙ W`.

    Args:
        width: channels `w` of the hidden 1×1 convolutions; `None` (default)
            uses the input's channel count `K`, as in the paper.
        num_convs: number of 1×1 convolutions in the chain, the last one with a
            single output channel (3 in the paper).
        normalize_gradient: divide the gradient reaching `W` by `K` (the
            paper's rule); the forward pass is the same either way.

    Call arguments:
        x: features `(B, H, W, K)`.
        return_attention_maps: if True, also return `{"weights": (B, H, W)}`.

    Input shape: `(B, H, W, K)`. Output shape: same as input.

    Example:
    >>> layer = SpatialWeights(width=16)
    >>> y, maps = layer(keras.ops.ones((2, 7, 7, 32)), return_attention_maps=True)
    >>> tuple(maps["weights"].shape)
    (2, 7, 7)
    """

    def __init__(self, width=None, num_convs=3, normalize_gradient=True, **kwargs):
        super().__init__(**kwargs)
        if width is not None:
            check_positive_int("width", width)
        check_positive_int("num_convs", num_convs)
        if not isinstance(normalize_gradient, bool):
            raise ValueError(f"Expected a boolean. Received: normalize_gradient={normalize_gradient!r}")
        self.width = width
        self.num_convs = num_convs
        self.normalize_gradient = normalize_gradient

    def build(self, input_shape):
        batch, height, width, channels = feature_map_shape(self, input_shape)
        hidden = self.width or channels
        self.convs = []
        shape = input_shape
        for k in range(self.num_convs):
            last = k == self.num_convs - 1
            conv = layers.Conv2D(
                1 if last else hidden,
                1,
                activation="relu",
                kernel_initializer=initializers.RandomNormal(stddev=0.001 if last else 0.01),
                bias_initializer=initializers.Constant(1.0 if last else 0.1),
                name=f"conv_{k}",
            )
            conv.build(shape)
            shape = (batch, height, width, conv.filters)
            self.convs.append(conv)
        self._channels = channels

    def call(self, x, return_attention_maps=False):
        w = x
        for conv in self.convs:
            w = conv(w)
        weights = w[..., 0]
        if self.normalize_gradient:
            # Forward: exactly `weights`; backward: gradient divided by K.
            frozen = ops.stop_gradient(weights)
            weights = frozen + (weights - frozen) / self._channels
        out = x * weights[..., None]
        if return_attention_maps:
            return out, {"weights": weights}
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "width": self.width,
            "num_convs": self.num_convs,
            "normalize_gradient": self.normalize_gradient,
        }
