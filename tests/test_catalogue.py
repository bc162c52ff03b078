"""One contract over every catalogue entry, in the spirit of Keras's `run_layer_test`.

For each attention module the catalogue declares: the layer builds from the
entry's arguments, is registered for saving, has the output shape it promises
with and without maps, exposes exactly the maps the entry lists with the
shapes it names, survives `get_config` and a `.keras` round trip, and, built
into a model, shows its maps in `tal.inspect` under the entry's output names,
where the renderer for each map's view can draw them.
"""
from __future__ import annotations

import subprocess
import sys

import keras
import numpy as np
import pytest

import tal
from tal.core import catalogue
from tal.core.config import ModelConfig
from tal.core.layers import AttentionLayer, create_attention, query_attention
from tal.core.models import build_model
from tal.render import figures, htmlbars, raster

H, W, K, C = 6, 6, 8, 4
STAGES = [(12, 12, 4), (H, W, K)]  # backbone stage shapes; the features are the last stage
CONFIG = ModelConfig(num_classes=C, reduction_ratio=2, min_hidden=2, element_width=4, num_heads=2)
MODULES = [pytest.param(m, id=m.name) for m in catalogue.MODULES]


def _on(module, config=CONFIG):
    """`config` with `module` switched on (and nothing else)."""
    off = {t: False for t in catalogue.toggles()}
    name, overrides = module.ablation_variants()[0]
    return config.replace(**{**off, **overrides})


def _slot(module):
    return catalogue.SLOTS_BY_NAME[module.slot]


def _inputs(module):
    features = keras.Input((H, W, K))
    stages = [keras.Input(s) for s in STAGES[:-1]] + [features]
    return {"stages": stages, "stages+features": [*stages, features]}.get(_slot(module).takes, features)


def _data(module, seed=0):
    rng = np.random.default_rng(seed)
    inputs = _inputs(module)
    batch = lambda t: rng.normal(size=(2, *t.shape[1:])).astype("float32")  # noqa: E731
    return [batch(t) for t in inputs] if isinstance(inputs, list) else batch(inputs)


def _dims(config, grid=(H, W), stages=STAGES, channels=K) -> dict:
    dims = {"B": None, "H": grid[0], "W": grid[1], "K": channels, "C": config.num_classes,
            "N": grid[0] * grid[1], "n": len(stages), "heads": config.num_heads}
    return dims


def _expected_maps(module, config, *, grid=(H, W), stages=STAGES, channels=K, key="key") -> dict:
    """{map name: shape} the entry promises (`key`: the layer's names; "output": tal.inspect's)."""
    dims, out = _dims(config, grid, stages, channels), {}
    for spec in module.maps:
        if spec.computed:
            continue
        if "{k}" in spec.key:
            for k, (h, w, _) in enumerate(stages, start=1):
                sized = {**dims, "H_k": h, "W_k": w}
                out[getattr(spec, key).format(k=k)] = tuple(sized[a] for a in spec.shape)
        else:
            out[getattr(spec, key)] = tuple(dims[a] for a in spec.shape)
    return out


def _layer(module):
    return create_attention(module.name, **module.arguments(CONFIG, [s[-1] for s in STAGES]))


def _randomize(layer, seed=0, scale=0.5):
    """Seeded normal weights (zero-initialised γ and W_z included), so residual blocks are not the identity."""
    rng = np.random.default_rng(seed)
    layer.set_weights([rng.normal(size=w.shape).astype("float32") * scale for w in layer.get_weights()])


# ------------------------------------------------------------------ the entry itself

@pytest.mark.parametrize("module", MODULES)
def test_entry_is_complete_and_consistent(module):
    badges = {ref.badge for ref in catalogue.references()}
    assert module.slot in catalogue.SLOTS_BY_NAME
    assert module.group in ("triple", "comparison", "literature")
    assert (module.toggle is None) == (module.group == "literature")
    assert module.maps and module.equations
    assert all(b in badges for eq in module.equations for b in eq.badges), "every badge needs a reference"
    assert _on(module).extra_attention in ("none", module.name)
    assert catalogue.selected(_on(module)) == (module,)
    assert _on(module).label == module.ablation_variants()[0][0]
    assert all(spec.view in catalogue.VIEWS and spec.title and spec.symbol for spec in module.maps)
    for spec in module.maps:
        assert catalogue.map_spec(spec.output.format(k=1)) is spec
    if module.group == "literature":
        assert module.name in tal.core.config.EXTRA_ATTENTION
    cls = type(_layer(module))
    assert cls.__name__ == module.class_name
    assert keras.saving.get_registered_name(cls) == f"tal>{module.class_name}"


def test_output_names_never_collide():
    outputs = [spec.output for _, spec in catalogue.map_specs()]
    assert len(outputs) == len(set(outputs))
    with pytest.raises(ValueError, match="Expected one of"):
        catalogue.module("transformer")


# ------------------------------------------------------------------ the layer

