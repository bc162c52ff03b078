"""Shared plumbing for the attention layers [ours].

Every attention layer has the call signature `call(x, return_attention_maps=False)`.
With `True` it returns `(output, maps)`, where `maps` is a dict of tensors
named as in docs/maths.md. Keras derives output specs from `compute_output_shape`,
which only describes the plain output, so with maps requested we let Keras
trace `call` symbolically instead.
"""
from __future__ import annotations

import keras
from keras import ops


class AttentionLayer(keras.layers.Layer):
    """Base class: `compute_output_shape` for the plain output, tracing for maps."""

    def compute_output_spec(self, *args, return_attention_maps=False, **kwargs):
        if return_attention_maps:  # Operation's own spec: trace `call` on symbolic inputs
            return keras.Operation.compute_output_spec(self, *args, return_attention_maps=True, **kwargs)
        return super().compute_output_spec(*args, **kwargs)


def check_choice(name: str, value, allowed) -> None:
    """Raise the house-style error for a string argument outside `allowed`."""
    if value not in allowed:
        raise ValueError(f"Expected one of {set(allowed)}. Received: {name}={value!r}")


def check_positive_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"Expected a positive integer. Received: {name}={value!r}")


def hidden_units(channels: int, reduction_ratio: int, min_hidden: int) -> int:
    """Width of a squeeze bottleneck: `max(channels // r, min_hidden)` (SE paper §3.2)."""
    return max(channels // reduction_ratio, min_hidden)


def feature_map_shape(layer, input_shape, *, static_grid: bool = False) -> tuple:
    """`(batch, height, width, channels)` of a feature-map input, with the house-style errors.

    `static_grid` layers (softmax over positions, position-to-position
    attention) need the height and width when they are built.
    """
    if len(input_shape) != 4:
        raise ValueError(f"Expected input of rank 4 (B, H, W, K). Received: input_shape={input_shape}")
    batch, height, width, channels = input_shape
    if static_grid and (height is None or width is None):
        raise ValueError(
            f"{type(layer).__name__} needs a static height and width. Received: input_shape={input_shape}"
        )
    return batch, height, width, channels


def pointwise(conv, x):
    """Apply a built 1x1 `Conv2D` layer to `x` as one matrix multiply over all positions.

    Same weights and result as `conv(x)`; on TensorFlow's CPU build, oneDNN's
    1x1 convolution on the branches' small grids (7x7, 10-112 channels) was
    slower than a plain matmul, forward and backward (`bench/pointwise.py`).
    Falls back to `conv(x)` when the grid is not static.
    """
    _, height, width, channels = x.shape
    if height is None or width is None or channels is None:
        return conv(x)
    kernel = ops.reshape(conv.kernel, (channels, conv.filters))
    y = ops.matmul(ops.reshape(x, (-1, channels)), kernel)
    if conv.use_bias:
        y = y + conv.bias
    return conv.activation(ops.reshape(y, (-1, height, width, conv.filters)))


def query_attention(attention, query_index, height, width, head=None):
    """One query position's attention over all positions, as an image.

    Args:
        attention: `(B, N, N)` with row `i` the attention of query `i` (a map
            whose catalogue view is "query"), or `(B, heads, N, N)` for
            multi-head attention.
        query_index: the query position, either `row * width + col` or a
            `(row, col)` pair.
        height, width: the feature grid, `height * width == N`.
        head: for a 4-D `attention`, the head to show; `None` averages heads.

    Returns:
        `(B, height, width)`; each map sums to 1 (softmax rows).

    Example:
    >>> a = keras.ops.ones((1, 4, 4)) / 4
    >>> tuple(query_attention(a, (1, 0), 2, 2).shape)
    (1, 2, 2)
    """
    if isinstance(query_index, (tuple, list)):
        row, col = query_index
        if not (0 <= row < height and 0 <= col < width):
            raise ValueError(
                f"Expected 0 <= row < {height} and 0 <= col < {width}. "
                f"Received: query_index={tuple(query_index)}"
            )
        query_index = row * width + col
    if not isinstance(query_index, int) or not 0 <= query_index < height * width:
        raise ValueError(
            f"Expected an integer in [0, {height * width}). Received: query_index={query_index!r}"
        )
    if attention.shape[-1] is not None and attention.shape[-1] != height * width:
        raise ValueError(
            f"Expected height * width == {attention.shape[-1]} positions. "
            f"Received: height={height}, width={width}"
        )
    if len(attention.shape) == 4:
        attention = ops.mean(attention, axis=1) if head is None else attention[:, head]
    elif len(attention.shape) != 3:
        raise ValueError(f"Expected attention of rank 3 or 4. Received: shape={tuple(attention.shape)}")
    return ops.reshape(attention[:, query_index, :], (-1, height, width))
