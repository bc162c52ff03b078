"""The class-weighted losses of the main and auxiliary heads, for your own models.

The same objects as `tal.core.losses`; this is their public address.
"""
from tal.core.losses import WeightedBinaryCrossEntropy, WeightedCrossEntropy, multilabel_class_weights

__all__ = ["WeightedBinaryCrossEntropy", "WeightedCrossEntropy", "multilabel_class_weights"]
