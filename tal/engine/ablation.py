"""Ablation studies: a grid of branch subsets × λ × seeds, summarised honestly.

A single run per configuration cannot say which branch helps: on MNIST the
differences are often within seed noise. Every configuration is therefore
trained with several seeds, and the summary reports mean ± std, the
difference to the plain baseline with its standard error, and flags
differences smaller than two standard errors as within seed noise.

Trials run sequentially in this process by default (`run_trials`), or on Ray
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
from tal.core.config import DataConfig, ModelConfig, TrainConfig

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
        raise ValueError(f"Unknown preset {preset!r}. Expected one of {sorted(PRESETS)}. Received: preset={preset!r}")
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"Expected seeds >= 1. Received: seeds={seeds!r}")
    spec = PRESETS[preset]
    study = study or default_study_name(preset)
    base_model = base_model or ModelConfig()
    data = DataConfig(**{**spec.data, **(data_overrides or {})})
    trials = []
    for variant in spec.variants:
        for seed in range(seeds):
            train = TrainConfig(**{**spec.train, **(train_overrides or {}), "aux_weight": variant.aux_weight,
                                   "seed": seed, "data": data})
            model = base_model.replace(**variant.model)
            run_name = f"{study}-{variant.name}-s{seed}".replace("+", "_").replace(" ", "_").replace("λ=", "lam")
            trials.append(Trial(variant.name, seed, model, train, run_name))
    return trials


def trial_result(trial: Trial, metrics: dict, run_name: str | None) -> dict:
    """The per-trial record kept in the summary."""
    return {
        "variant": trial.variant,
        "seed": trial.seed,
        "run": run_name,
        "branches": list(trial.model_config.branches),
        "aux_weight": trial.train_config.aux_weight,
        "test_accuracy": metrics["test_accuracy"],
        "per_class_accuracy": metrics["per_class_accuracy"],
        "params": metrics["params"],
        "training_time_s": metrics["training_time_s"],
        "status": metrics["status"],
    }


def run_trials(trials, *, runs_dir=None, callbacks_for=None, on_trial_end=None, control=None) -> list[dict]:
    """Train every trial in this process, one after another.

    Args:
        callbacks_for: `trial -> [TrainingCallback]` (e.g. a progress printer).
        on_trial_end: `(index, trial, record) -> None` after each trial.
        control: a `TrainingControl`; its stop ends the study after the current trial.
    """
    from tal.engine.training import train

    results = []
    for i, trial in enumerate(trials):
        if control is not None and control.stop_requested:
            break
        result = train(trial.model_config, trial.train_config, name=trial.run_name, runs_dir=runs_dir,
                       callbacks=callbacks_for(trial) if callbacks_for else (), control=control)
        record = trial_result(trial, result.metrics, result.run.name if result.run else None)
        results.append(record)
        if on_trial_end:
            on_trial_end(i, trial, record)
    return results


def _stats(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan")


# Two-sided 95 % quantiles of Student's t for 1 … 30 degrees of freedom.
_T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)


def t_critical(df: float) -> float:
    """95 % two-sided critical value of t, rounding df down (conservative)."""
    return _T95[max(int(df), 1) - 1] if df < 31 else 1.96


def welch(mean_a, std_a, n_a, mean_b, std_b, n_b) -> tuple[float, float, bool]:
    """Welch's test of two means: (difference b − a, its standard error, within noise?).

    Within noise means the 95 % interval of the difference contains zero.
    """
    va, vb = std_a ** 2 / n_a, std_b ** 2 / n_b
    se = math.sqrt(va + vb)
    delta = mean_b - mean_a
    if se == 0:
        return delta, 0.0, delta == 0
    df = (va + vb) ** 2 / ((va ** 2 / (n_a - 1) if va else 0) + (vb ** 2 / (n_b - 1) if vb else 0))
    return delta, se, bool(abs(delta) < t_critical(df) * se)


def summarize(results: list[dict]) -> list[dict]:
    """Mean ± std per variant, and the difference to the baseline with a noise flag.

    A difference is flagged `within_noise` when Welch's 95 % interval for it
    contains zero (`SE = sqrt(s_b²/n_b + s_v²/n_v)`, Welch–Satterthwaite
    degrees of freedom). With a single seed on either side the noise cannot be
    judged and the flag is None.
    """
    groups: dict[str, list[dict]] = {}
    for r in results:
        groups.setdefault(r["variant"], []).append(r)
    rows = []
    for name, runs in groups.items():
        accs = [r["test_accuracy"] for r in runs]
        mean, std = _stats(accs)
        per_class = np.array([r["per_class_accuracy"] for r in runs], dtype=float)
        rows.append({
            "variant": name,
            "branches": "+".join(runs[0]["branches"]) or "baseline",
            "aux_weight": runs[0]["aux_weight"] if "element" in runs[0]["branches"] else None,
            "seeds": len(runs),
            "mean_accuracy": mean,
            "std_accuracy": std,
            "min_accuracy": float(min(accs)),
            "max_accuracy": float(max(accs)),
            "params": runs[0]["params"],
            "mean_training_time_s": float(np.mean([r["training_time_s"] for r in runs])),
            "per_class_mean": np.nanmean(per_class, axis=0).round(6).tolist(),
            "runs": [r["run"] for r in runs],
        })
    baseline = next((row for row in rows if row["branches"] == "baseline"), None)
    for row in rows:
        row.update(delta_vs_baseline=None, delta_se=None, within_noise=None)
        if baseline is None or row is baseline:
            continue
        row["delta_vs_baseline"] = row["mean_accuracy"] - baseline["mean_accuracy"]
        if row["seeds"] > 1 and baseline["seeds"] > 1:
            _, row["delta_se"], row["within_noise"] = welch(
                baseline["mean_accuracy"], baseline["std_accuracy"], baseline["seeds"],
                row["mean_accuracy"], row["std_accuracy"], row["seeds"])
    return rows


CSV_FIELDS = ("variant", "branches", "aux_weight", "seeds", "mean_accuracy", "std_accuracy", "min_accuracy",
              "max_accuracy", "delta_vs_baseline", "delta_se", "within_noise", "params", "mean_training_time_s")


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def format_table(rows: list[dict]) -> str:
    """The summary as a plain-text table for the terminal."""
    lines = [f"{'variant':34} {'seeds':>5} {'accuracy (mean ± std)':>22} {'Δ vs baseline':>17} {'params':>8} {'time':>7}"]
    for r in rows:
        acc = f"{100 * r['mean_accuracy']:.2f} ± {100 * r['std_accuracy']:.2f} %" if r["seeds"] > 1 else f"{100 * r['mean_accuracy']:.2f} %"
        if r["delta_vs_baseline"] is None:
            delta = "—"
        else:
            delta = f"{100 * r['delta_vs_baseline']:+.2f} pp"
            delta += {True: " (noise)", False: " (real)", None: " (?)"}[r["within_noise"]]
        lines.append(f"{r['variant'][:34]:34} {r['seeds']:>5} {acc:>22} {delta:>17} {r['params']:>8,} {r['mean_training_time_s']:>6.0f}s")
    lines.append("(noise): Welch's 95 % interval of Δ contains 0 — not distinguishable from seed noise. "
                 "(real): it does not. (?): one seed, noise unknown.")
    return "\n".join(lines)


def write_summary(study: str, preset: str, rows: list[dict], results: list[dict], *, runs_dir=None) -> Path:
    """Save summary.json and summary.csv for a study (each written atomically)."""
    from tal.engine.registry import default_root, write_json_atomic, write_text_atomic

    folder = (Path(runs_dir) if runs_dir is not None else default_root()) / ABLATIONS_DIR / study
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(folder / "summary.json", {"study": study, "preset": preset, "rows": rows, "trials": results,
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
