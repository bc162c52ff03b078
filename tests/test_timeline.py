"""The map timeline: probe choice, snapshots within a budget, thinning, and the file round trip."""
from __future__ import annotations

import numpy as np
import pytest

import tal
from tal.engine import timeline as tl


class _Data:
    def __init__(self, y_val, y_train=None):
        self.y_val = np.asarray(y_val)
        self.x_val = np.arange(len(self.y_val), dtype="float32")[:, None, None, None] * np.ones((1, 4, 4, 1), "float32")
        self.y_train = np.asarray(y_train if y_train is not None else self.y_val)
        self.x_train = self.x_val
        self.num_classes = 3


def test_probe_images_are_one_validation_image_per_class():
    probes = tl.probe_images(_Data([2, 0, 0, 1, 2]))
    assert probes[:, 0, 0, 0].tolist() == [0.0, 1.0, 3.0]  # first of class 2, 0, 1 in index order


def test_multi_label_probes_show_each_class_once():
    probes = tl.probe_images(_Data([[1, 1, 0], [0, 1, 0], [0, 0, 1]]))
    assert probes[:, 0, 0, 0].tolist() == [0.0, 2.0]  # canvas 0 stands for classes 0 and 1


@pytest.fixture(scope="module")
def model():
    import keras

    keras.utils.set_random_seed(0)
    return tal.build_model(tal.ModelConfig(input_shape=(16, 16, 1), stage_filters=(4, 8), num_classes=3))


def test_snapshots_schedule_within_the_budget_and_thin(model):
    images = np.random.default_rng(0).random((3, 16, 16, 1)).astype("float32")
    timeline = tl.MapTimeline(images, budget=0.05, max_snapshots=4)
    for step in range(0, 200):
        if timeline.due(step):
            timeline.snapshot(model, step, step_seconds=0.01)
    # a snapshot costs more than 5 % of a 10 ms step, so they are spread out
    assert len(timeline.steps) <= 4 and timeline.steps[0] == 0
    assert all(b > a for a, b in zip(timeline.steps, timeline.steps[1:]))
    out = timeline.arrays()
    assert out["A"].shape == (len(timeline.steps), 3, 8, 8, 3) and out["A"].dtype == np.float16
    assert {"S", "M", "channel_gate", "scale_weights", "probabilities"} <= set(out) and "U" not in out


def test_the_same_step_again_replaces_the_last_snapshot(model):
    images = np.zeros((2, 16, 16, 1), "float32")
    timeline = tl.MapTimeline(images)
    timeline.snapshot(model, 5)
    timeline.snapshot(model, 5)
    assert timeline.steps == [5] and len(timeline.maps["A"]) == 1


def test_round_trip_derives_u_and_score(model, tmp_path):
    images = np.random.default_rng(1).random((2, 16, 16, 1)).astype("float32")
    timeline = tl.MapTimeline(images)
    timeline.snapshot(model, 0)
    timeline.snapshot(model, 3)
    tl.save(tmp_path / "timeline.npz", timeline.arrays())
    loaded = tl.load(tmp_path / "timeline.npz")
    assert loaded["steps"].tolist() == [0, 3] and loaded["images"].shape == (2, 16, 16, 1)
    now = tal.inspect(model, images)
    np.testing.assert_allclose(loaded["A"][-1], now["A"], atol=2e-3)  # float16 storage
    np.testing.assert_allclose(loaded["score"][-1], now["score"], atol=2e-2)
    np.testing.assert_allclose(loaded["U"][-1], now["U"], atol=2e-3)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="budget"):
        tl.MapTimeline(np.zeros((1, 4, 4, 1)), budget=0)
    with pytest.raises(ValueError, match="max_snapshots"):
        tl.MapTimeline(np.zeros((1, 4, 4, 1)), max_snapshots=1)


def test_the_snapshot_shown_at_a_step_is_the_last_one_at_or_before_it():
    steps = [0, 4, 9, 20]
    assert [tl.index_at(steps, s) for s in (0, 3, 4, 8, 9, 19, 20, 99)] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert tl.index_at([5, 10], 2) == 0  # before the first snapshot: the first one
    with pytest.raises(ValueError, match="non-empty"):
        tl.index_at([], 3)


def test_two_runs_are_matched_by_step_or_by_share_of_their_training():
    short, long = [0, 3, 6, 10], [0, 5, 12, 30, 40]
    assert tl.matched_indices([short, long], 6) == [2, 1]  # steps 6 and 5
    assert tl.matched_indices([short, long], 40) == [3, 4]  # each run's final snapshot
    # a quarter of 10 steps is step 2.5 (snapshot 0), of 40 steps is step 10 (snapshot 1, step 5)
    assert tl.matched_indices([short, long], 0.25, by="share") == [0, 1]
    assert tl.matched_indices([short, long], 0.3, by="share") == [1, 2]  # steps 3 and 12
    assert tl.matched_indices([short, long], 1.0, by="share") == [3, 4]
    with pytest.raises(ValueError, match="between 0 and 1"):
        tl.matched_indices([short], 2, by="share")
    with pytest.raises(ValueError, match="Expected by"):
        tl.matched_indices([short], 2, by="epoch")
