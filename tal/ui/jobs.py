"""Background training jobs: one per browser, a server-wide cap on concurrent runs.

Training never runs in the script thread (any widget click reruns the script
and would kill `fit()`). A `TrainingJob` is created by the Train page and run
by the process-wide `JobManager`: in the app, in a worker process
(`tal.engine.worker`) whose events a daemon thread here applies to the job, so
a training never competes with the pages for the server's interpreter.

The manager holds `slots` training slots (default 1: every fit uses all
cores, two at once would only slow both). A job that finds no free slot waits
in a first-come-first-served queue, reports its position, and starts by
itself when the slot frees; Stop while waiting cancels it.

The manager is also the one place that remembers jobs: each carries the
token of the browser that started it (`owner`, see `tal.ui.browser`), and a
new session of that browser (a reload, another tab) finds it again with
`newest(owner)`. Every active job is kept; of the ended ones, only the newest
of each browser and kind, and only for `RETAIN_S` (its run is in the registry
anyway), so the jobs of closed sessions never pile up. Other sessions learn
only that the slot is busy and for how long (`busy()`), never whose run or
which settings.

Nothing here touches Streamlit widgets; pages poll the job's fields.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path

from tal.engine.training import TrainingControl
from tal.engine.worker import friendly_error

ACTIVE = ("queued", "loading", "training", "finishing")
DONE = ("completed", "stopped", "cancelled", "failed")
RETAIN_S = 6 * 3600.0  # an ended job is forgotten this long after it ended (or when its browser starts another)


@dataclass(frozen=True)
class Busy:
    """What any session may know of the training slot: how long it has been busy, not whose run or which."""

    for_s: float  # seconds since the oldest running job took the slot
    left_s: float | None  # the running training's estimated seconds left (None: a study, or not known yet)
    waiting: int  # jobs queued behind it


class TrainingJob:
    """The live state of one training run, written by its thread and read by the page.

    Status flow: `queued` → `loading` (data, model) → `training` → `finishing`
    (test-set evaluation, saving) → `completed` | `stopped`; or `cancelled`
    (stopped while queued) or `failed` (`error` holds a message for users,
    `error_details` the traceback).
    """

    def __init__(self, model_config, train_config, *, name: str | None = None, runs_dir=None, probes=None,
                 owner: str | None = None):
        self.id = uuid.uuid4().hex[:8]
        self.owner = owner  # the token of the browser that started it (tal.ui.browser), or None: nobody finds it
        self.seen = False  # a page of its browser has shown how it ended (else: "finished while you were away")
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
        self.thread: threading.Thread | None = None  # the manager's thread that runs or relays it
        self.worker = None  # its tal.engine.worker.Worker while it trains in one

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

    def task(self) -> tuple:
        """What to run, as a picklable `tal.engine.worker` task."""
        return ("train", {"model_config": self.model_config, "train_config": self.train_config, "name": self.name,
                          "runs_dir": self.runs_dir, "probes": self.probes})

    def apply(self, kind: str, value) -> None:
        """One event from the engine (see `tal.engine.worker`): update the live fields the page reads."""
        if kind == "info":
            self.info = value
            self.status = "training"
        elif kind == "batch":
            self.batches.append(value)
            if value["step"] >= value["total_steps"] or self.stop_requested:
                self.status = "finishing"
        elif kind == "epoch":
            self.epochs.append(value)
        elif kind == "phase":
            self.phase = value
        elif kind == "snapshot":
            self.snapshot = value  # only the newest: the page shows the maps as they are now
        elif kind == "train_end":
            self.status = "finishing"
        elif kind == "status":
            self.status = value

    def finish(self, outcome: dict) -> None:
        """The task's outcome (`tal.engine.worker.run_task`)."""
        self.metrics = outcome["metrics"]
        self.run_path = None if outcome["run_path"] is None else Path(outcome["run_path"])
        self.status = "stopped" if outcome["stopped"] else "completed"

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

    def __init__(self, plan, *, runs_dir=None, ray_address: str | None = None, owner: str | None = None):
        first = plan.trials[0]
        super().__init__(first.model_config, first.train_config, name=plan.study, runs_dir=runs_dir, owner=owner)
        self.plan = plan
        self.ray_address = ray_address  # train on this Ray cluster instead of here
        self.results: list[dict] = []
        self.current: tuple | None = None

    def task(self) -> tuple:
        return ("study", {"plan": self.plan, "runs_dir": self.runs_dir, "ray_address": self.ray_address})

    def apply(self, kind: str, value) -> None:
        if kind == "trial_start":
            self.current = value
            self.batches, self.epochs, self.snapshot, self.info = [], [], None, None
            self.phase = "training"
            self.status = "loading"
        elif kind == "trial_end":
            self.results.append(value[2])
        else:
            super().apply(kind, value)

    def finish(self, outcome: dict) -> None:
        self.current = None
        self.status = "completed" if outcome["complete"] else "stopped"


