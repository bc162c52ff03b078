"""TAL explorer: Triple Attention Learning (A3Net) in Keras 3.

The public API is imported lazily so that light entry points (image
preprocessing, run listing, the CLI's argument parsing) do not pay for the
TensorFlow import until a model is actually needed.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "ModelConfig": "tal.config",
    "DataConfig": "tal.config",
    "TrainConfig": "tal.config",
    "ConfigError": "tal.config",
    "build_model": "tal.models",
    "inspect": "tal.inspection",
    "create_attention": "tal.layers",
    "load_mnist": "tal.data",
    "load_dataset": "tal.data",
    "Dataset": "tal.data",
    "DataNotFoundError": "tal.data",
    "preprocess_image": "tal.preprocess",
    "ImageError": "tal.preprocess",
    "train": "tal.training",
    "TrainingControl": "tal.training",
    "TrainingCallback": "tal.callbacks",
    "Progress": "tal.callbacks",
}


def __getattr__(name: str):
    if name == "runs":
        return importlib.import_module("tal.registry")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tal' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted([*globals(), *_EXPORTS, "runs"])
