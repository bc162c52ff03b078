"""Tables for the Compare page, as lists of dicts (UI-free; `st.dataframe` shows them)."""

from __future__ import annotations

from tal.engine.localization import method_title


def _num(value, digits=4):
    return None if not isinstance(value, (int, float)) else round(float(value), digits)


def run_rows(runs) -> list[dict]:
    """One row per run: configuration and results."""
    rows = []
    for run in runs:
        m, model, train = run.metrics, run.config.get("model", {}), run.config.get("train", {})
        data = train.get("data", {})
        element = bool(model.get("element"))
        rows.append(
            {
                "run": run.name,
                "branches": m.get("label") or run.model_config.label,
                "test accuracy": _num(m.get("test_accuracy")),
                "aux test accuracy": _num(m.get("test_accuracy_aux")),
                "mean AUC": _num(m.get("mean_auc")),
                "aux mean AUC": _num(m.get("mean_auc_aux")),
                "exact match": _num(m.get("exact_match")),
                "micro-F1": _num(m.get("micro_f1")),
                "params": m.get("params"),
                "training time (s)": _num(m.get("training_time_s"), 1),
                "λ": _num(train.get("aux_weight")) if element else None,
                "λ at end": _num(m.get("final_aux_weight")) if element else None,
                "feature mode": model.get("feature_mode") if element else None,
                "backbone": model.get("backbone"),
                "dataset": data.get("dataset"),
                "train images": run.config.get("data", {}).get("train"),
                "epochs": m.get("epochs_completed"),
                "status": m.get("status", "") + (" (shipped)" if run.shipped else ""),
            }
        )
    return rows


def drop_empty_columns(rows: list[dict]) -> list[dict]:
    """The rows without the columns that are empty in every row (multi-label columns among MNIST runs)."""
    keep = [k for k in (rows[0] if rows else {}) if any(r.get(k) not in (None, "") for r in rows)]
    return [{k: r.get(k) for k in keep} for r in rows]


def per_class_rows(runs, class_names=None, key: str = "per_class_accuracy") -> list[dict]:
    """One row per run that has `key`: the test accuracy (or, with "per_class_auc", ROC AUC) of every class."""
    rows = []
    for run in runs:
        per_class = run.metrics.get(key)
        if not per_class:
            continue
        names = class_names or [str(c) for c in range(len(per_class))]
        row = {"run": run.name}
        row.update({f"class {n}": _num(v, 3) for n, v in zip(names, per_class)})
        rows.append(row)
    return rows


# The study table's columns beyond the first: short headers (the table must fit the page's width) and
# what each means in full, for the header's hover help.
ABLATION_HELP = {
    "seeds": "Runs per configuration (different seeds).",
    "Δ (pp)": "Difference of the configuration's mean to the baseline's, in percentage points.",
    "verdict": "within noise: Welch's 95 % interval for Δ contains 0 (the seeds disagree more than the "
               "configurations do); real: it does not.",
    "pointing A (%)": "Pointing game with the element-wise branch's attention map A: the share of digits whose "
                      "map peaks inside their box (mean ± std over seeds).",
    "pointing Grad-CAM (%)": "Pointing game with Grad-CAM on the same model (post hoc), mean ± std over seeds.",
    "A vs base Grad-CAM": "Pointing with A minus the baseline's pointing with Grad-CAM, in percentage points, "
                          "and whether that difference is within the seeds' noise.",
    "params": "Trainable and non-trainable parameters.",
    "time (s)": "Mean training time per run, in seconds.",
}


def ablation_help() -> dict[str, str]:
    """Hover help for the study table's headers, the score column included."""
    from tal.engine.ablation import METRICS

    scores = {f"{title} (%)": f"Test {title.removeprefix('test ')} of the configuration's runs: mean ± standard "
                              "deviation over seeds." for title in METRICS.values()}
    return {**scores, **ABLATION_HELP}


def ablation_rows(rows) -> list[dict]:
    """`tal.engine.ablation.summarize` rows as a readable table (pointing-game columns for multi-label studies)."""
    from tal.engine.ablation import METRICS, row_score

    verdict = {True: "within noise", False: "real", None: "—"}
    out = []
    for r in rows:
        metric, mean, std = row_score(r)
        spread = "" if r["seeds"] < 2 else f" ± {100 * std:.2f}"
        delta = r["delta_vs_baseline"]
        row = {
            "configuration": r["variant"],
            "seeds": r["seeds"],
            f"{METRICS[metric]} (%)": f"{100 * mean:.2f}{spread}",
            "Δ (pp)": "" if delta is None else f"{100 * delta:+.2f}",
            "verdict": "baseline" if delta is None else verdict[r["within_noise"]],
        }
        if "pointing" in r or any("pointing" in other for other in rows):
            for method, title in (("A", "pointing A (%)"), ("gradcam", "pointing Grad-CAM (%)")):
                stats = r.get("pointing", {}).get(method)
                row[title] = "" if stats is None else _mean_std(stats)
            versus = r.get("pointing_vs_baseline_gradcam")
            row["A vs base Grad-CAM"] = "" if versus is None else (
                f"{100 * versus['delta']:+.1f} ({verdict[versus['within_noise']]})")
        row.update(params=r["params"], **{"time (s)": round(r["mean_training_time_s"], 1)})
        out.append(row)
    return out


def _mean_std(stats: dict) -> str:
    if stats["seeds"] > 1:
        return f"{100 * stats['mean']:.1f} ± {100 * stats['std']:.1f}"
    return f"{100 * stats['mean']:.1f}"


def localization_rows(results: dict) -> list[dict]:
    """One row per run and method: pointing game and energy with their chance levels, and the sanity check.

    `results`: `{run name: tal.engine.localization.localize(...) result}`.
    """
    rows = []
    for run, result in results.items():
        for method, s in result["methods"].items():
            check = s.get("randomisation")
            rows.append({
                "run": run,
                "method": method_title(method),
                "pointing game": _num(s["pointing"]["overall"]),
                "pointing, chance": _num(s["pointing"]["chance"]),
                "energy in boxes": _num(s["energy"]["overall"]),
                "energy, chance": _num(s["energy"]["chance"]),
                "rank corr. with random weights": None if check is None else _num(check["spearman"], 2),
                "sanity check": None if check is None else ("passed" if check["trusted"] else "FAILED: not trusted"),
                "pairs": s["pairs"],
            })
    return rows


def localization_class_rows(result: dict, score: str, class_names) -> list[dict]:
    """One row per method of one run: the `score` ("pointing" or "energy") of every class, chance last."""
    rows = []
    for method, s in result["methods"].items():
        row = {"method": method_title(method)}
        row.update({f"class {n}": _num(v, 3) for n, v in zip(class_names, s[score]["per_class"])})
        rows.append(row)
    any_method = next(iter(result["methods"].values()))
    chance = {"method": "chance (flat map)"}
    chance.update({f"class {n}": _num(v, 3) for n, v in zip(class_names, any_method[score]["chance_per_class"])})
    return rows + [chance]
