"""The app's cached loaders: a model opened while the server still imports TensorFlow in the background."""
from __future__ import annotations

import pytest
from fresh import REPO, python

SHIPPED = sorted((REPO / "models").glob("*/model.keras"))


@pytest.mark.slow
def test_a_model_opened_during_the_warm_up_import_loads():
    # The first visit straight to Inspect after a server start: the page loads a model while the warm-up
    # thread is half-way through TensorFlow's import. Without waiting for it, Keras meets a half-initialised
    # TensorFlow ("dataset_ops has no attribute DatasetV2") or Python's import deadlock detector.
    assert SHIPPED
    code = (
        "from tal.ui import loaders\n"
        "loaders.warm_up()\n"
        f"model = loaders._load_model({str(SHIPPED[0].parent)!r}, 0.0)\n"
        "print('loaded', model.name)\n"
    )
    done = python("-c", code)
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr[-2000:]
