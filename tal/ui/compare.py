"""Compare-page views: run selection and the same test image's maps across runs."""

from __future__ import annotations

import numpy as np
import streamlit as st

from tal.render import figures as viz
from tal.ui import loaders, pickers, state
from tal.ui.guard import guarded_fragment
from tal.ui.studies import study_chart_and_table


def headline_scores(runs, labels) -> list[dict]:
    """What each run is ranked by, for `tal.render.figures.scores_figure`: its label, full name, kind of
    score (test accuracy, or mean AUC for multi-label runs) and value (0 when unknown)."""
    from tal.engine.evaluation import headline

    return [{"label": label, "name": r.name, "score": kind, "value": value or 0.0}
            for label, r, (kind, value) in zip(labels, runs, (headline(r.metrics) for r in runs))]


def ablation_studies(root, *, key: str = "compare.study") -> None:
    """Saved ablation summaries: mean ± std per configuration and the seed-noise verdict."""
    from tal.engine.ablation import list_studies

    studies = list_studies(root, include_shipped=True)
    st.subheader("Ablation studies")
    if not studies:
        st.caption(
            "No ablation study yet. Design one on the Studies page, or run `python -m tal ablate --preset "
            "branches --seeds 3` (every subset of the branches over three seeds); its summary appears here."
        )
        st.page_link("app_pages/studies.py", label="Open the Studies page", icon=":material/science:")
        return
    labels = {s["path"]: f"{s['study']} · {s['preset']} · {sum(r['seeds'] for r in s['rows'])} runs"
              + (" · shipped" if s.get("shipped") else "") for s in studies}
    path = st.selectbox("Study", list(labels), format_func=labels.get, key=key,
                        help="Summaries written by `python -m tal ablate`, newest first.")
    study = next(s for s in studies if s["path"] == path)
    if study["rows"]:
        study_chart_and_table(study["rows"], name=study["study"], key=key)
    st.page_link("app_pages/studies.py", label="Design and run a study, resume one, download summaries",
                 icon=":material/science:")


TURN_TABLE_UP_TO = 6  # runs: up to this many, the table has a column per run
ALIAS_WIDTH = 24  # longer run names get a short alias in charts (the full name on hover and in the table)


def _split(names: list[str]) -> tuple[list[str], str]:
    """(what is left of each name, the first name with what it keeps shown as '…'), dropping the "-"
    tokens that every name has ('mnist', 'n300', 'e1' wherever they stand). Where that would leave a
    name nothing, or two different names the same, only the tokens all names start or end with go;
    each name keeps at least one token of its own, so no part is ever empty."""
    tokens = [n.split("-") for n in names]
    common = set(tokens[0]).intersection(*map(set, tokens[1:]))
    own = [[t for t in ts if t not in common] for ts in tokens]
    if all(own) and len({tuple(o) for o in own}) == len(set(names)):
        kept = [t not in common for t in tokens[0]]
    else:
        shortest, head, tail = min(map(len, tokens)), 0, 0
        while head < shortest - 1 and len({t[head] for t in tokens}) == 1:
            head += 1
        while tail < shortest - head - 1 and len({t[-1 - tail] for t in tokens}) == 1:
            tail += 1
        own = [t[head:len(t) - tail] for t in tokens]
        kept = [head <= i < len(tokens[0]) - tail for i in range(len(tokens[0]))]
    pattern = [t if not k else "…" for t, k in zip(tokens[0], kept)]
    pattern = [t for i, t in enumerate(pattern) if t != "…" or i == 0 or pattern[i - 1] != "…"]
    return ["-".join(o) for o in own], "-".join(pattern) if not all(kept) else ""


def _elide(text: str, width: int) -> str:
    """`text` cut to `width` characters in its middle ("scale_chan…nt-n300"): both ends stay readable."""
    if len(text) <= width:
        return text
    front = width // 2
    return text[:front] + "…" + text[len(text) - (width - 1 - front):]


def aliases(runs: list, width: int = ALIAS_WIDTH) -> list[str]:
    """Chart labels for `runs`: their names when all fit in `width` characters (and differ), else the
    part of each name that differs from the others.

    Names are split at "-"; the tokens all the chosen names have are dropped (`shared_parts` says
    which), so 'mnist-scale_channel_element-n300-e1-s0' beside 'mnist-baseline-n300-e1-s1' reads
    'scale_channel_element-s0' and 'baseline-s1'. A part still longer
    than `width` is cut in its middle, and only if two labels would then read the same does each
    get a letter in front ("A …", "B …"). Labels never repeat; the full name is on hover.
    """
    names = [r.name for r in runs]
    if all(len(n) <= width for n in names) and len(set(names)) == len(names):
        return names
    middles = _split(names)[0] if len(set(names)) > 1 else names
    out = [_elide(m, width) for m in middles]
    if len(set(out)) < len(out):
        letters = [chr(ord("A") + i) if i < 26 else f"R{i + 1}" for i in range(len(out))]
        out = [f"{k} {_elide(m, width - len(k) - 1)}" for k, m in zip(letters, middles)]
    return out


