"""Using tal's layers in one's own Keras code: registration on `import tal`, public modules, maps of own models."""
from __future__ import annotations

import ast
import subprocess

import keras
import numpy as np
import pytest

import tal
from fresh import REPO as ROOT, python
from tal.layers import ChannelAttention, ElementWiseAttention


def run_python(code: str, cwd=ROOT) -> subprocess.CompletedProcess:
    return python("-c", code, cwd=cwd)


@pytest.mark.parametrize("first", [
    "import tal",
    "from tal.layers import ElementWiseAttention",  # Keras first imported by one of tal's own modules
    "import tal; tal.TrainingCallback",
])
@pytest.mark.slow
def test_after_only_importing_tal_a_shipped_model_loads(first):
    shipped = ROOT / "models" / "mnist-scale_channel_element" / "model.keras"
    code = (
        f"import sys\n{first}\n"
        "print('keras before:', 'keras' in sys.modules)\n"
        "import keras\n"
        f"model = keras.saving.load_model({str(shipped)!r})\n"
        "print('loaded:', model.count_params(), sorted(type(l).__name__ for l in model.layers))\n"
    )
    done = run_python(code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ElementWiseAttention" in done.stdout and "ScaleAttention" in done.stdout
    if first == "import tal":
        assert "keras before: False" in done.stdout  # the registration does not import Keras itself


def test_every_module_that_imports_keras_at_its_top_leaves_tals_classes_registered():
    """The rule in tal.core.registration, checked on the source: such a module ends with
    register_all(), lives in tal.core.layers, or imports (at its top) a module that does."""
    modules = {}
    for path in sorted((ROOT / "tal").rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = ast.parse(path.read_text())

    def top_imports(tree):
        for node in tree.body:
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                yield node.module

    def calls_register_all(tree):
        return any(isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)
                   and getattr(n.value.func, "id", "") == "register_all" for n in tree.body)

    registering = {n for n, t in modules.items() if calls_register_all(t) or n.startswith("tal.core.layers")}
    assert {"tal.core.batchnorm", "tal.core.losses", "tal.core.layers"} <= registering
    changed = True
    while changed:  # a module that imports a registering module at its top registers too
        grown = {n for n, t in modules.items() if any(i in registering for i in top_imports(t))}
        changed = not grown <= registering
        registering |= grown
    uses_keras = {n for n, t in modules.items() if any(i.split(".")[0] == "keras" for i in top_imports(t))}
    assert uses_keras - registering == set()


@pytest.mark.slow
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


def test_attention_maps_count_calls_in_this_model_only():
    layer = ChannelAttention(reduction_ratio=1, name="channel")
    inputs = keras.Input((8, 8, 3))
    first = keras.Model(inputs, layer(inputs))  # one attention layer: the feeds come back by name, not as a list
    maps = tal.attention_maps(first, np.ones((2, 8, 8, 3)))
    assert set(maps) == {"channel"} and maps["channel"]["gate"].shape == (2, 3)
    later_inputs = keras.Input((8, 8, 3))
    later = keras.Model(later_inputs, layer(keras.layers.Conv2D(3, 1)(later_inputs)))
    assert set(tal.attention_maps(first, np.ones((1, 8, 8, 3)))) == {"channel"}  # a call elsewhere is not a second here
    with pytest.raises(ValueError, match="first called in another model"):
        tal.attention_maps(later, np.ones((1, 8, 8, 3)))


def test_attention_maps_of_a_model_without_a_config_are_read_unchecked(monkeypatch):
    model = _own_model()

    def no_config():
        raise NotImplementedError("a layer without get_config")

    monkeypatch.setattr(model, "get_config", no_config)
    assert set(tal.attention_maps(model, np.ones((1, 8, 8, 3)))) == {"channel", "element"}


@pytest.mark.slow
def test_an_own_model_trains_with_one_hot_labels_and_round_trips_through_a_keras_file(tmp_path):
    """The README recipe in small, on whichever backend runs the tests (TensorFlow or JAX)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    x = ChannelAttention(reduction_ratio=2, name="channel")(x)
    x, score = ElementWiseAttention(num_classes=3, width=4, name="element")(x)
    outputs = {"main": keras.layers.Dense(3, activation="softmax", name="main")(keras.layers.GlobalMaxPooling2D()(x)),
               "aux": keras.layers.Activation("softmax", name="aux")(score)}
    model = keras.Model(inputs, outputs)
    weights = [1.0, 2.0, 0.5]
    model.compile(optimizer="adam",
                  loss={"main": tal.losses.WeightedCrossEntropy(weights), "aux": tal.losses.WeightedCrossEntropy(weights)},
                  loss_weights={"main": 1.0, "aux": 0.5})
    rng = np.random.default_rng(0)
    images = rng.random((16, 8, 8, 3)).astype("float32")
    labels = keras.utils.to_categorical(rng.integers(0, 3, 16), 3)
    history = model.fit(images, {"main": labels, "aux": labels}, batch_size=8, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all() and history["aux_loss"][-1] > 0
    model.save(tmp_path / "own.keras")
    loaded = keras.saving.load_model(tmp_path / "own.keras")
    assert isinstance(loaded.loss["aux"], tal.losses.WeightedCrossEntropy) and loaded.loss["aux"].class_weights == weights
    np.testing.assert_allclose(loaded.predict(images, verbose=0)["aux"], model.predict(images, verbose=0)["aux"],
                               rtol=1e-5, atol=1e-6)
