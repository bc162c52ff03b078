"""The Train form's URL round trip (tal.ui.query): defaults from the configs, invalid values never raise."""

from __future__ import annotations

import pytest

import tal
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
