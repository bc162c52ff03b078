"""Plotly figures for the explorer: inputs, probabilities, attention maps, curves.

UI-free (imports plotly and numpy only), so every figure can be unit-tested
and reused in notebooks. Conventions:

* Attention maps come from `tal.inspect` for ONE image: `A`, `S`, `U` of shape
  `(h, w, C)`, `M` `(h, w)`.
* One colour scale per map type, shared by all classes (and all runs in a
  comparison), so a brighter tile really means a larger value. Non-negative
  maps (A, U, M) use a sequential scale from 0; signed maps (S, A⊙S) use a
  diverging scale centred on 0.
* Grids are drawn as one heatmap per map type with the classes tiled side by
  side (NaN gaps between tiles): one trace per row renders far faster in the
  browser than one subplot per class.
* Figures redrawn on every Inspect / Predict update have fixed margins
  (`margin.autoexpand=False`) and colour bars with few ticks. Streamlit mounts a
  new chart whenever a figure changes, and Plotly's automatic margins measure
  and redraw every colour bar, legend and tick label until the margins settle:
  that was more than half of a grid's drawing time in the browser.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tal.core import catalogue, derived_maps
from tal.render.raster import luma

GRAY = [[0.0, "#000000"], [1.0, "#ffffff"]]
GAP = 1  # empty cells between tiles, in map cells
PALETTE = (
    "#4C78A8",
    "#F58518",
    "#54A24B",
    "#E45756",
    "#72B7B2",
    "#B279A2",
    "#FF9DA6",
    "#9D755D",
    "#BAB0AC",
    "#EECA3B",
)


def map_style(key: str) -> catalogue.MapSpec:
    """Title, colour scale, sign and symbol of a map, from the catalogue entry that declares it.

    A key no module declares (a map of the caller's own) gets a plain sequential style.
    """
    try:
        return catalogue.map_spec(key)
    except KeyError:
        return catalogue.MapSpec(key, key, key, "picture", (), key)


def _gray_image(z, **kwargs) -> go.Heatmap:
    """The input image as a heatmap: black 0 to white 1, no colour bar."""
    return go.Heatmap(z=z, colorscale=GRAY, zmin=0, zmax=1, showscale=False, **kwargs)


def _layout(
    fig: go.Figure, *, height: int, title: str | None = None, margin: dict | None = None, **kw
) -> go.Figure:
    """Height, title and margins. `margin` (l, r, t, b in px) fixes the margins:
    no automatic expansion, so the figure draws in one pass (see the module notes)."""
    fixed = margin is not None
    margin = dict(dict(l=10, r=10, t=40 if title else 10, b=10), **(margin or {}))
    fig.update_layout(
        height=height,
        margin=dict(margin, autoexpand=not fixed),
        title=dict(text=title, x=0, font=dict(size=14)) if title else None,
        **kw,
    )
    return fig


def _colorbar(**kw) -> dict:
    """A slim colour bar with few ticks (each tick label is measured when drawn)."""
    return dict(thickness=10, nticks=4, **kw)


def class_labels(num_classes: int, class_names=None) -> list[str]:
    return [str(c) for c in (class_names if class_names is not None else range(num_classes))]


def color_range(values, *, signed: bool) -> tuple[float, float]:
    """The colour range shared by every tile of one map type.

    Signed maps get a range symmetric around 0; others run from 0 (or their
    minimum if negative) to their maximum. Never an empty range.
    """
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if v.size == 0:
        return (0.0, 1.0)
    if signed:
        m = float(np.abs(v).max()) or 1.0
        return (-m, m)
    lo, hi = min(float(v.min()), 0.0), float(v.max())
    return (lo, hi if hi > lo else lo + 1.0)


def _interp_matrix(n_in: int, n_out: int) -> np.ndarray:
    """`(n_out, n_in)` bilinear interpolation weights (pixel centres aligned, edges clamped)."""
    x = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    lo = np.floor(x).astype(int)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = (x - lo).astype("float32")
    m = np.zeros((n_out, n_in), dtype="float32")
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


def upsample(image, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a map `(h, w)` or a stack `(h, w, C)` to `(height, width[, C])`."""
    a = np.asarray(image, dtype="float32")
    ry, rx = _interp_matrix(a.shape[0], height), _interp_matrix(a.shape[1], width)
    if a.ndim == 2:
        return ry @ a @ rx.T
    return np.einsum("Hh,hwc,Ww->HWc", ry, a, rx)


def tile(maps, gap: int = GAP) -> np.ndarray:
    """`(h, w, C)` → `(h, C·w + (C-1)·gap)`: the class maps side by side, NaN between."""
    maps = np.asarray(maps, dtype="float32")
    h, w, c = maps.shape
    out = np.full((h, c * w + (c - 1) * gap), np.nan, dtype="float32")
    for k in range(c):
        out[:, k * (w + gap) : k * (w + gap) + w] = maps[..., k]
    return out


def _row_label(kind: str, title: str) -> str:
    """Left-hand row label: the symbol in bold, then the title's explanation broken over lines."""
    symbol, _, rest = title.partition(":")
    if not rest:
        return f"<b>{title}</b>"
    words, lines, line = rest.strip().replace("(", "").replace(")", "").split(), [], ""
    for word in words:
        if len(line) + len(word) > 12 and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return f"<b>{symbol.strip()}</b><br>" + "<br>".join(
        f"<span style='font-size:10px'>{x}</span>" for x in lines
    )


def _tile_customdata(h, w, c, gap):
    """Per-cell (class index, column in the tile) for hover text on a tiled grid (-1 in the gaps).

    The row needs no entry (it is the cell's y). The smallest integer type that
    holds the values: the array travels base64-encoded with every grid, once per row.
    """
    dtype = "int8" if max(c, w) <= 127 else "int16"
    out = np.full((h, c * w + (c - 1) * gap, 2), -1, dtype=dtype)
    for k in range(c):
        sl = slice(k * (w + gap), k * (w + gap) + w)
        out[:, sl, 0] = k
        out[:, sl, 1] = np.arange(w)[None, :]
    return out


# --------------------------------------------------------------------------- inputs and outputs


def image_figure(image, *, title: str | None = None, height: int = 260, boxes=None) -> go.Figure:
    """An input image (values in [0, 1]; gray, or colour with three channels), pixel-exact, with hover values.

    `boxes`: optional `(y0, x0, y1, x1)` ink box drawn as a rectangle.
    """
    from tal.render.raster import picture

    img = np.asarray(image, dtype="float32")
    if img.ndim == 3 and img.shape[-1] == 3:
        fig = go.Figure(go.Image(z=picture(img), hovertemplate="row %{y}, col %{x}<br>RGB %{z}<extra></extra>"))
    else:
        fig = go.Figure(_gray_image(img.squeeze(), hovertemplate="row %{y}, col %{x}<br>value %{z:.2f}<extra></extra>"))
    if boxes is not None:
        y0, x0, y1, x1 = (float(v) for v in boxes)
        if y1 > y0 and x1 > x0:
            fig.add_shape(
                type="rect",
                x0=x0 - 0.5,
                x1=x1 - 0.5,
                y0=y0 - 0.5,
                y1=y1 - 0.5,
                line=dict(color="#F58518", width=1, dash="dot"),
            )
    fig.update_yaxes(
        autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False, ticks=""
    )
    fig.update_xaxes(showticklabels=False, showgrid=False, constrain="domain", ticks="")
    return _layout(fig, height=height, title=title, margin={})


def bar_figure(
    values,
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    labels=None,
    height: int = 240,
    yrange=None,
    color: str = PALETTE[0],
    hover=None,
) -> go.Figure:
    """A plain bar chart (channel gate, scale weights, test accuracy …); `hover`: a longer name per bar."""
    v = np.asarray(values, dtype="float64").ravel()
    x = list(labels) if labels is not None else list(range(len(v)))
    template = "%{hovertext}: %{y:.4f}<extra></extra>" if hover is not None else "%{x}: %{y:.3f}<extra></extra>"
    fig = go.Figure(
        go.Bar(x=x, y=v, marker_color=color, hovertemplate=template,
               hovertext=None if hover is None else list(hover))
    )
    fig.update_xaxes(title=xlabel, type="category" if labels is not None else "-")
    fig.update_yaxes(title=ylabel, range=yrange, nticks=4)
    return _layout(fig, height=height, title=title, margin=dict(l=55, r=10, t=40, b=45))


def zoomed_range(values, *, lo: float = 0.0, hi: float = 1.0, pad: float = 0.3, least: float = 0.005):
    """An axis range around `values` (padded by `pad` of their spread, at least `least`), within [lo, hi]:
    close scores such as 98.16 % and 98.53 % stay apart instead of sharing one bar height on a 0–1 axis.
    With nothing to tell apart (one value, or all equal) the whole [lo, hi] range: zooming in on a single
    bar would draw it on a meaningless sliver of the axis."""
    v = np.asarray(values, dtype="float64")
    if not v.size or v.max() == v.min():
        return [lo, hi]
    margin = max((v.max() - v.min()) * pad, least)
    return [max(lo, float(v.min()) - margin), min(hi, float(v.max()) + margin)]


def localization_figure(results: dict, *, score: str = "pointing", height: int = 320) -> go.Figure:
    """Each run's `score` ("pointing" or "energy") per method as grouped bars, with each run's chance level.

    `results`: `{run name: tal.engine.localization.localize(...) result}`; the x axis names each
    method by `tal.engine.localization.method_title`.
    """
    from tal.engine.localization import method_title

    fig = go.Figure()
    for i, (run, result) in enumerate(results.items()):
        methods = list(result["methods"])
        labels = [method_title(m) for m in methods]
        values = [100 * (result["methods"][m][score]["overall"] or 0.0) for m in methods]
        chance = [100 * (result["methods"][m][score]["chance"] or 0.0) for m in methods]
        color = PALETTE[i % len(PALETTE)]
        fig.add_bar(x=labels, y=values, name=run, marker_color=color, legendgroup=run,
                    hovertemplate=f"{run}<br>%{{x}}: %{{y:.1f}} %<extra></extra>")
        fig.add_scatter(x=labels, y=chance, mode="markers", name="chance (flat map)", legendgroup="chance",
                        marker=dict(symbol="line-ew", size=28, line=dict(width=2, color="#333333")),
                        hovertemplate="chance (flat map): %{y:.1f} %<extra></extra>", showlegend=i == 0)
    name = "Pointing game (% of present classes hit)" if score == "pointing" else "Energy inside the boxes (%)"
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="%", range=[0, 100])
    return _layout(fig, height=height, title=name, legend=dict(orientation="h", y=-0.3))


