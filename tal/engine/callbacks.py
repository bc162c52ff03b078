"""UI-free progress reporting for the training engine.

`TrainingCallback` is the protocol the engine calls; `Progress` is what it
passes. The app, the CLI's progress bar and tests implement it; nothing here
imports a UI. `KerasBridge` translates Keras's callback hooks into it and
applies stop and λ requests between batches.

`Progress.phase` says what the engine is doing, so a UI need not show a frozen
bar while no batch ends: "training", "recalibrating" (BatchNorm statistics,
before every validation and after the last batch), "validating" (end of each
epoch) and "evaluating" (the test set, after training). Every change of phase
is reported through `TrainingCallback.on_phase`.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import keras


PHASES = ("training", "recalibrating", "validating", "evaluating")


@dataclass(frozen=True)
class Progress:
    """A snapshot of a running training; losses and scores are epoch running means.

    The score fields (`accuracy`, `aux_accuracy`, `val_accuracy`) hold the
    metric named by `metric`: "accuracy" for single-label runs, "auc" (ROC
    AUC over the classes) for multi-label ones.
    """

    epoch: int  # 1-based
    epochs: int
    batch: int  # 1-based within the epoch
    batches: int  # per epoch
    step: int  # global, 1-based
    total_steps: int
    loss: float
    main_loss: float
    aux_loss: float | None
    accuracy: float
    aux_accuracy: float | None
    val_accuracy: float | None
    val_loss: float | None
    aux_weight: float
    images_per_s: float
    elapsed_s: float
    eta_s: float
    phase: str = "training"  # one of PHASES
    metric: str = "accuracy"  # what the score fields hold: "accuracy" or "auc"

    @property
    def fraction(self) -> float:
        return min(self.step / max(self.total_steps, 1), 1.0)

    def to_dict(self) -> dict:
        return asdict(self)


class TrainingCallback:
    """Override any of these; the engine calls them from the training thread."""

    def on_train_begin(self, info: dict) -> None:
        """`info`: run name, configs, dataset summary, steps, parameter count."""

    def on_batch_end(self, progress: Progress) -> None:
        """After every training batch."""

    def on_epoch_end(self, progress: Progress) -> None:
        """After every epoch, with validation metrics when there is validation data."""

    def on_phase(self, progress: Progress) -> None:
        """When `progress.phase` changes (the numbers are those of the last batch)."""

    def on_snapshot(self, snapshot: dict) -> None:
        """After each map snapshot of the probe images (`tal.engine.timeline`): `{"step",
        "images", "probabilities", map: (P, …)}`."""

    def on_train_end(self, result) -> None:
        """With the finished `tal.engine.training.RunResult` (also after a stop)."""


def _record(progress: Progress) -> dict:
    """A progress snapshot for the run's history file (no empty values; the phase is live-only)."""
    return {k: v for k, v in progress.to_dict().items() if v is not None and k != "phase"}


def _float(logs, key):
    value = logs.get(key)
    return None if value is None else float(value)


