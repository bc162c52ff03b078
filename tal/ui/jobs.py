"""Background training jobs: one per browser session, a server-wide cap on concurrent runs.

Training never runs in the script thread (any widget click reruns the script
and would kill `fit()`). A `TrainingJob` is created by the Train
page, kept in that session's `st.session_state` (so other sessions never see
it), and run by the process-wide `JobManager` in a daemon thread.

The manager holds `slots` training slots (default 1: every fit uses all
cores, two at once would only slow both). A job that finds no free slot waits
in a first-come-first-served queue, reports its position, and starts by
itself when the slot frees; Stop while waiting cancels it.

Nothing here touches Streamlit widgets; pages poll the job's fields.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid

from tal.engine.training import TrainingControl

ACTIVE = ("queued", "loading", "training", "finishing")
DONE = ("completed", "stopped", "cancelled", "failed")


class TrainingJob:
    """The live state of one training run, written by its thread and read by the page.

    Status flow: `queued` → `loading` (data, model) → `training` → `finishing`
    (test-set evaluation, saving) → `completed` | `stopped`; or `cancelled`
    (stopped while queued) or `failed` (`error` holds a message for users,
    `error_details` the traceback).
    """

    def __init__(self, model_config, train_config, *, name: str | None = None, runs_dir=None, probes=None):
        self.id = uuid.uuid4().hex[:8]
        self.probes = probes  # the user's own probe images for the live maps, or None
        self.model_config = model_config
        self.train_config = train_config
        self.name = name
        self.runs_dir = runs_dir
        self.control = TrainingControl()
        self.status = "queued"
        self.queue_position = 0  # jobs ahead of this one while queued
        self.info: dict | None = None  # from TrainingCallback.on_train_begin
        self.batches: list[dict] = []  # one tal.Progress dict per training batch
        self.epochs: list[dict] = []  # one per finished epoch (with validation accuracy)
        self.phase = "training"  # tal.Progress.phase: training, recalibrating, validating, evaluating
        self.snapshot: dict | None = None  # the newest map snapshot of the probe images (tal.engine.timeline)
        self.run_path = None
        self.metrics: dict | None = None
        self.error: str | None = None
        self.error_details: str | None = None
        self.error_type: str | None = None  # class name of the exception, e.g. "DataNotFoundError"
        self.created = time.time()
        self.started: float | None = None
        self.finished: float | None = None
        self.thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def latest(self) -> dict | None:
        return self.batches[-1] if self.batches else None

    def stop(self) -> None:
        """Ask the run to stop after the current batch (or leave the queue)."""
        self.control.stop()

    @property
    def stop_requested(self) -> bool:
        return self.control.stop_requested

    def set_aux_weight(self, value: float) -> None:
        """Change λ from the next training batch on."""
        self.control.set_aux_weight(value)

    def execute(self) -> None:
        """Train (in the manager's thread, holding the slot); sets the outcome fields."""
        from tal.engine.training import train
        from tal.ui.progress import JobRecorder

        result = train(self.model_config, self.train_config, callbacks=[JobRecorder(self)], control=self.control,
                       name=self.name, runs_dir=self.runs_dir, probes=self.probes)
        self.metrics = result.metrics
        self.run_path = None if result.run is None else result.run.path
        self.status = "stopped" if result.stopped else "completed"

    def wait(self, timeout: float | None = None) -> bool:
        """Join the job's thread; True when it has ended."""
        if self.thread is not None:
            self.thread.join(timeout)
            return not self.thread.is_alive()
        return not self.active


class StudyJob(TrainingJob):
    """An ablation study run as one job: its trainings one after another in the job's slot.

    `results` grows by one record per finished trial (reused ones included);
    `current` is `(index, trial, reused_run_or_None)` of the trial under way,
    and the inherited live fields (`batches`, `snapshot`, …) follow its training.
    Stop ends the current training and the study; the finished trials stay in
    its summary and `tal.engine.study` resumes it later.
    """

    def __init__(self, plan, *, runs_dir=None, ray_address: str | None = None):
        first = plan.trials[0]
        super().__init__(first.model_config, first.train_config, name=plan.study, runs_dir=runs_dir)
        self.plan = plan
        self.ray_address = ray_address  # train on this Ray cluster instead of here
        self.results: list[dict] = []
        self.current: tuple | None = None

    def execute(self) -> None:
        from tal.engine.study import run_study, run_study_on_ray
        from tal.ui.progress import JobRecorder

        def trial_start(i, trial, reused):
            self.current = (i, trial, reused)
            self.batches, self.epochs, self.snapshot, self.info = [], [], None, None
            self.phase = "training"
            self.status = "loading"

        def trial_end(i, trial, record):
            self.results.append(record)

        if self.ray_address:
            self.status = "training"
            run_study_on_ray(self.plan, runs_dir=self.runs_dir, address=self.ray_address, control=self.control,
                             on_trial_start=trial_start, on_trial_end=trial_end)
        else:
            run_study(self.plan, runs_dir=self.runs_dir, control=self.control, on_trial_start=trial_start,
                      callbacks_for=lambda trial: [JobRecorder(self)], on_trial_end=trial_end)
        self.current = None
        self.status = "completed" if len(self.results) == len(self.plan.trials) else "stopped"


class JobManager:
    """Runs `TrainingJob`s in daemon threads, at most `slots` at a time, FIFO."""

    def __init__(self, slots: int = 1):
        if slots < 1:
            raise ValueError(f"Expected slots >= 1. Received: slots={slots!r}")
        self.slots = slots
        self._cond = threading.Condition()
        self._queue: list[TrainingJob] = []
        self._running: list[TrainingJob] = []

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._running)

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

    def submit(self, job: TrainingJob) -> TrainingJob:
        """Queue `job` and start its thread; it trains as soon as a slot is free."""
        with self._cond:
            self._queue.append(job)
            busy = len(self._running) >= self.slots or len(self._queue) > 1
            job.queue_position = len(self._queue) if busy else 0
        job.thread = threading.Thread(
            target=self._run, args=(job,), name=f"tal-train-{job.id}", daemon=True
        )
        job.thread.start()
        return job

    def _acquire(self, job: TrainingJob) -> bool:
        with self._cond:
            while True:
                if job.stop_requested:
                    self._queue.remove(job)
                    self._cond.notify_all()
                    return False
                if self._queue[0] is job and len(self._running) < self.slots:
                    self._queue.pop(0)
                    self._running.append(job)
                    job.queue_position = 0
                    self._cond.notify_all()
                    return True
                job.queue_position = self._queue.index(job) + 1
                self._cond.wait(0.25)

    def _release(self, job: TrainingJob) -> None:
        with self._cond:
            if job in self._running:
                self._running.remove(job)
            self._cond.notify_all()

    def _run(self, job: TrainingJob) -> None:
        if not self._acquire(job):
            job.status = "cancelled"
            job.finished = time.time()
            return
        try:
            job.status = "loading"
            job.started = time.time()
            job.execute()
        except Exception as exc:  # reported on the page, never raised into Streamlit
            job.error = friendly_error(exc)
            job.error_type = type(exc).__name__
            job.error_details = traceback.format_exc()
            job.status = "failed"
        finally:
            job.finished = time.time()
            self._release(job)


def friendly_error(exc: BaseException) -> str:
    """The library's own message for expected errors; a short summary otherwise."""
    from tal.core.config import ConfigError
    from tal.data.datasets import DataFormatError, DataNotFoundError

    if isinstance(exc, (ConfigError, DataNotFoundError, DataFormatError)):
        return str(exc)
    if type(exc) is ValueError:  # the library's validation messages are written for users
        return f"Training failed: {exc}"
    if isinstance(exc, MemoryError):
        return "Training ran out of memory. Try a smaller batch size or fewer training images."
    return f"Training failed: {type(exc).__name__}: {exc}"


def training_manager() -> JobManager:
    """The process-wide manager (one per Streamlit server), created on first use."""
    return _manager()


def _make_manager() -> JobManager:
    return JobManager(slots=1)


try:  # one manager per server process, shared by all sessions
    import streamlit as st

    _manager = st.cache_resource(show_spinner=False)(_make_manager)
except ImportError:  # pragma: no cover - streamlit is a runtime dependency
    import functools

    _manager = functools.lru_cache(maxsize=1)(_make_manager)
