"""Compare's labels and table for long run names, and its default selection (no Streamlit session needed)."""
from __future__ import annotations

from types import SimpleNamespace

from tal.ui import compare


def runs(*names):
    return [SimpleNamespace(name=n) for n in names]


def test_short_names_are_kept():
    assert compare.aliases(runs("full", "baseline")) == ["full", "baseline"]
    assert compare.shared_parts(runs("full", "baseline")) == ""


def test_long_names_keep_the_part_that_differs():
    chosen = runs("mnist-scale_channel_element-n300-e1-s0", "mnist-channel_element-n300-e1-s0",
                  "mnist-baseline-n300-e1-s0")
    assert compare.aliases(chosen) == ["scale_channel_element", "channel_element", "baseline"]
    assert compare.shared_parts(chosen) == "mnist-…-n300-e1-s0"
    # only the seed differs; a repeat's registry suffix counts as a part of its own
    chosen = runs("mnist-scale_channel_element-n300-e1-s0", "mnist-scale_channel_element-n300-e1-s1",
                  "mnist-scale_channel_element-n300-e1-s0-2")
    assert compare.aliases(chosen) == ["s0", "s1", "s0-2"]
    assert compare.shared_parts(chosen) == "mnist-scale_channel_element-n300-e1-…"
    # old names that differ only in their timestamp: the time is what tells them apart
    assert compare.aliases(runs("mnist-scale-channel-element-s0-20261202-012401",
                                "mnist-scale-channel-element-s0-20261202-012455")) == ["012401", "012455"]


def test_tokens_every_name_has_go_wherever_they_stand():
    chosen = runs("mnist-scale_channel_element-n300-e1-s0", "mnist-scale_channel_element-n300-e1-s1",
                  "mnist-channel_element-n300-e1-s0")
    assert compare.aliases(chosen) == ["scale_channel_element-s0", "scale_channel_element-s1", "channel_element-s0"]
    assert compare.shared_parts(chosen) == "mnist-…-n300-e1-…"
    # the same tokens in another order: dropping them all would leave nothing, so only the common end goes
    swapped = runs("a-b-" + "c" * 24, "b-a-" + "c" * 24)
    assert compare.aliases(swapped) == ["a-b", "b-a"] and compare.shared_parts(swapped) == "…-" + "c" * 24


def test_every_name_keeps_a_part_of_its_own_and_labels_never_repeat():
    chosen = runs("translated-scale_channel_element", "translated-scale_channel_element-n300")
    assert compare.aliases(chosen) == ["scale_channel_element", "scale_channe…lement-n300"]  # cut in the middle
    assert compare.shared_parts(chosen) == "translated-…"
    too_long = compare.aliases(runs("mnist-scale_channel_mhsa-additive_element-n300-e1-s0",
                                    "mnist-scale_channel_nonlocal_block_element-n300-e1-s0"))
    assert too_long == ["scale_channe…ive_element", "scale_channe…ock_element"]
    assert all(len(label) == compare.ALIAS_WIDTH for label in too_long)
    twins = "mnist-scale_channel_element-n300-e1-s0-and-a-long-tail"  # an own run and a demo of one name
    assert compare.aliases(runs(twins, twins)) == ["A mnist-scale…-long-tail", "B mnist-scale…-long-tail"]
    assert compare.aliases(runs(twins, twins, "mnist-baseline-n300-e1-s0-and-a-long-tail")) == [
        "A scale_channel_element", "B scale_channel_element", "C baseline"]
    assert compare.aliases(runs("a-much-longer-name-than-twenty-four")) == ["a-much-longe…twenty-four"]


def test_the_turned_tables_run_columns_name_their_runs_in_full():
    chosen = runs("mnist-scale_channel_element-n300-e1-s0", "mnist-baseline-n300-e1-s0")
    assert compare.table_help(chosen, compare.aliases(chosen)) == {
        "scale_channel_element": "Run mnist-scale_channel_element-n300-e1-s0",
        "baseline": "Run mnist-baseline-n300-e1-s0"}


def test_the_table_has_a_column_per_run_and_a_row_per_setting():
    rows = [{"run": "a-long-name", "test accuracy": 0.98163, "params": 119123, "λ": None},
            {"run": "b", "test accuracy": 0.9853, "params": 90000, "λ": 0.5}]
    table = compare.table(rows, ["A a-long…", "B b"])
    assert table[0] == {"": "run", "A a-long…": "a-long-name", "B b": "b"}
    assert table[1] == {"": "test accuracy", "A a-long…": "98.16%", "B b": "98.53%"}
    assert table[2] == {"": "params", "A a-long…": "119,123", "B b": "90,000"}
    assert table[3] == {"": "λ", "A a-long…": "–", "B b": "0.5"}


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


def run(name, element=True, dataset="mnist", size=28):
    return SimpleNamespace(name=name, model_config=SimpleNamespace(
        element=element, multi_label=dataset == "multidigit", input_shape=(size, size, 1)),
        train_config=SimpleNamespace(data=SimpleNamespace(dataset=dataset)))


def names(chosen):
    return [r.name for r in chosen]


def test_compare_selects_a_run_with_maps_by_default():
    from tal.ui.compare import default_selection

    runs = [run("base", False), run("cbam", False), run("channel", False), run("full", True)]
    assert names(default_selection(runs)) == ["base", "cbam", "full"]
    assert names(default_selection(runs[:3])) == ["base", "cbam", "channel"]  # none has maps
    assert names(default_selection([runs[3], *runs[:3]])) == ["full", "base", "cbam"]
    assert default_selection([]) == []


def test_the_default_selection_compares_one_dataset_and_task():
    from tal.ui.compare import default_selection

    mixed = [run("md", dataset="multidigit", size=64), run("mnist-a"), run("mnist-b"),
             run("md-demo", dataset="multidigit", size=64)]
    assert names(default_selection(mixed)) == ["md", "md-demo"]  # the newest run's kind, never one beside MNIST
    assert names(default_selection(mixed[:3])) == ["mnist-a", "mnist-b"]  # a lone multidigit run: the pair instead
    canvases = [run("t48", dataset="translated", size=48), run("t64", dataset="translated", size=64),
                run("t48-b", dataset="translated", size=48)]
    assert names(default_selection(canvases)) == ["t48", "t48-b"]  # other input sizes are not comparable here
    assert names(default_selection([run("alone", dataset="synthetic"), run("only-md", dataset="multidigit")])) == \
        ["alone"]
    # the element run that gives the maps comes from the same group
    group = [run("base", False), run("cbam", False), run("chan", False), run("md", dataset="multidigit"),
             run("full")]
    assert names(default_selection(group)) == ["base", "cbam", "full"]
