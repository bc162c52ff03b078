"""Figure builders of tal.render.figures: traces, shapes and shared colour ranges (no browser, no TensorFlow)."""

from __future__ import annotations

import numpy as np
import pytest

from tal.render import figures as viz


def maps(h=7, w=7, c=10, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(h, w, c))
    A = np.exp(z) / np.exp(z).sum(axis=(0, 1), keepdims=True)
    S = rng.normal(scale=2, size=(h, w, c))
    U = A / (1 + np.exp(-S))
    return {"A": A.astype("float32"), "S": S.astype("float32"), "U": U.astype("float32")}


def test_tile_puts_classes_side_by_side_with_nan_gaps():
    m = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4)
    t = viz.tile(m, gap=1)
    assert t.shape == (2, 4 * 3 + 3)
    np.testing.assert_array_equal(t[:, 0:3], m[..., 0])
    np.testing.assert_array_equal(t[:, 8:11], m[..., 2])
    assert np.isnan(t[:, 3]).all() and np.isnan(t[:, 7]).all()


def test_grid_has_one_heatmap_per_map_type_and_shared_ranges():
    m = maps()
    fig = viz.map_grid_figure(m, kinds=("A", "S", "AS", "U"), highlight=3)
    heatmaps = [t for t in fig.data if t.type == "heatmap"]
    assert [t.name for t in heatmaps] == ["A", "S", "AS", "U"]
    assert heatmaps[0].z.shape == (7, 10 * 7 + 9)
    # one colour axis per row, covering every class's values
    axes = [t.coloraxis for t in heatmaps]
    assert axes == ["coloraxis", "coloraxis2", "coloraxis3", "coloraxis4"]
    assert fig.layout.coloraxis.cmin == 0 and fig.layout.coloraxis.cmax == pytest.approx(
        m["A"].max()
    )
    s_max = float(np.abs(m["S"]).max())
    assert (fig.layout.coloraxis2.cmin, fig.layout.coloraxis2.cmax) == pytest.approx(
        (-s_max, s_max)
    )
    as_max = float(np.abs(m["A"] * m["S"]).max())
    assert fig.layout.coloraxis3.cmax == pytest.approx(as_max, rel=1e-5)
    # the class tick labels sit under the tiles, and the highlight frames one tile per row
    assert list(fig.layout.xaxis.ticktext) == [str(c) for c in range(10)]
    assert len(fig.layout.shapes) == 4
    # hover: class and column from a small integer customdata, the row from y; nothing on the gaps
    assert heatmaps[0].customdata.dtype == np.int8 and heatmaps[0].customdata.shape == (7, 79, 2)
    assert heatmaps[0].customdata[0, 8 * 3 + 2].tolist() == [3, 2]  # class 3, column 2
    assert heatmaps[0].hoverongaps is False and "row %{y}" in heatmaps[0].hovertemplate


def test_grid_overlay_upsamples_onto_the_input():
    m = maps()
    image = np.random.default_rng(1).random((28, 28)).astype("float32")
    fig = viz.map_grid_figure(m, kinds=("A", "S"), background=image, overlay=True)
    assert len(fig.data) == 4  # background + map per row
    background, a_map = fig.data[0], fig.data[1]
    assert background.z.shape == a_map.z.shape == (28, 10 * 28 + 9 * 4)
    assert a_map.opacity < 1


def test_grid_without_element_maps_raises_clearly():
    with pytest.raises(ValueError, match="element-wise"):
        viz.map_grid_figure({}, kinds=("A",))


def test_shared_ranges_cover_all_runs():
    a, b = maps(seed=1), maps(seed=2)
    b["S"] = b["S"] * 10
    ranges = viz.shared_ranges([a, b], kinds=("A", "S"))
    assert ranges["S"][1] == pytest.approx(float(np.abs(b["S"]).max()))
    fig = viz.map_grid_figure(a, kinds=("A", "S"), ranges=ranges)
    assert fig.layout.coloraxis2.cmax == pytest.approx(ranges["S"][1])


def test_color_range_never_empty():
    assert viz.color_range(np.zeros(5), signed=True) == (-1.0, 1.0)
    assert viz.color_range(np.zeros(5), signed=False) == (0.0, 1.0)
    assert viz.color_range([np.nan], signed=False) == (0.0, 1.0)


