"""Run an ablation grid on Ray Tune (optional: `pip install -r requirements-ray.txt`).

Each trial is one `tal.train` call inside a Ray worker; runs are written to
the same registry as sequential studies, so the summary is identical. Connect
to a cluster with `address=` or `$RAY_ADDRESS`; without either, Ray starts a
local instance. On a small machine keep `max_concurrent=1`: every training
already uses all cores.
"""
from __future__ import annotations

import os
from pathlib import Path


def _trainable(config: dict) -> dict:
    """Ray Tune function trainable: train one trial and return its record."""
    from tal.engine.ablation import Trial, run_trial

    return run_trial(Trial.from_dict(config["trial"]), runs_dir=config["runs_dir"])


def run_trials_ray(trials, *, runs_dir=None, address: str | None = None, max_concurrent: int = 1,
                   cpus_per_trial: float | None = None, on_record=None, control=None) -> list[dict]:
    """Train the trials as a Ray Tune grid and return their records in grid order.

    Args:
        on_record: `record -> None`, called in this process as each trial completes (for live tables).
        control: a `TrainingControl`; Stop ends the grid as the running trials finish.

    Raises:
        ImportError: Ray is not installed (with the install command).
        RuntimeError: a trial failed on Ray (with its error).
    """
    try:
        import ray
        from ray import tune
    except ImportError:
        raise ImportError("Ray is not installed: pip install -r requirements-ray.txt") from None
    from tal.engine.registry import default_root

    runs_dir = str(Path(runs_dir if runs_dir is not None else default_root()).resolve())
    address = address or os.environ.get("RAY_ADDRESS")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
                 runtime_env={"env_vars": {k: v for k, v in os.environ.items() if k.startswith("TAL_")}})
    try:
        cpus = cpus_per_trial or max(1.0, float(ray.cluster_resources().get("CPU", 1)) / max_concurrent)
        keys = ("variant", "seed", "run", "branches", "aux_weight", "test_accuracy", "per_class_accuracy",
                "mean_auc", "per_class_auc", "exact_match", "micro_f1", "pointing", "params", "training_time_s",
                "status")

        class Reporter(tune.Callback):
            def on_trial_complete(self, iteration, trials, trial, **info):
                if on_record is not None and trial.last_result:
                    on_record({k: trial.last_result[k] for k in keys if k in trial.last_result})

        class StopRequested(tune.Stopper):
            def __call__(self, trial_id, result):
                return False

            def stop_all(self):
                return control is not None and control.stop_requested

        tuner = tune.Tuner(
            tune.with_resources(_trainable, {"cpu": cpus}),
            param_space={"trial": tune.grid_search([t.to_dict() for t in trials]), "runs_dir": runs_dir},
            tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent),
            run_config=tune.RunConfig(storage_path=str(Path(runs_dir) / ".ray"), verbose=0,
                                      callbacks=[Reporter()], stop=StopRequested()),
        )
        grid = tuner.fit()
        errors = [str(r.error) for r in grid if r.error is not None]
        if errors:
            raise RuntimeError(f"{len(errors)} Ray trial(s) failed; first error: {errors[0]}")
        records = {(r.metrics["variant"], r.metrics["seed"]): {k: r.metrics[k] for k in keys if k in r.metrics}
                   for r in grid if r.metrics and "variant" in r.metrics}
        return [records[(t.variant, t.seed)] for t in trials if (t.variant, t.seed) in records]
    finally:
        if started_here:
            ray.shutdown()
