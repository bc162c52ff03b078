"""The sidebar shared by every page: data source, run registry, this browser's training, a busy slot.

Every session sees whether the machine is training and for how long (`JobManager.busy`), never whose run
or which settings; only the browser that started a run sees it (found again after a reload, see
`tal.ui.browser`), and is told when it ended while no page of the browser watched.
"""

from __future__ import annotations

import streamlit as st

from tal.ui import browser, loaders, state
from tal.ui.guard import guarded_fragment

TRAIN_PAGE = "train"  # the Train page's URL path


def render(page: str = "") -> None:
    """The sidebar of every page; `page` is the current page's URL path (e.g. "train")."""
    with st.sidebar:
        st.caption("**TAL explorer** — Triple Attention Learning (A3Net) on digits and your own images")
        found, where = loaders.mnist_status()
        if found:
            st.caption(f":material/database: **Data:** MNIST from {where}")
        else:
            st.warning(
                "MNIST not found, so of the digit datasets only the **synthetic** one can be used (your own "
                "images can: dataset folder, csv or npz). Set `TAL_DATA_DIR` to a folder with the MNIST IDX files "
                "or `mnist.npz`.",
                icon=":material/database_off:",
            )
        # the fragment keeps `page` for its own re-runs, which do not run app.py
        guarded_fragment(_live_part, "the training status", run_every=poll_interval(page))(page)
        browser.remember()  # the browser keeps its token, so a reload finds its runs again


def poll_interval(page: str = "") -> float | None:
    """Seconds between refreshes of the sidebar's live part: quick while this session's job waits for
    the slot (it starts any moment); every 3 s while it trains, and not at all on the Train page, whose
    own panel shows the progress and redraws the sidebar when the run ends (on a one-machine setup each
    refresh costs the browser time the training could use); every 2 s while someone else trains (their
    run may land in the registry); never when nothing trains."""
    from tal.ui.jobs import training_manager
    from tal.ui.train_panel import current_job

    train, study = current_job(), st.session_state.get(state.STUDY_JOB)
    if any(job is not None and job.status == "queued" for job in (train, study)):
        return 0.5
    if study is not None and study.active:
        return 3.0
    if train is not None and train.active:
        return None if page == TRAIN_PAGE else 3.0
    return 2.0 if training_manager().running else None


def _live_part(page: str) -> None:
    _run_counts()
    _job_status(page)


def _run_counts() -> None:
    try:
        mine, shipped = loaders.run_counts()
        st.caption(f":material/folder: **Runs:** {mine} in `{loaders.runs_root()}`, {shipped} shipped demo(s)")
    except OSError as exc:
        st.caption(f":material/folder_off: Runs folder unreadable: {exc}")


def _job_status(page: str) -> None:
    from tal.ui.train_panel import current_job

    _study_status()
    job = current_job()
    if job is not None and not job.active:
        if page != TRAIN_PAGE:  # the Train page says it above the result
            _away(job)
        job = None
    study = st.session_state.get(state.STUDY_JOB)
    if not any(j is not None and j.active and j.status != "queued" for j in (job, study)):
        _busy()  # someone else's run holds the slot (no name, no settings)
    if job is None:
        return
    if job.status == "queued":
        text = "Waiting for a free training slot…"
    elif page == TRAIN_PAGE:
        text = f"Training {job.model_config.label}: progress on this page."
    elif job.latest is not None:
        p = job.latest
        text = f"Training {job.model_config.label}: {p['step'] / max(p['total_steps'], 1):.0%}"
    else:
        text = "Preparing the training run…"
    st.info(text, icon=":material/model_training:")
    if page != TRAIN_PAGE:
        st.page_link("app_pages/train.py", label="Open the Train page")


def _busy() -> None:
    """Whether the machine is training, for how long, and how long it has left: nobody's name or settings."""
    from tal.engine.study import duration_text
    from tal.ui.jobs import training_manager

    busy = training_manager().busy()
    if busy is None:
        return
    left = "" if busy.left_s is None else f", about {duration_text(busy.left_s)} left"
    queue = f"; {busy.waiting} waiting" if busy.waiting else ""
    st.caption(f":material/hourglass_top: **Busy:** the machine has been training for "
               f"{duration_text(busy.for_s)}{left}{queue}. A run started now waits its turn.")


def _away(job) -> None:
    """A run of this browser that ended while no page watched it: say so, and offer it."""
    from tal.ui.train_panel import away_text

    text = away_text(job)
    if text is None:
        return
    if job.status == "failed":
        st.warning(text, icon=":material/error:")
        st.page_link("app_pages/train.py", label="See why on the Train page")
        return
    st.success(text, icon=":material/notifications:")
    if job.run_path is not None and st.button("Inspect it", key="sidebar.inspect_away", icon=":material/visibility:"):
        from tal.ui.pickers import select_run

        job.seen = True
        select_run(job.run_path)
        st.switch_page("app_pages/inspect.py")
    st.page_link("app_pages/train.py", label="See its result on the Train page")


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
