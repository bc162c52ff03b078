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
    "ModelConfig": "tal.core.config",
    "DataConfig": "tal.core.config",
    "TrainConfig": "tal.core.config",
    "ConfigError": "tal.core.config",
    "build_model": "tal.core.models",
    "inspect": "tal.core.inspection",
    "create_attention": "tal.core.layers",
    "load_dataset": "tal.data.datasets",
    "Dataset": "tal.data.datasets",
    "DataNotFoundError": "tal.data.datasets",
    "preprocess_image": "tal.data.preprocess",
    "ImageError": "tal.data.preprocess",
    "train": "tal.engine.training",
    "TrainingControl": "tal.engine.training",
    "TrainingCallback": "tal.engine.callbacks",
    "Progress": "tal.engine.callbacks",
}


def __getattr__(name: str):
    if name == "runs":
        return importlib.import_module("tal.engine.registry")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tal' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted([*globals(), *_EXPORTS, "runs"])
