"""Views of one image's prediction and attention maps (Inspect, Predict, Compare).

`outputs` is always the dict returned by `tal.inspect` for a batch; `i` picks
the image. Each map is drawn by the view its catalogue entry names
(`tal.core.catalogue.VIEWS`): the per-class grid, bars, pictures, query maps
and matrices. Figures come from `tal.render`; this module only lays them out.
"""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from tal.core import catalogue
from tal.render import figures as viz
from tal.render import htmlbars, raster


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
        "shared by all classes: S and A⊙S are centred on 0 (red +, blue −). Switch on \"Hover values\" to read "
        "each cell's value."
    )


GRID_NOTE = _grid_note()


def class_names_of(outputs, class_names=None) -> list[str]:
    return viz.class_labels(outputs["probabilities"].shape[-1], class_names)


def prediction_summary(
    outputs,
    i: int,
    *,
    true_label=None,
    class_names=None,
    key: str,
    image=None,
    box=None,
    objects=None,
    caption: str | None = None,
) -> None:
    """Input image, predicted class with confidence (or the classes said present), and the probability bars."""
    names = class_names_of(outputs, class_names)
    p = outputs["probabilities"][i]
    pred = int(outputs["prediction"][i])
    multi = "present" in outputs
    c1, c2 = st.columns([1, 2], vertical_alignment="top")
    with c1:
        if image is not None:
            h, w = np.asarray(image).shape[:2]
            # a plain PNG, not a chart: one <img> to swap per update (see tal.render.raster)
            st.image(
                raster.input_png(image, size=224, box=None if objects is not None else box, objects=objects),
                caption=caption or f"The {h}×{w} input the model sees.",
                width=224,
                output_format="PNG",  # never JPEG: the pixels are the data
            )
        if multi:
            _present_metric(outputs["present"][i], p, true_label, names)
        else:
            _predicted_metric(pred, p, true_label, names)
    with c2:
        aux = outputs.get("aux")
        # plain HTML bars with the values as tooltips: a Plotly chart would be mounted afresh
        # on every update (see tal.render.htmlbars)
        st.html(
            htmlbars.probability_html(
                p, aux=None if aux is None else aux[i], class_names=names, true_label=true_label, multi_label=multi
            )
        )


def _predicted_metric(pred: int, p, true_label, names) -> None:
    verdict = ""
    if true_label is not None:
        verdict = " ✓ correct" if pred == int(true_label) else f" ✗ true class {names[int(true_label)]}"
    st.metric(
        "Prediction",
        f"{names[pred]}",
        f"{p[pred]:.1%} confidence{verdict}",
        delta_arrow="off",
        delta_color="off" if true_label is None else ("normal" if pred == int(true_label) else "inverse"),
    )


def _present_metric(present, p, true_label, names) -> None:
    """A multi-label model's answer: every class above 0.5, checked against the classes shown."""
    said = [int(c) for c in np.flatnonzero(present)]
    text = ", ".join(names[c] for c in said) or "none"
    if true_label is None:
        note, colour = f"{len(said)} class(es) above 50 %", "off"
    elif set(said) == {int(c) for c in true_label}:
        note, colour = "✓ exactly the classes shown", "normal"
    else:
        shown = ", ".join(names[int(c)] for c in true_label) or "none"
        note, colour = f"✗ the image shows {shown}", "inverse"
    st.metric("Classes present (model)", text, note, delta_arrow="off", delta_color=colour)


def absent_notes(outputs) -> list[str]:
    """One note per A3Net branch the model lacks (it has none of the branch's maps)."""
    return [
        m.absent for m in catalogue.MODULES
        if m.absent and not any(spec.output in outputs for spec in m.maps if not spec.computed)
    ]


