"""The app's pages, and a guard that makes every page run go through `app.py`.

Streamlit trap (1.67): while a `pages/` folder sits beside the entry script,
Streamlit starts in its legacy pages-folder mode, and only the public
`st.navigation` switches it off. Until some session has run `app.py`, a
visit that lands directly on a page URL (a shared `/train?...` link right
after a server start, or an open tab reconnecting after a restart) runs the
page file on its own: no wide layout, no shared sidebar, a file-name menu.
`app.py` marks every run; a page run without the mark calls `st.navigation`
(which leaves legacy mode for the whole server) and reruns, this time
through `app.py` — at most twice in a row, so it can never loop.
"""

from __future__ import annotations

import time

import streamlit as st

# (script, title, icon); the first page is the default
PAGES = (
    ("pages/overview.py", "Overview", ":material/school:"),
    ("pages/train.py", "Train", ":material/model_training:"),
    ("pages/inspect.py", "Inspect", ":material/visibility:"),
    ("pages/predict.py", "Predict", ":material/upload_file:"),
    ("pages/compare.py", "Compare", ":material/compare:"),
)
_MARK = "_tal_app_ran"
_RETRIES = "_tal_router_retries"
_STARTED = "_tal_run_started"


def pages() -> list:
    """The `st.Page`s of the app, in menu order."""
    return [
        st.Page(path, title=title, icon=icon, default=n == 0)
        for n, (path, title, icon) in enumerate(PAGES)
    ]


def mark_app_run() -> None:
    """Called by app.py on every run, before the page runs."""
    st.session_state[_MARK] = True
    st.session_state[_STARTED] = time.perf_counter()


def run_ms() -> float:
    """Milliseconds since this script run started in app.py (sidebar included)."""
    return (time.perf_counter() - st.session_state.get(_STARTED, time.perf_counter())) * 1000


def fragment_rerun() -> bool:
    """True while only a fragment re-runs (app.py and the rest of the page did not run)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def ensure_app_ran() -> None:
    """Called first by every page: rerun through app.py if this run bypassed it."""
    if st.session_state.pop(_MARK, False):
        st.session_state[_RETRIES] = 0
        return
    retries = st.session_state.get(_RETRIES, 0)
    if retries < 2:
        st.session_state[_RETRIES] = retries + 1
        st.navigation(pages(), position="hidden")  # leaves the legacy pages-folder mode
        st.rerun()