def test_upsample_keeps_constant_maps_and_shape():
    up = viz.upsample(np.full((7, 7), 0.25), 28, 28)
    assert up.shape == (28, 28)
    np.testing.assert_allclose(up, 0.25)
    ramp = viz.upsample(np.arange(4, dtype="float32")[None].repeat(2, 0), 2, 8)
    assert np.all(np.diff(ramp[0]) >= 0)


def test_score_check_matches_the_identity():
    m = maps()
    score = (m["A"] * m["S"]).sum(axis=(0, 1))
    aux = np.exp(score) / np.exp(score).sum()
    outputs = {"A": m["A"][None], "S": m["S"][None], "score": score[None], "aux": aux[None]}
    chk = viz.score_check(outputs, 0, 4)
    assert chk["sum_AS"] == pytest.approx(score[4], abs=1e-6)
    assert chk["abs_error"] < 1e-5
    assert chk["A_sum"] == pytest.approx(1.0, abs=1e-5)
    assert chk["softmax_error"] < 1e-6
    assert len(chk["top_cells"]) == 3
    assert abs(chk["top_cells"][0][4]) >= abs(chk["top_cells"][1][4])


def test_image_figure_is_grayscale_and_pixel_exact():
    fig = viz.image_figure(np.zeros((28, 28, 1)), boxes=(4, 5, 20, 18))
    assert fig.data[0].z.shape == (28, 28)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0, 1)
    assert len(fig.layout.shapes) == 1


def progress(step, **kw):
    base = dict(
        epoch=1,
        epochs=1,
        batch=step,
        batches=10,
        step=step,
        total_steps=10,
        loss=1.0,
        main_loss=0.8,
        aux_loss=0.4,
        accuracy=0.5,
        aux_accuracy=0.4,
        val_accuracy=None,
        aux_weight=0.5,
    )
    return {**base, **kw}


def test_training_curves_show_lambda_changes():
    batches = [progress(s, aux_weight=0.5 if s < 5 else 2.0) for s in range(1, 11)]
    epochs = [progress(10, val_accuracy=0.7)]
    fig = viz.training_curves_figure(batches, epochs)
    names = [t.name for t in fig.data]
    assert names == [
        "main loss",
        "aux loss",
        "train accuracy (main)",
        "train accuracy (aux)",
        "validation accuracy",
        "λ",
    ]
    lam = fig.data[-1]
    assert list(lam.y) == [0.5] * 4 + [2.0] * 6
    assert list(fig.data[4].x) == [10]


def test_training_curves_without_aux_head_and_downsampling():
    batches = [progress(s, aux_loss=None, aux_accuracy=None) for s in range(1, 2001)]
    fig = viz.training_curves_figure(batches)
    assert "aux loss" not in [t.name for t in fig.data]
    assert len(fig.data[0].x) <= 600 and fig.data[0].x[-1] == 2000


def test_accuracy_curves_and_confusion():
    history = {
        "epochs": [progress(10, val_accuracy=0.7)],
        "batches": [progress(s) for s in range(1, 11)],
    }
    fig = viz.accuracy_curves_figure({"a": history, "b": history})
    assert len(fig.data) == 4
    cm = np.diag([5, 5]) + 1
    fig = viz.confusion_figure({"a": cm, "b": cm})
    assert len(fig.data) == 2 and all(t.coloraxis == "coloraxis" for t in fig.data)
    np.testing.assert_allclose(np.asarray(fig.data[0].z).sum(axis=1), 1.0)


