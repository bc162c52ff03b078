"""Register every Keras class tal defines, so `keras.saving.load_model` finds them.

Keras resolves a saved layer or loss only through its registry of custom
objects, so a `.keras` file written by tal loads only once its classes are
registered. `import tal` arranges for `register_all` to run as soon as Keras
is imported (at once when it already is), which keeps `import tal` itself
free of the TensorFlow import.
"""
from __future__ import annotations

import importlib

# Every module that defines a class decorated with `register_keras_serializable(package="tal")`.
SERIALIZABLE_MODULES = ("tal.core.batchnorm", "tal.core.layers", "tal.core.losses")


def register_all(_keras=None) -> None:
    """Import (and so register) every module that defines a tal Keras class."""
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)
