"""`python -m tal`: train, evaluate, predict and list runs from the shell.

Every config field is a flag (`--stage-filters 16,32,64`, `--no-scale`,
`--train-size 2000`), or comes from `--config FILE` (a JSON file with
"model" and "train" objects — a run's own config.json works). Bad arguments
or data print one line `tal: error: …` and exit with code 2, writing nothing.
Any other error is a bug: its traceback is printed and the exit code is 1.
`predict` goes on past files it cannot read (one such line each) and exits
with code 3 when some failed (`EXIT_CODES`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import typing
from pathlib import Path

from tal.core.config import DATASETS, DataConfig, ModelConfig, TrainConfig, specs

EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_SOME_FAILED = 3  # predict: some files could not be read; the others were predicted
EXIT_CODES = (f"Exit codes: 0 done; {EXIT_BUG} a bug (its traceback is printed); {EXIT_USAGE} bad arguments or input "
              f"(one line, nothing written; predict: no file could be read); {EXIT_SOME_FAILED} predict: some "
              "files could not be read (one line each), the others were predicted; 130 interrupted.")
# Set from the data, or not supported by the single-label training engine.
_NOT_FLAGS = {"input_shape", "num_classes", "multi_label", "data"}


class UsageError(Exception):
    """A problem with the user's arguments or data: one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage dump
        raise UsageError(f"{message} (see `python -m tal {self.prog.split()[-1]} --help`)"
                         if " " in self.prog else message)


# ----------------------------------------------------------------- config flags

def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _parse_value(hint, text: str):
    """Parse a flag's text for the dataclass field type `hint`."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = type(None) in typing.get_args(hint)
    if optional and text.strip().lower() in ("none", "all", ""):
        return None
    base = args[0] if optional and args else hint
    if typing.get_origin(base) is tuple:
        if typing.get_args(base)[0] is str:  # names, such as class names: commas part them, spaces stay
            return tuple(t.strip() for t in text.split(",") if t.strip())
        items = [t for t in text.replace(" ", "").split(",") if t]
        try:
            return tuple(int(t) for t in items)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    for kind in (int, float, str):
        if base is kind:
            try:
                return kind(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected {kind.__name__}, got {text!r}") from None
    return text


def _flag_help(spec) -> str:
    """A flag's help from its field's metadata: label, help text, choices or bounds, default."""
    default = spec.default
    if spec.optional:  # _parse_value reads "none" / "all" as None
        word = "all" if spec.none == "all" else "none"
        none = f'"{word}"' + (f" ({spec.none})" if spec.none and spec.none != word else "")
    if isinstance(default, tuple):
        shown = ",".join(map(str, default)) or "empty"
    else:
        shown = word if default is None and spec.optional else default
    parts = [f"{spec.label}." if spec.label != spec.name else "", spec.help]
    if spec.choices:
        parts.append(f"One of: {', '.join(spec.choices)}.")
    elif spec.bounds_text():
        parts.append(f"Range: {spec.bounds_text()}" + (f", or {none}." if spec.optional else "."))
    elif spec.optional:
        parts.append(f"Or {none}.")
    if spec.kind == "tuple":
        parts.append("Comma-separated names." if typing.get_args(spec.base)[0] is str else "Comma-separated integers.")
    parts.append(f"(default: {shown})")
    return " ".join(p for p in parts if p).replace("%", "%%")  # argparse formats help with %


def _add_config_flags(parser: argparse.ArgumentParser, cls, title: str) -> None:
    """One flag per field of the config class `cls`, described by the field's metadata (tal.core.config.setting)."""
    group = parser.add_argument_group(title)
    for spec in specs(cls):
        if spec.name in _NOT_FLAGS:
            continue
        if spec.kind == "bool":
            group.add_argument(_flag(spec.name), dest=spec.name, action=argparse.BooleanOptionalAction,
                               default=None, help=_flag_help(spec))
        else:
            group.add_argument(_flag(spec.name), dest=spec.name, default=None, metavar=spec.name.upper(),
                               type=lambda text, h=spec.hint: _parse_value(h, text), help=_flag_help(spec))


