"""Attention layers and the string factory that creates them.

Configs name attention modules by string (never by class), as timm's
`create_attn` does; `create_attention` maps those names to layer classes.
"""
from __future__ import annotations

from tal.core.layers.cbam import CBAM
from tal.core.layers.channel import ChannelAttention
from tal.core.layers.danet import DANet, query_attention
from tal.core.layers.element import ElementWiseAttention, spatial_softmax
from tal.core.layers.nonlocal_block import NonLocalBlock
from tal.core.layers.pay_attention import LearnToPayAttention
from tal.core.layers.scale import ScaleAttention
from tal.core.layers.self_attention import PositionSelfAttention
from tal.core.layers.spatial_weights import SpatialWeights

ATTENTION_LAYERS = {
    "channel": ChannelAttention,
    "element": ElementWiseAttention,
    "scale": ScaleAttention,
    "cbam": CBAM,
    "spatial_weights": SpatialWeights,
    "danet": DANet,
    "nonlocal": NonLocalBlock,
    "pay_attention": LearnToPayAttention,
    "mhsa": PositionSelfAttention,
}


def create_attention(kind: str, **kwargs):
    """Create an attention layer by name.

    Args:
        kind: one of `available_attention()`, e.g. `"channel"` or `"cbam"`.
        **kwargs: the layer's own arguments.

    Raises:
        ValueError: for an unknown `kind`, listing the valid ones.

    Example:
    >>> layer = create_attention("channel", reduction_ratio=8)
    """
    cls = ATTENTION_LAYERS.get(kind)
    if cls is None:
        raise ValueError(
            f"Unknown attention kind {kind!r}. Expected one of {sorted(ATTENTION_LAYERS)}. "
            f"Received: kind={kind!r}"
        )
    return cls(**kwargs)


def available_attention() -> list[str]:
    return sorted(ATTENTION_LAYERS)


__all__ = [
    "CBAM",
    "ChannelAttention",
    "DANet",
    "ElementWiseAttention",
    "LearnToPayAttention",
    "NonLocalBlock",
    "PositionSelfAttention",
    "ScaleAttention",
    "SpatialWeights",
    "available_attention",
    "create_attention",
    "query_attention",
    "spatial_softmax",
]
