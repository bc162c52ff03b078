"""Model assembly, the probe, save/load and inspect."""
from __future__ import annotations

import keras
import numpy as np
import pytest

import tal
from tal.core.layers.base import AttentionLayer
from tal.core.models import build_model, build_probe

SMALL = dict(stage_filters=(8, 16, 16), element_width=8)


def _attention_layers(model):
    return [l for l in model._flatten_layers(include_self=False, recursive=True) if isinstance(l, AttentionLayer)]


def _images(n=4, size=28, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 1)).astype("float32")


def test_all_toggles_off_builds_no_attention_layer():
    model = build_model(tal.ModelConfig(scale=False, channel=False, element=False, **SMALL))
    assert _attention_layers(model) == []
    assert model.output_names == ["main"]


def test_full_model_has_every_branch_and_an_aux_head():
    model = build_model(tal.ModelConfig(cbam=True, **SMALL))
    assert {type(l).__name__ for l in _attention_layers(model)} == {
        "ScaleAttention", "ChannelAttention", "CBAM", "ElementWiseAttention"}
    assert sorted(model.output_names) == ["aux", "main"]
    out = model(_images())
    np.testing.assert_allclose(np.asarray(out["main"]).sum(-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("backbone", ["plain", "dense"])
def test_backbones_build_and_baseline_matches_their_last_stage(backbone):
    config = tal.ModelConfig(backbone=backbone, scale=False, channel=False, element=False, **SMALL)
    model = build_model(config)
    stages = model.get_layer("backbone").outputs
    assert [s.shape[1] for s in stages] == [28, 14, 7]
    assert stages[-1].shape[-1] == 16


def test_densenet121_backbone_for_paper_sized_inputs():
    model = build_model(tal.ModelConfig(backbone="densenet121", input_shape=(32, 32, 1), element_width=8))
    assert [s.shape[1] for s in model.get_layer("backbone").outputs] == [8, 4, 2, 1]
    with pytest.raises(ValueError, match="at least 32x32"):
        build_model(tal.ModelConfig(backbone="densenet121"))


def test_input_size_must_survive_the_poolings():
    with pytest.raises(ValueError, match="multiples of 4"):
        build_model(tal.ModelConfig(input_shape=(30, 30, 1), **SMALL))


def test_save_and_load_give_identical_outputs_and_maps(tmp_path):
    model = build_model(tal.ModelConfig(cbam=True, **SMALL))
    x = _images(3)
    before = tal.inspect(model, x)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    after = tal.inspect(loaded, x)
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_allclose(after[key], before[key], rtol=1e-6, atol=1e-7, err_msg=key)


def test_probe_shares_weights_and_reports_every_map():
    model = build_model(tal.ModelConfig(cbam=True, **SMALL))
    x = _images(2)
    out = build_probe(model)(x)
    np.testing.assert_allclose(np.asarray(out["main"]), np.asarray(model(x)["main"]), rtol=1e-6)
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    assert shapes["A"] == shapes["S"] == shapes["U"] == (2, 7, 7, 10)
    assert shapes["M"] == (2, 7, 7) and shapes["score"] == (2, 10)
    assert shapes["scale_weights"] == (2, 3) and shapes["channel_gate"] == (2, 16)
    assert shapes["cbam_spatial"] == (2, 7, 7)


def test_inspect_returns_consistent_numpy():
    model = build_model(tal.ModelConfig(**SMALL))
    out = tal.inspect(model, _images(5)[..., 0])  # (N, H, W) is accepted too
    assert all(isinstance(v, np.ndarray) for v in out.values())
    np.testing.assert_allclose(out["A"].sum(axis=(1, 2)), 1.0, rtol=1e-5)
    np.testing.assert_allclose((out["A"] * out["S"]).sum(axis=(1, 2)), out["score"], rtol=1e-4, atol=1e-5)
    softmax = np.exp(out["score"]) / np.exp(out["score"]).sum(-1, keepdims=True)
    np.testing.assert_allclose(out["aux"], softmax, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(out["prediction"], out["main"].argmax(-1))
    mean = tal.inspect(model, _images(5), prediction="mean")
    np.testing.assert_allclose(mean["probabilities"], (mean["main"] + mean["aux"]) / 2, rtol=1e-6)


def test_inspect_rejects_wrong_sizes_and_modes():
    model = build_model(tal.ModelConfig(element=False, **SMALL))
    with pytest.raises(ValueError, match="28x28"):
        tal.inspect(model, _images(1, size=48))
    with pytest.raises(ValueError, match="auxiliary head"):
        tal.inspect(model, _images(1), prediction="mean")
    one = tal.inspect(model, np.zeros((28, 28), "uint8"))
    assert one["probabilities"].shape == (1, 10)


EXTRA_MAPS = {
    "spatial_weights": {"sw_weights": (2, 7, 7)},
    "danet": {"danet_position": (2, 49, 49), "danet_channel": (2, 16, 16)},
    "nonlocal": {"nonlocal_attention": (2, 49, 49)},
    "pay_attention": {"ltpa_stage_1": (2, 28, 28), "ltpa_stage_2": (2, 14, 14), "ltpa_stage_3": (2, 7, 7)},
    "mhsa": {"mhsa_heads": (2, 2, 49, 49)},
}


@pytest.mark.parametrize("extra", sorted(EXTRA_MAPS))
def test_extra_attention_modules_plug_in_and_expose_their_maps(extra, tmp_path):
    config = tal.ModelConfig(extra_attention=extra, **SMALL)
    model = build_model(config)
    assert extra in config.label or (extra == "mhsa" and "mhsa-dot" in config.label)
    out = tal.inspect(model, _images(2))
    for key, shape in EXTRA_MAPS[extra].items():
        assert out[key].shape == shape, key
    if extra == "pay_attention":
        for k in (1, 2, 3):
            np.testing.assert_allclose(out[f"ltpa_stage_{k}"].sum(axis=(1, 2)), 1.0, rtol=1e-5)
    model.save(tmp_path / "m.keras")
    reloaded = tal.inspect(keras.saving.load_model(tmp_path / "m.keras", safe_mode=True), _images(2))
    np.testing.assert_allclose(reloaded["main"], out["main"], rtol=1e-5, atol=1e-7)


def test_extra_attention_alone_is_the_only_attention_layer():
    model = build_model(tal.ModelConfig(scale=False, channel=False, element=False, extra_attention="nonlocal", **SMALL))
    assert [type(l).__name__ for l in _attention_layers(model)] == ["NonLocalBlock"]
    assert model.output_names == ["main"]
