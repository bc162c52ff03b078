"""The training job manager: one slot server-wide, FIFO queue, cancel while queued, errors reported.

The real `tal.train` is replaced by a fake that waits for a stop request, so
these tests need no TensorFlow and take well under a second.
"""

from __future__ import annotations

import threading
import time

import pytest

import tal.engine.training
from tal.ui.jobs import JobManager, TrainingJob


class FakeResult:
    def __init__(self, stopped):
        self.stopped = stopped
        self.metrics = {"status": "stopped" if stopped else "completed", "test_accuracy": 0.5}
        self.run = None


@pytest.fixture
def fake_train(monkeypatch):
    started = []

    def train(model_config, train_config, *, callbacks, control, name=None, runs_dir=None, probes=None):
        started.append(name)
        for cb in callbacks:
            cb.on_train_begin({"name": name})
        if name == "boom":
            raise RuntimeError("kaput")
        control.stop_event.wait(10)
        return FakeResult(stopped=True)

    monkeypatch.setattr(tal.engine.training, "train", train)
    return started


def job(name):
    return TrainingJob(tal.ModelConfig(), tal.TrainConfig(), name=name)


def wait_until(pred, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return False


def test_one_slot_fifo_and_cancel(fake_train):
    manager = JobManager(slots=1)
    a, b, c = manager.submit(job("a")), manager.submit(job("b")), manager.submit(job("c"))
    assert wait_until(lambda: a.status == "training")
    assert b.status == c.status == "queued"
    assert wait_until(lambda: (b.queue_position, c.queue_position) == (1, 2))
    c.stop()  # leaving the queue
    assert c.wait(2) and c.status == "cancelled"
    a.stop()
    assert a.wait(2) and a.status == "stopped"
    assert wait_until(lambda: b.status == "training")  # starts by itself when the slot frees
    assert fake_train == ["a", "b"]
    b.stop()
    assert b.wait(2)
    assert manager.running == 0 and manager.queued == 0


def test_failure_is_reported_and_frees_the_slot(fake_train):
    manager = JobManager(slots=1)
    bad = manager.submit(job("boom"))
    assert bad.wait(2)
    assert bad.status == "failed" and "kaput" in bad.error and "RuntimeError" in bad.error_details
    good = manager.submit(job("ok"))
    assert wait_until(lambda: good.status == "training")
    good.stop()
    assert good.wait(2)


def test_lambda_requests_reach_the_control():
    j = job("x")
    j.set_aux_weight(2.0)
    assert j.control.take_aux_weight() == 2.0
    with pytest.raises(ValueError):
        j.set_aux_weight(-1)


def test_jobs_are_independent_threads(fake_train):
    manager = JobManager(slots=2)
    a, b = manager.submit(job("a")), manager.submit(job("b"))
    assert wait_until(lambda: a.status == b.status == "training")
    assert a.thread is not b.thread and isinstance(a.thread, threading.Thread)
    a.stop()
    b.stop()
    assert a.wait(2) and b.wait(2)


def test_a_study_job_runs_its_plan_in_the_slot_and_collects_its_records(monkeypatch):
    import tal.engine.study
    from tal.engine.ablation import build_trials
    from tal.engine.study import Plan
    from tal.ui.jobs import StudyJob

    trials = build_trials("demo", seeds=1, study="s")
    seen = []

    def run_study(plan, *, runs_dir, control, on_trial_start, callbacks_for, on_trial_end):
        for i, trial in enumerate(plan.trials):
            on_trial_start(i, trial, None)
            seen.append(len(callbacks_for(trial)))
            on_trial_end(i, trial, {"variant": trial.variant})

    monkeypatch.setattr(tal.engine.study, "run_study", run_study)
    manager = JobManager(slots=1)
    study = manager.submit(StudyJob(Plan("s", "demo", trials, [None, None])))
    assert study.wait(5) and study.status == "completed"
    assert [r["variant"] for r in study.results] == ["baseline", "scale+channel+element"] and seen == [1, 1]
    assert study.current is None and manager.running == 0
