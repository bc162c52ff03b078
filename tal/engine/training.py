"""The training engine: seeded runs, live progress, clean stop, atomic save.

`train()` builds the model from a `ModelConfig`, trains it on the data named
by a `TrainConfig`, evaluates it on the test set and writes a run folder (see
`tal.engine.registry`). It never imports a UI: progress goes to `TrainingCallback`s.
It may run in a background thread; Keras's global state (seed, dtype policy)
is per thread, so it is set here, inside the training thread.
"""
from __future__ import annotations

import platform
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from tal.core.config import ModelConfig, TrainConfig
from tal.engine.identity import run_identity
from tal.engine.evaluation import evaluate_model


class TrainingControl:
    """Thread-safe requests from another thread: stop, and change λ.

    Both take effect between two training batches.
    """

    def __init__(self):
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._aux_weight: float | None = None

    def stop(self) -> None:
        self.stop_event.set()

    @property
    def stop_requested(self) -> bool:
        return self.stop_event.is_set()

    def set_aux_weight(self, value: float) -> None:
        value = float(value)
        if not value >= 0:
            raise ValueError(f"Expected aux_weight >= 0. Received: {value!r}")
        with self._lock:
            self._aux_weight = value

    def take_aux_weight(self) -> float | None:
        """The pending λ request, if any (consumed)."""
        with self._lock:
            value, self._aux_weight = self._aux_weight, None
        return value


@dataclass
class RunResult:
    """What `train()` returns: the saved run (None when not saved) and its results."""

    run: object
    model: object
    metrics: dict
    history: dict
    config: dict = field(default_factory=dict)

    @property
    def stopped(self) -> bool:
        return self.metrics.get("status") == "stopped"


def package_versions() -> dict:
    import keras
    import tensorflow as tf

    import tal

    return {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": np.__version__,
        "tal": tal.__version__,
    }


def compile_model(model, model_config: ModelConfig, train_config: TrainConfig, class_weights, aux_weight, total_steps):
    """Compile with class-weighted losses on both heads and λ as a loss-weight variable.

    Single-label: weighted cross-entropy, accuracy. Multi-label: weighted
    binary cross-entropy with `class_weights = (β_P, β_N)`, and ROC AUC over
    the classes as the metric.
    """
    import keras

    from tal.core.losses import WeightedBinaryCrossEntropy, WeightedCrossEntropy
    from tal.engine.optimizers import make_optimizer

    def loss(name):
        if model_config.multi_label:
            positive, negative = class_weights if class_weights is not None else (None, None)
            return WeightedBinaryCrossEntropy(positive, negative, name=name)
        return WeightedCrossEntropy(class_weights, name=name)

    def metric():
        if model_config.multi_label:
            return [keras.metrics.AUC(multi_label=True, num_labels=model_config.num_classes, name="auc")]
        return ["accuracy"]

    losses = {"main": loss("main_ce")}
    loss_weights = {"main": 1.0}
    metrics = {"main": metric()}
    if model_config.element:
        losses["aux"] = loss("aux_ce")
        loss_weights["aux"] = aux_weight  # a keras.Variable: λ can change mid-training
        metrics["aux"] = metric()
    rate = train_config.learning_rate
    if train_config.lr_schedule == "cosine":
        # Decays to zero at the planned last step; short runs gain the most from it.
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(total_steps, 1))
    model.compile(optimizer=make_optimizer(train_config.optimizer, rate), loss=losses, loss_weights=loss_weights, metrics=metrics)


def _inference_copy(model, model_config):
    """The trained weights in a fresh, uncompiled model: the saved file holds no
    optimizer state (a third of the size) and loads without the training losses."""
    from tal.core.models import build_model

    copy = build_model(model_config)
    copy.set_weights(model.get_weights())
    return copy


def default_run_name(model_config: ModelConfig, train_config: TrainConfig) -> str:
    """A name that says what sets the run apart: 'mnist-scale_channel_element-n300-e1-s0'.

    Dataset, the branches (joined by '_', as the shipped demos are named; 'baseline' with none),
    `n<images>` when the training set is a subset, `e<epochs>` when the epochs are not the default,
    and the seed. No timestamp: a second run of the same settings gets the same name, which the
    registry (`write_run`) makes unique with `-2`, `-3`, … — the suffix only where it is needed.
    """
    data, defaults = train_config.data, TrainConfig()
    parts = [data.dataset, "_".join(model_config.branches) or "baseline"]
    if data.train_size != defaults.data.train_size:
        parts.append(f"n{data.train_size}")
    if train_config.epochs != defaults.epochs:
        parts.append(f"e{train_config.epochs}")
    parts.append(f"s{train_config.seed}")
    return "-".join(parts)


def _checked_probes(probes, input_shape) -> np.ndarray:
    probes = np.asarray(probes, dtype="float32")
    if probes.ndim == 3:
        probes = probes[None]
    if probes.shape[1:] != tuple(input_shape):
        raise ValueError(f"The probe images must have the data's shape {tuple(input_shape)}; "
                         f"received {probes.shape[1:]}.")
    return probes


