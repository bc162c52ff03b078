"""Training speed of the same configuration three ways: the bare Keras step, the CLI, the app's Train page.

Side by side in one run, one after another on an otherwise idle machine:

  bare   the model tal builds and compiles, trained by `model.fit` in this
         process with only a step-timing callback (no validation, no maps)
  cli    `python -m tal train` with the same settings (its own process)
  app    `streamlit run app.py`, a Chromium page on Train that presses Start
         with the same settings and stays on the page (live curves and maps)

For each: the steady-state **step rate** (images per second of training step,
measured from batch begin to batch end over the last epoch, the figure the
CLI and the Train page show) and the **wall rate** (the last epoch's images
over its wall time, validation and BatchNorm recalibration included).
Targets (issue: a new user's first ten minutes): CLI step rate ≥ 90 % of the
bare step rate; the Train page's ≥ 90 % of the CLI's.

    python bench/app_throughput.py [--train-size 12000] [--epochs 3]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import statistics

from _common import REPO, cpu_seconds_by_role, streamlit_app, write_result


def steady_rates(history: dict, batch_size: int) -> dict:
    """Step and wall images/s over the last epoch, from a run's history.json.

    The batch records carry the cumulative step rate, so the training-step time
    up to a record is `step · batch / images_per_s`; the epoch records carry
    the wall time since training began.
    """
    epochs = history["epochs"]
    last, before = epochs[-1], (epochs[-2] if len(epochs) > 1 else None)

    def step_time(record):
        return record["step"] * batch_size / record["images_per_s"]

    steps = last["step"] - (before["step"] if before else 0)
    step_seconds = step_time(last) - (step_time(before) if before else 0.0)
    wall_seconds = last["elapsed_s"] - (before["elapsed_s"] if before else 0.0)
    return {"step_images_per_s": round(steps * batch_size / step_seconds, 1),
            "wall_images_per_s": round(steps * batch_size / wall_seconds, 1), "steps": steps}


def bare(train_size: int, epochs: int) -> dict:
    """The same model and compile as tal.train, fit with nothing but a step timer."""
    import keras
    import numpy as np

    import tal
    from tal.data.datasets import class_weights
    from tal.engine.training import compile_model

    train_config = tal.TrainConfig(epochs=epochs, data=tal.DataConfig(train_size=train_size))
    data = tal.load_dataset(train_config.data)
    model_config = tal.ModelConfig().replace(input_shape=tuple(data.input_shape), num_classes=data.num_classes)
    keras.utils.set_random_seed(train_config.seed)
    model = tal.build_model(model_config)
    aux_weight = keras.Variable(train_config.aux_weight, trainable=False, dtype="float32")
    batches = int(np.ceil(len(data.x_train) / train_config.batch_size))
    compile_model(model, model_config, train_config, class_weights(data.y_train, data.num_classes), aux_weight,
                  batches * epochs)
    step_times: list[list[float]] = []
    wall: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            step_times.append([])
            self.epoch_start = time.perf_counter()

        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            step_times[-1].append(time.perf_counter() - self.start)

        def on_epoch_end(self, epoch, logs=None):
            wall.append(time.perf_counter() - self.epoch_start)

    targets = {name: data.y_train for name in model.output_names}
    model.fit(data.x_train, targets, batch_size=train_config.batch_size, epochs=epochs, shuffle=True, verbose=0,
              callbacks=[Timer()])
    images = len(data.x_train)
    return {"step_images_per_s": round(images / sum(step_times[-1]), 1),
            "wall_images_per_s": round(images / wall[-1], 1), "steps": len(step_times[-1]),
            "training_time_s": round(sum(wall), 2)}


def cli(train_size: int, epochs: int, runs: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-m", "tal", "train", "--train-size", str(train_size), "--epochs", str(epochs),
                    "--name", "cli", "--runs-dir", str(runs), "--quiet"], check=True, env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL)
    return _run_rates(runs / "cli")


def app(train_size: int, epochs: int, runs: Path, niceness: int | None = None) -> dict:
    from playwright.sync_api import sync_playwright

    settings = {"TAL_RUNS_DIR": str(runs)}
    if niceness is not None:
        settings["TAL_WORKER_NICENESS"] = str(niceness)
    with streamlit_app(settings) as (url, _, server):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
            page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
            page.goto(f"{url}/train?train_size={train_size}&epochs={epochs}&name=app")
            page.get_by_role("button", name="Start training").wait_for(timeout=180_000)
            page.wait_for_timeout(2000)  # let the page settle (the worker is started when Train opens)
            page.get_by_role("button", name="Start training").click()
            page.get_by_text("images/s").first.wait_for(timeout=180_000)  # the first batches are in
            cpu_before, start = cpu_seconds_by_role(server.pid), time.perf_counter()
            deadline = time.time() + 3600
            while not (runs / "app" / "metrics.json").is_file():
                if time.time() > deadline:
                    raise TimeoutError("the app's training did not finish within an hour")
                page.wait_for_timeout(500)  # the page keeps polling the server, as a person's would
            cpu_after, seconds = cpu_seconds_by_role(server.pid), time.perf_counter() - start
            browser.close()
    # each one's CPU share while training, in cores (of os.cpu_count()): where the machine's time went
    shares = {f"{role}_cores": round((cpu_after[role] - cpu_before[role]) / seconds, 2) for role in cpu_before}
    return {**_run_rates(runs / "app"), **shares}


def _run_rates(path: Path) -> dict:
    metrics = json.loads((path / "metrics.json").read_text())
    batch_size = json.loads((path / "config.json").read_text())["train"]["batch_size"]
    rates = steady_rates(json.loads((path / "history.json").read_text()), batch_size)
    return {**rates, "training_time_s": metrics["training_time_s"], "total_time_s": metrics["total_time_s"]}


RATIOS = {  # name: (numerator, denominator, rate)
    "cli_vs_bare_step": ("cli", "bare", "step_images_per_s"),
    "app_vs_cli_step": ("app", "cli", "step_images_per_s"),
    "app_vs_cli_wall": ("app", "cli", "wall_images_per_s"),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-size", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3,
                        help="measure cli, app, bare this many times, one after another; each round gives its "
                             "own ratios, and the median is the figure (one run's speed on this machine varies "
                             "by up to ±20 %%)")
    parser.add_argument("--worker-niceness", type=int, help="the app's training worker's niceness (default: the app's)")
    parser.add_argument("--only", nargs="*", choices=("bare", "cli", "app"), help="measure only these")
    args = parser.parse_args()
    measures = {"cli": lambda runs: cli(args.train_size, args.epochs, runs),
                "app": lambda runs: app(args.train_size, args.epochs, runs, args.worker_niceness),
                "bare": lambda runs: bare(args.train_size, args.epochs)}
    names = [name for name in measures if not args.only or name in args.only]
    rounds = []
    for n in range(args.rounds):
        runs = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
        results = {}
        for name in names:
            results[name] = measures[name](runs)
            print(f"  round {n + 1} {name:5} {results[name]}", flush=True)
        rounds.append({"results": results, "ratios": {
            ratio: round(results[a][rate] / results[b][rate], 3)
            for ratio, (a, b, rate) in RATIOS.items() if a in results and b in results}})
    if len(names) < 3:
        return
    medians = {ratio: round(statistics.median(r["ratios"][ratio] for r in rounds), 3) for ratio in RATIOS}
    print(f"\nDefault model, batch 128, {args.train_size} images × {args.epochs} epochs; last epoch, steady state")
    print(f"{'':10}{'step images/s':>15}{'wall images/s':>15}{'training s':>12}")
    for n, r in enumerate(rounds):
        for name in names:
            x = r["results"][name]
            print(f"{name:5} #{n + 1:<3}{x['step_images_per_s']:15.0f}{x['wall_images_per_s']:15.0f}"
                  f"{x['training_time_s']:12.1f}")
    for n, r in enumerate(rounds):
        app_result = r["results"]["app"]
        print(f"round {n + 1}: CLI/bare step {r['ratios']['cli_vs_bare_step']:.2f}, app/CLI step "
              f"{r['ratios']['app_vs_cli_step']:.2f}, app/CLI wall {r['ratios']['app_vs_cli_wall']:.2f}; "
              f"while the app trained, cores used by browser {app_result['browser_cores']:.2f}, "
              f"server {app_result['server_cores']:.2f}, worker {app_result['worker_cores']:.2f}")
    print(f"\nMedian of {len(rounds)} round(s): CLI / bare step rate {medians['cli_vs_bare_step']:.2f} "
          f"(target ≥ 0.90); app / CLI step rate {medians['app_vs_cli_step']:.2f} (target ≥ 0.90); "
          f"app / CLI wall rate {medians['app_vs_cli_wall']:.2f}")
    write_result("app_throughput", {"train_size": args.train_size, "epochs": args.epochs, "rounds": rounds,
                                    "median_ratios": medians,
                                    "targets": {"cli_vs_bare_step": 0.9, "app_vs_cli_step": 0.9}})


if __name__ == "__main__":
    main()
