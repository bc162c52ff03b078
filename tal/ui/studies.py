"""The Studies page's parts: the study designer, the live study, and saved studies with downloads.

A study is planned and run by `tal.engine.study` (the CLI's engine); here it
runs as a `tal.ui.jobs.StudyJob` in the server-wide training queue, so it
waits for (and blocks) other trainings like a Train-page run does.
"""

from __future__ import annotations

import json
import os
from datetime import datetime

import streamlit as st

from tal.render import figures as viz
from tal.ui import browser, jobs, loaders, state, tables
from tal.engine.study import duration_text
from tal.ui.guard import guarded_fragment, show_error

JOB = state.STUDY_JOB  # this session's StudyJob
KEY = state.STUDY_PREFIX  # designer widget keys
POLL_S = 1.0
LAMBDAS = (0.0, 0.25, 0.5, 1.0, 2.0)
DATASETS = ("mnist", "translated", "multidigit", "synthetic")


def current_job():
    """This session's study: the newest one its browser started, found again in the server's `JobManager`
    after a reload or in another tab; else the one this session last showed, or None."""
    job = jobs.training_manager().follow(st.session_state.get(JOB), browser.token(), jobs.StudyJob)
    if job is not None:
        st.session_state[JOB] = job
    return job


def take_error() -> str | None:
    """Why the last study did not start or resume (once: it is forgotten as it is read), or None."""
    return st.session_state.pop(state.STUDY_ERROR, None)


# ---------------------------------------------------------------------------------------------- designer


def _preset_values(preset: str) -> dict:
    """The designer's widget values that reproduce a preset."""
    from tal.engine.ablation import PRESETS

    spec = PRESETS[preset]
    configs = list(dict.fromkeys(v.name.split(" λ=")[0] for v in spec.variants))
    lambdas = sorted({v.aux_weight for v in spec.variants if v.model.get("element")}) or [0.5]
    return {"configs": configs, "lambdas": lambdas, "epochs": spec.train.get("epochs", 8),
            "dataset": spec.data.get("dataset", "mnist"), "train_size": spec.data.get("train_size") or 0,
            "test_size": spec.data.get("test_size") or 0}


_FIELD_TEXT = {"configs": "configurations", "lambdas": "λ", "epochs": "epochs", "dataset": "dataset",
               "train_size": "training images", "test_size": "test images"}


def changed_from_preset(preset: str, values: dict) -> list[str]:
    """What the designer's `values` change from `preset`, in words ("epochs 3 → 1"); [] when nothing."""
    def shown(name, value):
        if name in ("train_size", "test_size"):
            return "all" if not value else f"{value:,}"
        if name == "configs":
            return ", ".join(value) or "none"
        if name == "lambdas":
            return ", ".join(f"{v:g}" for v in value) or "none"
        return str(value)

    wanted = _preset_values(preset)
    out = []
    for name, text in _FIELD_TEXT.items():
        same = (sorted(values[name]) == sorted(wanted[name]) if name in ("configs", "lambdas")
                else values[name] == wanted[name])
        if not same:
            out.append(f"{text} {shown(name, wanted[name])} → {shown(name, values[name])}")
    return out


def _apply_preset() -> None:
    preset = st.session_state[KEY + "preset"]
    for name, value in _preset_values(preset).items():
        st.session_state[KEY + name] = value
    st.session_state[KEY + "name"] = datetime.now().strftime(f"{preset}-%Y%m%d-%H%M%S")


