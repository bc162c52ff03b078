"""Attention layers and the string factory that creates them.

Configs name attention modules by string (never by class), as timm's
`create_attn` does. Which file and class each name stands for is declared in
`tal.core.catalogue`; importing this package imports every one of them, which
also registers them with Keras for `keras.saving.load_model`.
"""
from __future__ import annotations

import importlib

from tal.core import catalogue
from tal.core.layers.base import AttentionLayer, query_attention
from tal.core.layers.element import spatial_softmax


def _load(spec: str) -> type:
    file, class_name = spec.split(":")
    return getattr(importlib.import_module(f"{__name__}.{file}"), class_name)


ATTENTION_LAYERS = {m.name: _load(m.layer) for m in catalogue.MODULES}
globals().update({cls.__name__: cls for cls in ATTENTION_LAYERS.values()})


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
    "AttentionLayer",
    *sorted(cls.__name__ for cls in ATTENTION_LAYERS.values()),
    "available_attention",
    "create_attention",
    "query_attention",
    "spatial_softmax",
]


from tal.core.registration import register_all  # noqa: E402  (at the end: see tal.core.registration)

register_all()
