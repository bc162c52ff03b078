"""The map timeline: probe choice, the schedule (spread over training, dense early, within a budget),
thinning, the spread check, and the file round trip."""
from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

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


# ------------------------------------------------------------------ the schedule, without Keras


def test_the_schedule_is_evenly_spaced_in_log_step_plus_c():
    # T / c = 7: shares (8^u - 1) / 7 at u = 0, 1/3, 2/3, 1 are 0, 1/7, 3/7, 1; c = 10, so
    # step + c doubles: 10, 20, 40, 80
    assert tl.schedule(70, 4, max_gap=0.9, ratio_max=7) == [0, 10, 30, 70]
    # that schedule's last gap is 40 of 70 = 4/7; asking for exactly that finds T / c = 7
    assert tl.spread_ratio(4, max_gap=4 / 7) == pytest.approx(7, abs=1e-9)
    # fewer than 11 snapshots cannot keep every gap at 10 %: evenly spaced
    assert tl.schedule(100, 11) == list(range(0, 101, 10)) and tl.spread_ratio(11) == 0
    assert tl.schedule(100, 5) == [0, 25, 50, 75, 100]


def test_the_default_schedule_is_dense_early_and_leaves_no_large_gap():
    steps = tl.schedule(1376, 48)  # the shipped demos' length
    assert len(steps) == 48 and steps[:5] == [0, 2, 5, 8, 11] and steps[-1] == 1376
    assert sum(s <= 1376 / 4 for s in steps) == 32  # two thirds in the first quarter
    assert max(np.diff(steps)) <= 0.1 * 1376 and tl.spread_problems(steps, 1376) == []
    assert tl.schedule_offset(1376, 48) == pytest.approx(1376 / 50)  # at the density cap, T / 50
    for total in (20, 66, 189, 424, 5000):  # any length: unique steps from 0 to the end, well spread
        for count in (16, 30, 48):
            steps = tl.schedule(total, count)
            assert steps[0] == 0 and steps[-1] == total and steps == sorted(set(steps)) and len(steps) <= count
            assert tl.spread_problems(steps, total) == [], (total, count)
    assert tl.schedule(3, 48) == [0, 1, 2, 3]  # a tiny run: a snapshot per step
    with pytest.raises(ValueError, match="count >= 2"):
        tl.schedule(10, 1)


def test_thinning_drops_the_snapshot_that_leaves_the_smallest_gap_in_log_steps():
    # log2(step + 1): 0, 1, 2, 2.58, 3, 4, 5; dropping step 5 leaves the smallest gap (2 to 3)
    assert tl.thinned([0, 1, 3, 5, 7, 15, 31], 6, offset=1) == [0, 1, 2, 4, 5, 6]
    # in plain steps (offset inf): dropping 25 leaves a gap of 10, any other one 15 or 20
    assert tl.thinned([0, 10, 20, 25, 30, 40], 5, offset=math.inf) == [0, 1, 2, 4, 5]
    assert tl.thinned([0, 1, 2, 1000], 2) == [0, 3]  # the first and the last always stay
    # a history crowded at the end, as the old thinning left it: the early snapshot survives
    late = [0, 5] + list(range(1100, 1377, 6))
    kept = [late[i] for i in tl.thinned(late, 10, offset=27.5)]
    assert kept[:2] == [0, 5] and kept[-1] == 1376 and len(kept) == 10
    with pytest.raises(ValueError, match="count >= 2"):
        tl.thinned([0, 1, 2], 1)


def test_spread_problems_says_what_fails():
    # 4 of 10 at step <= 25, the largest gap 15 of 100: exactly at both limits, so nothing fails
    assert tl.spread_problems([0, 5, 10, 20, 35, 50, 65, 80, 90, 100], 100) == []
    # the old schedule's shape: step 0, then only the end of training
    assert tl.spread_problems([0, 1112, 1200, 1300, 1376], 1376) == [
        "1 of 5 snapshots in the first quarter of the 1376 steps (at least 2 wanted)",
        "a gap of 1112 steps (81% of the training), from step 0 to 1112 (at most 15% wanted)",
    ]
    assert tl.spread_problems([3, 50], 60) == [
        "the first snapshot is at step 3, not 0",
        "the last snapshot is at step 50, not the last step 60",
        "a gap of 47 steps (78% of the training), from step 3 to 50 (at most 15% wanted)",
    ]
    assert tl.spread_problems([], 10) == ["no snapshots"]


class _FakeClock:
    """time.perf_counter for the timeline: each snapshot (two readings) takes `snapshot_s` seconds."""

    def __init__(self, snapshot_s):
        self.now, self.readings, self.snapshot_s = 0.0, 0, snapshot_s

    def __call__(self):
        self.readings += 1
        if self.readings % 2 == 0:
            self.now += self.snapshot_s
        return self.now


@pytest.fixture
def no_keras(monkeypatch):
    """The timeline's forward pass replaced by one that returns a tiny A map (no model, no Keras)."""
    fake = types.ModuleType("tal.core.inspection")
    fake.inspect = lambda model, images: {"probabilities": np.full((len(images), 3), 1 / 3),
                                          "A": np.zeros((len(images), 2, 2, 3))}
    monkeypatch.setitem(sys.modules, "tal.core.inspection", fake)

    def clock(snapshot_s):
        monkeypatch.setattr(tl, "time", types.SimpleNamespace(perf_counter=_FakeClock(snapshot_s)))
    return clock


