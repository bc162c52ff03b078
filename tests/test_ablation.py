"""Ablation grids, the seed-noise summary (hand-computed), and the CLI / Ray runners."""
from __future__ import annotations

import json
import math

import pytest

from tal.engine import ablation
from tal.engine.ablation import build_trials, summarize, t_critical, welch


def test_branches_preset_is_all_eight_subsets_plus_cbam():
    trials = build_trials("branches", seeds=3, study="s")
    assert len(trials) == 27
    variants = sorted({t.variant for t in trials})
    assert len(variants) == 9 and "baseline" in variants and "cbam" in variants
    assert "scale+channel+element" in variants
    full = next(t for t in trials if t.variant == "scale+channel+element")
    assert full.model_config.branches == ("scale", "channel", "element")
    assert {t.seed for t in trials if t.variant == "cbam"} == {0, 1, 2}
    assert len({t.run_name for t in trials}) == 27


def test_lambda_preset_and_overrides():
    trials = build_trials("lambda", seeds=1, study="s", train_overrides={"epochs": 1}, data_overrides={"train_size": 100})
    assert [t.train_config.aux_weight for t in trials] == [0.5, 0.0, 0.25, 0.5, 1.0, 2.0]
    assert all(t.train_config.epochs == 1 and t.train_config.data.train_size == 100 for t in trials)
    assert trials[0].variant == "baseline"


def test_unknown_preset_and_bad_seed_count():
    with pytest.raises(ValueError, match="Expected one of"):
        build_trials("everything")
    with pytest.raises(ValueError, match="seeds"):
        build_trials("demo", seeds=0)


def test_welch_hand_computed():
    # both sides: std 0.01 over 3 seeds -> SE = sqrt(2 · 0.0001 / 3) = 0.0081650, df = 4, t = 2.776
    delta, se, noise = welch(0.98, 0.01, 3, 1.00, 0.01, 3)
    assert delta == pytest.approx(0.02) and se == pytest.approx(0.0081650, rel=1e-4)
    assert noise is True  # 0.02 < 2.776 · 0.008165 = 0.02267
    assert welch(0.98, 0.01, 3, 1.01, 0.01, 3)[2] is False  # 0.03 > 0.02267


def test_t_critical_is_students_t_not_a_table():
    assert t_critical(4) == pytest.approx(2.776, abs=5e-4)
    assert t_critical(40) == pytest.approx(2.021, abs=5e-4)  # a table that jumps to 1.96 after 30 says 1.96
    assert t_critical(4.5) == pytest.approx(2.659, abs=5e-4)  # fractional df, not rounded down to 4
    assert t_critical(1e9) == pytest.approx(1.960, abs=5e-4)


def test_welch_uses_t_beyond_thirty_degrees_of_freedom():
    # 21 seeds a side, std 0.01: SE = 0.01 · sqrt(2 / 21) = 0.0030861, df = (2v)² / (2v² / 20) = 40;
    # 2.021 · SE = 0.006237 > 0.0062 > 1.96 · SE = 0.006049: within noise under t, not under the normal
    assert welch(0.98, 0.01, 21, 0.9862, 0.01, 21)[2] is True
    assert welch(0.98, 0.01, 21, 0.9863, 0.01, 21)[2] is False  # 0.0063 > 0.006237


def test_welch_unequal_variances_hand_computed():
    # va = 0.02² / 3 = 1.3333e-4, vb = 0.01² / 5 = 2e-5; SE = sqrt(1.5333e-4) = 0.012383;
    # df = (1.5333e-4)² / ((1.3333e-4)² / 2 + (2e-5)² / 4) = 2.6156; t(0.975, 2.6156) = 3.464 -> 0.04290
    # (rounding df down to 2 would give 4.303 -> 0.0533 and call 0.045 noise)
    delta, se, noise = welch(0.95, 0.02, 3, 0.99, 0.01, 5)
    assert se == pytest.approx(0.012383, rel=1e-4)
    assert noise is True  # 0.04 < 0.0429
    assert welch(0.95, 0.02, 3, 0.995, 0.01, 5)[2] is False  # 0.045 > 0.0429


def _record(variant, branches, seed, acc):
    return {"variant": variant, "seed": seed, "run": f"{variant}-{seed}", "branches": branches, "aux_weight": 0.5,
            "test_accuracy": acc, "per_class_accuracy": [acc] * 10, "params": 100, "training_time_s": 10.0,
            "status": "completed"}


def test_summary_mean_std_delta_and_noise_flags():
    results = [_record("baseline", [], s, a) for s, a in enumerate([0.97, 0.98, 0.99])]
    results += [_record("element", ["element"], s, a) for s, a in enumerate([0.99, 1.00, 1.01])]
    results += [_record("scale", ["scale"], s, a) for s, a in enumerate([1.00, 1.01, 1.02])]
    rows = {r["variant"]: r for r in summarize(results)}
    base = rows["baseline"]
    assert base["metric"] == "test_accuracy"
    assert base["mean"] == pytest.approx(0.98) and base["std"] == pytest.approx(0.01)
    assert base["delta_vs_baseline"] is None and base["within_noise"] is None
    assert rows["element"]["delta_vs_baseline"] == pytest.approx(0.02) and rows["element"]["within_noise"] is True
    assert rows["scale"]["within_noise"] is False
    assert rows["scale"]["aux_weight"] is None and rows["element"]["aux_weight"] == 0.5
    table = ablation.format_table(list(rows.values()))
    assert "(noise)" in table and "(real)" in table


def test_single_seed_cannot_judge_noise():
    rows = summarize([_record("baseline", [], 0, 0.9), _record("scale", ["scale"], 0, 0.95)])
    scale = next(r for r in rows if r["variant"] == "scale")
    assert math.isnan(scale["std"]) and scale["within_noise"] is None
    assert "(?)" in ablation.format_table(rows)


