"""Compare's labels and table for long run names (no Streamlit session needed)."""
from __future__ import annotations

from types import SimpleNamespace

from tal.ui import compare


def runs(*names):
    return [SimpleNamespace(name=n) for n in names]


def test_short_names_are_kept():
    assert compare.aliases(runs("full", "baseline")) == ["full", "baseline"]


def test_long_names_get_a_letter_and_a_cut_name_that_never_repeat():
    labels = compare.aliases(runs("mnist-scale_channel_element-seed0-20261129", "mnist-scale_channel_element-seed1",
                                  "short"))
    assert labels == ["A mnist-scale_cha…", "B mnist-scale_cha…", "C short"]  # 18 characters at most
    assert all(len(label) <= compare.ALIAS_WIDTH for label in labels) and len(set(labels)) == 3
    assert len(labels[0]) == compare.ALIAS_WIDTH


def test_the_table_has_a_column_per_run_and_a_row_per_setting():
    rows = [{"run": "a-long-name", "test accuracy": 0.98163, "params": 119123, "λ": None},
            {"run": "b", "test accuracy": 0.9853, "params": 90000, "λ": 0.5}]
    table = compare.table(rows, ["A a-long…", "B b"])
    assert table[0] == {"": "run", "A a-long…": "a-long-name", "B b": "b"}
    assert table[1] == {"": "test accuracy", "A a-long…": "98.16%", "B b": "98.53%"}
    assert table[2] == {"": "params", "A a-long…": "119,123", "B b": "90,000"}
    assert table[3] == {"": "λ", "A a-long…": "–", "B b": "0.5"}


def test_the_score_title_keeps_auc_in_capitals_and_says_when_runs_are_scored_differently():
    from tal.ui.compare import score_title

    assert score_title(["test accuracy", "test accuracy"]) == "Test accuracy"
    assert score_title(["mean AUC"]) == "Mean AUC"
    assert score_title(["test accuracy", "mean AUC", "test accuracy"]) == \
        "Test accuracy, mean AUC (each run's own score)"


def test_the_multilabel_study_table_has_short_headers_each_with_help():
    from tal.ui import tables

    def row(variant, delta, noise, pointing=None, versus=None):
        r = {"variant": variant, "seeds": 3, "metric": "mean_auc", "mean": 0.8599, "std": 0.0043,
             "delta_vs_baseline": delta, "within_noise": noise, "params": 24282, "mean_training_time_s": 88.44,
             "pointing": pointing or {"gradcam": {"mean": 0.869, "std": 0.016, "seeds": 3}}}
        if versus is not None:
            r["pointing_vs_baseline_gradcam"] = versus
        return r

    table = tables.ablation_rows([
        row("baseline", None, None),
        row("channel+element", -0.0226, True, {"A": {"mean": 0.939, "std": 0.018, "seeds": 3}},
            {"delta": 0.071, "within_noise": False}),
    ])
    assert list(table[1]) == ["configuration", "seeds", "mean AUC (%)", "Δ (pp)", "verdict", "pointing A (%)",
                              "pointing Grad-CAM (%)", "A vs base Grad-CAM", "params", "time (s)"]
    assert table[1]["mean AUC (%)"] == "85.99 ± 0.43" and table[1]["Δ (pp)"] == "-2.26"
    assert table[1]["pointing A (%)"] == "93.9 ± 1.8" and table[1]["A vs base Grad-CAM"] == "+7.1 (real)"
    assert table[0]["verdict"] == "baseline" and table[0]["pointing A (%)"] == ""
    assert table[0]["time (s)"] == 88.4
    assert set(table[1]) - {"configuration"} <= set(tables.ablation_help())  # every header explains itself
    assert max(map(len, table[1])) <= 21  # short enough for the ten columns to fit the page (screenshot checked)
