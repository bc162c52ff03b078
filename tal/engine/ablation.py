"""Ablation studies: a grid of branch subsets × λ × seeds, summarised honestly.

A single run per configuration cannot say which branch helps: on MNIST the
differences are often within seed noise. Every configuration is therefore
trained with several seeds, and the summary reports mean ± std, the
difference to the plain baseline with its standard error, and flags
differences smaller than two standard errors as within seed noise.

Trials run sequentially in this process by default (`tal.engine.study.run_study`,
which also reuses finished runs and resumes stopped studies), or on Ray
Tune (`tal.engine.ablation_ray.run_trials_ray`) when one machine is not enough.
"""
from __future__ import annotations

import csv
import io
import itertools
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from tal.core import catalogue
from tal.core.config import ConfigError, DataConfig, ModelConfig, TrainConfig

ABLATIONS_DIR = "_ablations"  # under the runs root; never a run itself (no model.keras)
# A3Net's three branches, whose every subset the "branches" preset trains.
BRANCHES = tuple(m.toggle for m in catalogue.of_group("triple"))


@dataclass(frozen=True)
class Variant:
    """One configuration of the grid: branch toggles, λ and model overrides."""

    name: str
    model: dict
    aux_weight: float = 0.5


@dataclass(frozen=True)
class Preset:
    description: str
    variants: tuple[Variant, ...]
    train: dict  # TrainConfig overrides
    data: dict  # DataConfig overrides


def _toggles(**on) -> dict:
    """Every module toggle off, except those named."""
    return {t: bool(on.get(t, False)) for t in catalogue.toggles()}


def _label(model: dict) -> str:
    return ModelConfig(**model).label


def _alone(module) -> tuple[Variant, ...]:
    """A module on the plain backbone, in each of its ablation variants."""
    return tuple(Variant(name, {**_toggles(), **overrides}) for name, overrides in module.ablation_variants())


def branch_variants() -> tuple[Variant, ...]:
    """All subsets of A3Net's branches, plus the comparison modules (CBAM) on the plain backbone."""
    variants = []
    for bits in itertools.product((False, True), repeat=len(BRANCHES)):
        model = _toggles(**dict(zip(BRANCHES, bits)))
        variants.append(Variant(_label(model), model))
    for module in catalogue.of_group("comparison"):
        variants.extend(_alone(module))
    return tuple(variants)


def lambda_variants(values=(0.0, 0.25, 0.5, 1.0, 2.0)) -> tuple[Variant, ...]:
    full = _toggles(**{b: True for b in BRANCHES})
    return (Variant("baseline", _toggles()),) + tuple(
        Variant(f"{_label(full)} λ={v:g}", full, aux_weight=v) for v in values
    )


def zoo_variants() -> tuple[Variant, ...]:
    """Triple attention and CBAM next to each module from the literature, on the same backbone."""
    full = _toggles(**{b: True for b in BRANCHES})
    variants = [Variant("baseline", _toggles()), Variant(_label(full), full)]
    for module in (*catalogue.of_group("comparison"), *catalogue.literature()):
        variants.extend(_alone(module))
    return tuple(variants)


def _zoo_names() -> str:
    names = [m.title.split(":")[0] for m in catalogue.literature()]
    return ", ".join(names[:-1]) + " and " + names[-1]


PRESETS = {
    "demo": Preset(
        "baseline vs the full model on 5,000 images, 2 epochs: a quick look (minutes)",
        (Variant("baseline", _toggles()), Variant("scale+channel+element", _toggles(scale=True, channel=True, element=True))),
        {"epochs": 2},
        {"train_size": 5000},
    ),
    "branches": Preset(
        "every subset of the three branches, plus CBAM, on all training images (3 epochs)",
        branch_variants(),
        {"epochs": 3},
        {},
    ),
    "lambda": Preset(
        "the full model at λ = 0, 0.25, 0.5, 1, 2 against the baseline (3 epochs)",
        lambda_variants(),
        {"epochs": 3},
        {},
    ),
    "multilabel": Preset(
        "every subset of the three branches, plus CBAM, on multidigit canvases (A3Net's multi-label task): "
        "mean AUC and the pointing game of A against Grad-CAM (5,000 canvases, 5 epochs)",
        branch_variants(),
        {"epochs": 5},
        {"dataset": "multidigit", "train_size": 5000, "test_size": 2000},
    ),
    "zoo": Preset(
        f"triple attention and CBAM against {_zoo_names()}, each on the plain backbone (3 epochs)",
        zoo_variants(),
        {"epochs": 3},
        {},
    ),
}