def _overrides(args, cls) -> dict:
    names = {f.name for f in dataclasses.fields(cls)} - _NOT_FLAGS
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def configs_from_args(args) -> tuple[ModelConfig, TrainConfig]:
    """Merge `--config FILE` (if any) with the flags; flags win."""
    model, train, data = {}, {}, {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise UsageError(f"config file not found: {path}")
        try:
            loaded = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise UsageError(f"{path} is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict) or not ({"model", "train"} & set(loaded)):
            raise UsageError(f'{path} needs a "model" and/or "train" object (like a run\'s config.json)')
        model = dict(loaded.get("model", {}))
        train = dict(loaded.get("train", {}))
        data = dict(train.pop("data", {}) or {})
        for derived in ("input_shape", "num_classes", "multi_label"):  # set from the data
            model.pop(derived, None)
    model.update(_overrides(args, ModelConfig))
    train.update(_overrides(args, TrainConfig))
    data.update(_overrides(args, DataConfig))
    model_config = ModelConfig.from_dict(model)
    return model_config, TrainConfig.from_dict({**train, "data": DataConfig.from_dict(data).to_dict()})


# ----------------------------------------------------------------- progress

class ProgressPrinter:
    """A one-line progress bar on a terminal; one line per epoch otherwise."""

    def __init__(self, stream=None, width: int = 24):
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = self.stream.isatty()

    def on_train_begin(self, info):
        data = info["data"]
        self.stream.write(
            f"Training {info['model'].get('backbone')} [{ModelConfig.from_dict(info['model']).label}] "
            f"{info['params']:,} parameters on {data['train']:,} {data['name']} images "
            f"({data['source']}), {info['total_steps']} steps\n"
        )
        for note in data.get("notes", ()):  # what the data loading skipped or changed, never silently
            self.stream.write(f"tal: note: {note}\n")

    def _line(self, p) -> str:
        filled = int(self.width * p.fraction)
        bar = "#" * filled + "." * (self.width - filled)
        parts = [f"epoch {p.epoch}/{p.epochs} [{bar}] {p.fraction:4.0%}", f"loss {p.loss:.4f}"]
        if p.aux_loss is not None:
            parts.append(f"aux {p.aux_loss:.4f} (λ={p.aux_weight:g})")
        parts.append(f"{'AUC' if p.metric == 'auc' else 'acc'} {p.accuracy:.4f}")
        if p.val_accuracy is not None:
            parts.append(f"val {p.val_accuracy:.4f}")
        parts.append(f"{p.images_per_s:,.0f} img/s ETA {p.eta_s:,.0f}s")
        return " · ".join(parts)

    def on_batch_end(self, p):
        if self.tty and (p.batch % 5 == 0 or p.batch == p.batches):
            self.stream.write("\r" + self._line(p) + "\033[K")
            self.stream.flush()

    def on_epoch_end(self, p):
        self.stream.write(("\r" if self.tty else "") + self._line(p) + ("\033[K" if self.tty else "") + "\n")
        self.stream.flush()

    def on_train_end(self, result):
        from tal.engine.evaluation import headline

        m = result.metrics
        label, value = headline(m)
        shown = "n/a" if value is None else f"{value:.4f}"
        self.stream.write(f"{m['status']}: {label} {shown} in {m['training_time_s']:.1f}s of training\n")


# ----------------------------------------------------------------- commands

def cmd_train(args) -> int:
    from tal.engine.training import TrainingControl, train

    from tal.engine.registry import RunExistsError, check_name

    model_config, train_config = configs_from_args(args)
    if args.replace and args.name is None:
        raise UsageError("--replace needs --name, the run to replace")
    if_exists = "replace" if args.replace else "error"
    try:  # an unusable or taken name is refused before the data is loaded (tal.train checks again)
        name = check_name(args.name, args.runs_dir, if_exists=if_exists)
    except RunExistsError as exc:
        raise UsageError(f"a run called {exc.name!r} already exists in {exc.root}; choose another --name "
                         f"(e.g. --name {exc.free}), or add --replace to replace that run once the new one "
                         "is saved") from None
    callbacks = [] if args.quiet else [ProgressPrinter()]
    control = TrainingControl()

    def first_interrupt_stops(signum, frame):  # Ctrl+C once: stop after this batch and save
        print("\ntal: stopping after this batch (Ctrl+C again to abort without saving)", file=sys.stderr)
        control.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first_interrupt_stops)
    try:
        result = train(model_config, train_config, callbacks=callbacks, control=control,
                       name=name, if_exists=if_exists, runs_dir=args.runs_dir)
    finally:
        signal.signal(signal.SIGINT, previous)
    if name is not None and result.run.name != name:
        why = ("the training was stopped, so it did not replace the run" if args.replace
               else "while it trained, another run took the name")
        print(f"tal: note: {why} {name!r}; this run is saved as {result.run.name!r}", file=sys.stderr)
    print(json.dumps({"run": str(result.run.path), **_headline(result.metrics)}, indent=2))
    return 0


def cmd_export(args) -> int:
    from tal.engine.registry import load_run

    run = load_run(args.run, args.runs_dir)
    target = None if args.code == "-" else Path(args.code)
    if target is not None and target.is_dir():
        raise UsageError(f"{target} is a folder; give a file name such as {target / (run.name + '.py')}")
    if target is not None and not target.parent.is_dir():
        raise UsageError(f"the folder {target.parent} does not exist")
    from tal.engine.startup import import_tensorflow_quietly

    import_tensorflow_quietly()  # only now that the run and the target are known to be fine
    from tal.engine.export import export_code, run_code

    if target is None:
        sys.stdout.write(run_code(run))
        return 0
    export_code(run, target)
    print(json.dumps({"run": run.name, "code": str(target.resolve()), "usage": f"python {target}"}, indent=2))
    return 0


def _headline(metrics: dict) -> dict:
    keys = ("status", "test_accuracy", "test_accuracy_aux", "mean_auc", "mean_auc_aux", "exact_match",
            "micro_f1", "params", "training_time_s", "epochs_completed")
    return {k: metrics[k] for k in keys if k in metrics}


def cmd_evaluate(args) -> int:
    from tal.data.datasets import load_dataset
    from tal.engine.registry import load_run
    from tal.engine.evaluation import evaluate_model

    run = load_run(args.run, args.runs_dir)
    data_config = run.train_config.data
    changes = {k: v for k, v in (("data_dir", args.data_dir), ("test_size", args.test_size)) if v is not None}
    data = load_dataset(data_config.replace(**changes))
    model = run.load_model()
    metrics = evaluate_model(model, data.x_test, data.y_test, data.num_classes, prediction=args.prediction)
    metrics.update(run=run.name, data=data.source, prediction=args.prediction)
    print(json.dumps(metrics if args.full else {k: v for k, v in metrics.items() if k != "confusion_matrix"}, indent=2))
    return 0


def _predict_inputs(arguments) -> list[tuple[Path, str | None]]:
    """The files `predict`'s arguments name, in order: `(path, None)` for a file to read, `(folder, reason)`
    for a folder that holds none.

    A folder stands for its images, sorted by name: the files whose names end like an image
    (`has_image_suffix`: .png, .jpg, .bmp, .gif, .webp, .tif, …); its subfolders, hidden files and
    other files (.txt, .json, …) are left out, the other files with a note on stderr. Whether a
    file really is an image is for `preprocess_image` to say.
    """
    from tal.data.preprocess import FORMATS, has_image_suffix

    inputs = []
    for argument in arguments:
        folder = Path(argument)
        if not folder.is_dir():
            inputs.append((folder, None))  # a missing file is reported when it is read
            continue
        try:
            entries = sorted((p for p in folder.iterdir() if not p.name.startswith(".")), key=lambda p: p.name)
        except OSError as exc:
            inputs.append((folder, f"the folder could not be listed ({exc.strerror or exc})."))
            continue
        images = [p for p in entries if has_image_suffix(p) and not p.is_dir()]
        others = [p.name for p in entries if not has_image_suffix(p) and not p.is_dir()]
        if others:
            shown = ", ".join(others[:5]) + (", …" if len(others) > 5 else "")
            print(f"tal: note: {argument}: left out {len(others)} file(s) not named like an image ({shown})",
                  file=sys.stderr)
        if not images:
            inputs.append((folder, f"the folder holds no image files ({', '.join(FORMATS)})."))
        inputs += [(p, None) for p in images]
    return inputs


def _image_reason(exc) -> str:
    """An ImageError's message about "The file", as the reason after the file's name."""
    message = " ".join(str(exc).split())
    return message[:1].lower() + message[1:]


def cmd_predict(args) -> int:
    import numpy as np

    from tal.data.inputs import prepare_input
    from tal.data.preprocess import ImageError
    from tal.engine.registry import load_run

    run = load_run(args.run, args.runs_dir)
    if args.maps and not str(args.maps).endswith(".npz"):
        raise UsageError(f"--maps needs a .npz file name, got {args.maps}")
    from tal.core.inspection import inspect  # imports TensorFlow: only once the run exists

    data, shape = run.train_config.data, run.model_config.input_shape  # inputs prepared as its training images
    files, images, problems = [], [], []
    for path, reason in _predict_inputs(args.images):
        if reason is None:
            try:
                images.append(prepare_input(path, data, shape, name="")[0])  # "": the message says "The file"
                files.append(path)
                continue
            except ImageError as exc:
                reason = _image_reason(exc)
        problems.append((str(path), reason))
        print(f"tal: error: {path}: {reason}", file=sys.stderr)
    if not images:
        print(f"tal: error: no image could be read, so nothing was predicted"
              f"{' and ' + str(args.maps) + ' was not written' if args.maps else ''}", file=sys.stderr)
        return EXIT_USAGE
    batch = np.stack(images)
    out = inspect(run.load_model(), batch, prediction=args.prediction)
    novel = _novelty(run, batch, files, args) if args.novelty else [None] * len(files)
    results = [
        {
            "file": str(path),
            "prediction": int(out["prediction"][i]),
            "class": run.class_names[int(out["prediction"][i])],
            "confidence": round(float(out["probabilities"][i].max()), 6),
            "probabilities": [round(float(p), 6) for p in out["probabilities"][i]],
            **({"present": [int(c) for c in np.flatnonzero(out["present"][i])],
                "present_classes": [run.class_names[c] for c in np.flatnonzero(out["present"][i])]}
               if "present" in out else {}),
            **({"novelty": novel[i]} if args.novelty else {}),
        }
        for i, path in enumerate(files)
    ]
    if args.maps:
        from tal.engine.files import save_npz_atomic

        shown = batch if data.own else batch[..., 0]  # digit runs keep the file's (N, H, W) images
        save_npz_atomic(args.maps, files=np.array([str(p) for p in files]), images=shown, **out)
        if problems:
            print(f"tal: note: {args.maps} holds the maps of the {len(files)} image(s) that could be read "
                  "(its 'files' array names them)", file=sys.stderr)
    print(json.dumps({"run": run.name, "results": results,
                      "errors": [{"file": file, "error": reason} for file, reason in problems]}, indent=2))
    return EXIT_SOME_FAILED if problems else 0


def _novelty(run, images, files, args) -> list[dict | None]:
    """Each image's distance to the run's training images (`tal.engine.novelty`), rounded for the JSON;
    a `tal: note:` line on stderr for each unusual one, and one when the training images are not here."""
    from tal.engine import novelty

    data_config = run.train_config.data
    if args.data_dir is not None:
        data_config = data_config.replace(data_dir=args.data_dir)
    reference = novelty.reference_for(data_config)
    if reference is None:
        print(f"tal: note: the {data_config.dataset} images this run was trained on are not here, so no input "
              "is compared with them (give --data-dir, or --no-novelty)", file=sys.stderr)
        return [None] * len(files)
    scored = reference.score(images)
    for path, entry in zip(files, scored):
        if entry["unusual"]:
            print(f"tal: note: {path}: looks unlike the training images: "
                  f"{novelty.reason(entry, reference.train_images)}; the prediction may say little", file=sys.stderr)
    return [{"distance": round(e["distance"], 4), "share_closer": round(e["share_closer"], 4),
             "unusual": e["unusual"]} for e in scored]


def cmd_localize(args) -> int:
    from tal.data.datasets import load_dataset
    from tal.engine.localization import localize
    from tal.engine.registry import load_run

    run = load_run(args.run, args.runs_dir)
    methods = [m.strip() for m in args.method.split(",") if m.strip()] if args.method else None
    changes = {"test_size": args.images, "train_size": 10, "imbalance_classes": ()}
    if args.data_dir is not None:
        changes["data_dir"] = args.data_dir
    data = load_dataset(run.train_config.data.replace(**changes))
    model = run.load_model()
    result = localize(model, run.model_config, data.x_test, data.objects("test"), methods=methods,
                      sanity=not args.no_sanity)
    print(json.dumps({"run": run.name, "data": data.source, **result}, indent=2))
    if result["skipped"]:
        print(f"tal: error: not scored: {'; '.join(result['skipped'].values())}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def _record_score(record: dict) -> str:
    """'98.53%' for a single-label trial, 'AUC 0.9931 · pointing A 98.8%' for a multi-label one."""
    if "mean_auc" not in record:
        return f"{100 * record['test_accuracy']:.2f}%"
    text = f"AUC {record['mean_auc']:.4f}"
    for method, value in record.get("pointing", {}).items():
        text += f" · pointing {method} {100 * value:.1f}%"
    return text


def cmd_ablate(args) -> int:
    from tal.engine.ablation import PRESETS, build_trials, default_study_name, format_table, summarize
    from tal.data.datasets import load_dataset
    from tal.engine.registry import safe_name
    from tal.engine.study import (check_size, duration_text, estimate, load_design, make_plan, run_study,
                                  write_progress)

    if args.list:
        for key, preset in PRESETS.items():
            print(f"{key:10} {len(preset.variants)} configurations: {preset.description}")
        return 0
    if args.resume:
        given = [f"--{k.replace('_', '-')}" for k in ("epochs", "batch_size", "train_size", "test_size", "dataset",
                                                      "name") if getattr(args, k) is not None]
        if given:
            raise UsageError(f"--resume continues a study with its own settings; leave out {', '.join(given)}.")
        study = safe_name(args.resume)
        try:
            preset, trials = load_design(study, args.runs_dir)
        except FileNotFoundError as exc:
            raise UsageError(str(exc)) from None
    else:
        train_overrides = {k: v for k, v in (("epochs", args.epochs), ("batch_size", args.batch_size)) if v is not None}
        data_overrides = {k: v for k, v in (("train_size", args.train_size), ("test_size", args.test_size),
                                            ("data_dir", args.data_dir), ("dataset", args.dataset)) if v is not None}
        study = safe_name(args.name) if args.name else default_study_name(args.preset)
        preset = args.preset
        trials = build_trials(preset, args.seeds, study=study, train_overrides=train_overrides,
                              data_overrides=data_overrides)
    check_size(trials, confirmed=args.yes)
    if args.ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            raise UsageError("--ray needs Ray: pip install -r requirements-ray.txt") from None
    plan = make_plan(study, preset, trials, runs_dir=args.runs_dir, reuse=not args.no_reuse)
    if plan.to_train or args.dry_run or args.ray or trials[0].train_config.data.multi_label:
        # a study whose runs all exist needs neither TensorFlow nor the data (a rerun takes seconds)
        from tal.engine.startup import import_tensorflow_quietly

        import_tensorflow_quietly()
        data = load_dataset(trials[0].train_config.data)  # fail now, in one line, if the data is missing
    reused = len(trials) - len(plan.to_train)
    print(f"Ablation {study!r}: {len(trials)} trainings ({preset}){' on Ray' if args.ray else ''}; "
          + (f"{reused} reuse finished runs with the same settings and seed, {len(plan.to_train)} to train"
             if reused else f"all {len(trials)} to train"), file=sys.stderr)
    if args.dry_run:
        guess = estimate(plan, data.summary(), runs_dir=args.runs_dir)
        for trial, run, seconds, how in zip(plan.trials, plan.reused, guess.per_trial_s, guess.measured):
            what = f"reuses {run.name}" if run is not None else f"~{seconds:.0f}s ({how})"
            print(f"  {trial.variant} seed {trial.seed}: {what}")
        print(f"Estimated time on this machine: {duration_text(guess.seconds)} for {len(plan.to_train)} "
              f"training(s).")
        return 0

    def started(i, trial, run):
        if run is not None:
            print(f"[{i + 1}/{len(trials)}] {trial.variant} seed {trial.seed}: reusing {run.name} "
                  "(same settings and seed)", file=sys.stderr)

    def report(i, trial, record):
        if not record.get("reused"):
            print(f"[{i + 1}/{len(trials)}] {trial.variant} seed {trial.seed}: "
                  f"{_record_score(record)} in {record['training_time_s']:.0f}s", file=sys.stderr)

    if args.ray:
        from tal.engine.study import run_study_on_ray

        results = run_study_on_ray(plan, runs_dir=args.runs_dir, address=args.ray_address, on_trial_start=started,
                                   on_trial_end=report)
    else:
        results = run_study(plan, runs_dir=args.runs_dir, on_trial_start=started, on_trial_end=report,
                            callbacks_for=None if args.quiet or not sys.stderr.isatty()
                            else lambda t: [ProgressPrinter()])
    rows = summarize(results)
    print(format_table(rows))
    folder = write_progress(plan, results, runs_dir=args.runs_dir)
    print(f"Saved {folder / 'summary.json'} and {folder / 'summary.csv'}", file=sys.stderr)
    if len(results) < len(trials):
        print(f"The study stopped after {len(results)} of {len(trials)} trainings; resume it with "
              f"`python -m tal ablate --resume {study}`.", file=sys.stderr)
    return 0


def cmd_demos(args) -> int:
    from tal.engine.demos import demo_specs, make_demos

    if args.list:
        for spec in demo_specs():
            print(f"{spec.name:36} {spec.dataset:10} {spec.model.label}")
        return 0

    def done(spec, path):
        from tal.engine.evaluation import headline

        metrics = json.loads((path / "metrics.json").read_text())
        label, value = headline(metrics)
        print(f"{spec.name}: {label} {value:.4f} in {metrics['training_time_s']:.0f}s -> {path}", file=sys.stderr)

    make_demos(args.out, data_dir=args.data_dir, only=args.only, epochs=args.epochs, on_done=done,
               callbacks_for=None if args.quiet or not sys.stderr.isatty() else lambda s: [ProgressPrinter()])
    return 0


def cmd_example_data(args) -> int:
    from tal.data.examples import write_examples

    try:
        paths = write_examples(args.folder)
    except FileExistsError as exc:
        raise UsageError(str(exc)) from None
    table = paths["csv"]
    commands = {
        "folder": f"python -m tal train --dataset folder --data-dir {paths['folder']}",
        "csv": (f"python -m tal train --dataset csv --data-dir {table / 'images'} --labels-file "
                f"{table / 'Data_Entry.csv'} --boxes-file {table / 'BBox_List.csv'} --test-list "
                f"{table / 'test_list.txt'} --box-aliases Round=Circle"),
        "npz": f"python -m tal train --dataset npz --data-dir {paths['npz']} --class-names circle,square,triangle",
    }
    for layout, command in commands.items():
        print(f"tal: {layout}: {command}", file=sys.stderr)
    print(json.dumps({"written": {k: str(v) for k, v in paths.items()}, "train": commands}, indent=2))
    return 0


def cmd_runs(args) -> int:
    from tal.engine.registry import list_runs

    runs = list_runs(args.runs_dir, include_shipped=not args.no_shipped)
    rows = []
    for run in runs:
        m, c = run.metrics, run.config
        rows.append({
            "name": run.name,
            "shipped": run.shipped,
            "branches": m.get("label", ""),
            "dataset": c.get("train", {}).get("data", {}).get("dataset", ""),
            "aux_weight": c.get("train", {}).get("aux_weight"),
            "test_accuracy": m.get("test_accuracy"),
            "mean_auc": m.get("mean_auc"),
            "params": m.get("params"),
            "training_time_s": m.get("training_time_s"),
            "status": m.get("status"),
        })
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print("No runs yet. Train one with: python -m tal train --epochs 1 --train-size 2000")
    else:
        print(f"{'name':52} {'branches':28} {'dataset':10} {'score':>10} {'params':>8} {'time':>7}  status")
        for r in rows:
            acc = "-"
            if r["test_accuracy"] is not None:
                acc = f"{r['test_accuracy']:.4f}"
            elif r["mean_auc"] is not None:
                acc = f"AUC {r['mean_auc']:.4f}"
            name = r["name"] + (" *" if r["shipped"] else "")
            print(f"{name[:52]:52} {r['branches'][:28]:28} {r['dataset']:10} {acc:>10} "
                  f"{r['params'] or 0:>8,} {r['training_time_s'] or 0:>6.0f}s  {r['status']}")
        if any(r["shipped"] for r in rows):
            print("* shipped demo model")
    return 0


# ----------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tal", description="Triple Attention Learning on MNIST: train, evaluate, predict.",
                     epilog=EXIT_CODES)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    train = sub.add_parser("train", help="train a model and save it as a run",
                           description="Train, evaluate on the test set and save a run folder.")
    train.add_argument("--config", help="JSON file with 'model' and 'train' objects (flags override it)")
    train.add_argument("--name", help="run name (default: dataset, branches, size and epochs when not the default, seed); a name that is "
                                      "taken is refused before training, unless --replace")
    train.add_argument("--replace", action="store_true",
                       help="replace the run called --name once the new run is saved complete (a stopped or "
                            "failed training leaves it as it was)")
    train.add_argument("--runs-dir", help="registry folder (default: $TAL_RUNS_DIR or ./runs)")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    _add_config_flags(train, ModelConfig, "model")
    _add_config_flags(train, TrainConfig, "training")
    _add_config_flags(train, DataConfig, "data")
    train.set_defaults(func=cmd_train)

    evaluate = sub.add_parser("evaluate", help="evaluate a run on its test set")
    evaluate.add_argument("run", help="run name or folder")
    evaluate.add_argument("--runs-dir")
    evaluate.add_argument("--data-dir", help="folder with MNIST (default: as the run was trained)")
    evaluate.add_argument("--test-size", type=lambda t: _parse_value(typing.Optional[int], t))
    evaluate.add_argument("--prediction", choices=("main", "mean"), default="main")
    evaluate.add_argument("--full", action="store_true", help="include the confusion matrix")
    evaluate.set_defaults(func=cmd_evaluate)

    predict = sub.add_parser(
        "predict", help="predict the classes of image files (JSON out)",
        description="Predict the class of each image (prepared as the run's training images were: MNIST-style for "
                    "digit models, fitted into the model's square for your own images): JSON on stdout with a result per readable file and an "
                    "'errors' list; a file that cannot be read gets one line on stderr (tal: error: FILE: reason) "
                    "and the others are still predicted.",
        epilog=f"Exit codes: 0 every file predicted; {EXIT_SOME_FAILED} some files could not be read (the others "
               f"were predicted, and --maps holds their maps); {EXIT_USAGE} none could be read, or bad arguments "
               "(nothing written).")
    predict.add_argument("run", help="run name or folder")
    predict.add_argument("images", nargs="+", metavar="IMAGE",
                         help="image files (PNG, JPEG, BMP, GIF, WebP, TIFF) or folders: a folder stands for the "
                              "files in it named like images, sorted by name (not its subfolders; other files "
                              "such as .txt are left out, with a note)")
    predict.add_argument("--maps", help="also save the inputs and every attention map of the readable files to "
                                        "this .npz")
    predict.add_argument("--prediction", choices=("main", "mean"), default="main")
    predict.add_argument("--data-dir", help="folder (or file) with the run's training images, for the novelty hint "
                                            "(default: as the run was trained, then $TAL_DATA_DIR)")
    predict.add_argument("--no-novelty", dest="novelty", action="store_false",
                         help="skip comparing each input with the training images (each result's 'novelty': "
                              "its pixel distance to the nearest of a sample of them, the share of test images "
                              "that are closer, and 'unusual' beyond 99 %%; a note on stderr for an unusual one)")
    predict.add_argument("--runs-dir")
    predict.set_defaults(func=cmd_predict)

    localize = sub.add_parser(
        "localize", help="score a run's attention maps against the digits' boxes (JSON out)",
        description="Pointing game and energy inside the boxes for every class present in each test image, "
                    "per method (the model's A, U, S+, other modules' spatial maps, Grad-CAM), with the "
                    "flat-map chance level and a model-parameter randomisation check.")
    localize.add_argument("run", help="run name or folder")
    localize.add_argument("--method", help="comma-separated methods, e.g. A,gradcam (default: all the model has)")
    localize.add_argument("--images", type=int, default=1000, help="test images to score (default 1000)")
    localize.add_argument("--no-sanity", action="store_true", help="skip the randomisation check")
    localize.add_argument("--data-dir", help="folder with MNIST (default: as the run was trained)")
    localize.add_argument("--runs-dir")
    localize.set_defaults(func=cmd_localize)

    export = sub.add_parser(
        "export", help="write a run's model as a standalone Keras Python file",
        description="Write a Python file whose build_model() rebuilds the run's architecture in plain Keras "
                    "code with tal's layers; running the file loads the run's weights and prints the summary.")
    export.add_argument("run", help="run name or folder")
    export.add_argument("--code", required=True, metavar="FILE", help="the .py file to write ('-' for stdout)")
    export.add_argument("--runs-dir")
    export.set_defaults(func=cmd_export)

    ablate = sub.add_parser("ablate", help="train a grid of configurations × seeds and summarise",
                            description="Branch subsets × λ × seeds; prints mean ± std per configuration, "
                                        "the difference to the plain baseline, and flags differences within seed noise.")
    ablate.add_argument("--preset", default="demo", help="demo, branches, lambda (see --list)")
    ablate.add_argument("--seeds", type=int, default=3, help="seeds per configuration (default 3)")
    ablate.add_argument("--list", action="store_true", help="list the presets and exit")
    ablate.add_argument("--name", help="study name (default: preset and time)")
    ablate.add_argument("--epochs", type=int)
    ablate.add_argument("--batch-size", type=int)
    ablate.add_argument("--train-size", type=lambda t: _parse_value(typing.Optional[int], t))
    ablate.add_argument("--test-size", type=lambda t: _parse_value(typing.Optional[int], t))
    ablate.add_argument("--dataset", choices=DATASETS)
    ablate.add_argument("--data-dir")
    ablate.add_argument("--runs-dir")
    ablate.add_argument("--ray", action="store_true", help="run the grid on Ray Tune (pip install -r requirements-ray.txt)")
    ablate.add_argument("--ray-address", help="Ray cluster address (default: $RAY_ADDRESS, else a local Ray)")
    ablate.add_argument("--quiet", action="store_true")
    ablate.add_argument("--resume", metavar="STUDY", help="finish a stopped study: its finished runs are reused")
    ablate.add_argument("--no-reuse", action="store_true",
                        help="train every run, even when a finished run has the same settings and seed")
    ablate.add_argument("--dry-run", action="store_true",
                        help="print what would be trained or reused and the estimated time, then exit")
    ablate.add_argument("--yes", action="store_true", help="confirm a study of more than 40 trainings")
    ablate.set_defaults(func=cmd_ablate)

    demos = sub.add_parser("demos", help="(re)train the demo models shipped in models/",
                           description="Train the 8 branch subsets + CBAM on MNIST and a plain/full pair on "
                                       "translated MNIST and on multidigit canvases, and write them (with a card.json each, "
                                       "with localization scores for multidigit) to models/.")
    demos.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "models"))
    demos.add_argument("--data-dir", help="folder with MNIST (default: $TAL_DATA_DIR, then the Keras cache)")
    demos.add_argument("--only", nargs="+", metavar="NAME", help="remake only these (see --list)")
    demos.add_argument("--epochs", type=int, help="override the default epochs (for a quick check)")
    demos.add_argument("--list", action="store_true")
    demos.add_argument("--quiet", action="store_true")
    demos.set_defaults(func=cmd_demos)

    examples = sub.add_parser(
        "example-data", help="write small example datasets of your-own-images layouts (drawn shapes)",
        description="Write three small datasets of drawn shapes, made offline, one per layout of your own "
                    "images: FOLDER/shapes (class folders), FOLDER/xray-like (an image folder with a label table, "
                    "a box table and a test list in ChestX-ray14's layout) and FOLDER/shapes.npz (MedMNIST's "
                    "layout). Prints the command that trains on each.")
    examples.add_argument("folder", help="a new (or empty) folder to write them into")
    examples.set_defaults(func=cmd_example_data)

    runs = sub.add_parser("runs", help="list saved runs")
    runs.add_argument("--runs-dir")
    runs.add_argument("--json", action="store_true")
    runs.add_argument("--no-shipped", action="store_true", help="hide the shipped demo models")
    runs.set_defaults(func=cmd_runs)
    return parser