@pytest.mark.parametrize("module", MODULES)
def test_layer_shapes_with_and_without_maps(module):
    layer = _layer(module)
    assert isinstance(layer, AttentionLayer)
    plain = layer(_inputs(module))
    with_maps, maps = _layer(module)(_inputs(module), return_attention_maps=True)
    gives = _slot(module).gives
    if gives == "features+score":
        (features, score), (features_m, score_m) = plain, with_maps
        assert tuple(features.shape) == tuple(features_m.shape) == (None, H, W, K)
        assert tuple(score.shape) == tuple(score_m.shape) == (None, C)
    elif gives == "pooled":
        assert tuple(plain.shape) == tuple(with_maps.shape) and len(plain.shape) == 2
    else:
        assert tuple(plain.shape) == tuple(with_maps.shape) == (None, H, W, K)
    assert {name: tuple(m.shape) for name, m in maps.items()} == _expected_maps(module, CONFIG)
    shape_in = [tuple(t.shape) for t in _inputs(module)] if isinstance(_inputs(module), list) else (None, H, W, K)
    declared = layer.compute_output_shape(shape_in)
    got = plain if gives != "features+score" else plain[0]
    declared = declared if gives != "features+score" else declared[0]
    assert tuple(declared) == tuple(got.shape)


@pytest.mark.parametrize("module", MODULES)
def test_get_config_round_trip(module):
    layer = _layer(module)
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config


@pytest.mark.parametrize("module", MODULES)
def test_save_and_load_give_identical_outputs(module, tmp_path):
    inputs = _inputs(module)
    layer = _layer(module)
    model = keras.Model(inputs, layer(inputs))
    _randomize(layer, seed=6)
    data = _data(module)
    expected = [np.asarray(a) for a in keras.tree.flatten(model.predict(data, verbose=0))]
    path = tmp_path / f"{module.name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # safe mode: no Lambda layers
    got = [np.asarray(a) for a in keras.tree.flatten(loaded.predict(data, verbose=0))]
    assert len(got) == len(expected)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ in a model, through tal.inspect, drawn

@pytest.fixture(scope="module")
def inspected():
    """{module name: (model config, tal.inspect outputs of 2 images)}, one small model per module."""
    out = {}
    images = np.random.default_rng(1).random((2, 28, 28, 1)).astype("float32")
    for module in catalogue.MODULES:
        config = _on(module, ModelConfig(stage_filters=(4, 8, 8), element_width=4, num_heads=2, scale_dim=8))
        out[module.name] = (config, tal.inspect(build_model(config), images))
    return out


@pytest.mark.parametrize("module", MODULES)
def test_model_exposes_the_entry_maps_through_inspect(module, inspected):
    config, outputs = inspected[module.name]
    stages = [(28, 28, 4), (14, 14, 8), (7, 7, 8)]
    channels = 8
    want = _expected_maps(module, config, grid=(7, 7), stages=stages, channels=channels, key="output")
    got = {k: v.shape for k, v in outputs.items() if k in want}
    assert got == {k: (2, *shape[1:]) for k, shape in want.items()}
    other_maps = set(outputs) - set(want) - {"main", "aux", "probabilities", "prediction"}
    assert not other_maps, "maps of modules that are off"


@pytest.mark.parametrize("module", MODULES)
def test_every_map_draws_in_its_view(module, inspected):
    _, outputs = inspected[module.name]
    image = np.zeros((28, 28), "float32")
    for key in _expected_maps(module, inspected[module.name][0], stages=[(28, 28, 4), (14, 14, 8), (7, 7, 8)],
                              key="output"):
        value, view = outputs[key][0], catalogue.map_spec(key).view
        if view == "class_grid":
            fig = figures.map_grid_figure({k: outputs[k][0] for k in ("A", "S", "U")})
            assert [t.name for t in fig.data] == ["A", "S", "AS", "U"]
        elif view == "bars":
            assert catalogue.map_spec(key).title.split(" ")[0] in htmlbars.gates_html({key: value})
        elif view == "picture":
            assert raster.map_png(value, scale=catalogue.map_spec(key).colorscale, lo=0, hi=1,
                                  background=image).startswith(b"\x89PNG")
        elif view == "query":
            side = int(round(np.sqrt(value.shape[-1])))
            grid = np.asarray(query_attention(value[None], (1, 1), side, side))[0]
            np.testing.assert_allclose(grid.sum(), 1.0, rtol=1e-4)
            figures.single_map_figure(grid, kind=key)
        elif view == "matrix":
            figures.matrix_figure(value, title=key, xlabel="channel", ylabel="channel")
        else:
            assert view == "scores" and value.shape == (outputs["main"].shape[-1],)


def test_catalogue_config_and_renderers_import_without_keras_or_streamlit():
    code = ("import sys, tal.core.catalogue, tal.core.config, tal.render.figures, tal.render.htmlbars, "
            "tal.render.raster, tal.ui.theory; "
            "print(sorted(m for m in ('keras', 'tensorflow', 'streamlit') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_module_options_are_declared_with_their_module_and_become_config_fields():
    import dataclasses

    from tal.core import config

    fields = {f.name: f for f in dataclasses.fields(config.ModelConfig)}
    owners = {}
    for module in catalogue.MODULES:
        for option in module.options:
            assert option.name not in owners, f"{option.name} declared by {owners[option.name]} and {module.name}"
            owners[option.name] = module.name
            f = fields[option.name]
            assert f.default == option.default and f.metadata["label"] == option.label
            assert option.name in module.reads
            # read by this module alone: the Train form greys it out whenever the module is off
            assert all(option.name not in m.reads for m in catalogue.MODULES if m is not module)
    assert owners == {"scale_dim": "scale", "element_width": "element", "feature_mode": "element",
                      "mhsa_score": "mhsa", "num_heads": "mhsa"}
    # bounds and choices declared with the option are enforced like any field's
    with pytest.raises(config.ConfigError, match="feature_mode"):
        config.ModelConfig(feature_mode="sideways")
    with pytest.raises(config.ConfigError, match="num_heads"):
        config.ModelConfig(num_heads=0)