@dataclass(frozen=True)
class Trial:
    """One training of the grid."""

    variant: str
    seed: int
    model_config: ModelConfig
    train_config: TrainConfig
    run_name: str

    def to_dict(self) -> dict:
        return {"variant": self.variant, "seed": self.seed, "model": self.model_config.to_dict(),
                "train": self.train_config.to_dict(), "run_name": self.run_name}

    @classmethod
    def from_dict(cls, d: dict) -> "Trial":
        return cls(d["variant"], d["seed"], ModelConfig.from_dict(d["model"]),
                   TrainConfig.from_dict(d["train"]), d["run_name"])


def default_study_name(preset: str) -> str:
    return f"{preset}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def build_trials(preset: str, seeds: int = 3, *, study: str | None = None, base_model: ModelConfig | None = None,
                 train_overrides: dict | None = None, data_overrides: dict | None = None) -> list[Trial]:
    """Expand a preset into trials: every variant × seeds 0 … seeds−1.

    Args:
        preset: a key of `PRESETS`.
        seeds: seeds per variant (≥ 2 to judge noise).
        study: name prefix of the runs (default: preset and time).
        base_model: model fields the variants do not set (backbone, widths, …).
        train_overrides / data_overrides: replace the preset's training / data settings.
    """
    if preset not in PRESETS:
        raise ConfigError(f"Unknown preset {preset!r}. Expected one of {sorted(PRESETS)}. Received: preset={preset!r}")
    spec = PRESETS[preset]
    return expand(spec.variants, seeds, study=study or default_study_name(preset), base_model=base_model,
                  train={**spec.train, **(train_overrides or {})}, data={**spec.data, **(data_overrides or {})})


def expand(variants, seeds: int, *, study: str, base_model: ModelConfig | None = None, train: dict | None = None,
           data: dict | None = None) -> list[Trial]:
    """Every variant × seeds 0 … seeds−1 as trials named `<study>-<variant>-s<seed>`."""
    if not isinstance(seeds, int) or seeds < 1:
        raise ConfigError(f"Expected seeds >= 1. Received: seeds={seeds!r}")
    base_model = base_model or ModelConfig()
    data_config = DataConfig(**(data or {}))
    trials = []
    for variant in variants:
        for seed in range(seeds):
            train_config = TrainConfig(**{**(train or {}), "aux_weight": variant.aux_weight, "seed": seed,
                                          "data": data_config})
            model = base_model.replace(**variant.model)
            run_name = f"{study}-{variant.name}-s{seed}".replace("+", "_").replace(" ", "_").replace("λ=", "lam")
            trials.append(Trial(variant.name, seed, model, train_config, run_name))
    return trials


def all_variants() -> tuple[Variant, ...]:
    """Every configuration a study can choose: the branch subsets, CBAM and each literature module."""
    seen: dict[str, Variant] = {}
    for variant in (*branch_variants(), *zoo_variants()):
        seen.setdefault(variant.name, variant)
    return tuple(seen.values())


def with_lambdas(variants, lambdas) -> tuple[Variant, ...]:
    """Each variant with the element-wise branch once per λ (named `… λ=v` when λ is not the default 0.5
    or several are asked for); variants without the branch once (λ does not act on them)."""
    lambdas = sorted({float(v) for v in lambdas})
    if not lambdas or any(not v >= 0 for v in lambdas):
        raise ConfigError(f"Expected one or more λ values >= 0. Received: {lambdas!r}")
    out = []
    for variant in variants:
        if not variant.model.get("element"):
            out.append(variant)
            continue
        for value in lambdas:
            named = len(lambdas) > 1 or value != Variant.aux_weight
            out.append(Variant(f"{variant.name} λ={value:g}" if named else variant.name, variant.model, value))
    return tuple(out)


# Test images the multi-label studies score localization on (pointing game, no sanity check).
LOCALIZATION_IMAGES = 500