def map_grid(
    outputs,
    i: int,
    *,
    image=None,
    class_names=None,
    key: str,
    overlay: bool = False,
    kinds=None,
    highlight=None,
    objects=None,
    interactive: bool = False,
) -> None:
    """The per-class grid: rows A, S, A⊙S, U; one column per class; shared colour scales;
    `objects` (K, 5) draws each ground-truth box on its class's tiles.

    A PNG by default (one `<img>`: it updates several times faster in the browser
    than a chart of 40 tiles); `interactive` draws the Plotly chart with hover values.
    """
    maps = {k: outputs[k][i] for k in _keys(outputs, "class_grid") if k in outputs}
    kinds = [k for k in (kinds or _keys(outputs, "class_grid")) if k in maps or k == "AS"]
    names = class_names_of(outputs, class_names)
    if not interactive:
        from tal.render import raster

        if "AS" in kinds and "AS" not in maps:
            maps["AS"] = np.asarray(maps["A"]) * np.asarray(maps["S"])
        styles = {k: (viz.map_style(k).symbol, viz.map_style(k).colorscale) for k in kinds}
        ranges = {k: viz.color_range(maps[k], signed=viz.map_style(k).signed) for k in kinds}
        png = raster.class_grid_png(maps, kinds=kinds, class_names=names, styles=styles, ranges=ranges,
                                    background=image, overlay=overlay, highlight=highlight,
                                    boxes=boxes_by_class(objects))
        st.image(png, width="content", output_format="PNG")  # never re-encoded as JPEG: the cells are the data
        return
    fig = viz.map_grid_figure(
        maps,
        class_names=names,
        kinds=kinds,
        background=image,
        overlay=overlay,
        highlight=highlight,
        boxes=boxes_by_class(objects),
        compact=True,  # row symbols only: GRID_NOTE names the rows
    )
    st.plotly_chart(fig, key=f"{key}.grid", config={"displayModeBar": False})


def boxes_by_class(objects) -> dict:
    """{class: [(y0, x0, y1, x1), …]} from (K, 5) object rows (empty slots skipped)."""
    out: dict = {}
    for c, *box in ([] if objects is None else np.asarray(objects).tolist()):
        if c >= 0:
            out.setdefault(int(c), []).append(tuple(box))
    return out


def attention_maps(
    outputs, i: int, *, image=None, class_names=None, key: str, equation: bool = True, objects=None
) -> None:
    """Everything the model's attention modules expose for image `i`, by view, and notes on what is absent."""
    names = class_names_of(outputs, class_names)
    pred = int(outputs["prediction"][i])
    present = [int(c) for c in np.flatnonzero(outputs["present"][i])] if "present" in outputs else None
    for note in absent_notes(outputs):
        st.info(note, icon=":material/visibility_off:")
    if _keys(outputs, "class_grid"):
        h, w = outputs["A"].shape[1:3]
        top = st.columns([3, 2])
        # the explanation is in the heading's element: one element fewer to lay out per update
        if present is None:
            framed = f"orange frame: the prediction, class {names[pred]}"
        else:
            framed = f"orange frames: the classes said present, {', '.join(names[c] for c in present) or 'none'}"
        if objects is not None:
            framed += "; dotted green: where each class really is"
        top[0].markdown(
            f"**Per-class maps** on the {h}×{w} feature grid — one column per class "
            f"({framed}).  \n:small[:gray[{GRID_NOTE}]]"
        )
        overlay = top[1].toggle(
            "Overlay on the input (upsampled)",
            key=f"{key}.overlay",
            help="Draw each map, bilinearly upsampled, over the input image.",
        )
        interactive = top[1].toggle(
            "Hover values (interactive chart)",
            key=f"{key}.interactive",
            help="Draw the grid as a chart that shows each cell's value under the mouse. "
                 "The picture (off) updates several times faster.",
        )
        map_grid(
            outputs, i, image=image, class_names=names, key=key, overlay=overlay,
            highlight=pred if present is None else present, objects=objects, interactive=interactive,
        )
        if equation and _keys(outputs, "scores"):
            equation_panel(outputs, i, names, key=key)
    _bars_and_pictures(outputs, i, image=image)
    _relational_maps(outputs, i, image=image, key=key)


def _bars_and_pictures(outputs, i, *, image) -> None:
    """Per-stage and per-channel maps as HTML bars; 2-D maps (M, gates, spatial weights) as PNGs."""
    bars = {k: outputs[k][i] for k in _keys(outputs, "bars")}
    pictures = _keys(outputs, "picture")
    if not bars and not pictures:
        return
    if bars:
        cols = st.columns([len(bars) + 1, 2]) if len(pictures) == 1 else [st.container()]
        notes = " ".join(catalogue.map_spec(k).note for k in bars)
        with cols[0]:
            # the note inside the bars' HTML: one element fewer to lay out per update
            st.html(
                htmlbars.gates_html(bars)
                + f'<div style="{CHECK_LABEL};margin-top:6px">{html.escape(notes + " Hover a bar for its value.")}</div>'
            )
        if len(pictures) == 1:
            with cols[1]:
                _map_picture(outputs[pictures[0]][i], pictures[0], image=image)
            return
    for row in range(0, len(pictures), 3):
        cols = st.columns(3)
        for col, name in zip(cols, pictures[row : row + 3]):
            with col:
                _map_picture(outputs[name][i], name, image=image)


