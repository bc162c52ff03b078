"""The app's page table and per-run timing helpers.

The pages live in `app_pages/`, not `pages/`: a folder named `pages/` beside
the entry script puts Streamlit (1.67) into its legacy multipage mode, in
which a first visit straight to a page URL runs that page without `app.py`
(no wide layout, no shared sidebar). With `st.navigation` and no `pages/`
folder, every run goes through `app.py`.
"""

from __future__ import annotations

import time

import streamlit as st

from tal.ui import state

# (script, title, icon); the first page is the default
PAGES = (
    ("app_pages/overview.py", "Overview", ":material/school:"),
    ("app_pages/train.py", "Train", ":material/model_training:"),
    ("app_pages/inspect.py", "Inspect", ":material/visibility:"),
    ("app_pages/predict.py", "Predict", ":material/upload_file:"),
    ("app_pages/localization.py", "Localization", ":material/my_location:"),
    ("app_pages/compare.py", "Compare", ":material/compare:"),
    ("app_pages/studies.py", "Studies", ":material/science:"),
)


def pages() -> list:
    """The `st.Page`s of the app, in menu order."""
    return [
        st.Page(path, title=title, icon=icon, default=n == 0)
        for n, (path, title, icon) in enumerate(PAGES)
    ]


def mark_run_start() -> None:
    """Called by app.py first on every run; `run_ms` counts from here."""
    st.session_state[state.RUN_STARTED] = time.perf_counter()


def run_ms() -> float:
    """Milliseconds since this script run started in app.py (sidebar included)."""
    return (time.perf_counter() - st.session_state.get(state.RUN_STARTED, time.perf_counter())) * 1000


def fragment_rerun() -> bool:
    """True while only a fragment re-runs (app.py and the rest of the page did not run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)
