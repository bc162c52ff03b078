"""Training step time of each attention branch relative to the plain backbone.

All models are built up front and timed round-robin (a few steps of each,
repeated), so machine noise hits them alike. Each step is timed on its own
(batch-begin to batch-end, `_common.timed_steps`), so `fit`'s per-call
set-up is not counted as step time. A round's figure is its median step; the
result is each model's fastest round — its cost without interference —
divided by the baseline's. The whole-`fit` time per step, which the first
versions of this script reported, is recorded alongside.
Target: the full model ≤ 1.25×.

    python bench/step_time.py [--rounds 9] [--steps 20] [--batch-size N (default: TrainConfig's)]
"""
from __future__ import annotations

import argparse
import time

from _common import timed_steps, write_result

from tal.core import catalogue

VARIANTS = {
    "baseline": dict(scale=False, channel=False, element=False),
    "+scale": dict(scale=True, channel=False, element=False),
    "+channel": dict(scale=False, channel=True, element=False),
    "+element": dict(scale=False, channel=False, element=True),
    "+cbam": dict(scale=False, channel=False, element=False, cbam=True),
    "full (scale+channel+element)": dict(scale=True, channel=True, element=True),
}
OFF = dict(scale=False, channel=False, element=False)
# every literature module alone on the plain backbone, as the zoo study trains them
ZOO = {f"+{name}": dict(OFF, **overrides) for m in catalogue.literature() for name, overrides in m.ablation_variants()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--no-zoo", action="store_true", help="skip the literature modules")
    args = parser.parse_args()

    import keras
    import numpy as np

    import tal
    from tal.core.models import build_model
    from tal.engine.training import compile_model

    args.batch_size = args.batch_size or tal.TrainConfig().batch_size
    data = tal.load_dataset(tal.DataConfig(train_size=args.batch_size * args.steps, val_fraction=0.0))
    x = data.x_train[: args.batch_size * args.steps]
    y = data.y_train[: len(x)]
    models = {}
    variants = VARIANTS if args.no_zoo else {**VARIANTS, **ZOO}
    for name, toggles in variants.items():
        config = tal.ModelConfig(**toggles)
        model = build_model(config)
        compile_model(model, config, tal.TrainConfig(batch_size=args.batch_size), None, keras.Variable(0.5, trainable=False), 1000)
        targets = {k: y for k in model.output_names}
        model.fit(x[: args.batch_size * 2], {k: v[: args.batch_size * 2] for k, v in targets.items()},
                  batch_size=args.batch_size, epochs=1, verbose=0)  # trace and warm up
        models[name] = (model, targets)
    times = {name: [] for name in models}
    fit_times = {name: [] for name in models}
    for _ in range(args.rounds):
        for name, (model, targets) in models.items():
            start = time.perf_counter()
            steps = timed_steps(model, x, targets, args.batch_size)
            fit_times[name].append((time.perf_counter() - start) / args.steps)
            times[name].append(float(np.median(steps)))
    base, base_median = float(np.min(times["baseline"])), float(np.median(times["baseline"]))
    rows = []
    print(f"{'variant':32} {'best (ms)':>10} {'× baseline':>11} {'median ×':>9} {'fit ×':>7} {'params':>8}")
    for name, samples in times.items():
        best, median = float(np.min(samples)), float(np.median(samples))
        rows.append({"variant": name, "best_step_ms": 1000 * best, "ratio_to_baseline": best / base,
                     "median_step_ms": 1000 * median, "median_ratio": median / base_median,
                     "params": int(models[name][0].count_params()), "samples_ms": [1000 * s for s in samples],
                     "best_fit_per_step_ms": 1000 * min(fit_times[name]),
                     "fit_ratio_to_baseline": min(fit_times[name]) / min(fit_times["baseline"])})
        print(f"{name:32} {1000 * best:10.2f} {best / base:11.3f} {median / base_median:9.3f} "
              f"{rows[-1]['fit_ratio_to_baseline']:7.3f} {rows[-1]['params']:8,}")
    full = next(r["ratio_to_baseline"] for r in rows if r["variant"].startswith("full"))
    print(f"full model step time = {full:.3f} × baseline (target ≤ 1.25)")
    write_result("step_time", {"batch_size": args.batch_size, "steps_per_sample": args.steps, "rounds": args.rounds,
                               "rows": rows, "full_ratio": full, "target": 1.25,
                               "statistic": "fastest round's median step (medians over rounds and whole-fit time also recorded)"})


if __name__ == "__main__":
    main()
