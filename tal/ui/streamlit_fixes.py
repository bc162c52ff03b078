"""Four Streamlit 1.67 habits that cost time on every run here, and their work-arounds.

After every script run (fragment runs included) Streamlit

1. calls `keras.backend.clear_session()` whenever Keras is imported
   (`script_runner._clean_problem_modules`). That clears TensorFlow's kernel
   cache, so the next forward pass takes ~50 ms instead of ~2 ms; it resets
   every thread's Keras global state, a training thread's included (never
   clear the session while another session may be training); and it runs a
   full `gc.collect()`.
2. runs another full `gc.collect(2)` (the `runner.postScriptGC` option).

3. re-scans the file paths of every module in `sys.modules` (for its
   file watcher) whenever a run has imported a module that was not there
   before. With TensorFlow loaded that is ~0.5 s on the server's event loop:
   nothing reaches the browser meanwhile. Pillow imports its ~40 image
   plugins lazily, on the first file it cannot identify at once (a corrupt
   upload), so the first such upload paid it; Plotly and our own modules
   import submodules on first use too. `install()` makes the re-scan
   incremental: only the modules new since the last scan (the others were
   registered then, and registering a path twice is a no-op anyway).

4. fades every element of a re-running script or fragment ("stale") after
   0.5 s, with a CSS opacity transition that Chromium animates, and
   re-rasterises, from the moment the run starts: ~35 such animations and
   ~20 % of the browser's CPU per Inspect update, for a fade that never shows
   on a view that updates in a fraction of a second. `no_stale_fade` is a
   container whose elements skip it (its rule is in `STYLE`, drawn by app.py).

A full collection walks the ~400,000 objects of TensorFlow, Keras and
Plotly and holds the GIL for ~0.2 s, so the run's last messages (and the next
click) wait in the server. `install()` keeps Streamlit's cleanup minus the
Keras part, and `freeze_imported()` moves everything alive after the heavy
imports into the permanent generation, so collections only walk newer objects.
`preload_lazy_imports()` imports up front what would otherwise be imported
mid-session.
"""

from __future__ import annotations

import gc
import sys

import streamlit as st

_NO_FADE = "tal-no-fade"
# Drawn once per page run (app.py): st.html with only a <style> takes no space on the page.
STYLE = (f'<style>[class*="st-key-{_NO_FADE}-"] [data-stale="true"]'
         "{opacity: 1 !important; transition: none !important}</style>")


def no_stale_fade(name: str):
    """A container (`with` it) whose elements are never faded while its script or fragment re-runs:
    for views that update in well under a second and often (item 4)."""
    return st.container(key=f"{_NO_FADE}-{name}")


_STREAMLIT_CLEANUP = None


def _clean_problem_modules_but_keras() -> None:
    """Streamlit's per-run cleanup without `keras.backend.clear_session()`."""
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        try:
            plt.close("all")
        except Exception:  # noqa: BLE001, S110 - as Streamlit: never break a run over this
            pass


def install() -> bool:
    """Stop Streamlit clearing the Keras session after each run (idempotent).

    Returns True when the hook was found and replaced (False on a Streamlit
    version without it: nothing to do then).
    """
    try:
        from streamlit.runtime.scriptrunner import script_runner
    except ImportError:  # pragma: no cover - other Streamlit layouts
        return False
    if not hasattr(script_runner, "_clean_problem_modules"):
        return False
    if script_runner._clean_problem_modules is not _clean_problem_modules_but_keras:
        global _STREAMLIT_CLEANUP  # Streamlit's own hook, kept for the test that pins what it does
        _STREAMLIT_CLEANUP = script_runner._clean_problem_modules
    script_runner._clean_problem_modules = _clean_problem_modules_but_keras
    _install_incremental_module_scan()
    return True


def _update_watched_modules_incrementally(self) -> None:
    """`LocalSourcesWatcher.update_watched_modules`, scanning only the modules new since
    the last scan instead of all of `sys.modules` (thousands with TensorFlow)."""
    from streamlit.watcher.local_sources_watcher import get_module_paths

    if self._is_closed:
        return
    current = dict(sys.modules)
    new = set(current) - self._cached_sys_modules
    if new:
        paths = {
            name: self._exclude_blacklisted_paths(get_module_paths(current[name])) for name in new
        }
        self._cached_sys_modules = set(current)
        self._register_necessary_watchers(paths)


def _install_incremental_module_scan() -> bool:
    try:
        from streamlit.watcher.local_sources_watcher import LocalSourcesWatcher
    except ImportError:  # pragma: no cover - other Streamlit layouts
        return False
    needed = ("update_watched_modules", "_register_necessary_watchers", "_exclude_blacklisted_paths")
    if not all(hasattr(LocalSourcesWatcher, name) for name in needed):
        return False  # pragma: no cover - another Streamlit version: leave it alone
    LocalSourcesWatcher.update_watched_modules = _update_watched_modules_incrementally
    return True


def freeze_imported() -> None:
    """Collect once, then exempt every object alive now from later collections
    (call after the heavy imports: their modules, classes and constants live
    as long as the server)."""
    gc.collect()
    gc.freeze()


def preload_lazy_imports() -> None:
    """Import now what a page would otherwise import during a run (Pillow's image
    plugins, the picture helpers), so no later run changes `sys.modules` and
    triggers Streamlit's re-scan of every module path (item 3 above)."""
    from PIL import Image

    Image.init()  # all plugins: what Image.open imports on the first unidentified file
    import tal.render.htmlbars  # noqa: F401
    import tal.render.raster  # noqa: F401
    import tal.render.view_html  # noqa: F401
