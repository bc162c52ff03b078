"""No tracebacks for users: a page-body guard and friendly error boxes.

`page_guard()` wraps a page body. Expected errors (bad configs, missing data,
bad images) are caught where they happen with the library's message; this is
the last line of defence for anything unexpected: a short `st.error` and the
details in a collapsed expander (for bug reports), never a raw traceback.
A fragment re-runs on its own, outside the page's guard: `guarded_fragment()`
gives it a guard of its own.
"""

from __future__ import annotations

import contextlib
import functools
import traceback

import streamlit as st

from tal.ui.streamlit_fixes import no_stale_fade


def show_error(message: str, details: str | None = None, *, hint: str | None = None) -> None:
    """A friendly error box, with optional technical details folded away."""
    st.error(message, icon=":material/error:")
    if hint:
        st.caption(hint)
    if details:
        with st.expander("Technical details"):
            st.code(details, language=None)


@contextlib.contextmanager
def page_guard(what: str = "this page"):
    """Run a page body; unexpected exceptions become a friendly error.

    Streamlit's own control flow (`st.stop`, `st.rerun`, page switches) raises
    `BaseException` subclasses, which pass through untouched.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        show_error(
            f"Something went wrong while showing {what}: {type(exc).__name__}: {exc}",
            traceback.format_exc(),
            hint="Try another selection or reload the page. If it keeps happening, "
            "please report it with the details below.",
        )


def guarded_fragment(body, what: str, *, run_every: float | None = None, no_fade: str | None = None):
    """`body` as an `st.fragment` that runs inside `page_guard(what)`; call the result with body's arguments.

    `run_every` as `st.fragment`'s (None: only on its own widgets' changes and the page's runs);
    `no_fade` names a `no_stale_fade` container around it (for views that update often). The fragment
    takes `body`'s module and name, so each body is its own fragment.
    """
    @functools.wraps(body)
    def guarded(*args, **kwargs) -> None:
        with page_guard(what), (contextlib.nullcontext() if no_fade is None else no_stale_fade(no_fade)):
            body(*args, **kwargs)

    return st.fragment(guarded, run_every=run_every)