class JobManager:
    """Runs `TrainingJob`s at most `slots` at a time, FIFO, each followed by a daemon thread.

    With `isolated=True` (the app's setting) every job trains in a worker
    process (`tal.engine.worker.Worker`), one kept per slot between jobs; its
    thread here only relays events and requests. A worker that dies mid-job
    fails that job with a message and is replaced for the next one. With
    `isolated=False` the thread runs the engine itself (tests with a fake engine).
    """

    def __init__(self, slots: int = 1, *, isolated: bool = False):
        if slots < 1:
            raise ValueError(f"Expected slots >= 1. Received: slots={slots!r}")
        self.slots = slots
        self.isolated = isolated
        self._cond = threading.Condition()
        self._queue: list[TrainingJob] = []
        self._running: list[TrainingJob] = []
        self._idle_workers: list = []  # started workers waiting for a job
        self._known: list[TrainingJob] = []  # the jobs sessions can find again, oldest first (see _forget_old)
        self.finished_jobs = 0  # how many jobs have ended: pages refresh their run lists when it moves

    @property
    def running(self) -> int:
        with self._cond:
            return len(self._running)

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

    def prewarm(self) -> None:
        """Start a worker now (it imports TensorFlow), so the first Start trains sooner."""
        if not self.isolated:
            return
        with self._cond:
            if self._idle_workers or self._running:
                return
            from tal.engine.worker import Worker

            self._idle_workers.append(Worker())

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers, idle and busy (for tests and the load benchmark)."""
        with self._cond:
            workers = self._idle_workers + [j.worker for j in self._running if j.worker is not None]
            return [w.pid for w in workers if w.alive()]

    def newest(self, owner: str | None, kind: type = TrainingJob) -> TrainingJob | None:
        """The newest job of exactly `kind` that the browser with token `owner` started, if still known."""
        if not owner:
            return None
        with self._cond:
            self._forget_old()
            mine = [job for job in self._known if job.owner == owner and type(job) is kind]
        return mine[-1] if mine else None

    def follow(self, shown: TrainingJob | None, owner: str | None, kind: type = TrainingJob) -> TrainingJob | None:
        """The job a page of the browser `owner` shows: its newest of `kind` when that is not older than
        `shown` (found after a reload, or started in another tab), else `shown`."""
        mine = self.newest(owner, kind)
        if mine is not None and (shown is None or mine.created >= shown.created):
            return mine
        return shown

    def forget(self, job: TrainingJob) -> None:
        """Stop offering an ended `job` to its browser (an active one stays: it still holds or awaits the slot)."""
        with self._cond:
            if not job.active and job in self._known:
                self._known.remove(job)

    def known(self) -> list[TrainingJob]:
        """Every job sessions can still find, oldest first (for tests)."""
        with self._cond:
            self._forget_old()
            return list(self._known)

    def busy(self) -> Busy | None:
        """How long the slot has been busy and how long the running training has left; None while idle."""
        with self._cond:
            running, waiting = list(self._running), len(self._queue)
        if not running:
            return None
        now = time.time()
        since = min(job.started or now for job in running)
        left = None
        if len(running) == 1 and type(running[0]) is TrainingJob and running[0].status == "training" \
                and running[0].latest is not None:
            left = float(running[0].latest["eta_s"])
        return Busy(max(now - since, 0.0), left, waiting)

    def _forget_old(self, now: float | None = None) -> None:
        """Drop the ended jobs nobody will look for: those without an owner, those ended RETAIN_S ago,
        and those whose browser has started a newer job of the same kind. Call with the lock held."""
        now = time.time() if now is None else now
        newest = {}
        for job in self._known:
            newest[(job.owner, type(job))] = job
        self._known = [
            job for job in self._known
            if job.active or (job.owner is not None and newest[(job.owner, type(job))] is job
                              and now - (job.finished or now) < RETAIN_S)
        ]

    def submit(self, job: TrainingJob) -> TrainingJob:
        """Queue `job` and start its thread; it trains as soon as a slot is free."""
        with self._cond:
            self._known.append(job)
            self._forget_old()
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
                    job.status = "loading"  # at once: no page sees it out of the queue yet not started
                    self._cond.notify_all()
                    return True
                job.queue_position = self._queue.index(job) + 1
                self._cond.wait(0.25)

    def _release(self, job: TrainingJob) -> None:
        with self._cond:
            if job in self._running:
                self._running.remove(job)
            self.finished_jobs += 1
            self._forget_old()
            self._cond.notify_all()

    def _take_worker(self):
        from tal.engine.worker import Worker

        with self._cond:
            while self._idle_workers:
                worker = self._idle_workers.pop()
                if worker.alive():
                    return worker
        return Worker()

    def _give_back(self, worker) -> None:
        with self._cond:
            if worker.alive():
                self._idle_workers.append(worker)

    def _execute(self, job: TrainingJob) -> None:
        if not self.isolated:
            from tal.engine.worker import run_task

            job.finish(run_task(job.task(), job.apply, job.control))
            return
        worker = job.worker = self._take_worker()
        try:
            job.finish(worker.run(job.task(), job.apply, job.control))
        finally:
            job.worker = None
            self._give_back(worker)

    def _run(self, job: TrainingJob) -> None:
        if not self._acquire(job):
            job.status = "cancelled"
            job.finished = time.time()
            return
        from tal.engine.worker import TaskFailed

        try:
            job.started = time.time()
            self._execute(job)
        except TaskFailed as failed:  # the engine's own report, from the worker
            job.error, job.error_type = failed.event["message"], failed.event["type"]
            job.error_details = failed.event["details"]
            job.status = "failed"
        except Exception as exc:  # reported on the page, never raised into Streamlit
            job.error = friendly_error(exc)
            job.error_type = type(exc).__name__
            job.error_details = traceback.format_exc()
            job.status = "failed"
        finally:
            job.finished = time.time()
            self._release(job)


def training_manager() -> JobManager:
    """The process-wide manager (one per Streamlit server), created on first use."""
    return _manager()


def _make_manager() -> JobManager:
    # TAL_TRAIN_IN_PROCESS=1 keeps trainings in the server's own process (e.g. to debug with breakpoints).
    return JobManager(slots=1, isolated=os.environ.get("TAL_TRAIN_IN_PROCESS") != "1")


try:  # one manager per server process, shared by all sessions
    import streamlit as st

    _manager = st.cache_resource(show_spinner=False)(_make_manager)
except ImportError:  # pragma: no cover - streamlit is a runtime dependency
    import functools

    _manager = functools.lru_cache(maxsize=1)(_make_manager)
