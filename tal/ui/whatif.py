"""Inspect's what-ifs: switch an attention branch's map to a neutral value and see what changes.

The interventions themselves are declared in `tal.core.catalogue` and applied
inside the model by `tal.inspect(..., interventions=…)`; this module draws the
switches, the before/after probabilities (HTML for the view's block) and the test-set table.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from markupsafe import Markup

from tal.render import htmlbars

AS_TRAINED, WITH_WHATIFS = "as trained", "with the interventions"


def available(model) -> list:
    """(module, intervention) pairs this model allows, in catalogue order."""
    from tal.core.models import model_modules

    return [(m, iv) for m in model_modules(model) for iv in m.interventions]


def controls(model, *, key: str) -> dict:
    """One switch per intervention the model allows; returns the chosen `{map: value}`."""
    options = available(model)
    if not options:
        return {}
    st.markdown("**What if…** :small[:gray[switch a branch's map to a neutral value; the model runs on "
                "with it (each switch on its own or together)]]")
    chosen = {}
    for col, (_, iv) in zip(st.columns(len(options)), options):
        if col.toggle(iv.title, key=f"{key}.whatif.{iv.output}", help=iv.text[0].upper() + iv.text[1:] + "."):
            chosen[iv.output] = iv.value
    return chosen


def comparison_html(before: dict, after: dict, i: int, chosen: dict, *, class_names, true_label=None) -> Markup:
    """Probabilities as trained and with the interventions, and what the answer becomes (HTML as `Markup`;
    the class names in it are escaped)."""
    from tal.core import catalogue
    from tal.render import templates, view_html
    from tal.ui.maps import class_names_of

    names = class_names_of(before, class_names)
    bars = htmlbars.whatif_html(before["probabilities"][i], after["probabilities"][i], class_names=names,
                                true_label=true_label)
    titles = [iv.title for _, iv in catalogue.interventions() if iv.output in chosen]
    if "present" in before:
        was = ", ".join(names[c] for c in np.flatnonzero(before["present"][i])) or "none"
        now = ", ".join(names[c] for c in np.flatnonzero(after["present"][i])) or "none"
        change = f"classes said present: {was} → {now}"
    else:
        was, now = int(before["prediction"][i]), int(after["prediction"][i])
        change = (f"prediction {names[was]} ({before['probabilities'][i][was]:.1%}) → "
                  f"{names[now]} ({after['probabilities'][i][now]:.1%})")
    note = view_html.small(f"With {', '.join(titles)}: {change}. The maps below are drawn with the interventions.")
    return templates.join([bars, note])


@st.cache_data(max_entries=8, show_spinner=False)
def _scores(path: str, mtime: float, config_json: str, prediction: str, images: int) -> list[dict]:
    from tal.core.inspection import inspect
    from tal.engine.evaluation import headline, multi_label_scores, single_label_scores
    from tal.ui import loaders

    model = loaders._load_model(path, mtime)
    test = loaders._test_set(config_json, False)
    x, y = test.x[:images], test.y[:images]
    rows = []
    for title, whatif in [(AS_TRAINED, None)] + [(iv.title, {iv.output: iv.value}) for _, iv in available(model)]:
        probabilities = inspect(model, x, prediction=prediction, interventions=whatif)["probabilities"]
        scores = multi_label_scores(y, probabilities) if test.multi_label else single_label_scores(
            y, probabilities, probabilities.shape[-1])
        label, value = headline(scores)
        rows.append({"intervention": title, label: value})
    score = next(k for k in rows[0] if k != "intervention")
    for row in rows:
        row["change (pp)"] = round(100 * (row[score] - rows[0][score]), 2)
    return rows


def score_table(run, *, key: str, images: int = 2000) -> None:
    """Test score (accuracy, or mean AUC) under each intervention alone, on a switch (cached per run)."""
    from tal.ui import loaders

    if not st.toggle(f"Score each intervention on the first {images:,} test images", key=f"{key}.whatif.table",
                     help="One pass over the test images per intervention; computed once per run."):
        return
    config = loaders.data_config_of(run)
    with st.spinner("Running the test images under each intervention…"):
        rows = _scores(str(run.path), loaders._mtime(run), config.to_json(indent=None),
                       run.model_config.prediction, images)
    label = next(k for k in rows[0] if k not in ("intervention", "change (pp)"))
    st.dataframe(rows, hide_index=True, key=f"{key}.whatif.rows",
                 column_config={label: st.column_config.NumberColumn(format="percent")})
