"""Localization scores on hand-made maps and boxes, Grad-CAM against its definition, and `localize`."""
from __future__ import annotations

import numpy as np
import pytest

from tal.engine import localization as loc

IMAGE = (16, 16)  # a 4x4 grid of 4-pixel cells: centres at 2, 6, 10, 14


def _peak(i, j, grid=(4, 4)):
    heatmap = np.zeros(grid)
    heatmap[i, j] = 1.0
    return heatmap


def test_pointing_hit_and_miss():
    box = [(4, 4, 8, 8)]
    assert loc.pointing_hit(_peak(1, 1), box, IMAGE)  # centre (6, 6) is inside
    assert not loc.pointing_hit(_peak(3, 3), box, IMAGE)  # centre (14, 14) is far outside


def test_pointing_tolerance_edge():
    # tolerance = half a 4-pixel cell = 2 px; the peak's centre is (6, 6)
    assert loc.pointing_hit(_peak(1, 1), [(0, 0, 4, 4)], IMAGE)  # 4 + 2 = 6: exactly on the edge counts
    assert not loc.pointing_hit(_peak(1, 1), [(0, 0, 3, 3)], IMAGE)  # 3 + 2 = 5 < 6
    assert not loc.pointing_hit(_peak(1, 1), [(0, 0, 4, 4)], IMAGE, tolerance_cells=0.0)


def test_pointing_uses_any_box_of_the_class():
    assert loc.pointing_hit(_peak(3, 0), [(0, 12, 4, 16), (12, 0, 16, 4)], IMAGE)


def test_pointing_chance_counts_cells_whose_centre_hits():
    # grown box [2, 10] x [2, 10] holds centres 2, 6, 10 on each axis: 9 of 16 cells
    assert loc.pointing_chance((4, 4), [(4, 4, 8, 8)], IMAGE) == pytest.approx(9 / 16)


def test_energy_share_of_positive_mass():
    box = [(4, 4, 8, 8)]
    assert loc.energy_share(_peak(1, 1), box, IMAGE) == pytest.approx(1.0)
    assert loc.energy_share(np.ones((4, 4)), box, IMAGE) == pytest.approx(16 / 256)  # flat = chance
    assert loc.energy_chance(box, IMAGE) == pytest.approx(16 / 256)
    half = _peak(1, 1) + _peak(3, 3) - 5 * _peak(0, 0)  # negative mass is ignored
    assert loc.energy_share(half, box, IMAGE) == pytest.approx(0.5)
    assert loc.energy_share(-np.ones((4, 4)), box, IMAGE) is None


def test_to_pixels_spreads_each_cell_over_its_block():
    pixels = loc.to_pixels(np.arange(4).reshape(2, 2), (4, 4))
    assert pixels.tolist() == [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]]


def _objects(*rows):
    """(N, K, 5) from per-image lists of (class, y0, x0, y1, x1), padded with class -1."""
    k = max(len(r) for r in rows)
    out = np.zeros((len(rows), k, 5), np.int32)
    out[..., 0] = -1
    for n, row in enumerate(rows):
        for j, obj in enumerate(row):
            out[n, j] = obj
    return out


def test_score_maps_per_class_and_overall():
    objects = _objects([(0, 4, 4, 8, 8), (2, 12, 12, 16, 16)], [(0, 0, 0, 4, 4)])
    maps = np.zeros((2, 4, 4, 3))
    maps[0, 1, 1, 0] = 1  # class 0 on image 0: hit
    maps[0, 0, 0, 2] = 1  # class 2 on image 0: miss (its box is the bottom-right corner)
    maps[1, 3, 3, 0] = 1  # class 0 on image 1: miss
    scores = loc.score_maps(maps, objects, IMAGE, 3)
    assert scores["pairs"] == 3
    assert scores["pointing"]["overall"] == pytest.approx(1 / 3)
    assert scores["pointing"]["per_class"] == [0.5, None, 0.0]
    assert scores["energy"]["per_class"][0] == pytest.approx(0.5)
    assert scores["energy"]["chance"] == pytest.approx(16 / 256)


def test_class_agnostic_map_is_scored_for_every_class():
    objects = _objects([(0, 4, 4, 8, 8), (1, 12, 12, 16, 16)])
    scores = loc.score_maps(_peak(1, 1)[None], objects, IMAGE, 2)
    assert scores["pointing"]["per_class"] == [1.0, 0.0]


