"""Test helpers that work on every Keras backend the layers support (TensorFlow, JAX)."""
from __future__ import annotations

import keras
import numpy as np
import pytest

BACKEND = keras.backend.backend()

tensorflow_only = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="the training engine (live λ, fused BatchNorm) runs on TensorFlow"
)


def gradient(loss_fn, variable) -> np.ndarray:
    """d loss_fn() / d variable, as NumPy, with the backend's own autodiff."""
    if BACKEND == "jax":
        import jax

        def loss_of(value):
            with keras.StatelessScope(state_mapping=[(variable, value)]):
                return loss_fn()

        return np.asarray(jax.grad(loss_of)(variable.value))
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = loss_fn()
    return tape.gradient(loss, variable).numpy()
