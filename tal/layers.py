"""The attention layers, for use in your own Keras models (`from tal.layers import ChannelAttention`).

The same objects as `tal.core.layers`, plus the BatchNormalization tal's
backbones use; this is their public address.
"""
from tal.core.batchnorm import FusedBatchNormalization
from tal.core.layers import *  # noqa: F401,F403
from tal.core.layers import __all__ as _attention_names

__all__ = [*_attention_names, "FusedBatchNormalization"]
