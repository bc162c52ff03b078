"""The attention layers, for use in your own Keras models (`from tal.layers import ChannelAttention`).

The same objects as `tal.core.layers`; this is their public address.
"""
from tal.core.layers import *  # noqa: F401,F403
from tal.core.layers import __all__  # noqa: F401
