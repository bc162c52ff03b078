"""Register every Keras class tal defines, so `keras.saving.load_model` finds them.

Keras resolves a saved layer or loss only through its registry of custom
objects, so a `.keras` file written by tal loads only once its classes are
registered. `import tal` arranges for `on_keras_import` to run as soon as
Keras is imported (at once when it already is), which keeps `import tal`
itself free of the TensorFlow import.

When Keras is first imported by one of tal's own modules, that module is
half-initialised at that moment and importing the others from the hook could
reach it (`from tal.core.batchnorm import …` while batchnorm is still
running). So the hook then does nothing, and every tal module that imports
Keras at its top calls `register_all()` at its end instead, when its own
names exist (a test checks that rule).
"""
from __future__ import annotations

import importlib
import sys

# Every module that defines a class decorated with `register_keras_serializable(package="tal")`.
SERIALIZABLE_MODULES = ("tal.core.batchnorm", "tal.core.layers", "tal.core.losses")


def register_all() -> None:
    """Import (and so register) every module that defines a tal Keras class."""
    for name in SERIALIZABLE_MODULES:
        importlib.import_module(name)


def on_keras_import(_keras=None) -> None:
    """The post-import hook on `keras`: register now, unless a tal module is mid-import."""
    if not _tal_module_initialising():
        register_all()


def _tal_module_initialising() -> bool:
    # importlib marks a module's spec `_initializing` while its body runs (the package
    # `tal` itself is excluded: its __init__ only sets the hook, it defines no Keras names).
    return any(
        name.startswith("tal.") and getattr(getattr(module, "__spec__", None), "_initializing", False)
        for name, module in list(sys.modules.items())
    )