def trial_result(trial: Trial, metrics: dict, run_name: str | None, pointing: dict | None = None) -> dict:
    """The per-trial record kept in the summary (with `pointing` scores for multi-label studies)."""
    record = {
        "variant": trial.variant,
        "seed": trial.seed,
        "run": run_name,
        "branches": list(trial.model_config.branches),
        "aux_weight": trial.train_config.aux_weight,
        "params": metrics["params"],
        "training_time_s": metrics["training_time_s"],
        "status": metrics["status"],
    }
    if "mean_auc" in metrics:
        record.update(mean_auc=metrics["mean_auc"], per_class_auc=metrics["per_class_auc"],
                      exact_match=metrics["exact_match"], micro_f1=metrics["micro_f1"])
    else:
        record.update(test_accuracy=metrics["test_accuracy"], per_class_accuracy=metrics["per_class_accuracy"])
    if pointing is not None:
        record["pointing"] = pointing
    return record


def pointing_scores(model, model_config, dataset, images: int = LOCALIZATION_IMAGES) -> dict:
    """Pointing game of A (when the model has it) and of Grad-CAM on the first `images` test images."""
    from tal.engine.localization import GRADCAM, localize

    methods = ["A", GRADCAM] if model_config.element else [GRADCAM]
    out = localize(model, model_config, dataset.x_test[:images], dataset.objects("test")[:images],
                   methods=methods, sanity=False)
    return {method: scores["pointing"]["overall"] for method, scores in out["methods"].items()}


def _trial_data(trial: Trial, cache: dict):
    """The trial's dataset, loaded once per study (trials of a preset share their data)."""
    from tal.data.datasets import load_dataset

    key = trial.train_config.data.to_json(indent=None)
    if key not in cache:
        cache.clear()
        cache[key] = load_dataset(trial.train_config.data)
    return cache[key]


def run_trial(trial: Trial, *, runs_dir=None, callbacks=(), control=None, cache=None) -> dict:
    """Train one trial and return its record; multi-label trials are also scored for localization.

    A trial stopped by Stop leaves no run behind: a half-trained run would stand in every
    run list beside the study's real ones, and the study's resume trains that trial again,
    under its own name. Its record says `status: "stopped"` with no run.
    """
    from tal.engine.registry import delete_run
    from tal.engine.training import train

    dataset = _trial_data(trial, {} if cache is None else cache)
    result = train(trial.model_config, trial.train_config, name=trial.run_name, runs_dir=runs_dir,
                   callbacks=callbacks, control=control, dataset=dataset)
    if result.stopped:
        if result.run is not None:
            delete_run(result.run.path)
        return trial_result(trial, result.metrics, None, None)
    pointing = None
    if dataset.multi_label:
        config = trial.model_config.replace(input_shape=tuple(dataset.input_shape), num_classes=dataset.num_classes,
                                            multi_label=True)
        pointing = pointing_scores(result.model, config, dataset)
    return trial_result(trial, result.metrics, result.run.name if result.run else None, pointing)