def train(
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    *,
    callbacks=(),
    control: TrainingControl | None = None,
    name: str | None = None,
    if_exists: str = "rename",
    runs_dir=None,
    save: bool = True,
    dataset=None,
    probes=None,
) -> RunResult:
    """Train, evaluate and save one run.

    Args:
        model_config: the model (default `ModelConfig()`); its `input_shape`
            and `num_classes` are set from the data.
        train_config: optimisation, λ, seed and data (default `TrainConfig()`).
        callbacks: `tal.TrainingCallback`s receiving progress.
        control: a `TrainingControl` to stop or change λ from another thread.
        name: run folder name (default: `default_run_name`, e.g. 'mnist-scale_channel_element-n300-e1-s0').
        if_exists: what happens when `runs_dir` holds a run called `name` already: "rename" (the
            default: this run is saved as name-2, name-3, …; studies and the app rely on it),
            "error" (`tal.engine.registry.RunExistsError` before any data is loaded; a run that takes
            the name while this one trains makes it name-2), or "replace" (the old run is replaced
            only once this one is saved complete, in one swap; a stopped run does not replace it and
            is saved as name-2). Automatic names are always renamed.
        runs_dir: registry root (default `$TAL_RUNS_DIR` or `./runs`).
        save: write the run folder (False for throw-away runs in tests).
        dataset: an already loaded `tal.Dataset` (skips loading).
        probes: extra probe images `(N, H, W, 1)` for the map timeline (e.g. the user's own digit),
            shown after the one validation image per class.

    Returns:
        A `RunResult`. A stopped run is evaluated and saved like a finished
        one, with `metrics["status"] == "stopped"`.

    Example:
    >>> result = tal.train(tal.ModelConfig(), tal.TrainConfig(epochs=1))
    >>> result.metrics["test_accuracy"]
    """
    model_config = model_config or ModelConfig()
    train_config = train_config or TrainConfig()
    control = control or TrainingControl()
    if save:  # a taken or unusable name fails now, not after the training
        from tal.engine.registry import check_name

        name = check_name(name, runs_dir, if_exists=if_exists)
    started = time.perf_counter()
    import keras

    keras.utils.set_random_seed(train_config.seed)  # per thread: set inside the training thread
    data, model_config = _load_data(model_config, train_config, dataset)
    model, aux_weight, batches = _build_and_compile(model_config, train_config, data)
    timeline = _timeline(train_config, data, probes)
    bridge = _bridge(callbacks, control, aux_weight, model_config, train_config, data, batches, timeline)
    _notify(callbacks, "on_train_begin", {
        "name": name,
        "model": model_config.to_dict(),
        "train": train_config.to_dict(),
        "data": data.summary(),
        "params": int(model.count_params()),
        "batches_per_epoch": batches,
        "total_steps": batches * train_config.epochs,
    })
    training_time = _fit(model, data, train_config, bridge, control, timeline)
    # a Stop that arrives after the last batch does not make a complete run a stopped one
    stopped = (bridge.stopped or control.stop_requested) and bridge.step < batches * train_config.epochs
    bridge.set_phase("evaluating")
    metrics = _metrics(model, model_config, train_config, data, bridge, timeline, aux_weight, stopped=stopped,
                       training_time=training_time, started=started)
    config = _run_config(model_config, train_config, data)
    history = {"epochs": bridge.epoch_history, "batches": bridge.batch_history}
    run = None
    if save:
        from tal.engine.registry import write_run

        run = write_run(name or default_run_name(model_config, train_config), config=config,
                        history=history, metrics=metrics, model=_inference_copy(model, model_config), root=runs_dir,
                        timeline=None if timeline is None else timeline.arrays(),
                        replace=if_exists == "replace" and not stopped)
    result = RunResult(run=run, model=model, metrics=metrics, history=history, config=config)
    _notify(callbacks, "on_train_end", result)
    return result


# ------------------------------------------------------------------------------- the phases of train()


def _notify(callbacks, hook: str, value) -> None:
    """Call `hook(value)` on every callback that has it (a TrainingCallback may implement any subset)."""
    for cb in callbacks:
        if hasattr(cb, hook):
            getattr(cb, hook)(value)


def _load_data(model_config: ModelConfig, train_config: TrainConfig, dataset):
    """The data (loaded unless given) and the model config with the data's shape, classes and label kind."""
    if dataset is None:
        from tal.data.datasets import load_dataset

        dataset = load_dataset(train_config.data)
    if model_config.multi_label and not dataset.multi_label:
        from tal.core.config import ConfigError

        raise ConfigError(f"A multi-label model needs multi-label data (the multidigit dataset); "
                          f"'{dataset.name}' has one label per image.")
    return dataset, model_config.replace(
        input_shape=tuple(dataset.input_shape), num_classes=dataset.num_classes, multi_label=dataset.multi_label
    )