# --------------------------------------------------------------------------- attention maps


def map_grid_figure(
    maps: dict,
    *,
    class_names=None,
    kinds=("A", "S", "AS", "U"),
    background=None,
    overlay: bool = False,
    highlight=None,
    boxes: dict | None = None,
    row_height: int = 100,
    ranges: dict | None = None,
    row_titles: dict | None = None,
    compact: bool = False,
) -> go.Figure:
    """Per-class maps for all classes at once: one row per map type, one tile per class.

    Args:
        maps: `{"A": (h, w, C), "S": (h, w, C), "U": (h, w, C)}` for one image;
            `"AS"` (A⊙S) is computed when asked for and absent.
        kinds: which rows to draw, in order (any of "A", "S", "AS", "U").
        background: the input image `(H, W)`; with `overlay=True` each map is
            upsampled to the input size and drawn semi-transparently over it.
        highlight: a class index, or several, to frame (the prediction, or the
            classes a multi-label model says are present).
        boxes: optional `{class: [(y0, x0, y1, x1), …]}` ground-truth boxes in
            input pixels, drawn on that class's tiles.
        ranges: optional `{kind: (lo, hi)}` colour ranges (to share them across
            several figures); default: from this image's maps.
        row_titles: optional `{kind: title}` overriding the default row titles.
        compact: for figures redrawn on every image: row labels are the symbols
            alone (the page explains them) and the class labels sit under the
            bottom row only. Plotly measures every text it draws; this halves
            the texts of a four-row grid.

    Every row has its own colour axis (`coloraxis`, `coloraxis2`, …) shared by
    all classes in that row.
    """
    maps = derived_maps.with_derived(maps, kinds)
    kinds = [k for k in kinds if k in maps]
    if not kinds:
        raise ValueError("No per-class maps to draw (the model has no element-wise branch).")
    h, w, c = np.asarray(maps[kinds[0]]).shape
    names = class_labels(c, class_names)
    use_overlay = overlay and background is not None
    if use_overlay:
        bg = luma(background).astype("float32")
        H, W = bg.shape
        gap = max(1, W // w)
    else:
        H, W, gap = h, w, GAP
    titles = [(row_titles or {}).get(k, map_style(k).title) for k in kinds]
    n = len(kinds)
    spacing = 0.12 / n
    height = (1 - spacing * (n - 1)) / n
    centres = [k * (W + gap) + (W - 1) / 2 for k in range(c)]
    custom = _tile_customdata(H, W, c, gap)
    background_tile = tile(np.repeat(bg[..., None], c, axis=2), gap) if use_overlay else None
    data, layout, annotations, shapes = [], {}, [], []
    for r, kind in enumerate(kinds, start=1):
        style = map_style(kind)
        scale, signed, symbol = style.colorscale, style.signed, style.symbol
        values = np.asarray(maps[kind], dtype="float32")
        lo, hi = (ranges or {}).get(kind) or color_range(values, signed=signed)
        suffix = "" if r == 1 else str(r)
        axis, xa, ya = f"coloraxis{suffix}", f"x{suffix}", f"y{suffix}"
        top = 1 - (r - 1) * (height + spacing)
        if use_overlay:
            data.append(
                _gray_image(background_tile, hoverinfo="skip", xaxis=xa, yaxis=ya)
            )
            z = tile(upsample(values, H, W), gap)
        else:
            z = tile(values, gap)
        data.append(
            go.Heatmap(
                z=z,
                coloraxis=axis,
                opacity=0.6 if use_overlay else 1.0,
                customdata=custom,
                xaxis=xa,
                yaxis=ya,
                hoverongaps=False,
                hovertemplate=f"class %{{customdata[0]}} · row %{{y}}, col %{{customdata[1]}}"
                f"<br>{symbol} = %{{z:.4g}}<extra></extra>",
                name=kind,
            )
        )
        layout[axis] = dict(
            colorscale=scale,
            cmin=lo,
            cmax=hi,
            colorbar=_colorbar(
                y=top - height / 2,
                len=0.85 / n,
                title=dict(text=symbol, side="right"),
            ),
        )
        layout[f"xaxis{suffix}"] = dict(
            anchor=ya,
            domain=[0, 1],
            tickvals=centres,
            ticktext=names,
            showticklabels=not compact or r == n,
            showgrid=False,
            zeroline=False,
            ticks="",
            constrain="domain",
        )
        layout[f"yaxis{suffix}"] = dict(
            anchor=xa,
            domain=[max(top - height, 0), top],
            autorange="reversed",
            showticklabels=False,
            showgrid=False,
            zeroline=False,
            scaleanchor=xa,
            constrain="domain",
        )  # square cells
        annotations.append(
            dict(
                text=f"<b>{symbol}</b>" if compact else _row_label(kind, titles[r - 1]),
                xref="paper",
                x=-0.005,
                xanchor="right",
                yref="paper",
                y=top - height / 2,
                yanchor="middle",
                showarrow=False,
                align="right",
                font=dict(size=12),
            )
        )
        box_scale = 1.0 if use_overlay else h / _input_side(background, h)  # input pixels -> tile cells
        shapes += _box_shapes(boxes or {}, xa, ya, W + gap, box_scale)
        for cls in ([] if highlight is None else np.atleast_1d(highlight).tolist()):
            x0 = int(cls) * (W + gap) - 0.5
            shapes.append(
                dict(
                    type="rect",
                    xref=xa,
                    yref=ya,
                    x0=x0,
                    x1=x0 + W,
                    y0=-0.5,
                    y1=H - 0.5,
                    line=dict(color="#F58518", width=2),
                )
            )
    return go.Figure(
        data=data,
        layout=dict(
            layout,
            annotations=annotations,
            shapes=shapes,
            height=row_height * n + 40,
            # fixed: the row labels on the left, colour bars on the right, class labels below
            margin=dict(l=92, r=105, t=6, b=22, autoexpand=False),
        ),
    )


def _input_side(background, fallback: int) -> int:
    return fallback if background is None else int(luma(background).shape[0])


def _box_shapes(boxes: dict, xa: str, ya: str, stride: float, scale: float) -> list[dict]:
    """Dashed rectangles for ground-truth boxes (input pixels × `scale`) on each class's tile."""
    shapes = []
    for cls, rects in boxes.items():
        for y0, x0, y1, x1 in rects:
            left = int(cls) * stride - 0.5
            shapes.append(dict(type="rect", xref=xa, yref=ya, x0=left + x0 * scale, x1=left + x1 * scale,
                               y0=y0 * scale - 0.5, y1=y1 * scale - 0.5,
                               line=dict(color="#54A24B", width=1.5, dash="dot")))
    return shapes


def single_map_figure(
    value,
    *,
    kind: str = "M",
    background=None,
    overlay: bool = False,
    title: str | None = None,
    height: int = 260,
) -> go.Figure:
    """One 2-D map (`M`, the CBAM spatial gate …), optionally over the input."""
    style = map_style(kind)
    label, scale, signed = style.title, style.colorscale, style.signed
    z = np.asarray(value, dtype="float32")
    lo, hi = color_range(z, signed=signed)
    fig = go.Figure()
    if overlay and background is not None:
        bg = luma(background).astype("float32")
        fig.add_trace(
            _gray_image(bg, hoverinfo="skip")
        )
        z = upsample(z, *bg.shape)
    fig.add_trace(
        go.Heatmap(
            z=z,
            colorscale=scale,
            zmin=lo,
            zmax=hi,
            opacity=0.6 if overlay and background is not None else 1.0,
            colorbar=_colorbar(),
            hovertemplate=f"row %{{y}}, col %{{x}}<br>{kind} = %{{z:.4g}}<extra></extra>",
        )
    )
    fig.update_yaxes(
        autorange="reversed", scaleanchor="x", showticklabels=False, showgrid=False, ticks=""
    )
    fig.update_xaxes(showticklabels=False, showgrid=False, constrain="domain", ticks="")
    return _layout(fig, height=height, title=title or label, margin=dict(r=70))


def ablation_figure(rows: list[dict], *, height: int = 340) -> go.Figure:
    """Mean test accuracy (mean AUC for multi-label studies) per configuration with ±1 std error bars over seeds.

    `rows` are `tal.engine.ablation.summarize` rows. Bars whose difference to the
    baseline is within seed noise are drawn pale; the baseline's mean is a
    dashed line.
    """
    from tal.engine.ablation import METRICS, row_score

    names = [r["variant"] for r in rows]
    scores = [row_score(r) for r in rows]
    metric = METRICS[scores[0][0]] if scores else "test accuracy"
    means = np.array([mean for _, mean, _ in scores], dtype="float64") * 100
    stds = np.nan_to_num(np.array([std for _, _, std in scores], dtype="float64") * 100)
    colors = []
    for r in rows:
        if r["delta_vs_baseline"] is None:
            colors.append(PALETTE[9])  # the baseline itself
        elif r["within_noise"] is False:
            colors.append(PALETTE[0])
        else:
            colors.append("#B7C9DE")  # within noise, or not judged (one seed)
    fig = go.Figure(go.Bar(
        x=names, y=means, marker_color=colors,
        error_y=dict(type="data", array=stds, visible=True, color="#333333", thickness=1.2),
        customdata=np.stack([stds, [r["seeds"] for r in rows]], axis=-1),
        hovertemplate="%{x}<br>%{y:.2f} ± %{customdata[0]:.2f} % over %{customdata[1]} seeds<extra></extra>",
    ))
    baseline = next((r for r in rows if r["delta_vs_baseline"] is None and r["branches"] == "baseline"), None)
    if baseline is not None:
        fig.add_hline(y=row_score(baseline)[1] * 100, line_dash="dash", line_color="#888888",
                      annotation_text="baseline", annotation_position="top left")
    # zoomed to the bars and their error bars; a single result without spread gets the whole axis
    span = zoomed_range(np.concatenate([means - stds, means + stds]), lo=0.0, hi=100.0, pad=0.15, least=0.05)
    fig.update_yaxes(title=f"{metric} (%)", range=span)
    fig.update_xaxes(tickangle=-30)
    return _layout(fig, height=height, showlegend=False)


def mark_cell(fig: go.Figure, cell, side: int, image_shape=None) -> go.Figure:
    """Mark one feature-grid cell (row, col) with a cross, in the figure's coordinates
    (upsampled to `image_shape` when the map is drawn over the input)."""
    row, col = cell
    scale_y = scale_x = 1.0
    if image_shape is not None:
        scale_y, scale_x = image_shape[0] / side, image_shape[1] / side
    fig.add_trace(go.Scatter(x=[(col + 0.5) * scale_x - 0.5], y=[(row + 0.5) * scale_y - 0.5], mode="markers",
                             marker=dict(symbol="x", size=12, color="#E45756", line=dict(width=1, color="white")),
                             hoverinfo="skip", showlegend=False))
    return fig


def matrix_figure(matrix, *, title: str, xlabel: str, ylabel: str, height: int = 300) -> go.Figure:
    """An attention or affinity matrix (rows: queries, columns: keys), one sequential scale from 0."""
    z = np.asarray(matrix, dtype="float32")
    lo, hi = color_range(z, signed=bool(np.nanmin(z) < 0)) if z.size else (0.0, 1.0)
    fig = go.Figure(
        go.Heatmap(
            z=z,
            colorscale="RdBu_r" if lo < 0 else "Viridis",
            zmin=lo,
            zmax=hi,
            colorbar=dict(thickness=10),
            hovertemplate=f"{ylabel} %{{y}} → {xlabel} %{{x}}<br>%{{z:.4g}}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", scaleanchor="x", title=ylabel, constrain="domain")
    fig.update_xaxes(title=xlabel, constrain="domain")
    return _layout(fig, height=height, title=title)


def score_check(outputs: dict, index: int, class_index: int, *, multi_label: bool = False) -> dict:
    """The numbers behind `score_c = Σ_{h,w} A⊙S` for one image and class.

    Args:
        outputs: the dict returned by `tal.inspect` (needs `A`, `S`, `score`, `aux`).
        index: which image of the batch.
        class_index: the class `c`.

    Returns:
        `sum_AS` (recomputed from the maps), `score` (the model's aux logit),
        `abs_error`, `top_cells` (the 3 largest contributions as
        `(row, col, A, S, A·S)`), `softmax` (softmax of the score vector, or
        σ of each score for `multi_label` models), `aux` (the aux head's
        probabilities) and `softmax_error` (max |Δ|).
    """
    A = np.asarray(outputs["A"][index], dtype="float64")[..., class_index]
    S = np.asarray(outputs["S"][index], dtype="float64")[..., class_index]
    product = derived_maps.contribution(A, S)
    score = np.asarray(outputs["score"][index], dtype="float64")
    if multi_label:  # sigmoid heads: each class's probability is σ(score_c) on its own
        soft = 1.0 / (1.0 + np.exp(-score))
    else:
        e = np.exp(score - score.max())
        soft = e / e.sum()
    order = np.argsort(-np.abs(product), axis=None)[:3]
    cells = [
        (int(r), int(c), float(A[r, c]), float(S[r, c]), float(product[r, c]))
        for r, c in zip(*np.unravel_index(order, product.shape))
    ]
    aux = np.asarray(outputs["aux"][index], dtype="float64") if "aux" in outputs else soft
    return {
        "sum_AS": float(product.sum()),
        "score": float(score[class_index]),
        "abs_error": float(abs(product.sum() - score[class_index])),
        "A_sum": float(A.sum()),
        "cells": int(A.size),
        "top_cells": cells,
        "softmax": soft,
        "aux": aux,
        "softmax_error": float(np.abs(soft - aux).max()),
    }


# --------------------------------------------------------------------------- training curves


def _downsample(rows: list, limit: int = 600) -> list:
    if len(rows) <= limit:
        return rows
    keep = np.unique(np.linspace(0, len(rows) - 1, limit).round().astype(int))
    return [rows[i] for i in keep]


def _series(rows, key):
    xs = [r["step"] for r in rows if r.get(key) is not None]
    ys = [r[key] for r in rows if r.get(key) is not None]
    return xs, ys


def training_curves_figure(batches: list, epochs: list = (), *, height: int = 300) -> go.Figure:
    """Live curves from `tal.Progress` dicts: losses, accuracies and λ against the step.

    `batches`: progress dicts after training batches (running means within
    each epoch, as Keras reports them); `epochs`: the dicts at epoch ends
    (validation accuracy is only known there).
    """
    rows = _downsample(list(batches))
    ends = list(epochs)
    score = "AUC" if any(r.get("metric") == "auc" for r in rows[-1:]) else "accuracy"
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=("Loss (running mean per epoch)", score.capitalize() if score == "accuracy" else "ROC AUC",
                        "λ (aux loss weight)"),
        horizontal_spacing=0.07,
    )
    for key, name, color, col in (
        ("main_loss", "main loss", PALETTE[0], 1),
        ("aux_loss", "aux loss", PALETTE[1], 1),
        ("accuracy", f"train {score} (main)", PALETTE[0], 2),
        ("aux_accuracy", f"train {score} (aux)", PALETTE[1], 2),
    ):
        xs, ys = _series(rows, key)
        if xs:
            fig.add_scatter(
                x=xs, y=ys, mode="lines", name=name, line=dict(color=color), row=1, col=col
            )
    xs, ys = _series(ends, "val_accuracy")
    if xs:
        fig.add_scatter(
            x=xs,
            y=ys,
            mode="lines+markers",
            name=f"validation {score}",
            line=dict(color=PALETTE[2]),
            marker=dict(size=8),
            row=1,
            col=2,
        )
    xs, ys = _series(rows, "aux_weight")
    if xs:
        fig.add_scatter(
            x=xs,
            y=ys,
            mode="lines",
            name="λ",
            line=dict(color=PALETTE[3], shape="hv"),
            row=1,
            col=3,
        )
    fig.update_xaxes(title="step")
    fig.update_yaxes(range=[0, 1.02], row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=3)
    fig = _layout(fig, height=height, legend=dict(orientation="h", y=-0.25))
    fig.update_layout(margin=dict(t=30))
    return fig


SCORE_TITLES = {"accuracy": "accuracy", "auc": "ROC AUC"}  # what a history's score fields hold, in words


def _capital(text: str) -> str:
    """The first letter in capitals, the rest as it is ("ROC AUC" stays)."""
    return text[:1].upper() + text[1:]


def _history_metric(history: dict) -> str:
    """"accuracy", or "auc" for a multi-label run (whose history keeps ROC AUC in the accuracy fields)."""
    last = (history.get("epochs") or history.get("batches") or [{}])[-1]
    return last.get("metric", "accuracy")


def accuracy_curves_figure(histories: dict, *, names: dict | None = None, height: int = 320) -> go.Figure:
    """Several runs' accuracy curves overlaid: validation per epoch (solid), training per step (dotted).

    `histories`: `{label: history dict}` as stored by the registry
    (`{"epochs": [...], "batches": [...]}`); `names`: `{label: full run name}` for the hover
    (default: the label). The x axis is the epoch (fractional for training steps), so runs of
    different sizes line up. Accuracy and ROC AUC (multi-label runs) never share an axis:
    with both, each has a panel of its own.
    """
    names = names or {}
    metrics = list(dict.fromkeys(_history_metric(h) for h in histories.values())) or ["accuracy"]
    metrics.sort(key=list(SCORE_TITLES).index)
    panels = len(metrics) > 1
    fig = make_subplots(rows=1, cols=len(metrics), horizontal_spacing=0.12)  # each panel's y title names it
    for i, (label, history) in enumerate(histories.items()):
        color = PALETTE[i % len(PALETTE)]
        metric = _history_metric(history)
        col = metrics.index(metric) + 1
        full = names.get(label, label)
        batches = _downsample(list(history.get("batches", [])), 300)
        xs = [
            r["epoch"] - 1 + r["batch"] / max(r["batches"], 1) for r in batches if "accuracy" in r
        ]
        ys = [r["accuracy"] for r in batches if "accuracy" in r]
        if xs:
            fig.add_scatter(
                x=xs,
                y=ys,
                mode="lines",
                name=f"{label} · train",
                legendgroup=label,
                line=dict(color=color, dash="dot", width=1),
                customdata=[full] * len(xs),
                hovertemplate=f"%{{customdata}} · train<br>epoch %{{x:.2f}}: {SCORE_TITLES[metric]} "
                              "%{y:.3f}<extra></extra>",
                row=1,
                col=col,
            )
        ends = [r for r in history.get("epochs", []) if r.get("val_accuracy") is not None]
        if ends:
            fig.add_scatter(
                x=[r["epoch"] for r in ends],
                y=[r["val_accuracy"] for r in ends],
                mode="lines+markers",
                name=f"{label} · validation",
                legendgroup=label,
                line=dict(color=color, width=2),
                customdata=[full] * len(ends),
                hovertemplate=f"%{{customdata}} · validation<br>epoch %{{x}}: {SCORE_TITLES[metric]} "
                              "%{y:.3f}<extra></extra>",
                row=1,
                col=col,
            )
    fig.update_xaxes(title="epoch", automargin=True)
    for col, metric in enumerate(metrics, start=1):
        fig.update_yaxes(title=SCORE_TITLES[metric], range=[0, 1.02], automargin=True, row=1, col=col)
    title = "Accuracy and ROC AUC curves (separate axes)" if panels else f"{_capital(SCORE_TITLES[metrics[0]])} curves"
    # the legend at the figure's foot (container coordinates), below the margin the axis title takes: at a
    # fixed share of the plot's height under it, a legend of several rows ran into the "epoch" title
    return _layout(fig, height=height, title=title,
                   legend=dict(orientation="h", yref="container", y=0, yanchor="bottom", x=0))


def scores_figure(scores: list[dict], *, height: int = 320) -> go.Figure:
    """Each run's headline score as a bar, one panel per kind of score, each with its own y axis zoomed
    to its scores: a mean AUC of 0.73 and an accuracy of 0.98 never share an axis.

    `scores`: one dict per run, `{"label": short label, "name": full name (hover), "score": its kind
    ("test accuracy", "mean AUC"), "value": float}`; bar colours follow the runs' order, as the
    curves' do. The slanted run labels get the room they need below each panel (automatic
    margins, the axis title set off from them), so they never run into the title.
    """
    kinds = list(dict.fromkeys(s["score"] for s in scores)) or ["score"]
    panels = len(kinds) > 1
    widths = [max(sum(s["score"] == k for s in scores), 1) for k in kinds]
    fig = make_subplots(rows=1, cols=len(kinds), column_widths=widths, horizontal_spacing=0.24)  # y titles name them
    for col, kind in enumerate(kinds, start=1):
        mine = [(i, s) for i, s in enumerate(scores) if s["score"] == kind]
        fig.add_bar(
            x=[s["label"] for _, s in mine],
            y=[s["value"] for _, s in mine],
            marker_color=[PALETTE[i % len(PALETTE)] for i, _ in mine],
            customdata=[s["name"] for _, s in mine],
            hovertemplate=f"%{{customdata}}<br>{kind}: %{{y:.4f}}<extra></extra>",
            showlegend=False,
            row=1,
            col=col,
        )
        fig.update_xaxes(title=dict(text="run", standoff=12), type="category", automargin=True, row=1, col=col)
        fig.update_yaxes(title=dict(text=kind, standoff=8), range=zoomed_range([s["value"] for _, s in mine]),
                         nticks=4, automargin=True, row=1, col=col)
    title = "Each run's own score (separate axes)" if panels else _capital(kinds[0])
    return _layout(fig, height=height, title=title)


def confusion_figure(
    matrices: dict, *, class_names=None, normalise: bool = True, height: int = 300, full_names: dict | None = None
) -> go.Figure:
    """Confusion matrices side by side (rows: true class, columns: prediction), one shared scale.

    `matrices`: `{label: matrix}`; the label heads each matrix, `full_names` (`{label: run name}`)
    opens its hover text."""
    names = list(matrices)
    full_names = full_names or {}
    fig = make_subplots(rows=1, cols=max(len(names), 1), horizontal_spacing=0.04)
    for i, name in enumerate(names, start=1):
        m = np.asarray(matrices[name], dtype="float64")
        counts = m.copy()
        if normalise:
            m = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
        labels = class_labels(m.shape[0], class_names)
        fig.add_trace(
            go.Heatmap(
                z=m,
                x=labels,
                y=labels,
                coloraxis="coloraxis",
                customdata=counts,
                hovertemplate=_hover_text(full_names.get(name, name))
                + ("true %{y} → predicted %{x}<br>%{z:.1%} (%{customdata:.0f} images)<extra></extra>"
                   if normalise else "true %{y} → predicted %{x}<br>%{z:.0f} images<extra></extra>"),
            ),
            row=1,
            col=i,
        )
        fig.update_yaxes(
            autorange="reversed",
            type="category",
            scaleanchor=f"x{'' if i == 1 else i}",
            title="true" if i == 1 else None,
            row=1,
            col=i,
        )
        fig.update_xaxes(type="category", title=f"<b>{name}</b><br>predicted", row=1, col=i)
    fig.update_layout(
        coloraxis=dict(
            colorscale="Blues",
            cmin=0,
            cmax=1 if normalise else None,
            colorbar=dict(thickness=10, title="rate" if normalise else "count"),
        )
    )
    return _layout(fig, height=height)


def _hover_text(text: str) -> str:
    """`text` as the first line of a hover template (Plotly would read a "%{" in it as a variable)."""
    return text.replace("%{", "% {").replace("<", "&lt;") + "<br>"


def shared_ranges(map_sets, kinds=("A", "S")) -> dict:
    """Colour ranges covering several images' / runs' maps, for side-by-side grids."""
    ranges = {}
    for kind in kinds:
        signed = map_style(kind).signed
        values = [np.asarray(m[kind]).ravel() for m in map_sets if kind in m]
        if values:
            ranges[kind] = color_range(np.concatenate(values), signed=signed)
    return ranges
