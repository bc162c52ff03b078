"""Start / Stop, the live training panel and the finished run's downloads.

The panel is two fragments that re-run themselves while this session's job
is active (`@st.fragment(run_every=…)`): the progress every 2 s, the curves
and maps every 4 s. Only they are redrawn, the form keeps its state, and the
page never blocks. The intervals are measured choices: with the browser on
the training's machine, each redraw's CPU is taken from the training
(`bench/app_throughput.py` prints the browser's share).

The job shown is the newest one started from this browser (`current_job`):
a reload or another tab finds it again through the manager, with its live
panel, λ slider and Stop; one that ended while no page of the browser
watched is reported once as having ended while you were away.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import streamlit as st

from tal.core import catalogue
from tal.render import figures as viz
from tal.ui import browser, downloads, jobs, query, state
from tal.ui.guard import guarded_fragment, show_error

POLL_S = 2.0  # progress and numbers (each refresh costs the browser ~0.1 s of CPU)
CHARTS_S = 4.0  # curves and live maps: a chart redraw costs the browser ~0.25 s
# What the bar says while no training batch ends (tal.Progress.phase)
PHASE_TEXT = {
    "recalibrating": "recalibrating the BatchNorm statistics on training images…",
    "validating": "validating…",
    "evaluating": "Evaluating on the test set and saving the run…",
}
MISSING_DATA = ("The dataset you chose needs MNIST, which is not on this machine and could not be downloaded. "
                "Train on the synthetic digits instead (the button below switches the form; then press Start "
                "training again), or put the MNIST files in a folder, set TAL_DATA_DIR to that folder and "
                "restart the app.")


def current_job():
    """The job this session shows: the newest one its browser started, found again in the server's
    `JobManager` after a reload or in another tab (and followed when another tab starts one); else the
    one this session last showed, or None."""
    job = st.session_state.get(state.JOB)
    mine = jobs.training_manager().follow(job, browser.token())
    if mine is not job:
        _replace_job(mine)
    return mine


def _replace_job(job) -> None:
    """This session's job becomes `job` (None: no job, and its browser is not offered the old one again);
    the λ slider of the job it replaces goes with it."""
    old = st.session_state.get(state.JOB)
    if old is not None:
        st.session_state.pop(_lambda_key(old), None)
        if job is None:
            jobs.training_manager().forget(old)
    if job is None:
        st.session_state.pop(state.JOB, None)
    else:
        st.session_state[state.JOB] = job


def start() -> None:
    """Validate the form, then queue this session's job (button callback)."""
    from tal.core.config import ConfigError
    from tal.ui.train_form import clear_warnings, current_values

    from tal.ui.loaders import runs_root

    try:
        model_config, train_config, name = query.to_configs(current_values())
        probes, problem = probe_upload(None if train_config.data.own else train_config.data.canvas or 28)
        if problem:
            st.session_state[state.START_ERROR] = problem
            return
        job = jobs.TrainingJob(model_config, train_config, name=name, runs_dir=runs_root(), probes=probes,
                               owner=browser.token())
        _replace_job(jobs.training_manager().submit(job))
    except (ConfigError, ValueError) as exc:  # the library's validation message
        st.session_state[state.START_ERROR] = str(exc)
        return
    except Exception as exc:  # noqa: BLE001 - a callback must never raise into Streamlit
        st.session_state[state.START_ERROR] = f"Could not start training: {type(exc).__name__}: {exc}"
        return
    st.session_state.pop(state.START_ERROR, None)
    clear_warnings()


def probe_uploader() -> None:
    """An optional digit of the user's own, followed in the live maps beside the validation digits
    (digit datasets only: one's own images bring their own validation images, one per class)."""
    from tal.core.config import OWN_DATASETS
    from tal.ui.pickers import UPLOAD_TYPES
    from tal.ui.train_form import current_values

    if current_values().get("dataset") in OWN_DATASETS:
        return

    st.file_uploader("Your own probe digit for the live maps (optional)", type=UPLOAD_TYPES, key=state.PROBE_UPLOAD,
                     help="Shown as the last column of the live maps, prepared like the training images "
                          "(and placed on the canvas for translated and multidigit data); kept in the run's "
                          "map timeline.")


def probe_upload(side: int):
    """`(images (1, side, side, 1) or None, problem message or None)` from the probe uploader."""
    from tal.core.config import DataConfig
    from tal.ui.pickers import prepare_uploads

    file = st.session_state.get(state.PROBE_UPLOAD)
    if file is None or side is None:  # None: one's own images, which have no probe uploader
        return None, None
    (upload,) = prepare_uploads([file], DataConfig(), (side, side, 1))  # a digit, MNIST-style
    if upload.error is not None:
        return None, f"Your probe image cannot be used, so training did not start: {upload.error} " \
                     "Remove it or choose another file."
    return upload.image.reshape(1, side, side, 1).astype("float32"), None


