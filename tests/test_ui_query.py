"""The Train form's URL round trip (tal.ui.query): defaults from the configs, invalid values never raise."""

from __future__ import annotations

import types

import pytest

import tal
from tal.core import config
from tal.ui import query


def test_defaults_come_from_the_config_classes():
    d = query.defaults()
    m, t = tal.ModelConfig(), tal.TrainConfig()
    assert (d["scale"], d["channel"], d["element"], d["cbam"]) == (
        m.scale,
        m.channel,
        m.element,
        m.cbam,
    )
    assert (
        d["aux_weight"] == t.aux_weight
        and d["learning_rate"] == t.learning_rate
        and d["epochs"] == t.epochs
    )
    assert d["element_width"] == m.element_width and d["feature_mode"] == m.feature_mode


def test_round_trip():
    values = {
        **query.defaults(),
        "element": False,
        "aux_weight": 1.25,
        "dataset": "translated",
        "train_size": 1000,
        "learning_rate": 0.0005,
        "name": "my run",
    }
    decoded, warnings = query.decode(query.encode(values))
    assert warnings == []
    assert decoded == values


@pytest.mark.parametrize(
    "key,raw",
    [
        ("epochs", "abc"),
        ("epochs", "0"),
        ("learning_rate", "nan"),
        ("learning_rate", "-1"),
        ("element", "maybe"),
        ("dataset", "cifar"),
        ("batch_size", "1e9"),
        ("name", "x" * 200),
    ],
)
def test_invalid_values_fall_back_with_a_warning(key, raw):
    decoded, warnings = query.decode({key: raw})
    assert decoded[key] == query.defaults()[key]
    assert len(warnings) == 1 and key in warnings[0]


def test_unknown_and_list_values():
    decoded, warnings = query.decode({"page": "x", "epochs": ["2", "5"]})
    assert warnings == [] and decoded["epochs"] == 5


def test_to_configs_builds_valid_configs():
    values = {
        **query.defaults(),
        "scale": False,
        "train_size": 400,
        "test_size": 0,
        "seed": 3,
        "name": " ",
    }
    model, train, name = query.to_configs(values)
    assert isinstance(model, tal.ModelConfig) and not model.scale
    assert train.data.train_size == 400 and train.data.test_size is None and train.seed == 3
    assert name is None


def test_to_configs_reports_config_errors():
    with pytest.raises(tal.ConfigError, match="train_size"):
        query.to_configs({**query.defaults(), "train_size": 5})


# ----------------------------------------------------------------- the table comes from the config metadata

def _specs():
    return {spec.name: spec for cls in query.CONFIGS for spec in config.specs(cls)}


def _set_metadata(monkeypatch, cls, name, **changes):
    f = cls.__dataclass_fields__[name]
    monkeypatch.setattr(f, "metadata", types.MappingProxyType({**f.metadata, **changes}))


def test_form_fields_are_the_metadatas_form_fields_in_declared_order():
    names = [f.name for f in query.fields()]
    assert names == [
        "backbone", "scale", "channel", "element", "cbam", "extra_attention",
        "element_width", "feature_mode", "mhsa_score", "num_heads",  # the modules' own options, catalogue order
        "reduction_ratio",  # model group: ModelConfig field order
        "dataset", "data_dir", "labels_file", "boxes_file", "test_list", "image_size", "color",  # data group
        "class_names", "uncertain", "box_aliases", "test_fraction", "train_size", "test_size", "val_fraction",
        "canvas_size",
        "epochs", "batch_size", "learning_rate", "optimizer", "lr_schedule", "aux_weight",
        "class_weighting", "seed", "timeline",  # train group
        "name",  # form-only
    ]
    specs = _specs()
    assert set(names[:-1]) == {name for name, spec in specs.items() if spec.form}
    groups = [f.group for f in query.fields()]
    assert groups == sorted(groups, key=("model", "data", "train", "run").index)