def _prune_staging(args) -> None:
    """Remove staging folders that killed trainings left where this command writes its runs."""
    from tal.engine.registry import prune_staging

    try:
        prune_staging(args.out if args.func is cmd_demos else args.runs_dir)
    except OSError:  # best effort: a folder that cannot be cleaned up does not stop the command
        pass


# The project's error types for bad input (arguments, files, data), by the module that defines each.
_INPUT_ERRORS = {
    "tal.core.config": ("ConfigError",),
    "tal.data.mnist_files": ("DataNotFoundError", "DataFormatError"),
    "tal.data.preprocess": ("ImageError",),
    "tal.data.sources.listing": ("SourceError",),
    "tal.engine.registry": ("RunNotFoundError", "RunExistsError"),
    "tal.engine.study": ("StudyError",),
    "tal.engine.localization": ("LocalizationError",),
    "tal.core.keras_code": ("ExportError",),
}


def _expected_errors() -> tuple[type, ...]:
    """Exception types that mean bad input: one line, exit code 2.

    Only from modules already imported: an error of a module never imported
    cannot have been raised, and some of them import TensorFlow. A plain
    `ValueError` is not among them; it comes from a bug, here or in a library.
    """
    found = [UsageError]
    for module, names in _INPUT_ERRORS.items():
        if module in sys.modules:
            found += [getattr(sys.modules[module], name) for name in names]
    return tuple(found)


def main(argv=None) -> int:
    from tal.engine.startup import import_tensorflow_quietly

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_USAGE
        if args.func in (cmd_train, cmd_ablate, cmd_demos) and not getattr(args, "list", False):
            _prune_staging(args)  # before TensorFlow: it needs none
        if args.func not in (cmd_runs, cmd_ablate, cmd_export, cmd_example_data) and not getattr(args, "list", False):
            import_tensorflow_quietly()  # (ablate imports it only when something is to train)
        return args.func(args)
    except KeyboardInterrupt:
        print("tal: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - sorted into bad input vs bugs below
        if not isinstance(exc, _expected_errors()):
            import traceback

            traceback.print_exc()
            print(f"tal: internal error: {type(exc).__name__} (a bug in tal or a library it uses, not in your "
                  "input; the traceback above shows where)", file=sys.stderr)
            return EXIT_BUG
        message = " ".join(str(exc).split())  # one line, even for multi-line messages
        print(f"tal: error: {message}", file=sys.stderr)
        return EXIT_USAGE