def stop() -> None:
    job = current_job()
    if job is not None:
        job.stop()


def buttons() -> None:
    jobs.training_manager().prewarm()  # the training process imports TensorFlow while the form is filled in
    job = current_job()
    active = job is not None and job.active
    c1, c2, c3, c4 = st.columns([1, 1, 2, 1])
    c1.button(
        "Start training",
        type="primary",
        icon=":material/play_arrow:",
        key="train.start",
        disabled=active,
        on_click=start,
        width="stretch",
    )
    c2.button(
        "Stop",
        icon=":material/stop:",
        key="train.stop",
        disabled=not active or job.stop_requested,
        on_click=stop,
        width="stretch",
        help="Stops after the current batch; the run is evaluated and saved as 'stopped'.",
    )
    from tal.ui.train_form import reset

    c4.button(
        "Reset form",
        key="train.reset",
        on_click=reset,
        icon=":material/restart_alt:",
        width="stretch",
        help="Back to the default settings.",
    )
    if active:
        c3.caption(
            "A run is in progress for this browser (a reload or another tab finds it again). You can change "
            "the form meanwhile; it applies to the next run."
        )
    if st.session_state.get(state.START_ERROR):
        st.error(st.session_state[state.START_ERROR], icon=":material/error:")


def _duration(seconds) -> str:
    seconds = max(float(seconds or 0), 0)
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def live() -> None:
    """The live panel: two fragments that poll while a job runs, then the finished run's result.

    The progress and the numbers refresh every POLL_S, the curves and the maps every CHARTS_S: redrawing
    a chart costs the browser more than the numbers do.
    """
    job = current_job()
    active = job is not None and job.active
    st.session_state[state.TRAIN_SEEN_ACTIVE] = active
    if job is not None and not active and not job.seen:
        away_note(job)
        job.seen = True
    guarded_fragment(_panel, "the training panel", run_every=POLL_S if active else None, no_fade="train-panel")()
    guarded_fragment(_charts, "the training curves", run_every=CHARTS_S if active else None,
                     no_fade="train-charts")()
    if job is not None and not active:
        result(job)


# How a job ended, in the words of "Your run … while you were away" (a cancelled job was the user's own Stop)
ENDED = {"completed": "finished", "stopped": "was stopped early", "failed": "failed"}


def away_text(job, then: str = ".") -> str | None:
    """"Your run X finished while you were away (N min ago)" and `then`, for a job that ended while no page
    of its browser watched; None for any other job."""
    from tal.engine.study import duration_text

    if job is None or job.active or job.seen or job.status not in ENDED:
        return None
    name = f" **{job.run_path.name}**" if job.run_path is not None else ""
    ago = f" ({duration_text(time.time() - job.finished)} ago)" if job.finished else ""
    return f"Your run{name} {ENDED[job.status]} while you were away{ago}{then}"


def away_note(job) -> None:
    """On the Train page, above the ended job's result: that it ended while no page of this browser watched."""
    text = away_text(job, "; why is below." if job.status == "failed" else "; its result is below.")
    if text:
        st.info(text, icon=":material/notifications:")


def _panel() -> None:
    if st.session_state.pop(state.REDRAW_FORM, False):
        st.rerun(scope="app")  # a button here changed the form, which lives outside this fragment
    job = current_job()
    if job is None:
        st.info(
            "Set up a model above and press **Start training**. Progress, curves and λ control appear here.",
            icon=":material/model_training:",
        )
        return
    if not job.active and st.session_state.get(state.TRAIN_SEEN_ACTIVE):
        st.session_state[state.TRAIN_SEEN_ACTIVE] = False
        job.seen = True  # this page watched it end: no "while you were away"
        st.rerun(scope="app")  # refresh the buttons, the sidebar and the result once the job ends
    _status(job)
    if job.batches:
        _live_lambda(job)


def _charts() -> None:
    job = current_job()
    if job is None or not job.batches:
        return
    st.plotly_chart(
        viz.training_curves_figure(list(job.batches), list(job.epochs)),
        key="train.curves",
        config={"displayModeBar": False},
    )
    live_maps(job.snapshot, own=0 if job.probes is None else len(job.probes),
              multi_label=job.train_config.data.multi_label)
    score = "ROC AUC" if job.batches[-1].get("metric") == "auc" else "accuracies"
    st.caption(
        f"Losses and training {score} are running means within each epoch (as Keras reports them); "
        f"validation {'AUC' if score == 'ROC AUC' else 'accuracy'} is measured at the end of each epoch."
        + (f" While training, the curves and maps refresh every {CHARTS_S:.0f} s." if job.active else "")
    )