def _stats(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def _column_means(values: np.ndarray) -> list[float | None]:
    """Mean of each column over the seeds, ignoring gaps; None for a column with no value (JSON has no NaN)."""
    out = []
    for column in values.T:
        known = column[~np.isnan(column)]
        out.append(round(float(known.mean()), 6) if known.size else None)
    return out


def t_critical(df: float) -> float:
    """Two-sided 95 % critical value of Student's t.

    Args:
        df: degrees of freedom, fractional allowed (Welch–Satterthwaite gives
            non-integer ones).

    Returns:
        The 0.975 quantile of t with `df` degrees of freedom (1.96 only in the
        limit of infinitely many).
    """
    from scipy.stats import t  # lazily: only summaries need it, not every import of the grid

    return float(t.ppf(0.975, df))


def welch(mean_a, std_a, n_a, mean_b, std_b, n_b) -> tuple[float, float, bool]:
    """Welch's test of two means: (difference b − a, its standard error, within noise?).

    Within noise means the 95 % interval of the difference, `t · SE` with
    Student's t at the Welch–Satterthwaite degrees of freedom, contains zero.
    """
    va, vb = std_a ** 2 / n_a, std_b ** 2 / n_b
    se = math.sqrt(va + vb)
    delta = mean_b - mean_a
    if se == 0:
        return delta, 0.0, delta == 0
    df = (va + vb) ** 2 / ((va ** 2 / (n_a - 1) if va else 0) + (vb ** 2 / (n_b - 1) if vb else 0))
    return delta, se, bool(abs(delta) < t_critical(df) * se)


# The score a study compares, by task: (record key, label).
METRICS = {"test_accuracy": "test accuracy", "mean_auc": "mean AUC"}


def study_metric(results: list[dict]) -> str:
    """"mean_auc" for multi-label studies, else "test_accuracy"."""
    return "mean_auc" if any("mean_auc" in r for r in results) else "test_accuracy"


def row_score(row: dict) -> tuple[str, float, float]:
    """(metric, mean, std) of a summary row, also for summaries written before multi-label studies."""
    if "mean" in row:
        return row["metric"], row["mean"], row["std"]
    return "test_accuracy", row["mean_accuracy"], row["std_accuracy"]


def summarize(results: list[dict]) -> list[dict]:
    """Mean ± std per variant, and the difference to the baseline with a noise flag.

    The score is the test accuracy, or the mean AUC for multi-label studies
    (`metric` names it). A difference is flagged `within_noise` when Welch's
    95 % interval for it contains zero (`SE = sqrt(s_b²/n_b + s_v²/n_v)`,
    Welch–Satterthwaite degrees of freedom). With a single seed on either
    side the noise cannot be judged and the flag is None.

    Multi-label studies also summarise the pointing game of A and of Grad-CAM
    per variant (`pointing`), and compare A's with the baseline's Grad-CAM
    (`pointing_vs_baseline_gradcam`): do the model's own maps point better
    than post-hoc maps of a plain model?
    """
    metric = study_metric(results)
    per_class_key = "per_class_auc" if metric == "mean_auc" else "per_class_accuracy"
    groups: dict[str, list[dict]] = {}
    for r in results:
        groups.setdefault(r["variant"], []).append(r)
    rows = []
    for name, runs in groups.items():
        scores = [r[metric] for r in runs]
        mean, std = _stats(scores)
        per_class = np.array([[np.nan if v is None else v for v in r[per_class_key]] for r in runs], dtype=float)
        row = {
            "variant": name,
            "branches": "+".join(runs[0]["branches"]) or "baseline",
            "aux_weight": runs[0]["aux_weight"] if "element" in runs[0]["branches"] else None,
            "seeds": len(runs),
            "metric": metric,
            "mean": mean,
            "std": std,
            "min": float(min(scores)),
            "max": float(max(scores)),
            "params": runs[0]["params"],
            "mean_training_time_s": float(np.mean([r["training_time_s"] for r in runs])),
            "per_class_mean": _column_means(per_class),
            "runs": [r["run"] for r in runs],
        }
        if any("pointing" in r for r in runs):
            row["pointing"] = {}
            for method in sorted({m for r in runs for m in r.get("pointing", {})}):
                values = [r["pointing"][method] for r in runs if method in r.get("pointing", {})]
                m_mean, m_std = _stats(values)
                row["pointing"][method] = {"mean": m_mean, "std": m_std, "seeds": len(values)}
        rows.append(row)
    baseline = next((row for row in rows if row["branches"] == "baseline"), None)
    for row in rows:
        row.update(delta_vs_baseline=None, delta_se=None, within_noise=None)
        if baseline is None or row is baseline:
            continue
        row["delta_vs_baseline"] = row["mean"] - baseline["mean"]
        if row["seeds"] > 1 and baseline["seeds"] > 1:
            _, row["delta_se"], row["within_noise"] = welch(
                baseline["mean"], baseline["std"], baseline["seeds"], row["mean"], row["std"], row["seeds"])
    reference = (baseline or {}).get("pointing", {}).get("gradcam")
    for row in rows:
        own = row.get("pointing", {}).get("A")
        if own is None or reference is None:
            continue
        delta, se, noise = own["mean"] - reference["mean"], None, None
        if own["seeds"] > 1 and reference["seeds"] > 1:
            delta, se, noise = welch(reference["mean"], reference["std"], reference["seeds"],
                                     own["mean"], own["std"], own["seeds"])
        row["pointing_vs_baseline_gradcam"] = {"delta": delta, "se": se, "within_noise": noise}
    return rows


CSV_FIELDS = ("variant", "branches", "aux_weight", "seeds", "metric", "mean", "std", "min", "max",
              "delta_vs_baseline", "delta_se", "within_noise", "pointing_A", "pointing_gradcam", "params",
              "mean_training_time_s")


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        flat = dict(row)
        for method, stats in row.get("pointing", {}).items():
            flat[f"pointing_{method}"] = stats["mean"]
        writer.writerow(flat)
    return out.getvalue()


def format_table(rows: list[dict]) -> str:
    """The summary as a plain-text table for the terminal."""
    metric = METRICS[row_score(rows[0])[0]] if rows else "test accuracy"
    pointing = any("pointing" in r for r in rows)
    head = f"{'variant':34} {'seeds':>5} {metric + ' (mean ± std)':>24} {'Δ vs baseline':>17}"
    if pointing:
        head += f" {'pointing A':>15} {'Grad-CAM':>15}"
    lines = [head + f" {'params':>8} {'time':>7}"]
    for r in rows:
        _, mean, std = row_score(r)
        score = f"{100 * mean:.2f} ± {100 * std:.2f} %" if r["seeds"] > 1 else f"{100 * mean:.2f} %"
        if r["delta_vs_baseline"] is None:
            delta = "—"
        else:
            delta = f"{100 * r['delta_vs_baseline']:+.2f} pp"
            delta += {True: " (noise)", False: " (real)", None: " (?)"}[r["within_noise"]]
        line = f"{r['variant'][:34]:34} {r['seeds']:>5} {score:>24} {delta:>17}"
        if pointing:
            for method in ("A", "gradcam"):
                stats = r.get("pointing", {}).get(method)
                line += f" {'—' if stats is None else _pct(stats):>15}"
        lines.append(line + f" {r['params']:>8,} {r['mean_training_time_s']:>6.0f}s")
    lines.append("(noise): Welch's 95 % interval of Δ contains 0 — not distinguishable from seed noise. "
                 "(real): it does not. (?): one seed, noise unknown.")
    if pointing:
        lines.append("pointing: share of (canvas, present class) pairs whose map peaks inside a box of that class "
                     f"(first {LOCALIZATION_IMAGES} test canvases).")
    return "\n".join(lines)


def _pct(stats: dict) -> str:
    if stats["seeds"] > 1:
        return f"{100 * stats['mean']:.1f} ± {100 * stats['std']:.1f}"
    return f"{100 * stats['mean']:.1f}"


def write_summary(study: str, preset: str, rows: list[dict], results: list[dict], *, runs_dir=None,
                  planned: int | None = None) -> Path:
    """Save summary.json and summary.csv for a study (each written atomically).

    `planned`: the study's number of trials; the summary is `"complete"` when
    every one of them is in `results` (default: the results are all of them).
    """
    from tal.engine.registry import default_root, write_json_atomic, write_text_atomic

    folder = (Path(runs_dir) if runs_dir is not None else default_root()) / ABLATIONS_DIR / study
    folder.mkdir(parents=True, exist_ok=True)
    planned = len(results) if planned is None else planned
    write_json_atomic(folder / "summary.json", {"study": study, "preset": preset, "rows": rows, "trials": results,
                                                 "planned": planned, "complete": len(results) >= planned,
                                                 "created": datetime.now().isoformat(timespec="seconds")})
    write_text_atomic(folder / "summary.csv", to_csv(rows))
    return folder


def list_studies(runs_dir=None, *, include_shipped: bool = False) -> list[dict]:
    """Saved ablation summaries, newest first; with `include_shipped`, then the
    studies shipped in `models/_ablations` (marked `"shipped": True`)."""
    from tal.engine.registry import SHIPPED_DIR, default_root

    studies = _read_studies((Path(runs_dir) if runs_dir is not None else default_root()) / ABLATIONS_DIR)
    if include_shipped:
        studies += [{**s, "shipped": True} for s in _read_studies(SHIPPED_DIR / ABLATIONS_DIR)]
    return studies


def _read_studies(folder: Path) -> list[dict]:
    import json

    if not folder.is_dir():
        return []
    studies = []
    for path in sorted(folder.glob("*/summary.json"), key=lambda p: p.stat().st_mtime, reverse=True):
        try:
            studies.append({**json.loads(path.read_text()), "path": str(path.parent)})
        except (OSError, ValueError):
            continue  # a summary being replaced right now; it will be there on the next look
    return studies
