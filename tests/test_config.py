"""Config validation and the JSON round trip."""
from __future__ import annotations

import json

import pytest

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
