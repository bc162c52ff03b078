"""TAL explorer: Triple Attention Learning (A3Net) in Keras 3.

The public API is imported lazily so that light entry points (image
preprocessing, run listing, the CLI's argument parsing) do not pay for the
TensorFlow import until a model is actually needed. Still, `import tal` is
enough for `keras.saving.load_model` to read any `.keras` file tal writes:
tal's Keras classes are registered the moment Keras is imported.
"""
from __future__ import annotations

import importlib

import wrapt

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "ModelConfig": "tal.core.config",
    "DataConfig": "tal.core.config",
    "TrainConfig": "tal.core.config",
    "ConfigError": "tal.core.config",
    "build_model": "tal.core.models",
    "inspect": "tal.core.inspection",
    "attention_maps": "tal.core.inspection",
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


# Modules reachable as attributes of `tal` (imported on first use).
_MODULES = {
    "layers": "tal.layers",
    "losses": "tal.losses",
    "runs": "tal.engine.registry",
    "core": "tal.core",
    "data": "tal.data",
    "engine": "tal.engine",
    "render": "tal.render",
    "cli": "tal.cli",
}

wrapt.register_post_import_hook("tal.core.registration:on_keras_import", "keras")


def __getattr__(name: str):
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tal' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__():
    return sorted({*globals(), *_EXPORTS, *_MODULES})
