"""Exported Keras code: rebuilds a model with the same parameters and weights, runs as a script, clear errors."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import tal
from fresh import REPO, python
from tal.core.keras_code import ExportError, model_code

SHIPPED = REPO / "models" / "mnist-scale_channel_element"

CONFIGS = {
    "full": {},
    "dense-cbam": {"backbone": "dense", "cbam": True, "element": False},
    "danet": {"extra_attention": "danet", "scale": False},
    "pay_attention": {"extra_attention": "pay_attention", "element": False, "scale": False},
    "mhsa-additive": {"extra_attention": "mhsa", "mhsa_score": "additive", "channel": False},
    "eca-gate": {"extra_attention": "eca", "feature_mode": "gate"},
    "nonlocal": {"extra_attention": "nonlocal", "dropout": 0.2},
    "spatial_weights": {"extra_attention": "spatial_weights"},
}


def rebuild(code: str) -> keras.Model:
    namespace = {"__name__": "exported"}
    exec(compile(code, "exported.py", "exec"), namespace)  # noqa: S102 - our own generated code
    return namespace["build_model"]()


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_exported_code_rebuilds_the_model_with_the_same_parameters_weights_and_outputs(overrides, tmp_path):
    model = tal.build_model(tal.ModelConfig(**overrides))
    path = tmp_path / "model.keras"
    model.save(path)
    rebuilt = rebuild(model_code(model, weights=str(path), title="Test"))
    assert rebuilt.count_params() == model.count_params()
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]
    rebuilt.load_weights(path)
    for mine, theirs in zip(rebuilt.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    images = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    expected, got = model.predict(images, verbose=0), rebuilt.predict(images, verbose=0)
    assert set(got) == set(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-6)
    assert {layer.name for layer in rebuilt.layers} == {layer.name for layer in model.layers}  # tal.inspect finds its parts


@pytest.mark.slow
def test_cli_export_writes_a_script_that_loads_the_runs_weights(tmp_path):
    done = python("-m", "tal", "export", SHIPPED, "--code", "exported.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["code"] == str(tmp_path / "exported.py")
    script = python("exported.py", cwd=tmp_path)
    assert script.returncode == 0, script.stderr[-2000:]
    assert "Total params: 37,529" in script.stdout
    assert f"Loaded the weights of {SHIPPED / 'model.keras'}" in script.stdout
    # without tal importable: one line saying what to install, no traceback
    bare = python("exported.py", cwd=tmp_path, tal_importable=False)
    assert bare.returncode == 1 and "pip install tal-explorer" in bare.stderr and "Traceback" not in bare.stderr


@pytest.mark.slow
def test_cli_export_errors_in_one_line_and_write_nothing(tmp_path):
    missing = python("-m", "tal", "export", "no-such-run", "--code", "x.py", cwd=tmp_path)
    assert missing.returncode == 2 and "No complete run called 'no-such-run'" in missing.stderr
    folder = python("-m", "tal", "export", SHIPPED, "--code", tmp_path, cwd=tmp_path)
    assert folder.returncode == 2 and "is a folder" in folder.stderr
    nowhere = python("-m", "tal", "export", SHIPPED, "--code", tmp_path / "nope" / "x.py", cwd=tmp_path)
    assert nowhere.returncode == 2 and "does not exist" in nowhere.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    printed = python("-m", "tal", "export", SHIPPED, "--code", "-", cwd=tmp_path)
    assert printed.returncode == 0 and printed.stdout.startswith('"""Run mnist-scale_channel_element')


def test_models_the_exporter_cannot_write_are_refused_with_a_reason():
    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ExportError, match="Only functional models"):
        model_code(Subclassed(), weights="w.keras", title="t")

    class Mine(keras.layers.Layer):
        def call(self, x):
            return x

    inputs = keras.Input((4,))
    with pytest.raises(ExportError, match="neither a Keras layer nor one of tal.layers"):
        model_code(keras.Model(inputs, Mine(name="mine")(inputs)), weights="w.keras", title="t")
    shared = keras.layers.Dense(4, name="shared")
    with pytest.raises(ExportError, match="'shared' is called 2 times"):
        model_code(keras.Model(inputs, shared(shared(inputs))), weights="w.keras", title="t")


def test_a_relative_weights_file_is_looked_for_beside_the_script():
    model = tal.build_model(tal.ModelConfig(scale=False, element=False))
    code = model_code(model, weights="my-run.keras", title="Run my-run")
    assert 'WEIGHTS = "my-run.keras"' in code and "Path(__file__).parent / WEIGHTS" in code
