"""A study run twice: the second run reuses every finished run. Time of each, and the estimate's accuracy.

A fresh registry in a temporary folder; the study (a preset, `--seeds`
seeds) is planned, its time estimated (`tal.engine.study.estimate`, timing
each configuration on this machine since the registry is empty), and run
end to end as `python -m tal ablate` does (data loading, trainings,
summary). Then the same settings run again under another name: every
trial finds its finished run by identity. Printed side by side: first run,
second run, their ratio (target ≤ 0.05), and the estimate against the first
run's real time.

    python bench/study_reuse.py [--preset demo] [--seeds 2] [--train-size 5000] [--epochs 2]
"""
from __future__ import annotations

import argparse
import tempfile
import time

from _common import write_result


def run(study: str, preset: str, args, runs_dir) -> tuple[float, list[dict], object]:
    from tal.data.datasets import load_dataset
    from tal.engine.ablation import build_trials
    from tal.engine.study import make_plan, run_study

    started = time.perf_counter()
    trials = build_trials(preset, args.seeds, study=study, train_overrides={"epochs": args.epochs},
                          data_overrides={"train_size": args.train_size})
    load_dataset(trials[0].train_config.data)  # as the CLI does: fail early on missing data
    plan = make_plan(study, preset, trials, runs_dir=runs_dir)
    results = run_study(plan, runs_dir=runs_dir)
    return time.perf_counter() - started, results, plan


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="demo")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=5000)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()

    from tal.data.datasets import load_dataset
    from tal.engine.ablation import build_trials
    from tal.engine.study import estimate, make_plan

    with tempfile.TemporaryDirectory() as runs_dir:
        trials = build_trials(args.preset, args.seeds, study="first", train_overrides={"epochs": args.epochs},
                              data_overrides={"train_size": args.train_size})
        sizes = load_dataset(trials[0].train_config.data).summary()
        t = time.perf_counter()
        guess = estimate(make_plan("first", args.preset, trials, runs_dir=runs_dir), sizes, runs_dir=runs_dir)
        estimate_s = time.perf_counter() - t
        first_s, first, _ = run("first", args.preset, args, runs_dir)
        second_s, second, plan = run("second", args.preset, args, runs_dir)
    reused = sum(r.get("reused", False) for r in second)
    ratio = second_s / first_s
    print(f"{len(trials)} trainings ({args.preset}, {args.seeds} seeds, {args.train_size} images, {args.epochs} "
          f"epochs)")
    print(f"first run:  {first_s:7.1f} s (estimated beforehand: {guess.seconds:.1f} s, "
          f"{guess.seconds / first_s:.2f} of the real time; the estimate itself took {estimate_s:.1f} s)")
    print(f"second run: {second_s:7.1f} s, {reused} of {len(second)} runs reused")
    print(f"second / first: {ratio:.4f} (target ≤ 0.05)")
    write_result("study_reuse", {"preset": args.preset, "seeds": args.seeds, "train_size": args.train_size,
                                 "epochs": args.epochs, "trainings": len(trials), "first_s": first_s,
                                 "second_s": second_s, "reused": reused, "ratio": ratio, "target": 0.05,
                                 "estimate_s": guess.seconds, "estimate_over_real": guess.seconds / first_s,
                                 "estimate_took_s": estimate_s})


if __name__ == "__main__":
    main()