def designer():
    """The grid, seeds, data and length; returns `(plan, sizes)` when the design is valid, else None."""
    from tal.engine.ablation import PRESETS, all_variants, expand, with_lambdas
    from tal.engine.registry import safe_name
    from tal.engine.study import check_size, make_plan, study_folder

    if KEY + "configs" not in st.session_state:
        st.session_state[KEY + "preset"] = "demo"
        _apply_preset()
    preset = st.selectbox("Start from a preset", list(PRESETS), key=KEY + "preset", on_change=_apply_preset,
                          format_func=lambda p: f"{p}: {PRESETS[p].description}",
                          help="Fills in the fields below; change any of them afterwards.")
    changed_note = st.empty()  # filled once the fields below are read: the preset's text no longer holds
    variants = {v.name: v for v in all_variants()}
    c1, c2 = st.columns([3, 1])
    configs = c1.multiselect("Configurations", list(variants), key=KEY + "configs",
                             help="Branch subsets of A3Net, CBAM and the literature modules, each on the plain "
                                  "backbone. Include the baseline to judge each against it.")
    lambdas = c2.multiselect("λ (auxiliary loss weight)", LAMBDAS, key=KEY + "lambdas", format_func="{:g}".format,
                             help="Configurations with the element-wise branch are trained once per λ.")
    c1, c2, c3, c4, c5 = st.columns(5)
    seeds = int(c1.number_input("Seeds", 1, 10, 2, key=KEY + "seeds",
                                help="Trainings per configuration; two or more let the summary judge seed noise."))
    dataset = c2.selectbox("Dataset", DATASETS, key=KEY + "dataset")
    train_size = int(c3.number_input("Training images (0 = all)", 0, 60000, step=500, key=KEY + "train_size"))
    test_size = int(c4.number_input("Test images (0 = all)", 0, 10000, step=500, key=KEY + "test_size"))
    epochs = int(c5.number_input("Epochs", 1, 50, key=KEY + "epochs"))
    name = safe_name(st.text_input("Study name", key=KEY + "name",
                                   help="Its runs are named '<study>-<configuration>-s<seed>'.") or "study")
    changed = changed_from_preset(preset, {"configs": configs, "lambdas": lambdas, "epochs": epochs,
                                           "dataset": dataset, "train_size": train_size, "test_size": test_size})
    if changed:
        changed_note.caption(f":material/edit: Changed from the preset: {'; '.join(changed)}. "
                             "The study trains the settings below, not the preset's description.")
    if not configs:
        st.info("Choose at least one configuration.", icon=":material/checklist:")
        return None
    if not lambdas and any(variants[c].model.get("element") for c in configs):
        st.info("Choose at least one λ for the configurations with the element-wise branch.",
                icon=":material/checklist:")
        return None
    data = {"dataset": dataset, "train_size": train_size or None, "test_size": test_size or None}
    trials = expand(with_lambdas([variants[c] for c in configs], lambdas or [0.5]), seeds, study=name,
                    train={"epochs": epochs}, data=data)
    if study_folder(name, loaders.runs_root()).exists():
        st.warning(f"A study named {name!r} already exists. Give this one another name, or resume that one "
                   "in the list below.", icon=":material/warning:")
        return None
    confirmed = True
    if len(trials) > 40:
        confirmed = st.checkbox(f"Yes, train up to {len(trials)} models", key=KEY + "confirm")
    try:
        check_size(trials, confirmed=confirmed)
    except ValueError as exc:
        st.warning(str(exc), icon=":material/warning:")
        return None
    plan = make_plan(name, "custom", trials, runs_dir=loaders.runs_root())
    return plan


@st.cache_data(max_entries=64, show_spinner=False)
def _measured_images_per_s(model_json: str, batch_size: int) -> float:
    from tal.core.config import ModelConfig
    from tal.engine.study import measure_images_per_s

    return measure_images_per_s(ModelConfig.from_json(model_json), batch_size)


def _measure(model_config, batch_size):
    return _measured_images_per_s(model_config.to_json(indent=None), batch_size)


@st.cache_data(max_entries=8, show_spinner=False)
def _data_summary(config_json: str) -> dict:
    from tal.core.config import DataConfig
    from tal.data.datasets import load_dataset

    return load_dataset(DataConfig.from_json(config_json)).summary()


def plan_summary(plan) -> bool:
    """How many runs, which are reused, how long the rest will take; False when the data is missing."""
    from tal.data.datasets import DataNotFoundError
    from tal.engine.study import estimate

    data_config = plan.trials[0].train_config.data.replace(allow_download=False)
    try:
        with st.spinner("Reading the dataset's size…"):
            sizes = _data_summary(data_config.to_json(indent=None))
    except DataNotFoundError as exc:
        st.warning(f"This dataset is not available here: {exc}", icon=":material/database_off:")
        return False
    todo = len(plan.to_train)
    with st.spinner(f"Timing {len({t.model_config.label for t in plan.to_train})} configuration(s) on this "
                    "machine…" if todo else "Planning…"):
        guess = estimate(plan, sizes, runs_dir=loaders.runs_root(), measure=_measure)
    c1, c2, c3 = st.columns(3)
    c1.metric("Trainings", len(plan.trials))
    c2.metric("Reused (already trained)", len(plan.trials) - todo)
    c3.metric("Estimated time", duration_text(guess.seconds) if todo else "none")
    rows = [{"configuration": t.variant, "seed": t.seed,
             "plan": f"reuse {r.name}" if r is not None else f"train (~{duration_text(s)}, speed {how})"}
            for t, r, s, how in zip(plan.trials, plan.reused, guess.per_trial_s, guess.measured)]
    with st.expander(f"The {len(rows)} trainings", expanded=len(rows) <= 8):
        st.dataframe(rows, hide_index=True, key=KEY + "plan")
    st.caption(f"{sizes['train']:,} training and {sizes['test']:,} test {sizes['name']} images. A run is reused "
               "when a finished run has exactly the same settings and seed. Times are measured on this machine "
               "(from earlier runs of the same configuration, else a few timed steps).")
    return True