def _train(timeline, total, step_s, *, stop_at=None):
    """What KerasBridge does: a snapshot before training, at each due step, and of the final weights."""
    timeline.snapshot(None, 0, total_steps=total)
    last = total if stop_at is None else stop_at
    for step in range(1, last + 1):
        if timeline.due(step):
            timeline.snapshot(None, step, step_seconds=step_s, total_steps=total)
    timeline.snapshot(None, last, step_seconds=step_s, total_steps=total)
    return timeline.steps


def test_a_planned_training_gets_the_schedule_within_the_budget(no_keras):
    no_keras(0.01)  # a snapshot costs 10 ms
    images = np.zeros((2, 4, 4, 1), "float32")
    # 20 ms steps: 5 % of 1000 steps is 1 s, room for 100 snapshots; the plan holds the most, 48
    steps = _train(tl.MapTimeline(images), 1000, 0.02)
    assert steps == tl.schedule(1000, 48) and tl.spread_problems(steps, 1000) == []
    # 4 ms steps: 5 % of 4 s is 0.2 s, 20 snapshots of 10 ms (the first, which traces, is not counted)
    timeline = tl.MapTimeline(images)
    steps = _train(timeline, 1000, 0.004)
    assert len(steps) <= 22 and timeline.seconds <= 0.05 * 1000 * 0.004 + 0.01
    assert tl.spread_problems(steps, 1000) == [] and steps[:2] == [0, 2]  # 48 planned before a snapshot was timed
    # 1 ms steps: the budget affords 5, the plan keeps 16 (below that the early steps are lost)
    steps = _train(tl.MapTimeline(images), 1000, 0.001)
    assert 16 <= len(steps) <= 18 and tl.spread_problems(steps, 1000) == []


def test_a_stopped_training_ends_on_its_final_weights_and_keeps_its_early_steps(no_keras):
    no_keras(0.01)
    timeline = tl.MapTimeline(np.zeros((2, 4, 4, 1), "float32"))
    steps = _train(timeline, 1000, 0.02, stop_at=137)
    assert steps[-1] == 137 and steps[:4] == [0, 2, 4, 6] and len(timeline.maps["A"]) == len(steps)
    assert steps == [s for s in tl.schedule(1000, 48) if s < 137] + [137]


def test_more_snapshots_than_kept_are_thinned_in_log_steps(no_keras):
    no_keras(0.01)
    timeline = tl.MapTimeline(np.zeros((2, 4, 4, 1), "float32"), max_snapshots=4)
    for step in range(0, 61, 10):  # no plan: a snapshot every 10 steps
        timeline.snapshot(None, step)
    # in log(step + 1), at 40: dropping 30 leaves 3.71 - 3.04 = 0.67, dropping 20 leaves 1.04, 10: 3.04;
    # at 50 and 60 the second newest goes the same way; the old thinning (every second) kept [0, 40, 60]
    assert timeline.steps == [0, 10, 20, 60] and len(timeline.maps["A"]) == 4


# ------------------------------------------------------------------ a real training, and the shipped demos


@pytest.mark.slow
def test_a_short_real_training_shows_the_maps_forming(mnist_path, runs_dir):
    from tal.core.config import DataConfig, ModelConfig, TrainConfig

    data = DataConfig(data_dir=str(mnist_path), train_size=2000, test_size=500)
    result = tal.train(ModelConfig(), TrainConfig(epochs=3, batch_size=32, data=data), name="spread")
    total, steps = result.metrics["steps_completed"], result.run.timeline()["steps"].tolist()
    quarters = np.histogram(steps, bins=4, range=(0, total))[0].tolist()
    print(f"{len(steps)} snapshots over {total} steps, per quarter {quarters}, largest gap "
          f"{max(np.diff(steps))} steps; snapshots {result.metrics['snapshot_time_s']} s of "
          f"{result.metrics['training_time_s']} s training")
    assert tl.spread_problems(steps, total) == []  # a quarter in the first quarter, no gap above 15 %
    assert result.metrics["snapshot_time_s"] <= 0.05 * result.metrics["training_time_s"] + 1.0


MODELS = Path(__file__).resolve().parents[1] / "models"


def _shipped_spread() -> dict[str, list[str]]:
    """What fails in each shipped demo's timeline, by demo name (only those that fail)."""
    out = {}
    for path in sorted(MODELS.glob("*/timeline.npz")):
        with np.load(path) as stored:
            steps = stored["steps"].tolist()
        total = json.loads((path.parent / "metrics.json").read_text())["steps_completed"]
        if problems := tl.spread_problems(steps, total):
            out[path.parent.name] = problems
    return out


def test_the_shipped_demos_timelines_show_the_maps_forming():
    assert list(MODELS.glob("*/timeline.npz")), "no shipped timelines found"
    failing = _shipped_spread()
    assert not failing, "\n".join(f"{name}: {'; '.join(problems)}" for name, problems in failing.items())
