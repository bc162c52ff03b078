"""The attention layers and losses on a second Keras backend: their tests, run again under JAX.

The training engine and the app run on TensorFlow; the layers and losses use
`keras.ops` only, so they work in anyone's JAX model too. This runs their
test files in a fresh interpreter with `KERAS_BACKEND=jax` (Keras picks its
backend once, at import).
"""
from __future__ import annotations

import os

import pytest
from fresh import REPO as ROOT, python

ON_EVERY_BACKEND = ("test_layers.py", "test_zoo_layers.py", "test_losses.py", "test_plug_and_play.py")
# Tests there that check imports and sources in fresh interpreters, the same on any backend.
BACKEND_FREE = ("after_only_importing_tal", "keras_imported_before_tal", "every_module_that_imports_keras")
# JAX compiles every operation the tests run eagerly (~200 XLA compilations, most of the run's time on
# 2 cores); without LLVM's optimisation passes they compile in half the time and compute the same
# values. JAX on the CPU, unless the caller chose a platform: no probing for accelerators at start-up.
JAX = {
    "KERAS_BACKEND": "jax",
    "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
    "XLA_FLAGS": " ".join(filter(None, [os.environ.get("XLA_FLAGS"), "--xla_backend_optimization_level=0"])),
}


@pytest.mark.slow
def test_layer_and_loss_tests_pass_on_jax():
    done = python("-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0", "-o", "addopts=",
                  "-k", f"not ({' or '.join(BACKEND_FREE)})", *(ROOT / "tests" / name for name in ON_EVERY_BACKEND),
                  env_extra=JAX, timeout=900)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-2000:]
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary, summary
    print("JAX:", summary)


@pytest.mark.slow
def test_the_jax_run_really_is_on_jax():
    """Guards the test above against a backend setting that does not take (e.g. a cached keras.json)."""
    code = "import keras, tal.layers; print(keras.backend.backend(), type(keras.ops.ones(1)).__module__)"
    done = python("-c", code, env_extra=JAX)
    assert done.returncode == 0, done.stderr[-2000:]
    backend, module = done.stdout.split()
    assert backend == "jax" and module.startswith("jax"), done.stdout
