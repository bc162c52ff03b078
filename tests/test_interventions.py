"""What-ifs inside the model: each intervention against its definition, and the refusals."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import tal
from tal.core import catalogue

CONFIG = tal.ModelConfig(input_shape=(16, 16, 1), stage_filters=(4, 8), num_classes=3)


@pytest.fixture(scope="module")
def full():
    keras.utils.set_random_seed(0)
    return tal.build_model(CONFIG)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((4, 16, 16, 1)).astype("float32")


def test_uniform_attention_makes_the_score_the_mean_of_s(full, images):
    out = tal.inspect(full, images, interventions={"A": "uniform"})
    h, w = out["A"].shape[1:3]
    np.testing.assert_allclose(out["A"], 1.0 / (h * w))
    np.testing.assert_allclose(out["score"], out["S"].mean(axis=(1, 2)), rtol=1e-5, atol=1e-6)
    plain = tal.inspect(full, images)
    assert not np.allclose(plain["score"], out["score"])  # it did change something
    np.testing.assert_allclose(plain["S"], out["S"], rtol=1e-6)  # S does not depend on A


def _copy_without(model, **off):
    """The same weights in a model built with some branches off (layers matched by name)."""
    other = tal.build_model(CONFIG.replace(**off))
    for layer in other.layers:
        if layer.weights:
            layer.set_weights(model.get_layer(layer.name).get_weights())
    return other


def test_gate_one_equals_the_model_without_the_channel_branch(full, images):
    what_if = tal.inspect(full, images, interventions={"channel_gate": 1})
    np.testing.assert_allclose(what_if["channel_gate"], 1.0)
    without = tal.inspect(_copy_without(full, channel=False), images)
    np.testing.assert_allclose(what_if["main"], without["main"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(what_if["A"], without["A"], rtol=1e-5, atol=1e-6)


def test_uniform_scale_weights(full, images):
    out = tal.inspect(full, images, interventions={"scale_weights": "uniform"})
    np.testing.assert_allclose(out["scale_weights"], 0.5)  # two stages


def test_mask_zero_passes_the_features_unchanged(full, images):
    """With M = 0 the head sees E itself: the same as the branch in feature mode "none"."""
    out = tal.inspect(full, images, interventions={"M": 0})
    np.testing.assert_allclose(out["M"], 0.0)
    none = tal.build_model(CONFIG.replace(feature_mode="none"))
    none.set_weights(full.get_weights())
    np.testing.assert_allclose(out["main"], tal.inspect(none, images)["main"], rtol=1e-5, atol=1e-6)


def test_interventions_combine_and_leave_the_plain_probe_alone(full, images):
    both = tal.inspect(full, images, interventions={"A": "uniform", "channel_gate": 1})
    np.testing.assert_allclose(both["channel_gate"], 1.0)
    np.testing.assert_allclose(both["A"], 1.0 / 64)
    plain = tal.inspect(full, images)
    assert not np.allclose(plain["channel_gate"], 1.0)


def test_refusals_say_what_is_wrong(full, images):
    baseline = tal.build_model(CONFIG.replace(scale=False, channel=False, element=False))
    with pytest.raises(ValueError, match="no element-wise attention"):
        tal.inspect(baseline, images, interventions={"A": "uniform"})
    with pytest.raises(ValueError, match="Unknown intervention 'B'"):
        tal.inspect(full, images, interventions={"B": "uniform"})
    with pytest.raises(ValueError, match="sets it to 1"):
        tal.inspect(full, images, interventions={"channel_gate": 0.5})
    with pytest.raises(ValueError, match="sets it to 'uniform'"):
        tal.inspect(full, images, interventions={"A": ["uniform"]})


def test_every_intervention_names_a_map_of_its_module():
    for module, iv in catalogue.interventions():
        assert iv.output in {spec.output for spec in module.maps}
        assert iv.title and iv.text
