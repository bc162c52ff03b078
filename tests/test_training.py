"""The training engine on real MNIST subsets: BN trap, stop, λ, run folder."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

import tal
from tal.core.config import DataConfig, ModelConfig, TrainConfig

SMALL_MODEL = ModelConfig()  # the default widths: the smallest that learn fast enough here


def _config(mnist_path, **train):
    data = DataConfig(data_dir=str(mnist_path), train_size=1500, test_size=500, val_fraction=0.2)
    return TrainConfig(**{"epochs": 1, "batch_size": 32, "data": data, **train})


class Recorder(tal.TrainingCallback):
    def __init__(self, at_batch=None, action=None):
        self.batches, self.epochs, self.info, self.result = [], [], None, None
        self.at_batch, self.action = at_batch, action

    def on_train_begin(self, info):
        self.info = info

    def on_batch_end(self, progress):
        self.batches.append(progress)
        if progress.step == self.at_batch:
            self.action()

    def on_epoch_end(self, progress):
        self.epochs.append(progress)

    def on_train_end(self, result):
        self.result = result


@pytest.mark.slow
def test_short_run_saves_a_complete_run_and_inference_tracks_training(mnist_path, runs_dir):
    recorder = Recorder()
    result = tal.train(SMALL_MODEL, _config(mnist_path, epochs=2), callbacks=[recorder], name="short")
    run = result.run
    assert run.path == runs_dir / "short"
    config = json.loads((run.path / "config.json").read_text())
    assert config["seed"] == 0 and {"tensorflow", "keras", "numpy", "python"} <= set(config["versions"])
    assert config["model"]["input_shape"] == [28, 28, 1]
    metrics = run.metrics
    for key in ("test_accuracy", "per_class_accuracy", "confusion_matrix", "params", "training_time_s"):
        assert key in metrics
    assert np.array(metrics["confusion_matrix"]).sum() == 500
    assert metrics["status"] == "completed" and metrics["epochs_completed"] == 2
    assert len(recorder.epochs) == 2 and recorder.epochs[-1].val_accuracy is not None
    assert recorder.batches[-1].step == recorder.info["total_steps"]
    assert recorder.batches[-1].aux_loss is not None and recorder.batches[-1].images_per_s > 0
    assert recorder.result is result

    # The BatchNorm trap: inference-mode accuracy must track training-mode accuracy.
    data = tal.load_dataset(_config(mnist_path).data)
    model = run.load_model()
    x, y = data.x_train[:600], data.y_train[:600]
    train_mode = (np.asarray(model(x, training=True)["main"]).argmax(-1) == y).mean()
    inference = (np.asarray(model(x, training=False)["main"]).argmax(-1) == y).mean()
    assert train_mode > 0.6
    assert inference > train_mode - 0.03
    assert metrics["test_accuracy"] > 0.6


@pytest.mark.slow
def test_stop_ends_within_a_batch_and_still_saves(mnist_path, runs_dir):
    control = tal.TrainingControl()
    recorder = Recorder(at_batch=3, action=control.stop)
    result = tal.train(SMALL_MODEL, _config(mnist_path, epochs=3), callbacks=[recorder], control=control)
    assert result.stopped and result.metrics["steps_completed"] == 3
    assert result.run is not None and tal.runs.load_run(result.run.name).metrics["status"] == "stopped"


@pytest.mark.slow
def test_validation_runs_in_batches_of_the_training_batch_size(mnist_path, monkeypatch):
    # fit is fed a dataset, which names no batch size; without one, Keras validates 32 images at a time
    from tal.engine.callbacks import KerasBridge

    validation_batches = []
    monkeypatch.setattr(KerasBridge, "on_test_batch_end", lambda self, batch, logs=None: validation_batches.append(batch),
                        raising=False)
    result = tal.train(SMALL_MODEL, _config(mnist_path, batch_size=100), save=False)
    assert len(result.history["epochs"]) == 1
    assert len(validation_batches) == 3  # 300 validation images (20 % of 1,500) in batches of 100, not 10 of 32


@pytest.mark.slow
def test_lambda_change_takes_effect_on_the_next_batch(mnist_path):
    control = tal.TrainingControl()
    recorder = Recorder(at_batch=2, action=lambda: control.set_aux_weight(2.0))
    result = tal.train(SMALL_MODEL, _config(mnist_path, aux_weight=0.5), callbacks=[recorder], control=control, save=False)
    weights = [p.aux_weight for p in recorder.batches]
    assert weights[:2] == [0.5, 0.5] and set(weights[2:]) == {2.0}
    assert result.metrics["final_aux_weight"] == 2.0 and result.run is None


@pytest.mark.slow
def test_a_stop_after_the_last_batch_leaves_the_run_complete(mnist_path):
    """Stop pressed while the last batch ran: every step was trained, so the run is complete, not stopped."""
    control = tal.TrainingControl()
    config = _config(mnist_path)
    total = -(-int(1500 * 0.8) // 32)  # 1,200 training images after validation, batch 32: 38 steps
    recorder = Recorder(at_batch=total, action=control.stop)
    result = tal.train(SMALL_MODEL, config, callbacks=[recorder], control=control, save=False)
    assert recorder.info["total_steps"] == total
    assert result.metrics["steps_completed"] == total and result.metrics["status"] == "completed"


def test_stop_before_start_trains_nothing(mnist_path):
    control = tal.TrainingControl()
    control.stop()
    result = tal.train(SMALL_MODEL, _config(mnist_path), control=control, save=False)
    assert result.metrics["steps_completed"] == 0 and result.stopped


def test_set_aux_weight_validates():
    with pytest.raises(ValueError, match="aux_weight"):
        tal.TrainingControl().set_aux_weight(-1)


def test_recalibrated_batchnorm_matches_population_statistics():
    from tal.core.batchnorm import recalibrate_batchnorm

    inputs = keras.Input((3,))
    bn = keras.layers.BatchNormalization(momentum=0.99)
    model = keras.Model(inputs, bn(inputs))
    x = np.random.default_rng(0).normal(loc=[1.0, -2.0, 5.0], scale=[1.0, 2.0, 0.5], size=(4096, 3)).astype("float32")
    recalibrate_batchnorm(model, x, batches=16, batch_size=256)
    np.testing.assert_allclose(bn.moving_mean.numpy(), [1.0, -2.0, 5.0], atol=0.08)
    np.testing.assert_allclose(bn.moving_variance.numpy(), [1.0, 4.0, 0.25], rtol=0.1)
    assert bn.momentum == 0.99  # restored


class PhaseRecorder(tal.TrainingCallback):
    def __init__(self):
        self.phases, self.batch_phases = [], set()

    def on_phase(self, progress):
        self.phases.append(progress.phase)

    def on_batch_end(self, progress):
        self.batch_phases.add(progress.phase)


@pytest.mark.slow
def test_phases_are_reported_while_no_batch_ends(mnist_path):
    """Validation and the BatchNorm recalibration take seconds without a batch ending:
    the engine says which phase it is in, so a UI can show it instead of a frozen bar."""
    data = DataConfig(data_dir=str(mnist_path), train_size=96, test_size=32, val_fraction=0.34)
    recorder = PhaseRecorder()
    tal.train(
        ModelConfig(scale=False, channel=False),
        TrainConfig(epochs=1, batch_size=32, data=data),
        callbacks=[recorder],
        save=False,
    )
    # end of the epoch: recalibrate, validate, back to training; after fit(): recalibrate, test set
    assert recorder.phases == ["recalibrating", "validating", "training", "recalibrating", "evaluating"]
    assert recorder.batch_phases == {"training"}


def test_unknown_phase_is_refused():
    from tal.engine.callbacks import KerasBridge

    bridge = KerasBridge([], tal.engine.training.TrainingControl(), keras.Variable(1.0), 1, 1, 32)
    with pytest.raises(ValueError, match="phase='resting'"):
        bridge.set_phase("resting")


@pytest.mark.slow
def test_multi_label_training_end_to_end(mnist_path, runs_dir):
    """multidigit: sigmoid heads, β-weighted BCE on both, AUC while training and on the test canvases."""
    data = DataConfig(dataset="multidigit", data_dir=str(mnist_path), train_size=1200, test_size=300)
    recorder = Recorder()
    result = tal.train(ModelConfig(), TrainConfig(epochs=2, batch_size=64, data=data), callbacks=[recorder],
                       name="md")
    m = result.metrics
    assert result.config["model"]["multi_label"] is True
    assert recorder.batches[-1].metric == "auc" and 0.5 < recorder.epochs[-1].accuracy <= 1
    assert set(result.model.get_layer("main").get_config()["activation"] for _ in [0]) == {"sigmoid"}
    assert m["mean_auc"] > 0.6 and len(m["per_class_auc"]) == 10 and "mean_auc_aux" in m
    assert 0 <= m["exact_match"] <= 1 and 0 <= m["micro_f1"] <= 1 and "test_accuracy" not in m
    saved = json.loads((result.run.path / "metrics.json").read_text())
    assert saved["mean_auc"] == pytest.approx(m["mean_auc"])
    # the saved model reproduces the scores
    from tal.engine.evaluation import evaluate_model
    from tal.data.datasets import load_dataset

    test = load_dataset(data)
    again = evaluate_model(result.run.load_model(), test.x_test, test.y_test, 10)
    assert again["mean_auc"] == pytest.approx(m["mean_auc"], abs=1e-6)


def test_multi_label_model_on_single_label_data_is_refused(mnist_path):
    with pytest.raises(tal.ConfigError, match="multi-label data"):
        tal.train(ModelConfig(multi_label=True), _config(mnist_path), save=False)


@pytest.mark.slow
def test_a_run_keeps_its_map_timeline_and_its_last_snapshot_is_the_saved_model(mnist_path, runs_dir):
    recorder = Recorder()
    seen = []
    recorder.on_snapshot = seen.append
    result = tal.train(ModelConfig(), _config(mnist_path), callbacks=[recorder], name="tl")
    timeline = result.run.timeline()
    steps = timeline["steps"].tolist()
    assert steps[0] == 0 and steps[-1] == result.metrics["steps_completed"] and steps == sorted(set(steps))
    assert timeline["images"].shape == (10, 28, 28, 1)  # one validation image per class
    assert timeline["A"].shape[:2] == (len(steps), 10) and timeline["U"].shape == timeline["A"].shape
    final = tal.inspect(result.run.load_model(), timeline["images"])
    np.testing.assert_allclose(timeline["A"][-1], final["A"], atol=2e-3)
    np.testing.assert_allclose(timeline["probabilities"][-1], final["probabilities"], atol=2e-3)
    # every kept snapshot reached the callbacks (more did: the history is thinned to at most 48)
    assert set(steps) <= {s["step"] for s in seen} and seen[-1]["step"] == steps[-1]
    assert result.metrics["snapshots"] == len(steps) <= 48
    # the snapshots' own time stays within the 5 % budget of the training time (plus the final one)
    assert result.metrics["snapshot_time_s"] <= 0.05 * result.metrics["training_time_s"] + 1.0


@pytest.mark.slow
def test_the_users_own_probe_digit_joins_the_timeline_and_a_wrong_shape_is_refused(mnist_path):
    own = np.zeros((28, 28, 1), "float32")
    own[8:20, 12:16] = 1.0  # a bar: a "1" of the user's own
    recorder, seen = Recorder(), []
    recorder.on_snapshot = seen.append
    tal.train(ModelConfig(scale=False, channel=False), _config(mnist_path), save=False, probes=own,
              callbacks=[recorder])
    assert seen[-1]["images"].shape == (11, 28, 28, 1)  # one validation image per class, then the user's
    np.testing.assert_array_equal(seen[-1]["images"][-1], own)
    assert seen[-1]["A"].shape[0] == 11
    with pytest.raises(ValueError, match=r"probe images must have the data's shape \(28, 28, 1\)"):
        tal.train(ModelConfig(), _config(mnist_path), save=False, probes=np.zeros((1, 48, 48, 1)))


@pytest.mark.slow
def test_a_run_without_timeline(mnist_path, runs_dir):
    result = tal.train(ModelConfig(), _config(mnist_path, timeline=False, epochs=1), name="no-tl")
    assert result.run.timeline() is None and result.metrics["snapshots"] == 0


def test_default_run_names_say_what_differs_and_stay_unique(tmp_path):
    from tal.engine.registry import write_run
    from tal.engine.training import default_run_name

    small = DataConfig(train_size=300, test_size=200)
    assert default_run_name(ModelConfig(), TrainConfig(epochs=1, data=small)) == \
        "mnist-scale_channel_element-n300-e1-s0"
    assert default_run_name(ModelConfig(scale=False, channel=False, element=False), TrainConfig(seed=3)) == \
        "mnist-baseline-s3"  # all images and the default epochs: not named
    assert default_run_name(ModelConfig(scale=False, cbam=True), TrainConfig(
        epochs=2, data=DataConfig(dataset="multidigit"))) == "multidigit-channel_element_cbam-e2-s0"
    names = {default_run_name(ModelConfig(element=e), TrainConfig(epochs=n, seed=s, data=DataConfig(train_size=t)))
             for e in (True, False) for n in (1, 8) for s in (0, 1) for t in (None, 300)}
    assert len(names) == 16  # every setting it names tells two runs apart

    class Model:
        def save(self, path):
            path.write_bytes(b"model")

    name = default_run_name(ModelConfig(), TrainConfig(epochs=1, data=small))
    first, second = (write_run(name, config={}, history={}, metrics={}, model=Model(), root=tmp_path).name
                     for _ in range(2))
    assert (first, second) == (name, f"{name}-2")  # the same settings again: a suffix only where needed


def _old_run(root, name="kept"):
    from tal.engine.registry import write_run

    class Model:
        def save(self, path):
            path.write_bytes(b"old model")

    return write_run(name, config={"mark": "old"}, history={}, metrics={"status": "completed"}, model=Model(),
                     root=root).path


def test_a_taken_name_is_refused_before_any_data_is_loaded(tmp_path):
    from tal.engine.registry import RunExistsError

    _old_run(tmp_path, "kept")
    nowhere = TrainConfig(data=DataConfig(data_dir=str(tmp_path / "no-mnist"), allow_download=False))
    with pytest.raises(RunExistsError, match="'kept' already exists.*'kept-2'"):  # not the missing data
        tal.train(SMALL_MODEL, nowhere, name="kept", if_exists="error", runs_dir=tmp_path)
    with pytest.raises(tal.ConfigError, match="if_exists"):
        tal.train(SMALL_MODEL, nowhere, name="new", if_exists="overwrite", runs_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept"]


@pytest.mark.slow
def test_a_stopped_or_failed_replacement_leaves_the_old_run(mnist_path, tmp_path):
    old = _old_run(tmp_path, "kept")
    tiny = TrainConfig(epochs=1, batch_size=32, data=DataConfig(data_dir=str(mnist_path), train_size=200,
                                                                test_size=100))
    control = tal.TrainingControl()
    control.stop()  # stopped before its first batch: saved, but not in place of the old run
    result = tal.train(SMALL_MODEL, tiny, control=control, name="kept", if_exists="replace", runs_dir=tmp_path)
    assert result.stopped and result.run.name == "kept-2"
    assert json.loads((old / "config.json").read_text()) == {"mark": "old"}

    class Fails(tal.TrainingCallback):
        def on_epoch_end(self, progress):
            raise RuntimeError("the training broke")

    with pytest.raises(RuntimeError, match="the training broke"):
        tal.train(SMALL_MODEL, tiny, callbacks=[Fails()], name="kept", if_exists="replace", runs_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "kept-2"]
    assert (old / "model.keras").read_bytes() == b"old model"
