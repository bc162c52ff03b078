"""Small bar charts as self-contained HTML (class probabilities, channel gate, scale weights).

UI-free: returns `markupsafe.Markup` (a `str`) for `st.html` (or a notebook's
`IPython.display.HTML`), rendered from the Jinja2 templates of `tal.render.templates`.
Every Plotly chart that changes is mounted afresh by Streamlit, which cost about
as much browser time per small bar chart as the rest of an Inspect update; a
few dozen `<div>`s cost next to nothing. Each bar keeps its exact value as a
native tooltip (`title`), so hovering still reads the numbers.

Values are drawn on a fixed scale from 0 to `ymax` (probabilities, gates and
softmax weights all live in [0, 1]); values outside are clipped for drawing
only, never in the tooltip.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from markupsafe import Markup

from tal.core import catalogue
from tal.render import templates

GRID_COLOR = "rgba(128, 128, 128, 0.25)"
MUTED = "rgba(128, 128, 128, 0.95)"


@dataclass(frozen=True)
class Series:
    """One set of bars: a name (legend and tooltip), the values and a CSS colour."""

    name: str
    values: object
    color: str


def bar_heights(values, ymax: float = 1.0) -> list[float]:
    """Bar heights in percent of the plot height: `100 · value / ymax`, clipped to [0, 100]
    (NaN → 0)."""
    v = np.nan_to_num(np.asarray(values, dtype="float64").ravel(), nan=0.0)
    return [float(h) for h in np.clip(v / float(ymax) * 100.0, 0.0, 100.0)]


def _fmt(value: float, digits: int) -> str:
    return "nan" if not np.isfinite(value) else f"{value:.{digits}f}"


def bar_chart_html(
    series,
    labels,
    *,
    title: str | None = None,
    ylabel: str = "",
    xlabel: str = "",
    ymax: float = 1.0,
    height: int = 150,
    label_every: int = 1,
    marks: dict | None = None,
    item: str = "",
    digits: int = 3,
) -> Markup:
    """Grouped bars, one group per label, one bar per series in each group.

    Args:
        series: `Series` (or `(name, values, color)` tuples) of equal length.
        labels: one label per group (class names, "stage 1", channel indices …).
        title, xlabel, ylabel: texts around the plot (escaped).
        ymax: the top of the scale (the bars are drawn from 0).
        height: plot height in px (labels and title come on top of it).
        label_every: write every n-th group label only (64 channels need few).
        marks: `{group index: text}` small notes above a group (e.g. "true").
        item: prefix of the tooltips ("class" → "class 3 · main head: 0.998").
        digits: decimals in the tooltips.
    """
    series = [s if isinstance(s, Series) else Series(*s) for s in series]
    labels = [str(x) for x in labels]
    n = len(labels)
    for s in series:
        if np.asarray(s.values).size != n:
            raise ValueError(
                f"Expected {n} values per series (one per label). "
                f"Received: {np.asarray(s.values).size} for {s.name!r}"
            )
    marks = marks or {}
    heights = [bar_heights(s.values, ymax) for s in series]
    values = [np.asarray(s.values, dtype="float64").ravel() for s in series]
    every = max(label_every, 1)
    groups = [  # (mark, [(tooltip, height, colour) per series])
        (marks.get(g), [(f"{f'{item} {label}'.strip()} · {s.name}: {_fmt(values[k][g], digits)}",
                         f"{heights[k][g]:.2f}", s.color) for k, s in enumerate(series)])
        for g, label in enumerate(labels)
    ]
    return templates.render(
        "bar_chart",
        title=title,
        legend=[(s.name, s.color) for s in series] if len(series) > 1 else [],
        ylabel=ylabel,
        xlabel=xlabel,
        height=height,
        top=f"{ymax:g}",
        mid=f"{ymax / 2:g}",
        gap="1px" if n > 20 else "6px",
        grid=(f"background:linear-gradient(to top,{GRID_COLOR} 1px,transparent 1px) 0 0/100% 50%;"
              f"border-bottom:1px solid {MUTED}"),
        muted=MUTED,
        groups=groups,
        ticks=[label if g % every == 0 else "" for g, label in enumerate(labels)],
    )


# --------------------------------------------------------------------------- the charts the pages show

MAIN_COLOR, AUX_COLOR = "#4C78A8", "#F58518"  # tal.render.figures.PALETTE[0], [1]


def probability_html(probabilities, *, aux=None, class_names=None, true_label=None, multi_label: bool = False,
                     height=170) -> Markup:
    """Class probabilities of the main head (and the aux head's beside them).

    `true_label` is one class index, or for multi-label images a list of the
    classes present. Multi-label heads are sigmoids: each bar is its own
    yes/no probability, and a class counts as present above 0.5.
    """
    p = np.asarray(probabilities, dtype="float64").ravel()
    names = [str(c) for c in (class_names if class_names is not None else range(len(p)))]
    series = [Series("main head", p, MAIN_COLOR)]
    if aux is not None:
        series.append(Series(f"aux head {'σ' if multi_label else 'softmax'}(score)", aux, AUX_COLOR))
    truth = [] if true_label is None else ([int(true_label)] if np.ndim(true_label) == 0 else list(true_label))
    return bar_chart_html(
        series,
        names,
        title="Class probabilities (sigmoid per class; present above 0.5)" if multi_label else "Class probabilities",
        ylabel="probability",
        xlabel="class",
        height=height,
        marks={int(c): "true" for c in truth},
        item="class",
    )


WHATIF_COLOR = "#E45756"


def whatif_html(before, after, *, class_names=None, true_label=None, height=150) -> Markup:
    """The main head's probabilities as trained and under the interventions, side by side."""
    p = np.asarray(before, dtype="float64").ravel()
    names = [str(c) for c in (class_names if class_names is not None else range(len(p)))]
    truth = [] if true_label is None else ([int(true_label)] if np.ndim(true_label) == 0 else list(true_label))
    return bar_chart_html(
        [Series("as trained", p, MAIN_COLOR), Series("with the interventions", after, WHATIF_COLOR)],
        names,
        title="What the interventions change: class probabilities",
        ylabel="probability",
        xlabel="class",
        height=height,
        marks={int(c): "true" for c in truth},
        item="class",
    )


def gates_html(bars: dict, *, height: int = 130) -> Markup:
    """Per-stage and per-channel maps of one image (scale weights, gates) side by side.

    Args:
        bars: `{tal.inspect output key: values}`, e.g. `{"scale_weights": w, "channel_gate": g}`;
            titles and axes come from the catalogue entry that declares each map.
    """
    parts = []
    for key, values in bars.items():
        style = catalogue.map_spec(key)
        v = np.asarray(values, dtype="float64").ravel()
        if style.axis == "stage":
            labels, every, title, grow = [f"stage {k + 1}" for k in range(len(v))], 1, style.title, 1
        else:
            labels, every, title, grow = range(len(v)), max(1, len(v) // 4), f"{style.title} ({len(v)} {style.axis}s)", 2
        parts.append((grow, bar_chart_html(
            [Series(style.symbol, v, MAIN_COLOR)], labels, title=title, ylabel=style.symbol, xlabel=style.axis,
            height=height, label_every=every, item="" if style.axis == "stage" else style.axis)))
    if not parts:
        raise ValueError("Expected at least one map to draw as bars. Received: none")
    return templates.render("bar_row", cells=parts)