def _multi(variant, branches, seed, auc, pointing):
    return {"variant": variant, "seed": seed, "run": f"{variant}-{seed}", "branches": branches, "aux_weight": 0.5,
            "mean_auc": auc, "per_class_auc": [auc] * 9 + [None], "exact_match": 0.5, "micro_f1": 0.8,
            "pointing": pointing, "params": 100, "training_time_s": 10.0, "status": "completed"}


def test_multilabel_summary_compares_auc_and_pointing_against_baseline_grad_cam():
    results = [_multi("baseline", [], s, a, {"gradcam": p}) for s, (a, p) in enumerate([(0.97, 0.80), (0.98, 0.82)])]
    results += [_multi("element", ["element"], s, a, {"A": pa, "gradcam": pg})
                for s, (a, pa, pg) in enumerate([(0.99, 0.98, 0.90), (0.99, 0.99, 0.92)])]
    rows = {r["variant"]: r for r in summarize(results)}
    element = rows["element"]
    assert element["metric"] == "mean_auc" and element["mean"] == pytest.approx(0.99)
    assert element["delta_vs_baseline"] == pytest.approx(0.015)
    assert element["pointing"]["A"]["mean"] == pytest.approx(0.985)
    versus = element["pointing_vs_baseline_gradcam"]
    # A: 0.985 ± 0.00707 vs baseline Grad-CAM 0.81 ± 0.01414 (n = 2 each): Δ = 0.175, SE = 0.01118
    assert versus["delta"] == pytest.approx(0.175) and versus["se"] == pytest.approx(0.0111803, rel=1e-4)
    assert versus["within_noise"] is False
    assert element["per_class_mean"][9] is None  # a class without AUC has no mean
    table = ablation.format_table(list(rows.values()))
    assert "mean AUC" in table and "pointing A" in table
    csv_head = ablation.to_csv(list(rows.values())).splitlines()
    assert "pointing_A" in csv_head[0] and "0.985" in csv_head[2]


def test_old_summaries_still_read():
    old = {"variant": "baseline", "mean_accuracy": 0.98, "std_accuracy": 0.01}
    assert ablation.row_score(old) == ("test_accuracy", 0.98, 0.01)


def test_summary_files_and_listing(tmp_path):
    results = [_record("baseline", [], s, a) for s, a in enumerate([0.97, 0.98])]
    folder = ablation.write_summary("study-1", "demo", summarize(results), results, runs_dir=tmp_path)
    saved = json.loads((folder / "summary.json").read_text())
    assert saved["preset"] == "demo" and len(saved["trials"]) == 2
    assert (folder / "summary.csv").read_text().splitlines()[0].startswith("variant,branches,aux_weight,seeds")
    assert [s["study"] for s in ablation.list_studies(tmp_path)] == ["study-1"]
    from tal.engine.registry import list_runs

    assert list_runs(tmp_path) == []  # a study folder is never mistaken for a run


@pytest.mark.slow
def test_cli_ablate_demo_end_to_end(mnist_path, tmp_path):
    from test_cli import tal_cli

    proc = tal_cli("ablate", "--preset", "demo", "--seeds", "2", "--train-size", "400", "--test-size", "200",
                   "--epochs", "1", "--data-dir", mnist_path, "--runs-dir", tmp_path, "--name", "tiny")
    assert proc.returncode == 0, proc.stderr
    assert "baseline" in proc.stdout and "scale+channel+element" in proc.stdout
    saved = json.loads((tmp_path / "_ablations" / "tiny" / "summary.json").read_text())
    assert {r["variant"]: r["seeds"] for r in saved["rows"]} == {"baseline": 2, "scale+channel+element": 2}
    assert len([p for p in tmp_path.iterdir() if not p.name.startswith(("_", "."))]) == 4


@pytest.mark.slow
def test_ray_tune_runs_a_tiny_study_in_local_mode_live_and_then_reuses_it(mnist_path, tmp_path, monkeypatch):
    pytest.importorskip("ray")
    from tal.engine.study import make_plan, run_study_on_ray

    monkeypatch.setenv("TAL_DATA_DIR", str(mnist_path))
    trials = build_trials("demo", seeds=1, study="ray", train_overrides={"epochs": 1},
                          data_overrides={"train_size": 300, "test_size": 100})
    live = []
    plan = make_plan("ray", "demo", trials, runs_dir=tmp_path)
    records = run_study_on_ray(plan, runs_dir=tmp_path, on_trial_end=lambda i, t, r: live.append((i, r["variant"])))
    assert [r["variant"] for r in records] == ["baseline", "scale+channel+element"]
    assert sorted(live) == [(0, "baseline"), (1, "scale+channel+element")]  # reported as each trial completed
    assert all(0 <= r["test_accuracy"] <= 1 for r in records)
    from tal.engine.registry import list_runs

    assert sorted(r.name for r in list_runs(tmp_path)) == sorted(r["run"] for r in records)
    saved = json.loads((tmp_path / "_ablations" / "ray" / "summary.json").read_text())
    assert saved["complete"] is True
    again = make_plan("ray-again", "demo", trials, runs_dir=tmp_path)  # Ray's runs carry their identity
    assert again.to_train == []
    reused = run_study_on_ray(again, runs_dir=tmp_path)
    assert [r["run"] for r in reused] == [r["run"] for r in records] and all(r["reused"] for r in reused)


def test_without_ray_the_ray_runner_says_how_to_install_it(monkeypatch):
    import sys

    from tal.engine.ablation_ray import run_trials_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(ImportError, match=r"pip install -r requirements-ray\.txt"):
        run_trials_ray(build_trials("demo", seeds=1))
