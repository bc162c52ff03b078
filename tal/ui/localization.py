"""The Localization page's views: scores per run and method, per class, and hits and misses.

The scores come from `tal.engine.localization` (cached per run by
`tal.ui.loaders.localization`); this module lays them out and sends a chosen
image to Inspect.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from tal.render import figures as viz
from tal.render import raster
from tal.engine.localization import method_title
from tal.ui import loaders, pickers, tables

INSPECT_KEY = "inspect"  # the Inspect page's picker key (its widgets are "inspect.source", …)


def choose_runs(runs: list, *, key: str = "localize.runs") -> list:
    """Runs to score; by default the multi-label ones (shipped multidigit pair first), else the newest two."""
    by_path = {str(r.path): r for r in runs}
    multi = [p for p, r in by_path.items() if r.model_config.multi_label]
    default = (multi or list(by_path))[:2]
    chosen = st.multiselect(
        "Runs to score",
        list(by_path),
        default=default,
        key=key,
        format_func=lambda p: pickers.run_label(by_path[p]),
        help="Any run: MNIST and translated MNIST have one box per image, multidigit canvases one per digit.",
    )
    return [by_path[p] for p in chosen]


def score_runs(runs: list, images: int, sanity: bool) -> dict:
    """{run name: localize result} for the runs that can be scored; a clear message for the others."""
    import tal

    results = {}
    for run in runs:
        try:
            with st.spinner(f"Scoring the maps of '{run.name}' on {images} test images…"):
                results[run.name] = loaders.localization(run, images, sanity)
        except tal.DataNotFoundError as exc:
            st.warning(f"'{run.name}': its test images are unavailable, so its maps cannot be scored. {exc}")
        except ValueError as exc:  # no boxes, or nothing to score
            st.warning(f"'{run.name}': {exc}")
    return results


def summary(results: dict) -> None:
    """The table of every run and method, and the two charts."""
    st.dataframe(
        tables.localization_rows(results),
        hide_index=True,
        key="localize.table",
        column_config={
            name: st.column_config.NumberColumn(format="percent")
            for name in ("pointing game", "pointing, chance", "energy in boxes", "energy, chance")
        },
    )
    first = next(iter(results.values()))
    st.caption(
        f"Pointing game: the map's highest cell falls inside a box of the class (tolerance "
        f"{first['tolerance_px']:g} px, half a feature-grid cell). Energy: the share of the map's positive "
        "mass inside the class's boxes. Chance: what a flat map scores. Sanity check (Adebayo et al. 2018): "
        "the same maps from the same architecture with random weights; a rank correlation of 0.5 or more "
        "means the maps follow the input more than what the model learned."
    )
    c1, c2 = st.columns(2)
    for col, score in zip((c1, c2), ("pointing", "energy")):
        col.plotly_chart(viz.localization_figure(results, score=score),
                         key=f"localize.chart.{score}", config={"displayModeBar": False})


def per_class(results: dict, runs: list) -> None:
    """One run's scores per class, its classes named as its data names them."""
    c1, c2 = st.columns([2, 1])
    run = c1.selectbox("Run", list(results), key="localize.class_run")
    score = c2.radio("Score", ("pointing", "energy"), horizontal=True, key="localize.class_score",
                     format_func={"pointing": "pointing game", "energy": "energy in boxes"}.get)
    names = {r.name: r.class_names for r in runs}[run]
    rows = tables.localization_class_rows(results[run], score, names)
    st.dataframe(rows, hide_index=True, key="localize.per_class",
                 column_config={n: st.column_config.NumberColumn(format="percent") for n in rows[0] if n != "method"})


def hits_and_misses(results: dict, runs: list) -> None:
    """Pick a run, a method and hits or misses; preview one and open it on Inspect."""
    by_name = {r.name: r for r in runs}
    c1, c2, c3 = st.columns([2, 2, 1])
    name = c1.selectbox("Run", list(results), key="localize.pair_run")
    result = results[name]
    method = c2.selectbox("Method", list(result["methods"]), key="localize.pair_method",
                          format_func=method_title)
    which = c3.radio("Show", ("misses", "hits"), horizontal=True, key="localize.pair_kind")
    detail = np.asarray(result["methods"][method]["pairs_detail"], dtype=float).reshape(-1, 4)
    chosen = detail[detail[:, 2] == (1 if which == "hits" else 0)]
    if not len(chosen):
        st.success(f"No {which} for this method on these images.", icon=":material/check_circle:")
        return
    k = st.number_input(f"Which of the {len(chosen)} {which}", 1, len(chosen), 1, key="localize.pair_k")
    image_index, cls, _, share = chosen[int(k) - 1]
    image_index, cls = int(image_index), int(cls)
    run = by_name[name]
    _preview(run, method, image_index, cls, share)


def _preview(run, method: str, index: int, cls: int, share: float) -> None:
    from tal.engine.localization import method_maps

    test = loaders.test_set(loaders.data_config_of(run))
    image = test.x[index, ..., 0]
    model = loaders.load_model(run)
    value = method_maps(model, image[None, ..., None], [method])[method][0]
    heatmap = value[..., cls] if value.ndim == 3 else value
    lo, hi = viz.color_range(heatmap, signed=False)
    names = test.class_names
    c1, c2, c3 = st.columns([1, 1, 1])
    c1.image(raster.input_png(image, size=224, objects=test.objects[index]), width=224, output_format="PNG",
             caption=f"Test image #{index}: every box in its class colour.")
    c2.image(raster.map_png(heatmap, scale="Viridis", lo=lo, hi=hi, background=image, size=224), width=242,
             output_format="PNG",
             caption=f"{method_title(method)} for class {names[cls]}, over the input; "
             f"{share:.0%} of its positive mass inside the class's boxes.")
    with c3:
        st.markdown(f"Class **{names[cls]}**; the map's highest cell "
                    f"{'falls inside' if _hit(heatmap, test.objects[index], cls, image.shape) else 'misses'} "
                    "its box.")
        if st.button("Open on Inspect", icon=":material/visibility:", key="localize.open"):
            open_on_inspect(run, index)


def _hit(heatmap, objects, cls, image_shape) -> bool:
    from tal.engine.localization import pointing_hit

    boxes = [tuple(o[1:]) for o in np.asarray(objects).tolist() if o[0] == cls]
    return pointing_hit(heatmap, boxes, image_shape)


def open_on_inspect(run, index: int) -> None:
    """Inspect this run on test image `index` (its picker's "By number" source)."""
    pickers.select_run(run.path)  # the run picker starts from it
    pickers.show_test_number(index, key=INSPECT_KEY)
    st.switch_page("app_pages/inspect.py")