def ray_address() -> str | None:
    """The Ray cluster studies may run on (`$TAL_RAY_ADDRESS`, else `$RAY_ADDRESS`), or None."""
    return os.environ.get("TAL_RAY_ADDRESS") or os.environ.get("RAY_ADDRESS") or None


def where_to_run() -> str | None:
    """'Run on' choice when a Ray cluster is configured; returns its address, or None for this machine."""
    address = ray_address()
    if not address:
        return None
    on_ray = st.radio("Run on", ("here", "ray"), horizontal=True, key=KEY + "where",
                      format_func={"here": "this machine", "ray": f"the Ray cluster at {address}"}.get,
                      help="On Ray each training runs as a Ray Tune trial; the table fills in as trials complete.")
    return address if on_ray == "ray" else None


def start(plan, address: str | None = None) -> None:
    """Queue the study (button callback)."""
    from tal.engine.study import study_folder

    try:
        job = jobs.StudyJob(plan, runs_dir=loaders.runs_root(), ray_address=address, owner=browser.token())
        st.session_state[JOB] = jobs.training_manager().submit(job)
        n = 2
        while study_folder(f"{plan.study}-{n}", loaders.runs_root()).exists():
            n += 1
        st.session_state[KEY + "name"] = f"{plan.study}-{n}"  # the next study needs a name of its own
    except Exception as exc:  # noqa: BLE001 - a callback must never raise into Streamlit
        st.session_state[state.STUDY_ERROR] = f"Could not start the study: {type(exc).__name__}: {exc}"


def stop() -> None:
    job = current_job()
    if job is not None:
        job.stop()


def resume(study: str) -> None:
    """Queue a saved study again: its finished runs are reused (button callback)."""
    from tal.engine.study import load_design, make_plan

    try:
        preset, trials = load_design(study, loaders.runs_root())
        plan = make_plan(study, preset, trials, runs_dir=loaders.runs_root())
        job = jobs.StudyJob(plan, runs_dir=loaders.runs_root(), owner=browser.token())
        st.session_state[JOB] = jobs.training_manager().submit(job)
    except Exception as exc:  # noqa: BLE001
        st.session_state[state.STUDY_ERROR] = f"Could not resume {study!r}: {exc}"


# ---------------------------------------------------------------------------------------------- live study


def live() -> None:
    """This session's study: progress, and its chart and table filling in (a polling fragment)."""
    job = current_job()
    st.session_state[state.STUDY_SEEN_ACTIVE] = job is not None and job.active
    guarded_fragment(_live, "the running study", run_every=POLL_S if job is not None and job.active else None)()


def _live() -> None:
    from tal.engine.ablation import summarize

    job = current_job()
    if job is None:
        return
    if not job.active and st.session_state.get(state.STUDY_SEEN_ACTIVE):
        st.session_state[state.STUDY_SEEN_ACTIVE] = False
        st.rerun(scope="app")  # the designer and the saved studies come back once it ends
    plan = job.plan
    st.subheader(f"Study {plan.study}")
    done, total = len(job.results), len(plan.trials)
    if job.status == "queued":
        st.info(f"Waiting for a free training slot (position {job.queue_position} in the queue)…",
                icon=":material/hourglass_top:")
    elif job.active and job.ray_address:
        st.progress(min(done / total, 1.0), text=f"On the Ray cluster at {job.ray_address}: {done} of {total} "
                                                    "runs in")
    elif job.active and job.current is not None:
        i, trial, reused = job.current
        what = (f"reusing {reused.name}" if reused is not None else
                f"training, step {job.latest['step']} of {job.latest['total_steps']}" if job.latest else "preparing")
        st.progress(min(done / total, 1.0), text=f"Run {i + 1} of {total}: {trial.variant}, seed {trial.seed} — "
                                                    f"{what}")
    if job.active:
        st.button("Stop the study", on_click=stop, icon=":material/stop:", key=KEY + "stop",
                  help="Ends the current training; the finished ones stay. Resume it later from the list below.")
    elif job.status == "failed":
        show_error(job.error or "The study failed.", job.error_details)
    elif job.status == "stopped":
        st.info(f"Stopped after {done} of {total} runs. It is shown under Saved studies below, where it can be "
                "resumed: finished runs are reused.", icon=":material/pause_circle:")
    elif job.status == "completed":
        st.success(f"All {total} runs are in. The study is shown under Saved studies below.",
                   icon=":material/check_circle:")
    if job.results and job.active:  # once it ends, the saved study below shows it (with resume)
        rows = summarize(list(job.results))
        study_chart_and_table(rows, name=plan.study, key=KEY + "live")
        downloads(plan.study, rows, list(job.results), key=KEY + "live")


