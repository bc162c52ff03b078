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

    # the hook this works around still exists, and still clears Keras when left alone (an
    # earlier test may have run the app, which installs the fix: then take the saved original)
    original = script_runner._clean_problem_modules
    if original is streamlit_fixes._clean_problem_modules_but_keras:
        original = streamlit_fixes._STREAMLIT_CLEANUP
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


def test_module_rescan_after_a_run_only_looks_at_new_modules(monkeypatch):
    """Streamlit re-read the paths of all of sys.modules (~0.5 s with TensorFlow) after any run
    that imported a new module; now only the new ones."""
    import sys
    import types

    from streamlit.watcher import local_sources_watcher as lsw

    from tal.ui import streamlit_fixes

    streamlit_fixes.install()
    assert lsw.LocalSourcesWatcher.update_watched_modules is (
        streamlit_fixes._update_watched_modules_incrementally
    )
    scanned, registered = [], {}
    watcher = lsw.LocalSourcesWatcher.__new__(lsw.LocalSourcesWatcher)
    watcher._is_closed = False
    watcher._cached_sys_modules = set(sys.modules)
    watcher._exclude_blacklisted_paths = lambda paths: paths
    watcher._register_necessary_watchers = registered.update
    monkeypatch.setattr(lsw, "get_module_paths", lambda m: scanned.append(m.__name__) or {m.__name__})
    watcher.update_watched_modules()
    assert scanned == []  # nothing new: no scan at all
    monkeypatch.setitem(sys.modules, "tal_fresh_module", types.ModuleType("tal_fresh_module"))
    watcher.update_watched_modules()
    assert scanned == ["tal_fresh_module"] and registered == {"tal_fresh_module": {"tal_fresh_module"}}