def test_form_labels_help_bounds_and_choices_equal_the_metadata():
    specs = _specs()
    for f in query.fields():
        if f.name == "name":
            assert f.kind == "str" and f.group == "run"
            continue
        spec = specs[f.name]
        assert f.help == spec.help and f.choices == spec.choices and f.group == spec.form, f.name
        if spec.kind == "tuple":  # names: typed comma-separated
            assert f.kind == "str" and f.names and f.default == ", ".join(spec.default), f.name
            continue
        assert f.kind == spec.kind, f.name
        if spec.optional and spec.kind == "str":  # empty text stands for None
            assert f.label == spec.label and f.default == "" and f.placeholder == f"empty: {spec.none}", f.name
        elif spec.optional:  # 0 stands for None on the form
            assert f.label == f"{spec.label} (0 = {spec.none})" and f.min == 0 and f.default == 0
        else:
            assert f.label == spec.label and f.default == spec.default, f.name
            assert f.min == (spec.min if spec.ui_min is None else spec.ui_min), f.name
        assert f.max == (spec.max if spec.ui_max is None else spec.ui_max), f.name
    spec = query.field_map()
    assert (spec["aux_weight"].min, spec["aux_weight"].max) == (0.0, 5.0)
    assert spec["train_size"].label == "Training images (0 = all)"
    assert spec["batch_size"].min == 8 and spec["val_fraction"].max == 0.5


def test_changed_metadata_changes_the_form(monkeypatch):
    _set_metadata(monkeypatch, tal.TrainConfig, "aux_weight", ui_max=3.0, label="λ")
    f = query.field_map()["aux_weight"]
    assert (f.label, f.max) == ("λ", 3.0)
    decoded, warnings = query.decode({"aux_weight": "4"})
    assert decoded["aux_weight"] == 0.5 and "from 0 to 3" in warnings[0]


def test_a_field_given_a_form_group_joins_the_form_and_the_link(monkeypatch):
    _set_metadata(monkeypatch, tal.ModelConfig, "min_hidden", form="model")
    _set_metadata(monkeypatch, tal.DataConfig, "imbalance_keep", form="data")
    spec = query.field_map()
    assert spec["min_hidden"].kind == "int" and spec["min_hidden"].min == 1 and spec["min_hidden"].label == "Minimum hidden width"
    assert spec["imbalance_keep"].kind == "float" and spec["imbalance_keep"].default == 1.0
    assert query.encode(query.defaults())["min_hidden"] == "8"

    decoded, warnings = query.decode({"min_hidden": "4", "imbalance_keep": "0.25"})
    assert warnings == [] and decoded["min_hidden"] == 4
    model, train, _ = query.to_configs(decoded)
    assert model.min_hidden == 4 and train.data.imbalance_keep == 0.25

    decoded, warnings = query.decode({"min_hidden": "0"})  # below the metadata's min
    assert decoded["min_hidden"] == 8 and "min_hidden" in warnings[0] and "at least 1" in warnings[0]


def test_module_settings_are_greyed_until_their_module_is_on(monkeypatch):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    _set_metadata(monkeypatch, tal.TrainConfig, "epochs", ui_max=None)

    def page():
        from tal.ui import train_form

        train_form.render()

    at = AppTest.from_function(page, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    heads = at.number_input(key="train.num_heads")
    assert heads.label == "MHSA heads" and heads.value == 2
    assert heads.disabled  # only self-attention reads it (tal.core.catalogue), and it is off
    at.selectbox(key="train.extra_attention").set_value("mhsa").run()
    heads = at.number_input(key="train.num_heads")
    assert not heads.disabled
    heads.set_value(3).run()
    assert at.query_params["num_heads"] in ("3", ["3"])
    assert at.number_input(key="train.epochs").max is None


def test_choices_follow_the_config_module(monkeypatch):
    monkeypatch.setattr(config, "EXTRA_ATTENTION", (*config.EXTRA_ATTENTION, "fancy"))
    assert query.field_map()["extra_attention"].choices[-1] == "fancy"
    decoded, warnings = query.decode({"extra_attention": "fancy"})
    assert warnings == [] and decoded["extra_attention"] == "fancy"


def test_to_configs_routes_every_form_value_to_its_config():
    specs = _specs()
    values = dict(query.defaults())
    changed = {}
    for f in query.fields():
        spec = specs.get(f.name)
        if spec is None:
            continue
        if f.kind == "bool":
            changed[f.name] = not f.default
        elif f.kind == "choice":
            changed[f.name] = next(c for c in f.choices if c != f.default)
        elif f.kind == "int":
            changed[f.name] = max(f.default, spec.min or 0) + 1 if not spec.optional else 500
        elif f.kind == "float":
            changed[f.name] = round(f.default * 0.5, 6) if f.default else 0.25
    model, train, _ = query.to_configs({**values, **changed})
    owners = {tal.ModelConfig: model, tal.TrainConfig: train, tal.DataConfig: train.data}
    for name, value in changed.items():
        assert getattr(owners[specs[name].owner], name) == value, name
