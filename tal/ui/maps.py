"""Views of one image's prediction and attention maps (Inspect, Predict, Compare).

`outputs` is always the dict returned by `tal.inspect` for a batch; `i` picks
the image. Figures come from `tal.render.figures`; this module only lays them out.
"""

from __future__ import annotations

import html

import numpy as np
import streamlit as st

from tal.render import htmlbars

from tal.render import raster

from tal.render import figures as viz

ABSENT = {
    "element": "**No A, S, U or M maps** — this model was trained without the element-wise branch "
    "(`element` off), so it has no per-class maps and no auxiliary head.",
    "channel": "**No channel gate** — channel-wise (SE) attention was off for this model.",
    "scale": "**No scale weights** — scale-wise attention was off; the model uses the last backbone stage alone.",
}

GRID_NOTE = (
    "Rows: " + "; ".join(viz.MAP_STYLES[k][0] for k in ("A", "S", "AS", "U")) + ". A sums to 1 over the grid for every class (spatial softmax); S is each cell's logit for "
    "the class; their product summed over the grid is the auxiliary logit. One colour scale per "
    "row, shared by all classes: S and A⊙S are centred on 0 (red +, blue −). Hover a cell for its value."
)


# Maps of the literature modules (ModelConfig.extra_attention): output key prefix -> (view, title)
EXTRA_VIEWS = {
    "sw_weights": ("spatial", "Spatial weights W (one weight per position)"),
    "ltpa_stage_": ("spatial", "Learn to Pay Attention, stage {k} (softmax over positions)"),
    "danet_position": ("query", "DANet position attention of the query"),
    "nonlocal_attention": ("query", "Non-local attention of the query"),
    "mhsa_heads": ("query", "Self-attention of the query, head {h}"),
    "danet_channel": ("matrix", "DANet channel affinity (rows sum to 1)"),
}


def extra_keys(outputs) -> list[str]:
    return [k for k in outputs if any(k.startswith(prefix) for prefix in EXTRA_VIEWS)]


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
    caption: str | None = None,
) -> None:
    """Input image, predicted class with confidence, and the probability bars."""
    names = class_names_of(outputs, class_names)
    p = outputs["probabilities"][i]
    pred = int(outputs["prediction"][i])
    c1, c2 = st.columns([1, 2], vertical_alignment="top")
    with c1:
        if image is not None:
            h, w = np.asarray(image).shape[:2]
            # a plain PNG, not a chart: one <img> to swap per update (see tal.render.raster)
            st.image(
                raster.input_png(image, size=224, box=box),
                caption=caption or f"The {h}×{w} input the model sees.",
                width=224,
                output_format="PNG",  # never JPEG: the pixels are the data
            )
        verdict = ""
        if true_label is not None:
            verdict = (
                " ✓ correct"
                if pred == int(true_label)
                else f" ✗ true class {names[int(true_label)]}"
            )
        st.metric(
            "Prediction",
            f"{names[pred]}",
            f"{p[pred]:.1%} confidence{verdict}",
            delta_arrow="off",
            delta_color="off"
            if true_label is None
            else ("normal" if pred == int(true_label) else "inverse"),
        )
    with c2:
        aux = outputs.get("aux")
        # plain HTML bars with the values as tooltips: a Plotly chart would be mounted afresh
        # on every update (see tal.render.htmlbars)
        st.html(
            htmlbars.probability_html(
                p, aux=None if aux is None else aux[i], class_names=names, true_label=true_label
            )
        )


def absent_notes(outputs) -> list[str]:
    notes = []
    if "A" not in outputs:
        notes.append(ABSENT["element"])
    if "channel_gate" not in outputs:
        notes.append(ABSENT["channel"])
    if "scale_weights" not in outputs:
        notes.append(ABSENT["scale"])
    return notes


def map_grid(
    outputs,
    i: int,
    *,
    image=None,
    class_names=None,
    key: str,
    overlay: bool = False,
    kinds=("A", "S", "AS", "U"),
    highlight=None,
) -> None:
    """The per-class grid: rows A, S, A⊙S, U; one column per class; shared colour scales."""
    maps = {k: outputs[k][i] for k in ("A", "S", "U") if k in outputs}
    fig = viz.map_grid_figure(
        maps,
        class_names=class_names_of(outputs, class_names),
        kinds=kinds,
        background=image,
        overlay=overlay,
        highlight=highlight,
        compact=True,  # row symbols only: GRID_NOTE names the rows
    )
    st.plotly_chart(fig, key=f"{key}.grid", config={"displayModeBar": False})


def attention_maps(
    outputs, i: int, *, image=None, class_names=None, key: str, equation: bool = True
) -> None:
    """Everything the model's branches expose for image `i`, and notes on what is absent."""
    names = class_names_of(outputs, class_names)
    pred = int(outputs["prediction"][i])
    for note in absent_notes(outputs):
        st.info(note, icon=":material/visibility_off:")
    if "A" in outputs:
        h, w = outputs["A"].shape[1:3]
        top = st.columns([3, 2])
        # the explanation is in the heading's element: one element fewer to lay out per update
        top[0].markdown(
            f"**Per-class maps** on the {h}×{w} feature grid — one column per class "
            f"(orange frame: the prediction, class {names[pred]}).  \n:small[:gray[{GRID_NOTE}]]"
        )
        overlay = top[1].toggle(
            "Overlay on the input (upsampled)",
            key=f"{key}.overlay",
            help="Draw each map, bilinearly upsampled, over the input image.",
        )
        map_grid(
            outputs, i, image=image, class_names=names, key=key, overlay=overlay, highlight=pred
        )
        if equation:
            equation_panel(outputs, i, names, key=key)
    _gates_and_mask(outputs, i, image=image, key=key)
    _extra_maps(outputs, i, image=image, key=key)


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


