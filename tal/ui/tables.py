"""Tables for the Compare page, as lists of dicts (UI-free; `st.dataframe` shows them)."""

from __future__ import annotations


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


def per_class_rows(runs, class_names=None) -> list[dict]:
    """One row per run: test accuracy of every class."""
    rows = []
    for run in runs:
        per_class = run.metrics.get("per_class_accuracy") or []
        names = class_names or [str(c) for c in range(len(per_class))]
        row = {"run": run.name}
        row.update({f"class {n}": _num(v, 3) for n, v in zip(names, per_class)})
        rows.append(row)
    return rows


def ablation_rows(rows) -> list[dict]:
    """`tal.engine.ablation.summarize` rows as a readable table."""
    verdict = {True: "within noise", False: "real", None: "—"}
    out = []
    for r in rows:
        std = "" if r["seeds"] < 2 else f" ± {100 * r['std_accuracy']:.2f}"
        delta = r["delta_vs_baseline"]
        out.append({
            "configuration": r["variant"],
            "seeds": r["seeds"],
            "accuracy (%)": f"{100 * r['mean_accuracy']:.2f}{std}",
            "Δ vs baseline (pp)": "" if delta is None else f"{100 * delta:+.2f}",
            "verdict": "baseline" if delta is None else verdict[r["within_noise"]],
            "params": r["params"],
            "training time (s)": round(r["mean_training_time_s"], 1),
        })
    return out