def test_rank_correlation():
    objects = _objects([(0, 0, 0, 4, 4)])
    a = np.arange(16, dtype=float).reshape(1, 4, 4, 1)
    assert loc.rank_correlation(a, a, objects) == pytest.approx(1.0)
    assert loc.rank_correlation(a, -a, objects) == pytest.approx(-1.0)
    assert loc.rank_correlation(a, np.zeros_like(a), objects) == 0.0


@pytest.fixture(scope="module")
def tiny_models():
    import keras

    import tal

    keras.utils.set_random_seed(0)
    config = tal.ModelConfig(input_shape=(16, 16, 1), stage_filters=(4, 8), num_classes=3)
    return {
        "baseline": (config.replace(scale=False, channel=False, element=False),),
        "full": (config,),
    }


@pytest.mark.parametrize("which", ["baseline", "full"])
def test_grad_cam_is_the_class_activation_map_behind_gap(tiny_models, which):
    """Behind GAP + Dense, α_k = W[k, c] / (h·w), so Grad-CAM = ReLU(Σ_k W[k, c] F_k) / (h·w)."""
    import tal
    from tal.core.models import features_and_logits

    (config,) = tiny_models[which]
    model = tal.build_model(config)
    images = np.random.default_rng(0).random((3, 16, 16, 1)).astype("float32")
    cams = loc.grad_cam(model, images)
    features, logits = features_and_logits(model, images)
    features = np.asarray(features)
    kernel = np.asarray(model.get_layer("main").kernel)
    h, w = features.shape[1:3]
    expected = np.maximum(np.einsum("nhwk,kc->nhwc", features, kernel), 0) / (h * w)
    assert cams.shape == (3, h, w, 3)
    np.testing.assert_allclose(cams, expected, rtol=1e-4, atol=1e-6)
    # the logits are the head before its softmax
    probs = model.predict(images, verbose=0)["main"]
    np.testing.assert_allclose(probs, keras_softmax(np.asarray(logits)), rtol=1e-5)


def keras_softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_localize_scores_methods_and_skips_missing_ones(tiny_models):
    import tal

    (config,) = tiny_models["baseline"]
    model = tal.build_model(config)
    images = np.random.default_rng(1).random((4, 16, 16, 1)).astype("float32")
    objects = _objects([(0, 4, 4, 8, 8)], [(1, 0, 0, 8, 8)], [(2, 8, 8, 16, 16)], [(0, 0, 8, 8, 16)])
    out = loc.localize(model, config, images, objects, methods=["A", "gradcam"])
    assert list(out["methods"]) == ["gradcam"] and "A" in out["skipped"]
    assert "no element-wise branch" in out["skipped"]["A"]
    assert out["pairs"] == 4 and out["tolerance_px"] == pytest.approx(0.5 * 16 / out["methods"]["gradcam"]["grid"][0])
    assert 0 <= out["methods"]["gradcam"]["pointing"]["overall"] <= 1
    assert set(out["methods"]["gradcam"]["randomisation"]) == {"spearman", "trusted"}


def test_localize_refuses_without_boxes_or_methods(tiny_models):
    import tal

    (config,) = tiny_models["baseline"]
    model = tal.build_model(config)
    images = np.zeros((2, 16, 16, 1), "float32")
    with pytest.raises(loc.LocalizationError, match="no boxes"):
        loc.localize(model, config, images, _objects([(-1, 0, 0, 0, 0)], [(-1, 0, 0, 0, 0)]))
    with pytest.raises(loc.LocalizationError, match="None of the requested methods"):
        loc.localize(model, config, images, _objects([(0, 0, 0, 4, 4)], [(1, 0, 0, 4, 4)]), methods=["U"])


def test_available_methods_follow_the_catalogue():
    import tal

    full = tal.ModelConfig(cbam=True)
    assert loc.available_methods(full) == ("A", "U", "S+", "M", "cbam_spatial", "gradcam")
    assert loc.available_methods(tal.ModelConfig(element=False)) == ("gradcam",)


def test_method_titles_come_from_the_catalogue_and_class_agnostic_maps_say_so():
    from tal.core import catalogue

    assert loc.method_title("A") == catalogue.map_spec("A").title
    assert loc.method_title("cbam_spatial") == catalogue.map_spec("cbam_spatial").title + " (all classes)"
    assert loc.method_title(loc.GRADCAM) == "Grad-CAM (post hoc)"
    assert loc.method_title("not-a-map") == "not-a-map"
    # the pictures that localization scores for every class are exactly the catalogue's spatial pictures
    pictures = {spec.output for _, spec in catalogue.map_specs() if spec.spatial_picture}
    assert pictures >= {"M", "cbam_spatial", "sw_weights"}
    assert all(catalogue.map_spec(k).view == "picture" for k in pictures)