# The probe sheet's rows are labelled in the picture (tal.render.raster.probe_row_label); the caption says
# more about the first rows, and its pictures take their catalogue title.
ROW_TEXT = {
    "input": "the probe image",
    "A": "A for the class the model rates highest (top class; one colour range per row)",
    "S": "S for that class (red +, blue −)",
}


def _row_text(row: str) -> str:
    return ROW_TEXT.get(row) or catalogue.map_spec(row).title


def _looks_multi_label(probabilities) -> bool:
    """Whether a snapshot's probabilities are per-class sigmoids (rows not summing to 1) rather than a softmax."""
    import numpy as np

    sums = np.asarray(probabilities, dtype="float64").sum(axis=-1)
    return bool(sums.size) and not np.allclose(sums, 1.0, atol=0.02)


def columns_text(snapshot: dict, *, own: int = 0, multi_label: bool | None = None) -> str:
    """What the probe sheet's columns are: one validation image per class, or for multi-label data
    the first validation canvas showing each class (a canvas shows several, so fewer columns than
    classes); then the user's own digits. `multi_label` None: told by the snapshot's probabilities."""
    probabilities = snapshot["probabilities"]
    if multi_label is None:
        multi_label = _looks_multi_label(probabilities)
    images, classes = len(snapshot["images"]) - own, len(probabilities[0]) if len(probabilities) else 0
    if multi_label:
        text = (f"the first validation canvas to show each digit (columns): {images} canvases for {classes} "
                "classes, as a canvas holds several digits")
    else:
        text = "one validation image per class (columns)"
    return text + (", then your own digit" if own == 1 else f", then your own {own} digits" if own else "")


def live_maps(snapshot: dict | None, *, caption_prefix: str = "Live maps", own: int = 0,
              multi_label: bool | None = None) -> None:
    """The probe images' maps of the newest snapshot, as one picture with its rows labelled (cheap to refresh)."""
    from tal.render import raster

    if snapshot is None:
        return
    png, rows = raster.probe_sheet(snapshot)
    if rows == ["input"]:
        st.caption(":material/visibility_off: This model has no spatial attention maps to follow "
                   "(the element-wise branch and the spatial modules are off).")
        return
    st.image(png, output_format="PNG",
             caption=f"{caption_prefix} at step {snapshot['step']}: "
             f"{columns_text(snapshot, own=own, multi_label=multi_label)}; "
             f"rows: {'; '.join(_row_text(r) for r in rows)}. Snapshots take at most 5 % of the training "
             "time, so they come every few steps.")


def _use_synthetic() -> None:
    from tal.ui.train_form import switch_to_synthetic

    switch_to_synthetic("Switched to the **synthetic** digits (font-rendered, generated here; "
                        "not MNIST). Press **Start training** to train on them.")
    _replace_job(None)  # the error is answered: the panel starts afresh
    st.session_state[state.REDRAW_FORM] = True