def _build_and_compile(model_config: ModelConfig, train_config: TrainConfig, data):
    """The compiled model, λ as a variable, and the number of batches per epoch."""
    import keras

    from tal.core.losses import multilabel_class_weights
    from tal.core.models import build_model
    from tal.data.datasets import class_weights

    model = build_model(model_config)
    weights = None
    if train_config.class_weighting == "balanced":
        weights = (multilabel_class_weights(data.y_train) if data.multi_label
                   else class_weights(data.y_train, data.num_classes))
    aux_weight = keras.Variable(train_config.aux_weight, trainable=False, name="aux_weight", dtype="float32")
    batches = int(np.ceil(len(data.x_train) / train_config.batch_size))
    compile_model(model, model_config, train_config, weights, aux_weight, batches * train_config.epochs)
    return model, aux_weight, batches


def _timeline(train_config: TrainConfig, data, probes):
    """The probe images' map timeline (one validation image per class, then `probes`), or None."""
    if not train_config.timeline:
        return None
    from tal.engine.timeline import MapTimeline, probe_images

    images = probe_images(data)
    if probes is not None:
        images = np.concatenate([images, _checked_probes(probes, data.input_shape)])
    return MapTimeline(images)


def _bridge(callbacks, control, aux_weight, model_config, train_config, data, batches, timeline):
    from tal.engine.callbacks import KerasBridge

    return KerasBridge(
        callbacks, control, aux_weight, train_config.epochs, batches, train_config.batch_size, data.x_train,
        metric="auc" if model_config.multi_label else "accuracy", timeline=timeline,
    )


def _fit(model, data, train_config: TrainConfig, bridge, control: TrainingControl, timeline) -> float:
    """Train until the last epoch or a stop, recalibrate batch norm; the training time in seconds."""
    from tal.core.batchnorm import recalibrate_batchnorm
    from tal.engine.feed import fit_data

    targets = {name: data.y_train for name in model.output_names}
    validation = None
    if len(data.x_val):
        validation = (data.x_val, {name: data.y_val for name in model.output_names})
    if timeline is not None:
        # the maps before any training; it also traces the probe, a one-off set-up cost like building the model
        bridge.snapshot(model)
    fit_start = time.perf_counter()
    if not control.stop_requested:
        _build_training_state(model, data.x_train[:1], {name: y[:1] for name, y in targets.items()})
        model.fit(
            **fit_data(data.x_train, targets, train_config.batch_size, shuffle=True, seed=train_config.seed),
            epochs=train_config.epochs,
            validation_data=validation,
            validation_batch_size=train_config.batch_size,  # a dataset feed names no batch size; Keras's default is 32
            verbose=0,
            callbacks=[bridge],
        )
    if bridge.step:
        bridge.set_phase("recalibrating")
        recalibrate_batchnorm(model, data.x_train, seed=train_config.seed)
    training_time = time.perf_counter() - fit_start
    if timeline is not None:
        bridge.snapshot(model)  # the last snapshot: the final weights, as saved
    return training_time


def _build_training_state(model, x, y) -> None:
    """Create the optimizer's slots and the loss trackers before `fit` traces its training step.

    Without a distribution strategy Keras 3 (TensorFlow backend) creates them inside the first trace
    of the step, and a `tf.function` that creates variables is traced twice: every training paid a
    second trace of the whole step (~2 s of the ~6 s a small run took on 2 cores). Keras's own
    symbolic build (what it does under a strategy) creates them from one batch's shapes, with no
    computation and no random draws; skipped on a Keras without it, which then builds them as before.
    """
    build = getattr(model, "_symbolic_build", None)
    if build is not None:
        build(data_batch=(x, y))


def _metrics(model, model_config, train_config, data, bridge, timeline, aux_weight, *, stopped: bool,
             training_time: float, started: float) -> dict:
    """The test scores and what the run did (status, times, steps, snapshots, λ); the total time runs
    from `started` (a `time.perf_counter()`) to the end of the evaluation."""
    metrics = evaluate_model(model, data.x_test, data.y_test, data.num_classes, prediction=model_config.prediction)
    metrics.update(
        status="stopped" if stopped else "completed",
        params=int(model.count_params()),
        training_time_s=round(training_time, 3),
        total_time_s=round(time.perf_counter() - started, 3),
        epochs_completed=len(bridge.epoch_history),
        steps_completed=bridge.step,
        images_per_s=round(bridge.step * train_config.batch_size / max(bridge.train_time, 1e-9), 1),
        snapshots=0 if timeline is None else len(timeline.steps),
        snapshot_time_s=0.0 if timeline is None else round(timeline.seconds, 3),
        final_aux_weight=float(aux_weight.numpy()),
        aux_weight_changed=bridge.aux_weight_changed,
        branches=list(model_config.branches),
        label=model_config.label,
    )
    return metrics


def _run_config(model_config: ModelConfig, train_config: TrainConfig, data) -> dict:
    """What the run card records: identity, settings, seed, package versions, data, time."""
    return {
        "identity": run_identity(model_config, train_config),
        "model": model_config.to_dict(),
        "train": train_config.to_dict(),
        "seed": train_config.seed,
        "versions": package_versions(),
        "data": data.summary(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