def test_accuracy_and_auc_curves_never_share_an_axis_and_hover_names_the_run_in_full():
    history = {"epochs": [progress(10, val_accuracy=0.9)], "batches": [progress(s) for s in range(1, 11)]}
    auc = {"epochs": [progress(10, val_accuracy=0.7, metric="auc")],
           "batches": [progress(s, metric="auc") for s in range(1, 11)]}
    fig = viz.accuracy_curves_figure({"a": history, "b": auc}, names={"a": "mnist-a-long-name", "b": "md-b"})
    assert {t.yaxis for t in fig.data if t.legendgroup == "a"} == {"y"}
    assert {t.yaxis for t in fig.data if t.legendgroup == "b"} == {"y2"}
    assert (fig.layout.yaxis.title.text, fig.layout.yaxis2.title.text) == ("accuracy", "ROC AUC")
    assert not fig.layout.annotations  # the y titles name the panels; panel titles ran into the figure's
    assert set(fig.data[0].customdata) == {"mnist-a-long-name"} and "%{customdata}" in fig.data[0].hovertemplate
    one = viz.accuracy_curves_figure({"a": history, "c": history})
    assert {t.yaxis for t in one.data} == {"y"} and one.layout.title.text == "Accuracy curves"
    assert set(one.data[0].customdata) == {"a"}  # no full names given: the label
    assert one.layout.legend.yref == "container" and one.layout.legend.yanchor == "bottom"  # clear of "epoch"


def test_scores_get_a_panel_per_kind_with_labels_clear_of_their_titles():
    scores = [{"label": "scale_channel_element", "name": "mnist-scale_channel_element-n300-e1-s0",
               "score": "test accuracy", "value": 0.98},
              {"label": "baseline", "name": "mnist-baseline-n300-e1-s0", "score": "test accuracy", "value": 0.97},
              {"label": "multidigit", "name": "multidigit-baseline", "score": "mean AUC", "value": 0.73},
              {"label": "multidigit-2", "name": "multidigit-full", "score": "mean AUC", "value": 0.75}]
    fig = viz.scores_figure(scores)
    accuracy, auc = fig.data
    assert (accuracy.yaxis, auc.yaxis) == ("y", "y2")  # AUCs of 0.73 and accuracies of 0.98 on separate axes
    assert list(accuracy.x) == ["scale_channel_element", "baseline"]
    assert list(auc.customdata) == ["multidigit-baseline", "multidigit-full"]
    assert "%{customdata}" in accuracy.hovertemplate and "mean AUC" in auc.hovertemplate
    assert fig.layout.yaxis.range[0] > 0.9 and fig.layout.yaxis2.range[1] < 0.8  # each zoomed to its own scores
    for axis in (fig.layout.xaxis, fig.layout.xaxis2, fig.layout.yaxis, fig.layout.yaxis2):
        assert axis.automargin and axis.title.standoff  # tick labels push the title away, never under it
    assert fig.layout.margin.autoexpand is not False
    assert (fig.layout.yaxis.title.text, fig.layout.yaxis2.title.text) == ("test accuracy", "mean AUC")
    assert not fig.layout.annotations  # no panel titles under the figure's own (they ran into it)
    single = viz.scores_figure(scores[:2])
    assert len(single.data) == 1 and single.layout.title.text == "Test accuracy" and not single.layout.annotations


def test_confusion_hover_names_the_run_in_full():
    fig = viz.confusion_figure({"A b": np.eye(2)}, full_names={"A b": "mnist-b-%{x}"})
    assert fig.data[0].hovertemplate.startswith("mnist-b-% {x}<br>true %{y}")  # a name is never a variable


def test_viz_is_ui_free():
    import ast
    from pathlib import Path

    tree = ast.parse(Path(viz.__file__).read_text())
    imported = {
        a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
    }
    modules = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {m.split(".")[0] for m in modules}
    assert imported <= {"__future__", "numpy", "plotly", "tal"}
    # the catalogue and derived maps; the ablation summary's row reader, for the study chart; the
    # localization methods' titles; the raster's gray of an input (luma of a colour one)
    assert {m for m in modules if m.startswith("tal")} == {"tal.core", "tal.engine.ablation",
                                                           "tal.engine.localization", "tal.render.raster"}


def _summary_rows():
    from tal.engine.ablation import summarize

    def rec(variant, branches, seed, acc):
        return {"variant": variant, "seed": seed, "run": f"{variant}{seed}", "branches": branches, "aux_weight": 0.5,
                "test_accuracy": acc, "per_class_accuracy": [acc] * 10, "params": 10, "training_time_s": 1.0,
                "status": "completed"}

    results = [rec("baseline", [], s, a) for s, a in enumerate([0.97, 0.98, 0.99])]
    results += [rec("scale", ["scale"], s, a) for s, a in enumerate([1.00, 1.01, 1.02])]
    results += [rec("element", ["element"], s, a) for s, a in enumerate([0.99, 1.00, 1.01])]
    return summarize(results)