class KerasBridge(keras.callbacks.Callback):
    """Keras callback → `TrainingCallback`s, plus stop and λ requests.

    `control` is a `tal.engine.training.TrainingControl`; its stop request sets
    `model.stop_training`, which Keras checks after every batch, and a new λ
    is assigned to the loss-weight variable before the next batch.
    """

    def __init__(self, callbacks, control, aux_weight, epochs, batches, batch_size, calibration_images=None,
                 metric="accuracy", timeline=None):
        super().__init__()
        self.metric = metric
        self.timeline = timeline  # a tal.engine.timeline.MapTimeline, or None
        self.calibration_images = calibration_images
        self.tal_callbacks = list(callbacks)
        self.control = control
        self.aux_weight = aux_weight
        self.epochs, self.batches, self.batch_size = epochs, batches, batch_size
        self.step = 0
        self.epoch = 0
        # Keep about 250 batch samples per run: enough for smooth curves, small files.
        self._sample_every = max(1, epochs * batches // 250)
        self.batch_history: list[dict] = []
        self.epoch_history: list[dict] = []
        self.stopped = False
        self.aux_weight_changed = False  # λ moved mid-run: the run no longer follows from its config
        self.train_time = 0.0  # seconds inside training batches (no validation, no callbacks' own work)
        self.phase = "training"
        self._batch_start = None
        self._start = None
        self._last = (0, {})  # (batch, logs) of the last training batch

    def _emit(self, hook, progress):
        for cb in self.tal_callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(progress)

    def set_phase(self, phase: str) -> None:
        """Enter `phase` and tell the callbacks (`on_phase`), unless already in it."""
        if phase not in PHASES:
            raise ValueError(f"Expected one of {set(PHASES)}. Received: phase={phase!r}")
        if phase == self.phase:
            return
        self.phase = phase
        if self._start is not None:
            self._emit("on_phase", self._progress(*self._last))

    def on_train_begin(self, logs=None):
        self._start = time.perf_counter()

    def snapshot(self, model=None) -> None:
        """Snapshot the probe images' maps now, and tell the callbacks. The timeline is told the planned
        steps, over which it spreads its snapshots, and the mean step time, which sizes their number."""
        per_step = self.train_time / self.step if self.step else None
        snap = self.timeline.snapshot(model or self.model, self.step, step_seconds=per_step,
                                      total_steps=self.epochs * self.batches)
        self._emit("on_snapshot", {**snap, "images": self.timeline.images})

    def on_test_begin(self, logs=None):
        # Validation inside fit(): evaluate with BatchNorm statistics of the current weights.
        if self.calibration_images is not None:
            from tal.core.batchnorm import recalibrate_batchnorm

            self.set_phase("recalibrating")
            recalibrate_batchnorm(self.model, self.calibration_images, seed=self.step)
        self.set_phase("validating")

    def on_test_end(self, logs=None):
        self.set_phase("training")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1

    def on_train_batch_begin(self, batch, logs=None):
        requested = self.control.take_aux_weight()
        if requested is not None:
            self.aux_weight_changed |= abs(requested - float(self.aux_weight.numpy())) > 1e-12
            self.aux_weight.assign(requested)
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.train_time += time.perf_counter() - self._batch_start
        self.step += 1
        self._last = (batch + 1, dict(logs or {}))
        progress = self._progress(batch + 1, logs or {})
        if self.step == 1 or self.step % self._sample_every == 0 or batch + 1 == self.batches:
            self.batch_history.append(_record(progress))
        self._emit("on_batch_end", progress)
        if self.timeline is not None and self.timeline.due(self.step):
            self.snapshot()
        if self.control.stop_requested:
            self.stopped = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        progress = self._progress(self.batches, logs or {})
        self.epoch_history.append(_record(progress))
        self._emit("on_epoch_end", progress)

    def _progress(self, batch, logs) -> Progress:
        total = self.epochs * self.batches
        m = self.metric
        per_step = self.train_time / max(self.step, 1)
        aux_loss = _float(logs, "aux_loss")
        return Progress(
            epoch=self.epoch,
            epochs=self.epochs,
            batch=batch,
            batches=self.batches,
            step=self.step,
            total_steps=total,
            loss=float(logs.get("loss", float("nan"))),
            main_loss=float(logs.get("main_loss", logs.get("loss", float("nan")))),
            aux_loss=aux_loss,
            accuracy=float(logs.get(f"main_{m}", logs.get(m, float("nan")))),
            aux_accuracy=_float(logs, f"aux_{m}"),
            val_accuracy=_float(logs, f"val_main_{m}"),
            val_loss=_float(logs, "val_loss"),
            aux_weight=float(self.aux_weight.numpy()),
            images_per_s=self.batch_size / per_step if per_step > 0 else 0.0,
            elapsed_s=time.perf_counter() - self._start,
            eta_s=per_step * (total - self.step),
            phase=self.phase,
            metric=m,
        )


from tal.core.registration import register_all  # noqa: E402  (at the end: see tal.core.registration)

register_all()