def _query_maps(name, value, query, side) -> list[tuple[str, np.ndarray]]:
    """(title suffix, (side, side) map) for one query: one per head for self-attention."""
    from tal.core.layers import query_attention

    if value.ndim == 3:  # (heads, N, N)
        return [(str(h + 1), np.asarray(query_attention(value[None], query, side, side, head=h))[0])
                for h in range(value.shape[0])]
    return [("", np.asarray(query_attention(value[None], query, side, side))[0])]


def _extra_maps(outputs, i, *, image, key) -> None:
    """Maps of the extra literature module, when the model has one."""
    keys = extra_keys(outputs)
    if not keys:
        return
    st.markdown("**Maps of the extra (literature) module**")
    panels = []  # (title, view, value)
    query = side = None
    for name in keys:
        prefix = next(p for p in EXTRA_VIEWS if name.startswith(p))
        view, title = EXTRA_VIEWS[prefix]
        value = outputs[name][i]
        if view == "query":
            side = int(round(np.sqrt(value.shape[-1])))
            if query is None:
                query = _query_picker(side, key=key)
            for head, grid in _query_maps(name, value, query, side):
                panels.append((title.format(h=head), "query", grid))
        else:
            panels.append((title.format(k=name[len(prefix):]), view, value))
    cols = st.columns(min(len(panels), 3))
    for n, (title, view, value) in enumerate(panels):
        with cols[n % len(cols)]:
            if view == "matrix":
                fig = viz.matrix_figure(value, title=title, xlabel="channel", ylabel="channel")
            else:
                fig = viz.single_map_figure(value, kind="query" if view == "query" else "spatial",
                                            background=image, overlay=image is not None, title=title,
                                            height=260)
                if view == "query":
                    viz.mark_cell(fig, query, side, None if image is None else np.asarray(image).squeeze().shape)
            st.plotly_chart(fig, key=f"{key}.extra.{n}", config={"displayModeBar": False})


def _gates_and_mask(outputs, i, *, image, key) -> None:
    """Scale weights and channel gate as HTML bars; M and the CBAM gate as PNG pictures."""
    bars = {k: outputs[k][i] for k in ("scale_weights", "channel_gate") if k in outputs}
    pictures = [k for k in ("M", "cbam_spatial") if k in outputs]
    if not bars and not pictures:
        return
    cols = iter(st.columns([len(bars) + 1] * bool(bars) + [2] * len(pictures)))
    if bars:
        with next(cols):
            notes = {
                "scale_weights": "Scale weights: stage 1 is the finest grid; the weights sum to 1.",
                "channel_gate": "Channel gate (squeeze-and-excitation): each feature channel is "
                "multiplied by its gate.",
            }
            note = " ".join(notes[k] for k in bars) + " Hover a bar for its value."
            # the note inside the bars' HTML: one element fewer to lay out per update
            st.html(
                htmlbars.gates_html(**bars)
                + f'<div style="{CHECK_LABEL};margin-top:6px">{html.escape(note)}</div>'
            )
    for name in pictures:
        with next(cols):
            _map_picture(outputs[name][i], name, image=image if name == "M" else None)


def _map_picture(value, kind: str, *, image=None) -> None:
    """One small map as a PNG with a colour bar (no hover: the caption gives its range)."""
    title, scale, signed = viz.MAP_STYLES[kind]
    lo, hi = viz.color_range(value, signed=signed)
    st.markdown(f"**{title}**")
    where = " over the input (bilinearly upsampled)" if image is not None else ""
    about = {
        "M": "The features passed on are E⊙(1+M) in residual mode.",
        "cbam_spatial": "CBAM's spatial gate (for comparison).",
    }[kind]
    st.image(
        raster.map_png(value, scale=scale, lo=lo, hi=hi, background=image, size=224),
        width=242,  # 224 px of map, its colour bar beside
        output_format="PNG",
        caption=f"{raster.value_range_text(value, symbol=viz.MAP_LABELS[kind])}{where}; "
        f"colour bar from {lo:.3g} (bottom) to {hi:.3g} (top). {about}",
    )


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
        chk = viz.score_check(outputs, i, c)
        st.latex(equation_latex(chk, c, names))
        st.html(checks_html(chk))
        st.caption(
            "Top contributions (row, col): "
            + "; ".join(
                f"({r}, {cc}) A={a:.3f}, S={s:+.3f}, A·S={p:+.4f}"
                for r, cc, a, s, p in chk["top_cells"]
            )
            + f". Over all classes, softmax(score) and the aux head's probabilities differ by at most "
            f"{chk['softmax_error']:.1e}: the aux head *is* softmax(Σ A⊙S)."
        )


def equation_latex(chk: dict, c: int, names) -> str:
    """The sum, its largest terms and softmax(score) = p_aux as one aligned KaTeX block."""
    n = names[c]
    terms = " + ".join(f"{a:.3f}\\cdot({s:+.3f})" for _, _, a, s, _ in chk["top_cells"])
    return (
        r"\begin{aligned}"
        r"\mathrm{score}_{%s} &= \sum_{h,w} A_{h,w,%s}\,S_{h,w,%s} \;=\; %.5f \\"
        r"&= %s + \dots \quad \text{(largest terms)} \\"
        r"\operatorname{softmax}(\mathrm{score})_{%s} &= %.4f \qquad p^{\mathrm{aux}}_{%s} = %.4f"
        r"\end{aligned}"
    ) % (n, n, n, chk["sum_AS"], terms, n, chk["softmax"][c], n, chk["aux"][c])


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