def test_ablation_figure_has_std_error_bars_and_marks_noise():
    from tal.render import figures as viz

    fig = viz.ablation_figure(_summary_rows())
    bar = fig.data[0]
    assert list(bar.x) == ["baseline", "scale", "element"]
    np.testing.assert_allclose(bar.y, [98.0, 101.0, 100.0])
    np.testing.assert_allclose(bar.error_y.array, [1.0, 1.0, 1.0])
    colors = list(bar.marker.color)
    assert colors[1] != colors[2]  # "scale" is a real difference, "element" is within noise
    assert any(shape.line.dash == "dash" for shape in fig.layout.shapes)  # the baseline line


def test_figures_redrawn_per_image_have_fixed_margins_and_few_colour_bar_ticks():
    """Plotly's automatic margins re-measure and redraw every colour bar and tick
    label until they settle: over half of a grid's drawing time in the browser."""
    m = maps()
    image = np.zeros((28, 28), dtype="float32")
    figures = [
        viz.map_grid_figure(m),
        viz.map_grid_figure(m, background=image, overlay=True),
        viz.image_figure(image),
        viz.bar_figure(np.ones(64) / 2, title="gate", xlabel="channel", ylabel="g"),
        viz.single_map_figure(m["A"][..., 0], kind="A", background=image, overlay=True),
    ]
    for fig in figures:
        assert fig.layout.margin.autoexpand is False
    grid = figures[0]
    assert all(grid.layout[f"coloraxis{s}"].colorbar.nticks <= 4 for s in ("", "2", "3", "4"))
    # the right margin leaves room for the colour bars and their titles
    assert grid.layout.margin.r >= 100
    assert figures[-1].data[-1].colorbar.nticks <= 4


def test_other_figures_keep_automatic_margins():
    fig = viz.matrix_figure(np.eye(4), title="m", xlabel="x", ylabel="y")
    assert fig.layout.margin.autoexpand is not False


def test_compact_grid_draws_half_the_texts():
    """Inspect and Predict redraw the grid per image: symbols as row labels, class labels once."""
    fig = viz.map_grid_figure(maps(), compact=True)
    assert [a.text for a in fig.layout.annotations] == ["<b>A</b>", "<b>S</b>", "<b>A⊙S</b>", "<b>U</b>"]
    shown = [fig.layout[f"xaxis{s}"].showticklabels for s in ("", "2", "3", "4")]
    assert shown == [False, False, False, True]
    assert "attention" in viz.map_grid_figure(maps()).layout.annotations[0].text  # full labels by default


def test_the_score_axis_zooms_to_close_scores():
    from tal.render.figures import zoomed_range

    lo, hi = zoomed_range([0.9816, 0.9853])  # spread 0.0037: padded by the least margin, 0.005
    assert lo == pytest.approx(0.9766) and hi == pytest.approx(0.9903)
    assert zoomed_range([0.2, 0.9]) == pytest.approx([0.0, 1.0])  # 0.21 of padding, clipped to [0, 1]
    assert zoomed_range([]) == [0.0, 1.0]
    assert zoomed_range([0.5130]) == [0.0, 1.0]  # one result: its bar on the whole axis, not on 51.26–51.34 %
    assert zoomed_range([0.7, 0.7]) == [0.0, 1.0]


def test_ablation_figure_axis_zooms_to_the_bars_but_not_onto_one_result():
    from tal.engine.ablation import summarize
    from tal.render import figures as viz

    fig = viz.ablation_figure(_summary_rows())
    # bars with ±1 std span 97–102 %: padded by 15 % of that spread (0.75), clipped to 100 % at the top
    np.testing.assert_allclose(fig.layout.yaxis.range, [96.25, 100.0])
    one = summarize([{"variant": "baseline", "seed": 0, "run": "b0", "branches": [], "aux_weight": 0.5,
                      "test_accuracy": 0.513, "per_class_accuracy": [0.513] * 10, "params": 10,
                      "training_time_s": 1.0, "status": "completed"}])
    assert list(viz.ablation_figure(one).layout.yaxis.range) == [0.0, 100.0]  # not 51.26–51.34 %