def _status(job) -> None:
    p = job.latest
    label = job.model_config.label
    if job.status == "queued":
        st.info(
            f"**Waiting for a free training slot…** Another session is training "
            f"(position {max(job.queue_position, 1)} in the queue). Your run ({label}) starts "
            "automatically when the slot frees; Stop leaves the queue.",
            icon=":material/hourglass_top:",
        )
        return
    if job.status == "loading":
        st.progress(0.0, text=f"Loading data and building the {label} model…")
        return
    if job.status == "cancelled":
        st.info("The queued run was cancelled before it started.", icon=":material/cancel:")
        return
    if job.status == "failed":
        missing_data = job.error_type == "DataNotFoundError"
        if missing_data:  # in the app's words; the library's message (for code and the CLI) folded away
            show_error(MISSING_DATA, job.error)
        else:
            show_error(job.error or "Training failed.", job.error_details)
        if missing_data:
            st.button(
                "Use the synthetic dataset instead",
                key="train.use_synthetic",
                icon=":material/auto_awesome:",
                on_click=_use_synthetic,
                help="Font-rendered digits generated on the fly: no download needed (not MNIST).",
            )
        return
    if p is None:
        st.progress(0.0, text="Starting…")
        return
    phase = getattr(job, "phase", "training")
    if job.status in ("training", "finishing") and phase in ("recalibrating", "validating"):
        text = f"Epoch {p['epoch']}/{p['epochs']} · {PHASE_TEXT[phase]}"
    elif job.status == "finishing":
        text = PHASE_TEXT["evaluating"]
    elif job.status == "training":
        text = (
            f"Epoch {p['epoch']}/{p['epochs']} · step {p['step']}/{p['total_steps']} · "
            f"ETA {_duration(p['eta_s'])} · {p['images_per_s']:.0f} images/s"
        )
        if job.stop_requested:
            text = "Stopping after this batch…"
    else:
        text = f"{job.status.capitalize()} after {p['step']} of {p['total_steps']} steps."
    st.progress(p["step"] / max(p["total_steps"], 1), text=text)
    cols = st.columns(6)
    cols[0].metric("Total loss", f"{p['loss']:.3f}",
                   help="What the optimiser minimises: the main loss plus λ × the auxiliary loss "
                        "(the curves below show the parts).")
    auc = p.get("metric") == "auc"  # multi-label runs report ROC AUC in the score fields
    shown = (lambda v: f"{v:.3f}") if auc else (lambda v: f"{v:.1%}")
    cols[1].metric("Train AUC" if auc else "Train acc.", shown(p["accuracy"]))
    val = job.epochs[-1].get("val_accuracy") if job.epochs else None
    cols[2].metric("Val. AUC" if auc else "Val. acc.", "–" if val is None else shown(val))
    cols[3].metric("Images/s", f"{p['images_per_s']:.0f}")
    # once saved, the run's own training time (it includes the last validation and BatchNorm recalibration),
    # so the panel and the "trained in" line below agree
    done = (job.metrics or {}).get("training_time_s")
    cols[4].metric("Training time", _duration(p["elapsed_s"] if done is None else done))
    cols[5].metric("λ", f"{p['aux_weight']:.2f}")


def _lambda_key(job) -> str:
    return state.LIVE_LAMBDA + job.id


def _live_lambda(job) -> None:
    key = _lambda_key(job)
    if not job.model_config.element or not job.active:
        st.session_state.pop(key, None)  # its job is done: the slider's state goes with it
        return
    if key not in st.session_state:  # λ as it is now (another page of this browser may have moved it)
        now = job.latest["aux_weight"] if job.latest else job.train_config.aux_weight
        st.session_state[key] = round(float(now), 2)

    def apply():
        # a change that arrives after the job ended (its key already dropped) has nothing left to steer
        if key in st.session_state and job.active:
            job.set_aux_weight(st.session_state[key])

    bounds = query.field_map()["aux_weight"]  # the Train form's λ range, from the config's metadata
    st.slider(
        "λ while training (applies from the next batch; watch the λ curve)",
        float(bounds.min),
        float(bounds.max),
        step=0.05,
        key=key,
        on_change=apply,
    )


def run_card(run) -> bytes:
    """config.json and metrics.json of a run, merged into one JSON document."""
    return json.dumps(
        {"name": run.name, "config": run.config, "metrics": run.metrics}, indent=2
    ).encode()


def result(job) -> None:
    """Outcome of a finished job: metrics, where it was saved, downloads."""
    if job.status not in ("completed", "stopped") or job.run_path is None:
        return
    from tal.engine.evaluation import headline
    from tal.engine.registry import Run

    run = Run(Path(job.run_path))
    m = job.metrics or {}
    word = "Finished" if job.status == "completed" else "Stopped early"
    label, value = headline(m)
    score = "–" if value is None else (f"{value:.1%}" if label == "test accuracy" else f"{value:.3f}")
    st.success(
        f"**{word}** — {label} **{score}** on "
        f"{m.get('test_images', '?')} test images, {m.get('params', 0):,} parameters, trained in "
        f"{_duration(m.get('training_time_s'))}. Saved as run **{run.name}**.",
        icon=":material/check_circle:",
    )
    st.session_state[state.LAST_SAVED] = str(run.path)
    c1, c2, c3 = st.columns(3)  # the downloads, then where to go next
    if not downloads.model_file(c1, run, key="train.dl_model"):
        return
    downloads.keras_code(c3, run, key="train.dl_code")
    c2.download_button(
        "Download run card (JSON)",
        run_card(run),
        file_name=f"{run.name}.json",
        mime="application/json",
        icon=":material/description:",
        on_click="ignore",
        key="train.dl_card",
    )
    c4, c5, _ = st.columns(3)
    c4.page_link("app_pages/inspect.py", label="Inspect its maps", icon=":material/visibility:")
    c5.page_link("app_pages/compare.py", label="Compare runs", icon=":material/compare:")
    from tal.ui.pickers import select_run

    select_run(run.path)  # Inspect and Predict open on it