# ---------------------------------------------------------------------------------------------- any study


def study_chart_and_table(rows: list[dict], *, name: str, key: str) -> None:
    """Mean ± std per configuration (the chart downloads as SVG from its camera icon) and the table."""
    st.plotly_chart(viz.ablation_figure(rows), key=f"{key}.figure", config={
        "displayModeBar": True, "displaylogo": False, "modeBarButtons": [["toImage"]],
        "toImageButtonOptions": {"format": "svg", "filename": name}})
    column_help = {name: st.column_config.Column(help=text) for name, text in tables.ablation_help().items()}
    st.dataframe(tables.ablation_rows(rows), hide_index=True, key=f"{key}.table", column_config=column_help)
    st.caption(
        "Error bars: ±1 standard deviation over seeds. Δ is the difference of the means to the baseline; "
        "**within noise** means Welch's 95 % interval for Δ contains 0 — the seeds disagree more than the "
        "configurations do (pale bars). One seed per configuration cannot judge noise. The camera icon above "
        "the chart saves it as SVG."
    )


def downloads(study: str, rows: list[dict], results: list[dict], *, key: str) -> None:
    from tal.engine.ablation import to_csv

    c1, c2, _ = st.columns([1, 1, 3])
    c1.download_button("Summary (JSON)", json.dumps({"study": study, "rows": rows, "trials": results}, indent=2),
                       file_name=f"{study}-summary.json", mime="application/json", key=f"{key}.json",
                       icon=":material/download:")
    c2.download_button("Summary (CSV)", to_csv(rows), file_name=f"{study}-summary.csv", mime="text/csv",
                       key=f"{key}.csv", icon=":material/download:")


def saved_studies(*, key: str = "studies.saved") -> None:
    """The studies on disk: chart, table, downloads; resume for unfinished ones, missing runs named."""
    from tal.engine.ablation import list_studies
    from tal.engine.study import DESIGN_FILE, missing_runs, study_folder

    studies = list_studies(loaders.runs_root(), include_shipped=True)
    st.subheader("Saved studies")
    if not studies:
        st.caption("No study yet: design one above, or run `python -m tal ablate --preset demo --seeds 2`.")
        return
    labels = {s["path"]: _label(s) for s in studies}
    job = current_job()
    ours = None if job is None else str(study_folder(job.plan.study, loaders.runs_root()))
    followed = key + state.FOLLOWED
    if ours in labels and st.session_state.get(followed) != (job.id, job.status):
        st.session_state[f"{key}.choice"] = ours  # show this session's study as it changes
        st.session_state[followed] = (job.id, job.status)
    path = st.selectbox("Study", list(labels), format_func=labels.get, key=f"{key}.choice")
    summary = next(s for s in studies if s["path"] == path)
    running = job is not None and job.active
    can_resume = not summary.get("shipped") and (loaders.runs_root() / "_ablations" / summary["study"]
                                                 / DESIGN_FILE).is_file()
    missing = [] if summary.get("shipped") else missing_runs(summary, loaders.runs_root())
    if not summary.get("complete", True):
        st.info(f"Unfinished: {len(summary['trials'])} of {summary['planned']} runs are in.",
                icon=":material/pause_circle:")
    if missing:
        st.warning(f"{len(missing)} of this study's runs were deleted since: {', '.join(missing)}. "
                   + ("Resume it to train them again (the others are reused)." if can_resume else
                      "This study was made before studies could be resumed, so they cannot be retrained from here."),
                   icon=":material/warning:")
    if (missing or not summary.get("complete", True)) and can_resume:
        st.button("Resume this study", key=f"{key}.resume", on_click=resume, args=(summary["study"],),
                  disabled=running, icon=":material/play_arrow:",
                  help="Finished runs are reused; the rest train in the queue." if not running else
                  "Wait for this session's running study to end.")
    if summary["rows"]:
        study_chart_and_table(summary["rows"], name=summary["study"], key=key)
        downloads(summary["study"], summary["rows"], summary["trials"], key=key)


def _label(summary: dict) -> str:
    runs = sum(r["seeds"] for r in summary["rows"])
    planned = summary.get("planned")
    count = f"{runs} of {planned} runs" if planned and planned != runs else f"{runs} runs"
    return f"{summary['study']} · {summary['preset']} · {count}" + (" · shipped" if summary.get("shipped") else "")
