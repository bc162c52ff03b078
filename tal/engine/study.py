"""Running an ablation study: its plan, the time it will take, reuse of finished runs, and resume.

The grid itself (presets, trials, summaries) is `tal.engine.ablation`; this
module runs one for the CLI and the app alike. A study lives in
`<runs>/_ablations/<study>/`:

    study.json    its design: every trial (configuration and seed), to resume from
    summary.json  the summary so far, rewritten after each trial (`"planned"` trials,
                  `"complete"` once every one is in)
    summary.csv   the same rows as a table

A trial whose configuration and seed match a finished run in the registry
(`tal.engine.identity`) reuses that run instead of training again, so a study
stopped midway resumes where it stopped, and a study that shares runs with
another one (the zoo preset's baseline and full model are the branch
study's) trains them once.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tal.engine.ablation import ABLATIONS_DIR, Trial, run_trial, summarize, trial_result

DESIGN_FILE = "study.json"
POINTING_FILE = "pointing.json"  # a multi-label trial's pointing scores, kept in its run folder for reuse
# Beyond this many trainings a study asks to be confirmed (the CLI: --yes; the app: a checkbox).
CONFIRM_ABOVE = 40


class StudyError(ValueError):
    """A study cannot run as asked: no trials, too many unconfirmed, or its name taken by another design."""


@dataclass
class Plan:
    """What a study will do: each trial, and the finished run it reuses (None: train it)."""

    study: str
    preset: str
    trials: list[Trial]
    reused: list = field(default_factory=list)  # a Run or None per trial

    @property
    def to_train(self) -> list[Trial]:
        return [t for t, r in zip(self.trials, self.reused) if r is None]


def study_folder(study: str, runs_dir=None) -> Path:
    from tal.engine.registry import default_root

    return (Path(runs_dir) if runs_dir is not None else default_root()) / ABLATIONS_DIR / study


def check_size(trials, *, confirmed: bool = False) -> None:
    """Refuse an empty grid, and a very large one unless confirmed (`StudyError`)."""
    if not trials:
        raise StudyError("This study has no runs: choose at least one configuration and one seed.")
    if len(trials) > CONFIRM_ABOVE and not confirmed:
        raise StudyError(f"This study would train {len(trials)} models (more than {CONFIRM_ABOVE}). "
                         "Confirm that you want that many, or choose fewer configurations or seeds.")


def make_plan(study: str, preset: str, trials, *, runs_dir=None, reuse: bool = True) -> Plan:
    """Which trials are already done (a finished run with the same identity) and which will train."""
    from tal.engine.identity import find_reusable, run_identity
    from tal.engine.registry import list_runs

    runs = list_runs(runs_dir) if reuse else []
    reused = [find_reusable(run_identity(t.model_config, t.train_config), runs) if reuse else None for t in trials]
    return Plan(study, preset, list(trials), reused)


# ---------------------------------------------------------------------------------------------- estimate

FIXED_S = 4.0  # per training: building and tracing the model, BatchNorm recalibration, saving
INFERENCE_SPEEDUP = 3.0  # a forward pass of an image costs about a third of a training step's share


def images_per_s_from_runs(trial: Trial, runs) -> float | None:
    """Training images/s of earlier runs of the same architecture, input size and batch size on this machine."""
    from tal.engine.identity import IGNORED

    def key(model: dict, train: dict) -> tuple:
        arch = {k: v for k, v in model.items() if k not in IGNORED["model"] or k == "input_shape"}
        return json.dumps(arch, sort_keys=True), train.get("batch_size")

    want = key(trial.model_config.to_dict(), trial.train_config.to_dict())
    rates = []
    for run in runs:
        if run.shipped:  # trained on another machine
            continue
        try:
            if key(run.config["model"], run.config["train"]) == want and run.metrics.get("images_per_s"):
                rates.append(float(run.metrics["images_per_s"]))
        except (OSError, ValueError, KeyError):
            continue
    return sorted(rates)[len(rates) // 2] if rates else None


def measure_images_per_s(model_config, batch_size: int, steps: int = 4) -> float:
    """Training images/s of a configuration measured here: a few steps on random images, after a warm-up."""
    import keras
    import numpy as np

    from tal.core.config import TrainConfig
    from tal.core.models import build_model
    from tal.engine.feed import fit_data
    from tal.engine.training import compile_model

    model = build_model(model_config)
    compile_model(model, model_config, TrainConfig(batch_size=batch_size), None,
                  keras.Variable(0.5, trainable=False), 1000)
    rng = np.random.default_rng(0)
    x = rng.random((batch_size * (steps + 2), *model_config.input_shape), dtype=np.float32)
    if model_config.multi_label:
        y = (rng.random((len(x), model_config.num_classes)) < 0.2).astype("float32")
    else:
        y = rng.integers(0, model_config.num_classes, len(x))
    targets = {name: y for name in model.output_names}
    # fed as tal.train feeds fit, whose return is timed too (Keras's own autotuned pipeline can add seconds to it)
    model.fit(**fit_data(x[: 2 * batch_size], {k: v[: 2 * batch_size] for k, v in targets.items()}, batch_size,
                         shuffle=False), epochs=1, verbose=0)  # trace and warm up
    started = time.perf_counter()
    model.fit(**fit_data(x[2 * batch_size:], {k: v[2 * batch_size:] for k, v in targets.items()}, batch_size,
                         shuffle=False), epochs=1, verbose=0)
    return steps * batch_size / (time.perf_counter() - started)


def duration_text(seconds: float) -> str:
    """'45 s', '12 min', '2.5 h'."""
    seconds = max(float(seconds), 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class Estimate:
    seconds: float  # for the trials to train
    trials: int
    reused: int
    per_trial_s: list[float]  # 0 for reused trials
    measured: list[str]  # per trial: "earlier runs", "measured now" or "reused"


def estimate(plan: Plan, sizes: dict, *, runs_dir=None, measure=measure_images_per_s) -> Estimate:
    """How long the study's remaining trainings will take on this machine.

    Each trial's training speed comes from earlier runs of the same
    architecture here, else from a few steps measured now (once per
    architecture). Its time is its training steps, plus validation and test
    passes at about three times the training speed, plus a fixed few seconds.

    Args:
        sizes: `{"train", "val", "test", "input_shape", "num_classes", "multi_label"}` of the study's data
            (`Dataset.summary()`-like), so the estimate needs no data loading per trial.
    """
    from tal.engine.registry import list_runs

    runs = list_runs(runs_dir)
    cache: dict = {}
    per_trial, how = [], []
    for trial, reused in zip(plan.trials, plan.reused):
        if reused is not None:
            per_trial.append(0.0)
            how.append("reused")
            continue
        model = trial.model_config.replace(input_shape=tuple(sizes["input_shape"]), num_classes=sizes["num_classes"],
                                           multi_label=sizes["multi_label"])
        trial = Trial(trial.variant, trial.seed, model, trial.train_config, trial.run_name)
        rate = images_per_s_from_runs(trial, runs)
        source = "earlier runs"
        if rate is None:
            key = (model.to_json(indent=None), trial.train_config.batch_size)
            if key not in cache:
                cache[key] = measure(model, trial.train_config.batch_size)
            rate, source = cache[key], "measured now"
        epochs = trial.train_config.epochs
        images = epochs * sizes["train"] + (epochs * sizes["val"] + sizes["test"]) / INFERENCE_SPEEDUP
        per_trial.append(images / rate + FIXED_S)
        how.append(source)
    return Estimate(sum(per_trial), len(plan.trials), sum(r is not None for r in plan.reused), per_trial, how)


# ---------------------------------------------------------------------------------------------- running


def write_design(plan: Plan, *, runs_dir=None) -> Path:
    """Save the study's trials, so that it can be resumed (kept when it already exists).

    Raises `StudyError` when a study of that name exists with other trials.
    """
    from tal.engine.registry import write_json_atomic

    folder = study_folder(plan.study, runs_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / DESIGN_FILE
    if path.exists():
        saved = [Trial.from_dict(t) for t in json.loads(path.read_text())["trials"]]
        if saved != list(plan.trials):
            raise StudyError(f"A study named {plan.study!r} already exists with other settings. Resume it, or "
                             "give the new study another name.")
    else:
        write_json_atomic(path, {"study": plan.study, "preset": plan.preset,
                                 "trials": [t.to_dict() for t in plan.trials],
                                 "created": datetime.now().isoformat(timespec="seconds")})
    return path


def load_design(study: str, runs_dir=None) -> tuple[str, list[Trial]]:
    """(preset, trials) of a saved study, to resume it."""
    path = study_folder(study, runs_dir) / DESIGN_FILE
    if not path.is_file():
        known = [p.parent.name for p in study_folder("", runs_dir).glob(f"*/{DESIGN_FILE}")]
        raise FileNotFoundError(f"No study named {study!r} to resume"
                                + (f"; studies that can be resumed: {', '.join(sorted(known))}." if known else
                                   " (studies made before resuming existed cannot be resumed)."))
    design = json.loads(path.read_text())
    return design["preset"], [Trial.from_dict(t) for t in design["trials"]]


def reused_record(trial: Trial, run, *, cache: dict) -> dict:
    """The summary record of a trial that an existing run stands in for (`"reused": True`)."""
    pointing = None
    if "mean_auc" in run.metrics:
        path = run.path / POINTING_FILE
        if path.is_file():
            pointing = json.loads(path.read_text())
        else:  # runs trained outside a study: score them once and keep the scores
            from tal.engine.ablation import _trial_data, pointing_scores

            pointing = pointing_scores(run.load_model(), run.model_config, _trial_data(trial, cache))
            _keep_pointing(run.path, pointing)
    return {**trial_result(trial, run.metrics, run.name, pointing), "reused": True}


def _keep_pointing(path: Path, pointing: dict) -> None:
    from tal.engine.registry import write_json_atomic

    try:
        write_json_atomic(path / POINTING_FILE, pointing)
    except OSError:  # a read-only registry (shipped demos): the study still has its record
        pass


def run_study(plan: Plan, *, runs_dir=None, callbacks_for=None, on_trial_start=None, on_trial_end=None,
              control=None) -> list[dict]:
    """Run the plan: reuse what is done, train the rest, and keep the summary current after each trial.

    A stopped trial (Stop during its training) is left out of the summary; the
    study stays incomplete and resumes at that trial.

    Args:
        callbacks_for: `trial -> [TrainingCallback]` for the trainings.
        on_trial_start: `(index, trial, reused_run_or_None) -> None`.
        on_trial_end: `(index, trial, record) -> None`, also for reused trials.
        control: a `TrainingControl`; Stop ends the current training and the study.
    """
    write_design(plan, runs_dir=runs_dir)
    results: list[dict] = []
    cache: dict = {}
    for i, (trial, reused) in enumerate(zip(plan.trials, plan.reused)):
        if control is not None and control.stop_requested:
            break
        if on_trial_start:
            on_trial_start(i, trial, reused)
        if reused is not None:
            record = reused_record(trial, reused, cache=cache)
        else:
            record = run_trial(trial, runs_dir=runs_dir, callbacks=callbacks_for(trial) if callbacks_for else (),
                               control=control, cache=cache)
            if record["status"] != "completed":
                break
            if "pointing" in record and record["run"]:
                from tal.engine.registry import load_run

                _keep_pointing(load_run(record["run"], runs_dir).path, record["pointing"])
        results.append(record)
        write_progress(plan, results, runs_dir=runs_dir)
        if on_trial_end:
            on_trial_end(i, trial, record)
    return results


def run_study_on_ray(plan: Plan, *, runs_dir=None, address: str | None = None, on_trial_start=None,
                     on_trial_end=None, control=None) -> list[dict]:
    """`run_study`, with the trainings on Ray Tune (`tal.engine.ablation_ray`); the summary is kept current
    as each Ray trial completes. Stop ends the study once the running trials finish."""
    from tal.engine.ablation_ray import run_trials_ray

    write_design(plan, runs_dir=runs_dir)
    results: list[dict] = []
    cache: dict = {}
    index = {(t.variant, t.seed): i for i, t in enumerate(plan.trials)}

    def add(record):
        results.append(record)
        write_progress(plan, results, runs_dir=runs_dir)
        if on_trial_end:
            i = index[(record["variant"], record["seed"])]
            on_trial_end(i, plan.trials[i], record)

    for i, (trial, reused) in enumerate(zip(plan.trials, plan.reused)):
        if reused is not None:
            if on_trial_start:
                on_trial_start(i, trial, reused)
            add(reused_record(trial, reused, cache=cache))
    if plan.to_train and not (control is not None and control.stop_requested):
        run_trials_ray(plan.to_train, runs_dir=runs_dir, address=address, control=control,
                       on_record=lambda r: add(r) if r.get("status") == "completed" else None)
    results.sort(key=lambda r: index[(r["variant"], r["seed"])])  # grid order, as `run_study` gives
    write_progress(plan, results, runs_dir=runs_dir)
    return results


def write_progress(plan: Plan, results: list[dict], *, runs_dir=None) -> Path:
    """The summary of the trials finished so far (complete when every planned trial is in)."""
    from tal.engine.ablation import write_summary

    return write_summary(plan.study, plan.preset, summarize(results), results, runs_dir=runs_dir,
                         planned=len(plan.trials))


def missing_runs(summary: dict, runs_dir=None) -> list[str]:
    """Runs a saved summary names that are no longer in the registry (deleted since)."""
    from tal.engine.registry import RunNotFoundError, load_run

    missing = []
    for record in summary.get("trials", []):
        if not record.get("run"):
            continue
        try:
            load_run(record["run"], runs_dir)
        except RunNotFoundError:
            missing.append(record["run"])
    return missing
