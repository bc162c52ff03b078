"""Two Streamlit 1.67 habits that cost every rerun here, and their work-arounds.

After every script run (fragment runs included) Streamlit

1. calls `keras.backend.clear_session()` whenever Keras is imported
   (`script_runner._clean_problem_modules`). That clears TensorFlow's kernel
   cache, so the next forward pass takes ~50 ms instead of ~2 ms; it resets
   every thread's Keras global state, a training thread's included (DESIGN
   §4: never clear the session while another session may be training); and it
   runs a full `gc.collect()`.
2. runs another full `gc.collect(2)` (the `runner.postScriptGC` option).

A full collection walks the ~400,000 objects of TensorFlow, Keras and
Plotly and holds the GIL for ~0.2 s, so the run's last messages (and the next
click) wait in the server. `install()` keeps Streamlit's cleanup minus the
Keras part, and `freeze_imported()` moves everything alive after the heavy
imports into the permanent generation, so collections only walk newer objects.
"""

from __future__ import annotations

import gc
import sys


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
    script_runner._clean_problem_modules = _clean_problem_modules_but_keras
    return True


def freeze_imported() -> None:
    """Collect once, then exempt every object alive now from later collections
    (call after the heavy imports: their modules, classes and constants live
    as long as the server)."""
    gc.collect()
    gc.freeze()
