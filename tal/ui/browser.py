"""Which browser a session belongs to: an unguessable token the browser keeps in a cookie.

A reload, or a new tab, starts a new Streamlit session with an empty session
state, so a training started from this browser is found again by the token
its job carries (`tal.ui.jobs.JobManager.newest`). The first session of a
browser makes the token (`secrets.token_urlsafe`) and has the browser store it
as the cookie `COOKIE`, written by a small invisible component; every later
session reads it from `st.context.cookies` (read-only: the cookies the browser
sent when the session opened). Tabs of one browser share it; another browser,
or a private window, has a token of its own.

The token is never put in the page URL: the Train form's settings are there
(`tal.ui.query`) to be shared as a link, and a link must not give anyone else
control of a run.
"""

from __future__ import annotations

import re
import secrets

import streamlit as st

from tal.ui import state

COOKIE = "tal_browser"
MAX_AGE_S = 30 * 24 * 3600  # the browser keeps the cookie a month after the last visit that set it
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,128}")  # what token() makes (32 characters); anything else is ignored
_KEY = "tal_browser_cookie"  # the component's element key (its container is hidden by the component's CSS)

_SCRIPT = """
export default function ({ data }) {
  document.cookie = `${data.name}=${data.value}; path=/; max-age=${data.max_age}; SameSite=Strict`;
}
"""

_COMPONENT = st.components.v2.component(
    "tal_browser_cookie",
    css=f".st-key-{_KEY} {{ display: none; }}",  # no gap in the sidebar for an element that shows nothing
    js=_SCRIPT,
    isolate_styles=False,  # the rule above must reach the element's container
)


def token() -> str:
    """This browser's token: the one its cookie sent, else a new one (kept for this session's runs)."""
    current = st.session_state.get(state.BROWSER)
    if current is None:
        current = sent() or secrets.token_urlsafe(24)
        st.session_state[state.BROWSER] = current
    return current


def sent() -> str | None:
    """The token in the cookie the browser sent when this session opened, if it is one of ours."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no browser behind this session (a bare script run)
        return None
    return value if isinstance(value, str) and _TOKEN.fullmatch(value) else None


def remember() -> None:
    """Have the browser keep this session's token, while the cookie it sent lacks it (draws nothing visible)."""
    value = token()
    if sent() != value:
        _COMPONENT(data={"name": COOKIE, "value": value, "max_age": MAX_AGE_S}, key=_KEY)