def _map_picture(value, name: str, *, image=None) -> None:
    """One small map as a PNG with a colour bar (no hover: the caption gives its range)."""
    style = catalogue.map_spec(name)
    lo, hi = viz.color_range(value, signed=style.signed)
    stage = name.rsplit("_", 1)[-1] if "{k}" in style.output else ""
    st.markdown(f"**{style.title.format(k=stage)}**")
    where = " over the input (bilinearly upsampled)" if image is not None else ""
    st.image(
        raster.map_png(value, scale=style.colorscale, lo=lo, hi=hi, background=image, size=224),
        width=242,  # 224 px of map, its colour bar beside
        output_format="PNG",
        caption=f"{raster.value_range_text(value, symbol=style.symbol)}{where}; "
        f"colour bar from {lo:.3g} (bottom) to {hi:.3g} (top). {style.note}",
    )


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
                viz.mark_cell(fig, cell, side, None if image is None else np.asarray(image).squeeze().shape)
            st.plotly_chart(fig, key=f"{key}.extra.{n}", config={"displayModeBar": False})


def equation_panel(outputs, i: int, names, *, key: str) -> None:
    """`score_c = Σ A⊙S` with this image's real numbers, and softmax(score) = aux probabilities.

    Re-drawn on every image: one KaTeX block, one HTML row of numbers and one
    caption (each KaTeX block is typeset afresh and each element laid out by the
    browser, so three formulas and four metrics in columns cost ~a dozen more).
    """
    pred = int(outputs["prediction"][i])
    with st.container(border=True):
        st.markdown("**The auxiliary logit, recomputed from the maps**")
        c = st.selectbox(
            "Class c (starts at the prediction)",
            list(range(len(names))),
            index=pred,
            format_func=lambda k: names[k],
            key=f"{key}.eq_class.{pred}",
        )
        multi = "present" in outputs
        chk = viz.score_check(outputs, i, c, multi_label=multi)
        st.latex(equation_latex(chk, c, names, multi_label=multi))
        st.html(checks_html(chk))
        st.caption(
            "Top contributions (row, col): "
            + "; ".join(
                f"({r}, {cc}) A={a:.3f}, S={s:+.3f}, A·S={p:+.4f}"
                for r, cc, a, s, p in chk["top_cells"]
            )
            + f". Over all classes, {'σ' if multi else 'softmax'}(score) and the aux head's probabilities differ "
            f"by at most {chk['softmax_error']:.1e}: the aux head *is* {'σ' if multi else 'softmax'}(Σ A⊙S)."
        )


def equation_latex(chk: dict, c: int, names, *, multi_label: bool = False) -> str:
    """The sum, its largest terms and softmax(score) = p_aux (σ(score_c) for multi-label models) as one
    aligned KaTeX block."""
    n = names[c]
    head = r"\sigma(\mathrm{score}_{%s})" % n if multi_label else r"\operatorname{softmax}(\mathrm{score})_{%s}" % n
    terms = " + ".join(f"{a:.3f}\\cdot({s:+.3f})" for _, _, a, s, _ in chk["top_cells"])
    return (
        r"\begin{aligned}"
        r"\mathrm{score}_{%s} &= \sum_{h,w} A_{h,w,%s}\,S_{h,w,%s} \;=\; %.5f \\"
        r"&= %s + \dots \quad \text{(largest terms)} \\"
        r"%s &= %.4f \qquad p^{\mathrm{aux}}_{%s} = %.4f"
        r"\end{aligned}"
    ) % (n, n, n, chk["sum_AS"], terms, head, chk["softmax"][c], n, chk["aux"][c])


CHECK_LABEL = "font-size:14px;color:rgba(128,128,128,0.95)"
CHECK_VALUE = "font-size:1.6rem;line-height:1.4"


def checks_html(chk: dict) -> str:
    """The four numbers of the check (sum from the maps, model's logit, difference, Σ A) in one row."""
    cells = [
        ("Σ A⊙S from the maps", f"{chk['sum_AS']:.5f}"),
        ("aux logit from the model", f"{chk['score']:.5f}"),
        ("|difference|", f"{chk['abs_error']:.1e}"),
        (f"Σ A over {chk['cells']} cells", f"{chk['A_sum']:.4f}"),
    ]
    return '<div class="tal-checks" style="display:flex;gap:16px">' + "".join(
        f'<div style="flex:1;min-width:0"><div style="{CHECK_LABEL}">{html.escape(label)}</div>'
        f'<div data-value style="{CHECK_VALUE}">{html.escape(value)}</div></div>'
        for label, value in cells
    ) + "</div>"
