"""Streamlit's per-run Keras clean-up is switched off (it cleared TensorFlow's kernel cache and
every thread's Keras state after each rerun, and ran a full garbage collection)."""
from __future__ import annotations

import gc

import pytest

pytest.importorskip("streamlit")


def test_install_keeps_streamlit_from_clearing_the_keras_session(monkeypatch):
    import keras
    from streamlit.runtime.scriptrunner import script_runner

    from tal.ui import streamlit_fixes

    # the hook this works around still exists, and still clears Keras when left alone
    original = script_runner._clean_problem_modules
    calls = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *a, **k: calls.append(1))
    original()
    assert calls == [1]

    monkeypatch.setattr(script_runner, "_clean_problem_modules", original)  # restored afterwards
    assert streamlit_fixes.install() is True
    assert streamlit_fixes.install() is True  # idempotent
    calls.clear()
    script_runner._clean_problem_modules()
    assert calls == []


def test_freeze_imported_exempts_live_objects_from_collections():
    from tal.ui import streamlit_fixes

    try:
        streamlit_fixes.freeze_imported()
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
