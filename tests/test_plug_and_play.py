"""Using tal's layers in one's own Keras code: registration on `import tal`, public modules, maps of own models."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import tal
from tal.layers import ChannelAttention, ElementWiseAttention

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_import_tal_alone_loads_a_shipped_model_and_imports_keras_only_when_asked():
    shipped = ROOT / "models" / "mnist-scale_channel_element" / "model.keras"
    code = (
        "import sys, tal\n"
        "print('keras before:', 'keras' in sys.modules)\n"
        "import keras\n"
        "model = keras.saving.load_model(sys.argv[1])\n"
        "print('loaded:', model.count_params(), sorted(type(l).__name__ for l in model.layers))\n"
    ).replace("sys.argv[1]", repr(str(shipped)))
    done = run_python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "keras before: False" in done.stdout
    assert "ElementWiseAttention" in done.stdout and "ScaleAttention" in done.stdout


def test_keras_imported_before_tal_also_finds_tals_classes():
    done = run_python(
        "import keras, tal\n"
        "print(keras.saving.get_registered_object('tal>FusedBatchNormalization').__name__,\n"
        "      keras.saving.get_registered_object('tal>WeightedBinaryCrossEntropy').__name__)\n"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["FusedBatchNormalization", "WeightedBinaryCrossEntropy"]


def test_public_modules_are_attributes_of_tal():
    assert tal.layers.ElementWiseAttention is ElementWiseAttention
    assert tal.losses.WeightedCrossEntropy.__name__ == "WeightedCrossEntropy"
    assert callable(tal.runs.list_runs) and tal.data.__name__ == "tal.data"
    assert {"layers", "losses", "runs", "attention_maps"} <= set(dir(tal))
    with pytest.raises(AttributeError, match="no attribute 'layer'"):
        tal.layer  # noqa: B018


def _own_model():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = ChannelAttention(reduction_ratio=4, name="channel")(x)
    x, score = ElementWiseAttention(num_classes=3, width=8, name="element")(x)
    x = keras.layers.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, {"main": keras.layers.Dense(3, activation="softmax")(x), "score": score})


def test_attention_maps_of_an_own_model_match_the_layers_own_call():
    model = _own_model()
    images = np.random.default_rng(0).random((5, 8, 8, 3)).astype("float32")
    maps = tal.attention_maps(model, images, batch_size=2)  # three chunks, concatenated
    assert set(maps) == {"channel", "element"}
    assert maps["channel"]["gate"].shape == (5, 16)
    assert maps["element"]["A"].shape == (5, 8, 8, 3)
    np.testing.assert_allclose(maps["element"]["A"].sum(axis=(1, 2)), 1.0, rtol=1e-5)
    # the score the maps give is the model's own auxiliary output
    np.testing.assert_allclose(maps["element"]["score"], model.predict(images, verbose=0)["score"], rtol=1e-4, atol=1e-5)
    one = tal.attention_maps(model, images[0])  # one image, no batch axis
    np.testing.assert_allclose(one["element"]["S"][0], maps["element"]["S"][0], rtol=1e-5, atol=1e-6)


def test_attention_maps_say_what_is_wrong_with_a_model():
    inputs = keras.Input((8, 8, 3))
    plain = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs), name="plain")
    with pytest.raises(ValueError, match="has no tal attention layer"):
        tal.attention_maps(plain, np.zeros((1, 8, 8, 3)))
    shared = ChannelAttention(reduction_ratio=1, name="shared")
    twice = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(ValueError, match=r"Called more than once: \['shared'\]"):
        tal.attention_maps(twice, np.zeros((1, 8, 8, 3)))
    with pytest.raises(ValueError, match="tal.attention_maps"):
        tal.inspect(plain, np.zeros((1, 8, 8)))
