"""The sidebar shared by every page: data source, run registry, this session's training."""

from __future__ import annotations

import streamlit as st

from tal.ui import loaders, state


def render() -> None:
    with st.sidebar:
        st.caption("**TAL explorer** — Triple Attention Learning (A3Net) on digits")
        found, where = loaders.mnist_status()
        if found:
            st.caption(f":material/database: **Data:** MNIST from {where}")
        else:
            st.warning(
                "MNIST not found, so only the **synthetic** dataset can be used. "
                "Set `TAL_DATA_DIR` to a folder with the MNIST IDX files or `mnist.npz`.",
                icon=":material/database_off:",
            )
        try:
            runs, _ = loaders.list_runs()
            mine = sum(not r.shipped for r in runs)
            st.caption(
                f":material/folder: **Runs:** {mine} in `{loaders.runs_root()}`, "
                f"{len(runs) - mine} shipped demo(s)"
            )
        except OSError as exc:
            st.caption(f":material/folder_off: Runs folder unreadable: {exc}")
        jobs = [st.session_state.get(key) for key in (state.JOB, state.STUDY_JOB)]
        every = 2.0 if any(job is not None and job.active for job in jobs) else None
        st.fragment(run_every=every)(_guarded_job_status)()


def _guarded_job_status() -> None:
    from tal.ui.guard import page_guard

    with page_guard("the training status"):  # fragments re-run outside the page's guard
        _job_status()


def _job_status() -> None:
    _study_status()
    job = st.session_state.get(state.JOB)
    if job is None or not job.active:
        return
    if job.status == "queued":
        text = "Waiting for a free training slot…"
    elif job.latest is not None:
        p = job.latest
        text = f"Training {job.model_config.label}: {p['step'] / max(p['total_steps'], 1):.0%}"
    else:
        text = "Preparing the training run…"
    st.info(text, icon=":material/model_training:")
    st.page_link("app_pages/train.py", label="Open the Train page")


def _study_status() -> None:
    job = st.session_state.get(state.STUDY_JOB)
    if job is None or not job.active:
        return
    if job.status == "queued":
        text = f"Study {job.plan.study}: waiting for a free training slot…"
    else:
        text = f"Study {job.plan.study}: {len(job.results)} of {len(job.plan.trials)} runs in"
    st.info(text, icon=":material/science:")
    st.page_link("app_pages/studies.py", label="Open the Studies page")
