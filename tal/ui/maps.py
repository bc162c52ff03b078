"""Views of one image's prediction and attention maps (Inspect, Predict).

`outputs` is always the dict returned by `tal.inspect` for a batch; `i` picks
the image. Each map is drawn by the view its catalogue entry names
(`tal.core.catalogue.VIEWS`): the per-class grid, bars, pictures, query maps
and matrices. Figures come from `tal.render`; this module only lays them out.

The summary, the grid, the equation, the bars and the pictures are one block
of HTML (`tal.ui.html_view`): one element to swap per update instead of ~30.
Streamlit elements remain for what needs the server: the grid with hover
values (a Plotly chart, on request) and the query maps with their sliders.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from markupsafe import Markup

from tal.core import catalogue, derived_maps
from tal.render import figures as viz
from tal.render import htmlbars, raster, templates, view_html
from tal.ui import html_view


def _keys(outputs, view: str) -> list[str]:
    """The output keys drawn as `view`, in catalogue order (stage maps in stage order)."""
    keys = []
    for _, spec in catalogue.map_specs():
        if spec.view != view:
            continue
        if "{k}" in spec.output:
            k = 1
            while spec.output.format(k=k) in outputs:
                keys.append(spec.output.format(k=k))
                k += 1
        elif spec.output in outputs or (spec.computed and view == "class_grid" and "A" in outputs):
            keys.append(spec.output)
    return keys


def _grid_note() -> str:
    titles = "; ".join(spec.title for _, spec in catalogue.map_specs() if spec.view == "class_grid")
    return (
        f"Rows: {titles}. A sums to 1 over the grid for every class (spatial softmax); S is each cell's logit "
        "for the class; their product summed over the grid is the auxiliary logit. One colour scale per row, "
        "shared by all classes: S and A⊙S are centred on 0 (red +, blue −)."
    )


GRID_NOTE = _grid_note()


def class_names_of(outputs, class_names=None) -> list[str]:
    return viz.class_labels(outputs["probabilities"].shape[-1], class_names)


def summary_html(
    outputs,
    i: int,
    *,
    true_label=None,
    class_names=None,
    image=None,
    box=None,
    objects=None,
    caption: str | None = None,
    note: str | None = None,
) -> Markup:
    """Input image, predicted class with confidence (or the classes said present), and the probability bars;
    `note` (the library's own text, e.g. `tal.engine.novelty.hint`) goes in a callout under the verdict."""
    names = class_names_of(outputs, class_names)
    p = outputs["probabilities"][i]
    left = []
    if image is not None:
        h, w = np.asarray(image).shape[:2]
        png = raster.input_png(image, size=224, box=None if objects is not None else box, objects=objects)
        left.append(view_html.figure(png, caption=caption or f"The {h}×{w} input the model sees.", width=224,
                                     alt="the input image"))
    if "present" in outputs:
        left.append(_present_verdict(outputs["present"][i], true_label, names))
    else:
        left.append(_predicted_verdict(int(outputs["prediction"][i]), p, true_label, names))
    if note:
        left.append(view_html.callout(note))
    aux = outputs.get("aux")
    bars = htmlbars.probability_html(p, aux=None if aux is None else aux[i], class_names=names,
                                     true_label=true_label, multi_label="present" in outputs)
    return templates.render("summary", left=templates.join(left), bars=bars)


def _predicted_verdict(pred: int, p, true_label, names) -> Markup:
    note, tone = f"{p[pred]:.1%} confidence", "off"
    if true_label is not None:
        right = pred == int(true_label)
        note += " ✓ correct" if right else f" ✗ true class {names[int(true_label)]}"
        tone = "good" if right else "bad"
    return view_html.verdict("Prediction", f"{names[pred]}", note, tone)


def _present_verdict(present, true_label, names) -> Markup:
    """A multi-label model's answer: every class above 0.5, checked against the classes shown."""
    said = [int(c) for c in np.flatnonzero(present)]
    value = ", ".join(names[c] for c in said) or "none"
    if true_label is None:
        note, tone = f"{len(said)} class(es) above 50 %", "off"
    elif set(said) == {int(c) for c in true_label}:
        note, tone = "✓ exactly the classes shown", "good"
    else:
        shown = ", ".join(names[int(c)] for c in true_label) or "none"
        note, tone = f"✗ the image shows {shown}", "bad"
    return view_html.verdict("Classes present (model)", value, note, tone)


def absent_notes(outputs) -> list[str]:
    """One note per A3Net branch the model lacks (it has none of the branch's maps)."""
    return [
        m.absent for m in catalogue.MODULES
        if m.absent and not any(spec.output in outputs for spec in m.maps if not spec.computed)
    ]


def has_class_grid(outputs) -> bool:
    return bool(_keys(outputs, "class_grid"))


def config_has_class_grid(model_config) -> bool:
    """Whether a model with these settings has maps drawn as the per-class grid (known before loading it)."""
    return any(spec.view == "class_grid" for m in catalogue.selected(model_config) for spec in m.maps)


def _grid_maps(outputs, i):
    """The grid's maps of image `i` by key (A⊙S computed from A and S) and the rows to draw."""
    maps = {k: outputs[k][i] for k in _keys(outputs, "class_grid") if k in outputs}
    kinds = [k for k in _keys(outputs, "class_grid") if k in maps or k == "AS"]
    return derived_maps.with_derived(maps, kinds), kinds


def grid_png(outputs, i: int, *, image=None, class_names=None, overlay: bool = False, highlight=None,
             objects=None) -> bytes:
    """The per-class grid as one PNG: rows A, S, A⊙S, U; one column per class; shared colour scales;
    `objects` (K, 5) draws each ground-truth box on its class's tiles (the static twin of `grid_chart`)."""
    maps, kinds = _grid_maps(outputs, i)
    styles = {k: (viz.map_style(k).symbol, viz.map_style(k).colorscale) for k in kinds}
    ranges = {k: viz.color_range(maps[k], signed=viz.map_style(k).signed) for k in kinds}
    return raster.class_grid_png(maps, kinds=kinds, class_names=class_names_of(outputs, class_names),
                                 styles=styles, ranges=ranges, background=image, overlay=overlay,
                                 highlight=highlight, boxes=boxes_by_class(objects))


def grid_chart(outputs, i: int, *, key: str, image=None, class_names=None, overlay: bool = False,
               highlight=None, objects=None) -> None:
    """The per-class grid as a Plotly chart with each cell's value under the mouse (on request: slower)."""
    maps, kinds = _grid_maps(outputs, i)
    fig = viz.map_grid_figure(
        maps,
        class_names=class_names_of(outputs, class_names),
        kinds=kinds,
        background=image,
        overlay=overlay,
        highlight=highlight,
        boxes=boxes_by_class(objects),
        compact=True,  # row symbols only: GRID_NOTE names the rows
    )
    st.plotly_chart(fig, key=f"{key}.grid", config={"displayModeBar": False})


def display_toggles(model_config, *, key: str) -> tuple[bool, bool]:
    """Overlay on the input, and hover values (the grid as a chart); both off by default, and not drawn
    for a model without the per-class grid."""
    if not config_has_class_grid(model_config):
        return False, False
    left, right, _ = st.columns([1, 1, 1])
    overlay = left.toggle(
        "Overlay on the input (upsampled)",
        key=f"{key}.overlay",
        help="Draw each map, bilinearly upsampled, over the input image.",
    )
    interactive = right.toggle(
        "Hover values (interactive chart)",
        key=f"{key}.interactive",
        help="Draw the grid as a chart that shows each cell's value under the mouse. "
             "The picture (off) updates several times faster.",
    )
    return overlay, interactive


def boxes_by_class(objects) -> dict:
    """{class: [(y0, x0, y1, x1), …]} from (K, 5) object rows (empty slots skipped)."""
    out: dict = {}
    for c, *box in ([] if objects is None else np.asarray(objects).tolist()):
        if c >= 0:
            out.setdefault(int(c), []).append(tuple(box))
    return out


def show_attention(
    outputs, i: int, *, key: str, before: Markup = Markup(""), image=None, class_names=None,
    equation: bool = True, objects=None, overlay: bool = False, interactive: bool = False,
) -> None:
    """`before` (HTML, as `Markup`: a plain `str` would be shown as text) and everything the model's
    attention modules expose for image `i`, as one block; with `interactive` the grid is a chart between
    two blocks. The query maps follow (they need sliders)."""
    head, grid, tail = attention_html(outputs, i, image=image, class_names=class_names, equation=equation,
                                      objects=objects, overlay=overlay, grid=not interactive)
    if interactive and has_class_grid(outputs):
        html_view.show(before + head, key=f"{key}.view")
        grid_chart(outputs, i, key=key, image=image, class_names=class_names, overlay=overlay,
                   highlight=_framed(outputs, i), objects=objects)
        if tail:
            html_view.show(tail, key=f"{key}.view.after")
    else:
        html_view.show(before + head + grid + tail, key=f"{key}.view")
    _relational_maps(outputs, i, image=image, key=key)


def _framed(outputs, i):
    """The classes framed in the grid: the prediction, or the classes said present."""
    if "present" in outputs:
        return [int(c) for c in np.flatnonzero(outputs["present"][i])]
    return int(outputs["prediction"][i])


def attention_html(
    outputs, i: int, *, image=None, class_names=None, equation: bool = True, objects=None,
    overlay: bool = False, grid: bool = True,
) -> tuple[Markup, Markup, Markup]:
    """(notes and the grid's heading, the grid picture, the equation, bars and pictures) as HTML;
    the picture is "" when `grid` is False or the model has no per-class maps."""
    names = class_names_of(outputs, class_names)
    head = templates.join(view_html.callout(note) for note in absent_notes(outputs))
    picture = tail = Markup("")
    if has_class_grid(outputs):
        h, w = outputs["A"].shape[1:3]
        framed = _framed(outputs, i)
        if isinstance(framed, int):
            what = f"orange frame: the prediction, class {names[framed]}"
        else:
            what = f"orange frames: the classes said present, {', '.join(names[c] for c in framed) or 'none'}"
        if objects is not None:
            what += "; dotted green: where each class really is"
        head += templates.render("grid_heading", note=view_html.small(GRID_NOTE),
                                 text=f" on the {h}×{w} feature grid — one column per class ({what}).")
        if grid:
            png = grid_png(outputs, i, image=image, class_names=names, overlay=overlay, highlight=framed,
                           objects=objects)
            picture = view_html.figure(png, alt="the per-class maps")
        if equation and _keys(outputs, "scores"):
            tail += equation_html(outputs, i, names)
    tail += _bars_and_pictures_html(outputs, i, image=image)
    return head, picture, tail


def _bars_and_pictures_html(outputs, i, *, image) -> Markup:
    """Per-stage and per-channel maps as bars; 2-D maps (M, gates, spatial weights) as pictures."""
    bars = {k: outputs[k][i] for k in _keys(outputs, "bars")}
    pictures = [_picture_html(outputs[name][i], name, image=image) for name in _keys(outputs, "picture")]
    if not bars and not pictures:
        return Markup("")
    notes = " ".join(catalogue.map_spec(k).note for k in bars)
    return templates.render("bars_and_pictures", bars=htmlbars.gates_html(bars) if bars else None,
                            note=view_html.small(notes + " Hover a bar for its value."), pictures=pictures)


def _picture_html(value, name: str, *, image=None) -> Markup:
    """One small map with a colour bar (no hover: the caption gives its range)."""
    style = catalogue.map_spec(name)
    lo, hi = viz.color_range(value, signed=style.signed)
    stage = name.rsplit("_", 1)[-1] if "{k}" in style.output else ""
    where = " over the input (bilinearly upsampled)" if image is not None else ""
    return templates.render("picture", figure=view_html.figure(
        raster.map_png(value, scale=style.colorscale, lo=lo, hi=hi, background=image, size=224),
        title=style.title.format(k=stage),
        width=242,  # 224 px of map, its colour bar beside
        caption=f"{raster.value_range_text(value, symbol=style.symbol)}{where}; "
        f"colour bar from {lo:.3g} (bottom) to {hi:.3g} (top). {style.note}",
    ))


def _query_picker(side: int, *, key: str) -> tuple[int, int]:
    """Row and column of the query position on the feature grid (default: the centre)."""
    st.caption(
        "Position-to-position attention: pick a **query** cell of the feature grid (✕); the map shows how "
        "much it attends to every other position (each map sums to 1)."
    )
    left, right = st.columns(2)
    row = left.slider("Query row", 0, side - 1, side // 2, key=f"{key}.query.row")
    col = right.slider("Query column", 0, side - 1, side // 2, key=f"{key}.query.col")
    return row, col


def _query_maps(value, query, side) -> list[tuple[str, np.ndarray]]:
    """(head number or "", (side, side) map) for one query: one per head for multi-head attention."""
    from tal.core.layers import query_attention

    if value.ndim == 3:  # (heads, N, N)
        return [(str(h + 1), np.asarray(query_attention(value[None], query, side, side, head=h))[0])
                for h in range(value.shape[0])]
    return [("", np.asarray(query_attention(value[None], query, side, side))[0])]


def _relational_maps(outputs, i, *, image, key) -> None:
    """Position-to-position attention (for one query) and affinity matrices."""
    queries, matrices = _keys(outputs, "query"), _keys(outputs, "matrix")
    if not queries and not matrices:
        return
    st.markdown(f"**Maps of the {catalogue.owner((queries or matrices)[0]).title} module**")
    panels = []  # (title, key, value, query cell or None)
    query = side = None
    for name in queries:
        value = outputs[name][i]
        side = int(round(np.sqrt(value.shape[-1])))
        if query is None:
            query = _query_picker(side, key=key)
        for head, grid in _query_maps(value, query, side):
            panels.append((catalogue.map_spec(name).title.format(h=head), name, grid, query))
    panels += [(catalogue.map_spec(name).title, name, outputs[name][i], None) for name in matrices]
    cols = st.columns(min(len(panels), 3))
    for n, (title, name, value, cell) in enumerate(panels):
        with cols[n % len(cols)]:
            if cell is None:
                axis = catalogue.map_spec(name).axis
                fig = viz.matrix_figure(value, title=title, xlabel=axis, ylabel=axis)
            else:
                fig = viz.single_map_figure(value, kind=name, background=image, overlay=image is not None,
                                            title=title, height=260)
                viz.mark_cell(fig, cell, side, None if image is None else np.asarray(image).shape[:2])
            st.plotly_chart(fig, key=f"{key}.extra.{n}", config={"displayModeBar": False})


def equation_html(outputs, i: int, names) -> Markup:
    """`score_c = Σ A⊙S` with this image's real numbers, and softmax(score) = aux probabilities, for every
    class c, behind a class switch that starts at the prediction (switching needs no server)."""
    multi = "present" in outputs
    pred = int(outputs["prediction"][i])
    cases = []
    for c in range(len(names)):
        chk = viz.score_check(outputs, i, c, multi_label=multi)
        block = templates.join([view_html.equation_mathml(chk, c, names, multi_label=multi),
                                view_html.checks_html(chk),
                                view_html.small(view_html.top_contributions(chk, multi_label=multi))])
        cases.append((str(c), str(names[c]), block))
    return templates.render("equation_box", switch=view_html.switch(
        "equation-class", "Class c (starts at the prediction)", cases, str(pred)))