def shared_parts(runs: list, width: int = ALIAS_WIDTH) -> str:
    """What `aliases` left out of every name, as 'mnist-…-n300-e1-…' (the first name, with what it
    keeps as '…'; '' when nothing was left out)."""
    names = [r.name for r in runs]
    if len(set(names)) < 2 or all(len(n) <= width for n in names):
        return ""
    return _split(names)[1]


def table_help(runs: list, labels: list[str]) -> dict[str, str]:
    """Each run column's header help in the turned table: the run's full name."""
    return {label: f"Run {r.name}" for label, r in zip(labels, runs)}


def table(rows: list[dict], labels: list[str]) -> list[dict]:
    """The configuration table turned so each run is a column (headed by its label) and each setting a
    row: a few runs with many settings fit the page's width instead of scrolling off its right edge."""
    keys = [k for k in (rows[0] if rows else {}) if k != "run"]
    out = [{"": "run", **{label: r["run"] for label, r in zip(labels, rows)}}]
    for key in keys:
        out.append({"": key, **{label: _cell(key, r.get(key)) for label, r in zip(labels, rows)}})
    return out


def table_height(rows: int) -> int:
    """Pixels for a dataframe to show `rows` rows and its header without scrolling (35 px a row)."""
    return 35 * (rows + 1) + 3


def _cell(key: str, value) -> str:
    if value is None or value == "":
        return "–"
    if key in ("test accuracy", "aux test accuracy", "exact match") and isinstance(value, float):
        return f"{value:.2%}"
    if key == "params" and isinstance(value, int):
        return f"{value:,}"
    return str(value)


def comparable(run) -> tuple:
    """What two runs must share to be compared like with like: dataset, task (single- or
    multi-label) and input size (the maps below need one)."""
    return (run.train_config.data.dataset, bool(run.model_config.multi_label), tuple(run.model_config.input_shape))


def default_selection(runs: list, n: int = 3) -> list:
    """The (up to) `n` newest runs of one dataset and task (`comparable`), with one that has the
    element-wise branch among them when any of those has it (so that the A and S maps below have
    something to show).

    The group is that of the newest run, unless it has that run alone: then the first group (newest
    first) with two runs or more, so that the page opens on a comparison.
    """
    groups: dict[tuple, list] = {}
    for run in runs:
        groups.setdefault(comparable(run), []).append(run)
    newest = groups[comparable(runs[0])] if runs else []
    members = newest if len(newest) > 1 else next((g for g in groups.values() if len(g) > 1), newest)
    chosen = list(members[:n])
    if chosen and not any(r.model_config.element for r in chosen):
        element = next((r for r in members if r.model_config.element), None)
        if element is not None:
            chosen[-1] = element
    return chosen


def choose_runs(runs: list, *, key: str = "compare.runs") -> list:
    """Multiselect of runs; defaults to `default_selection`."""
    by_path = {str(r.path): r for r in runs}
    options = list(by_path)
    chosen = st.multiselect(
        "Runs to compare",
        options,
        default=[str(r.path) for r in default_selection(runs)],
        key=key,
        format_func=lambda p: pickers.run_label(by_path[p]),
        help="Trained runs (newest first), then the shipped demo models.",
    )
    return [by_path[p] for p in chosen]


