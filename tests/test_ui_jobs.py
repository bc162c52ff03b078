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


# --------------------------------------------------------------------------- finding a job again

MINE, THEIRS = "m" * 32, "t" * 32  # two browsers' tokens (tal.ui.browser)


def owned(name, owner):
    return TrainingJob(tal.ModelConfig(), tal.TrainConfig(), name=name, owner=owner)


def batch(step=3, total=10, aux_weight=0.75, eta_s=42.0):
    """One batch event as tal.Progress.to_dict() sends it (written out: tal.engine.callbacks imports Keras)."""
    return {"epoch": 1, "epochs": 1, "batch": step, "batches": total, "step": step, "total_steps": total,
            "loss": 0.5, "main_loss": 0.4, "aux_loss": 0.1, "accuracy": 0.9, "aux_accuracy": 0.8,
            "val_accuracy": None, "val_loss": None, "aux_weight": aux_weight, "images_per_s": 100.0,
            "elapsed_s": 5.0, "eta_s": eta_s, "phase": "training", "metric": "accuracy"}


def test_a_browser_finds_its_newest_job_and_no_other_browser_does(fake_train):
    from tal.ui.jobs import StudyJob

    manager = JobManager(slots=1)
    first = manager.submit(owned("first", MINE))
    assert wait_until(lambda: first.status == "training")
    assert manager.newest(MINE) is first
    assert manager.newest(THEIRS) is None and manager.newest(None) is None and manager.newest("") is None
    assert manager.newest(MINE, StudyJob) is None  # each kind on its own: a study is not a Train-page job
    theirs = manager.submit(owned("theirs", THEIRS))  # queued behind mine
    assert manager.newest(THEIRS) is theirs and manager.newest(MINE) is first
    first.stop()
    assert first.wait(2) and first.status == "stopped"
    assert manager.newest(MINE) is first  # ended, still offered to its browser
    assert wait_until(lambda: theirs.status == "training")
    second = manager.submit(owned("second", MINE))
    assert manager.newest(MINE) is second and first not in manager.known()  # the newer one replaces it
    for job in (theirs, second):
        job.stop()
        assert job.wait(2)


def test_ended_jobs_are_forgotten_after_a_while_active_ones_never(fake_train):
    from tal.ui import jobs

    manager = JobManager(slots=1)
    nobodys = manager.submit(job("nobody's"))  # no browser can look for it
    assert wait_until(lambda: nobodys.status == "training")
    mine = manager.submit(owned("mine", MINE))
    mine.created -= 2 * jobs.RETAIN_S  # an old job, still waiting: kept
    assert mine in manager.known() and nobodys in manager.known()
    nobodys.stop()
    assert nobodys.wait(2) and nobodys not in manager.known()  # ended with no owner: forgotten at once
    assert wait_until(lambda: mine.status == "training")
    mine.started -= 2 * jobs.RETAIN_S  # trained for a long time: still kept while it trains
    assert manager.newest(MINE) is mine
    mine.stop()
    assert mine.wait(2) and manager.newest(MINE) is mine
    mine.finished -= jobs.RETAIN_S + 1  # ended long ago
    assert manager.newest(MINE) is None and manager.known() == []
    again = manager.submit(owned("again", MINE))
    again.stop()
    assert again.wait(2) and manager.newest(MINE) is again
    manager.forget(again)  # dismissed (e.g. a failed run the page answered)
    assert manager.newest(MINE) is None


def test_busy_says_for_how_long_and_how_long_is_left_but_not_whose_or_which(fake_train):
    manager = JobManager(slots=1)
    assert manager.busy() is None
    a = manager.submit(owned("secret-name", MINE))
    assert wait_until(lambda: a.status == "training")
    a.started -= 65
    busy = manager.busy()
    assert busy.left_s is None and busy.waiting == 0 and 65 <= busy.for_s < 70  # no batch yet: no estimate
    a.apply("batch", batch(eta_s=42.0))
    b = manager.submit(owned("queued", THEIRS))
    busy = manager.busy()
    assert busy.left_s == 42.0 and busy.waiting == 1
    assert set(vars(busy)) == {"for_s", "left_s", "waiting"}  # nothing else of the run
    for j in (a, b):
        j.stop()
        assert j.wait(2)
    assert manager.busy() is None


# AppTest: the Train panel and the sidebar of two browsers' sessions, with the manager above and the fake engine

def _train_page():
    import streamlit as st

    from tal.ui import sidebar, train_panel

    sidebar.render(st.query_params.get("page", "train"))
    if st.query_params.get("page", "train") == "train":
        train_panel.buttons()
        train_panel.live()


