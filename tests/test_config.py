"""Config validation and the JSON round trip."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tal.core import config
from tal.core.config import ConfigError, DataConfig, ModelConfig, TrainConfig


def test_json_round_trip_keeps_tuples_and_nested_data():
    train = TrainConfig(epochs=2, aux_weight=0.25, data=DataConfig(dataset="translated", imbalance_classes=(3, 5)))
    model = ModelConfig(stage_filters=(8, 16), cbam=True, scale_dim=12)
    assert TrainConfig.from_json(train.to_json()) == train
    assert ModelConfig.from_json(model.to_json()) == model
    assert TrainConfig.from_json(train.to_json()).data.imbalance_classes == (3, 5)


def test_from_json_reads_a_file(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(ModelConfig(element=False).to_json())
    assert ModelConfig.from_json(path).element is False
    with pytest.raises(ConfigError, match="not found"):
        ModelConfig.from_json(tmp_path / "missing.json")


def test_unknown_fields_are_named():
    with pytest.raises(ConfigError, match=r"Unknown ModelConfig field\(s\) \['sclae'\]"):
        ModelConfig.from_dict({"sclae": True})


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: ModelConfig(backbone="resnet"), "backbone='resnet'"),
        (lambda: ModelConfig(feature_mode="mask"), "feature_mode='mask'"),
        (lambda: ModelConfig(stage_filters=()), "stage_filters"),
        (lambda: ModelConfig(bn_momentum=1.0), "bn_momentum"),
        (lambda: ModelConfig(element=False, prediction="mean"), "needs element=True"),
        (lambda: TrainConfig(epochs=0), "epochs=0"),
        (lambda: TrainConfig(aux_weight=-1.0), "aux_weight=-1.0"),
        (lambda: TrainConfig(learning_rate=0), "learning_rate=0"),
        (lambda: DataConfig(dataset="cifar"), "dataset='cifar'"),
        (lambda: DataConfig(imbalance_keep=0), "imbalance_keep"),
        (lambda: DataConfig(imbalance_classes=(12,)), "imbalance_classes"),
    ],
)
def test_invalid_values_raise_config_error_naming_the_field(make, fragment):
    with pytest.raises(ConfigError) as err:
        make()
    assert fragment in str(err.value)


def test_label_and_branches():
    assert ModelConfig().label == "scale+channel+element"
    assert ModelConfig(scale=False, channel=False, element=False).label == "baseline"
    assert ModelConfig(scale=False, channel=False, element=False, cbam=True).branches == ("cbam",)


def test_configs_are_frozen():
    with pytest.raises(Exception):
        ModelConfig().scale = False  # type: ignore[misc]
    assert json.loads(ModelConfig().to_json())["stage_filters"] == list(ModelConfig().stage_filters)


# ----------------------------------------------------------------- settings metadata

CLASSES = (ModelConfig, DataConfig, TrainConfig)
ALL_SPECS = [spec for cls in CLASSES for spec in config.specs(cls)]


def test_every_field_declares_a_label_and_help_and_valid_metadata():
    for spec in ALL_SPECS:
        assert spec.label and spec.label != spec.name and spec.help, spec.name
        assert spec.form in (None, *config.FORM_GROUPS), spec.name
        if spec.choices_from:
            assert isinstance(getattr(config, spec.choices_from), tuple), spec.name
            assert spec.default in spec.choices, spec.name
        if spec.kind in ("int", "float") and spec.default is not None:
            assert spec.within(spec.default), spec.name
    form = {spec.name for spec in ALL_SPECS if spec.form}
    assert {"scale", "aux_weight", "train_size", "learning_rate", "extra_attention"} <= form
    assert not {"stage_filters", "input_shape", "data", "multi_label"} & form


def _outside(spec, side):
    """A value just outside the bound `side` ("min" or "max") of a numeric field."""
    bound, is_open = (spec.min, spec.min_open) if side == "min" else (spec.max, spec.max_open)
    if is_open:
        return bound
    step = 1 if spec.kind == "int" else 0.5
    return bound - step if side == "min" else bound + step


BOUNDED = [
    pytest.param(spec, side, id=f"{spec.owner.__name__}.{spec.name}.{side}")
    for spec in ALL_SPECS
    for side in ("min", "max")
    if getattr(spec, side) is not None
]


@pytest.mark.parametrize("spec, side", BOUNDED)
def test_values_outside_the_declared_bounds_are_rejected_naming_the_bound(spec, side):
    value = _outside(spec, side)
    with pytest.raises(ConfigError) as err:
        spec.owner(**{spec.name: value})
    message = str(err.value)
    bound = getattr(spec, side)
    assert f"Received: {spec.name}={value!r}" in message
    assert (f"{bound:g}" if isinstance(bound, float) else str(bound)) in message
    assert message.startswith("Expected ")


def test_the_bounds_test_above_covers_the_numeric_settings():
    bounded = {p.values[0].name for p in BOUNDED}
    assert {"epochs", "learning_rate", "aux_weight", "val_fraction", "train_size", "dropout", "num_classes"} <= bounded


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: TrainConfig(epochs=0), "Expected epochs to be an integer >= 1. Received: epochs=0"),
        (lambda: TrainConfig(learning_rate=0), "Expected learning_rate > 0. Received: learning_rate=0"),
        (lambda: TrainConfig(aux_weight=-0.5), "Expected aux_weight >= 0. Received: aux_weight=-0.5"),
        (lambda: DataConfig(val_fraction=0.95), "Expected 0 <= val_fraction < 0.9. Received: val_fraction=0.95"),
        (lambda: DataConfig(train_size=5), "Expected train_size to be an integer >= 10. Received: train_size=5"),
        (lambda: DataConfig(imbalance_keep=0.0), "Expected 0 < imbalance_keep <= 1. Received: imbalance_keep=0.0"),
        (lambda: ModelConfig(num_classes=1), "Expected num_classes to be an integer >= 2. Received: num_classes=1"),
        (lambda: ModelConfig(dropout=float("nan")), "Expected 0 <= dropout < 1. Received: dropout=nan"),
        (lambda: ModelConfig(scale="yes"), "Expected scale to be true or false. Received: scale='yes'"),
        (lambda: TrainConfig(epochs=2.0), "Expected epochs to be an integer >= 1. Received: epochs=2.0"),
        (lambda: TrainConfig(optimizer="rmsprop"), "Expected optimizer to be one of"),
    ],
)
def test_error_messages_keep_their_style(make, message):
    with pytest.raises(ConfigError) as err:
        make()
    assert message in str(err.value)


def test_values_outside_the_forms_range_stay_valid():
    # ui_min / ui_max only narrow the app's widgets; configs accept what they accepted before
    train = TrainConfig(aux_weight=10.0, epochs=1000, batch_size=2, learning_rate=2.0, seed=2**40)
    data = DataConfig(val_fraction=0.8, train_size=60001, canvas_size=512, test_size=None)
    model = ModelConfig(element_width=1024, reduction_ratio=128, scale_dim=None)
    assert (train.aux_weight, data.val_fraction, model.element_width) == (10.0, 0.8, 1024)
    spec = {s.name: s for s in ALL_SPECS}
    assert spec["aux_weight"].ui_max == 5.0 and spec["aux_weight"].max is None


def test_field_order_and_defaults_are_unchanged():
    expected = {
        ModelConfig: [("backbone", "plain"), ("stage_filters", (16, 32, 64)), ("convs_per_stage", 1),
                      ("input_shape", (28, 28, 1)), ("num_classes", 10), ("scale", True), ("channel", True),
                      ("element", True), ("cbam", False), ("extra_attention", "none"),
                      # the modules' own options (declared in the catalogue), in catalogue order
                      ("scale_dim", None), ("element_width", 16), ("feature_mode", "residual"),
                      ("mhsa_score", "dot"), ("num_heads", 2),
                      ("reduction_ratio", 16), ("min_hidden", 8), ("bn_momentum", 0.9), ("dropout", 0.0),
                      ("multi_label", False), ("prediction", "main")],
        DataConfig: [("dataset", "mnist"), ("data_dir", None), ("train_size", None), ("test_size", None),
                     ("val_fraction", 0.1), ("canvas_size", None), ("max_digits", 3), ("imbalance_classes", ()),
                     ("imbalance_keep", 1.0), ("subset_seed", 0), ("allow_download", True)],
        TrainConfig: [("epochs", 8), ("batch_size", 128), ("learning_rate", 3e-3), ("optimizer", "adam"),
                      ("lr_schedule", "cosine"), ("aux_weight", 0.5), ("class_weighting", "balanced"), ("seed", 0),
                      ("timeline", True), ("data", DataConfig())],
    }
    for cls, pairs in expected.items():
        actual = [(s.name, s.default) for s in config.specs(cls)]
        it = iter(actual)
        assert all(pair in it for pair in pairs), (cls.__name__, actual)  # same relative order and defaults


def test_shipped_run_configs_still_load():
    shipped = sorted(Path(__file__).resolve().parents[1].glob("models/*/config.json"))
    assert shipped
    for path in shipped:
        saved = json.loads(path.read_text())
        ModelConfig.from_dict(saved["model"])
        TrainConfig.from_dict(saved["train"])


def test_choices_are_read_from_the_module_when_used(monkeypatch):
    monkeypatch.setattr(config, "EXTRA_ATTENTION", (*config.EXTRA_ATTENTION, "fancy"))
    assert ModelConfig(extra_attention="fancy").extra_attention == "fancy"
    spec = next(s for s in config.specs(ModelConfig) if s.name == "extra_attention")
    assert spec.choices[-1] == "fancy"
    monkeypatch.setattr(config, "EXTRA_ATTENTION", ("none",))
    with pytest.raises(ConfigError, match="extra_attention='danet'"):
        ModelConfig(extra_attention="danet")


def test_bounds_come_from_the_metadata(monkeypatch):
    f = TrainConfig.__dataclass_fields__["epochs"]
    monkeypatch.setattr(f, "metadata", types.MappingProxyType({**f.metadata, "max": 50}))
    assert TrainConfig(epochs=50).epochs == 50
    with pytest.raises(ConfigError, match=r"1 <= epochs <= 50\. Received: epochs=51"):
        TrainConfig(epochs=51)


def test_config_module_imports_no_keras_and_feature_modes_is_declared_once():
    from tal.core import catalogue

    code = ("import sys, tal.core.config; "
            "sys.exit(any(m.split('.')[0] in ('keras', 'tensorflow') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1]).returncode == 0
    tal_dir = Path(config.__file__).resolve().parents[1]
    declared = [p for p in tal_dir.rglob("*.py") if re.search(r"^FEATURE_MODES\s*=", p.read_text(), re.M)]
    assert declared == [Path(catalogue.__file__).resolve()]  # with the element module's options
    from tal.core.layers import element

    assert element.FEATURE_MODES is config.FEATURE_MODES is catalogue.FEATURE_MODES


def test_canvas_size_defaults_per_dataset():
    assert DataConfig(dataset="translated").canvas == 48 and DataConfig(dataset="multidigit").canvas == 64
    assert DataConfig(dataset="multidigit", canvas_size=80).canvas == 80
    assert DataConfig().canvas is None and not DataConfig().multi_label
    assert DataConfig(dataset="multidigit").multi_label