def same_image_maps(runs: list, *, key: str = "compare.maps") -> None:
    """A and S of one test image for every chosen run with the element branch (same input size)."""
    import tal

    element_runs = [r for r in runs if r.model_config.element]
    skipped = [r.name for r in runs if not r.model_config.element]
    if not element_runs:
        st.info(
            "None of the chosen runs has the element-wise branch, so there are no A and S maps to compare.",
            icon=":material/visibility_off:",
        )
        return
    shape = tuple(element_runs[0].model_config.input_shape)
    other = [r.name for r in element_runs if tuple(r.model_config.input_shape) != shape]
    element_runs = [r for r in element_runs if tuple(r.model_config.input_shape) == shape]
    if skipped:
        st.caption(f"Without the element-wise branch (no maps): {', '.join(skipped)}.")
    if other:
        st.caption(
            f"Different input size than {shape[0]}×{shape[1]} (not comparable here): {', '.join(other)}."
        )
    config = loaders.data_config_of(element_runs[0])
    try:
        with st.spinner("Loading the test set…"):
            test = loaders.test_set(config)
    except tal.DataNotFoundError as exc:
        st.warning(f"The test images are unavailable: {exc}")
        return
    c1, c2 = st.columns([1, 3])
    index = int(
        c1.number_input(
            f"Test image # (0–{len(test.y) - 1})", 0, len(test.y) - 1, 0, key=f"{key}.index"
        )
    )
    image = test.x[index, ..., 0]
    with c1:
        st.plotly_chart(
            viz.image_figure(image, height=200),
            key=f"{key}.input",
            config={"displayModeBar": False},
        )
        shown = ", ".join(test.class_names[c] for c in test.classes_of(index)) or "none"
        st.caption(f"{test.name} test image #{index}, {'classes' if test.multi_label else 'class'} {shown}.")
    results = {}
    with st.spinner("Running the models…"):
        for run in element_runs:
            try:
                model = loaders.load_model(run)
            except Exception as exc:  # noqa: BLE001 - one unloadable run must not hide the others
                st.warning(loaders.load_error_message(run, exc), icon=":material/error:")
                continue
            out = tal.inspect(model, image, prediction=run.model_config.prediction)
            results[run.name] = {k: out[k][0] for k in ("A", "S")} | {
                "pred": int(out["prediction"][0]),
                "p": float(out["probabilities"][0].max()),
                "present": None if "present" not in out else np.flatnonzero(out["present"][0]).tolist(),
            }
    ranges = viz.shared_ranges(list(results.values()), kinds=("A", "S"))
    with c2:
        st.caption("One colour scale per map type shared by all runs below.")
        for n, (name, res) in enumerate(results.items()):
            names = test.class_names
            if res["present"] is None:
                st.markdown(f"**{name}** — predicts {names[res['pred']]} ({res['p']:.1%})")
            else:
                said = ", ".join(names[c] for c in res["present"]) or "none"
                st.markdown(f"**{name}** — says present: {said}")
            fig = viz.map_grid_figure(
                {"A": res["A"], "S": res["S"]},
                class_names=names,
                kinds=("A", "S"),
                ranges=ranges,
                highlight=res["pred"] if res["present"] is None else res["present"],
                row_height=95,
            )
            st.plotly_chart(fig, key=f"{key}.grid.{n}", config={"displayModeBar": False})


def maps_over_training(runs: list, *, key: str = "compare.timeline") -> None:
    """Two runs' probe-image maps at matched points of their training (a fragment: the slider reruns only this)."""
    guarded_fragment(_maps_over_training, "the maps over training")(runs, key)


def _maps_over_training(runs, key) -> None:
    from tal.engine.timeline import matched_indices, snapshot_at
    from tal.ui.train_panel import live_maps

    st.subheader("Maps over training")
    with_timeline = {str(r.path): (r, t) for r in runs if (t := loaders.timeline(r)) is not None}
    without = [r.name for r in runs if str(r.path) not in with_timeline]
    if len(with_timeline) < 2:
        st.caption(
            ":material/history_toggle_off: Choose two runs that kept a map timeline to watch their maps form "
            "side by side (runs trained with the timeline on; older runs have none)."
            + (f" Without a timeline: {', '.join(without)}." if without else "")
        )
        return
    options = list(with_timeline)
    label = lambda p: pickers.run_label(with_timeline[p][0])
    c1, c2, c3 = st.columns([2, 2, 1])
    left = c1.selectbox("Left", options, index=0, format_func=label, key=f"{key}.left")
    others = [p for p in options if p != left]  # never the same run on both sides
    right = c2.selectbox("Right", others, index=0, format_func=label, key=f"{key}.right")
    by = c3.radio("Align by", ("step", "share"), key=f"{key}.by", horizontal=True,
                  format_func={"step": "training step", "share": "% of training"}.get,
                  help="Training step: both runs at the same step. % of training: each at the same share of its "
                       "own run (for runs of different lengths).")
    pair = [with_timeline[left], with_timeline[right]]
    if by == "step":
        steps = sorted({int(s) for _, t in pair for s in t["steps"]})
        slider, shown = f"{key}.step", f"{key}{state.COMPARE_PAIR}"
        # another pair (or a step it lacks) starts from the end; seeded here, never as value= too (the
        # slider's key stays the same, so Streamlit would keep the old position)
        if st.session_state.get(shown) != (left, right) or st.session_state.get(slider) not in steps:
            st.session_state[slider] = steps[-1]
        st.session_state[shown] = (left, right)
        at = st.select_slider("Training step", steps, key=slider,
                              help="Each run shows its last snapshot at or before this step.")
    else:
        at = st.slider("Share of training (%)", 0, 100, 100, key=f"{key}.share",
                       help="Each run shows its last snapshot at or before this share of its own steps.") / 100
    indices = matched_indices([t["steps"] for _, t in pair], at, by=by)
    if not np.array_equal(pair[0][1]["images"], pair[1][1]["images"]):
        st.caption("The two runs' probe images differ (other data or validation split), so compare them "
                   "column by column as digits, not pixel by pixel.")
    for column, (run, timeline), t in zip(st.columns(2), pair, indices):
        with column:
            st.markdown(f"**{run.name}**")
            live_maps(snapshot_at(timeline, t), caption_prefix=f"Snapshot {t + 1} of {len(timeline['steps'])}",
                      multi_label=run.train_config.data.multi_label)