def session(token, page="train"):
    from streamlit.testing.v1 import AppTest

    from tal.ui import state

    at = AppTest.from_function(_train_page, default_timeout=60)
    at.session_state[state.BROWSER] = token  # what the browser's cookie would have sent
    at.query_params["page"] = page
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def app_manager(fake_train, monkeypatch, runs_dir):
    from tal.ui import jobs

    manager = JobManager(slots=1)
    monkeypatch.setattr(jobs, "training_manager", lambda: manager)  # AppTest runs the script in this process
    yield manager
    for j in manager.known():
        j.stop()
        j.wait(2)


def test_a_new_session_of_the_browser_finds_its_running_job_another_browser_sees_only_busy(app_manager):
    from tal.ui import state

    job = app_manager.submit(owned("my-secret-run", MINE))
    assert wait_until(lambda: job.status == "training")
    job.apply("batch", batch(aux_weight=0.75))
    again = session(MINE)  # a reload: a new session, the same browser
    assert again.session_state[state.JOB] is job
    assert again.button(key="train.start").disabled and not again.button(key="train.stop").disabled
    assert "step 3/10" in again.get("progress")[0].proto.text
    assert again.slider(key=state.LIVE_LAMBDA + job.id).value == 0.75  # λ as it is now, not as it started
    assert not any("Busy:" in c.value for c in again.caption)  # its own run, not "someone's"

    other = session(THEIRS)
    assert state.JOB not in other.session_state and not other.get("progress")
    assert not other.button(key="train.start").disabled and other.button(key="train.stop").disabled
    busy = [c.value for c in other.caption if "Busy:" in c.value]
    assert len(busy) == 1 and "waits its turn" in busy[0]
    everything = " ".join(str(e.proto) for e in other.main) + " ".join(str(e.proto) for e in other.sidebar)
    assert "my-secret-run" not in everything and job.model_config.label not in everything

    again.button(key="train.stop").click().run()  # Stop works from the found page
    assert job.wait(2) and job.status == "stopped"


def test_a_run_that_ended_while_the_browser_was_away_is_offered_once(app_manager, tmp_path):
    job = app_manager.submit(owned("away", MINE))
    assert wait_until(lambda: job.status == "training")
    job.stop()  # it ends with no page of its browser watching
    assert job.wait(2)
    job.run_path = tmp_path / "away-run"  # the fake engine saves nothing

    elsewhere = session(MINE, page="inspect")  # back on another page: the sidebar offers it
    assert any("Your run **away-run** was stopped early while you were away" in s.value for s in elsewhere.success)
    assert elsewhere.button(key="sidebar.inspect_away")
    assert not job.seen
    back = session(MINE)  # the Train page says it once, above the result
    assert any("while you were away" in i.value and "its result is below" in i.value for i in back.info)
    assert job.seen
    assert not any("while you were away" in i.value for i in session(MINE).info)  # said once
    assert not session(MINE, page="inspect").success
    assert not session(THEIRS, page="inspect").success  # never to another browser


def _studies_page():
    from tal.ui import sidebar, studies

    sidebar.render("studies")
    studies.live()


def test_a_new_session_of_the_browser_finds_its_running_study_another_browser_does_not(app_manager, monkeypatch):
    from streamlit.testing.v1 import AppTest

    import tal.engine.study
    from tal.engine.ablation import build_trials
    from tal.engine.study import Plan
    from tal.ui import state
    from tal.ui.jobs import StudyJob

    def run_study(plan, *, runs_dir, control, on_trial_start, callbacks_for, on_trial_end):
        on_trial_start(0, plan.trials[0], None)
        control.stop_event.wait(10)

    monkeypatch.setattr(tal.engine.study, "run_study", run_study)
    trials = build_trials("demo", seeds=1, study="my-study")
    study = app_manager.submit(StudyJob(Plan("my-study", "demo", trials, [None, None]), owner=MINE))
    assert wait_until(lambda: study.current is not None)

    def studies_session(token):
        at = AppTest.from_function(_studies_page, default_timeout=60)
        at.session_state[state.BROWSER] = token
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    again = studies_session(MINE)  # a reload of the Studies page
    assert again.session_state[state.STUDY_JOB] is study
    assert any("Study my-study" in h.value for h in again.subheader)
    assert "Run 1 of 2: baseline, seed 0" in again.get("progress")[0].proto.text
    other = studies_session(THEIRS)
    assert state.STUDY_JOB not in other.session_state and not other.subheader
    assert app_manager.newest(MINE) is None  # a study is not offered as the browser's Train-page run
    again.button(key="study.stop").click().run()  # Stop works from the found page
    assert study.wait(2) and study.status == "stopped"
