"""Cached loaders shared by the pages.

* Models: `st.cache_resource`, keyed by the run folder and the model file's
  modification time (a re-saved run is reloaded, never served stale). Keras
  models are shared read-only between sessions; inference is thread-safe.
* Test sets: `st.cache_resource` too, with the arrays made read-only. A test
  set is 30–90 MB of float32; `st.cache_data` would unpickle a fresh copy on
  every rerun, which alone would cost more than Inspect's 300 ms budget.
* Run lists are not cached: scanning the registry is a few `stat` calls and
  must show a run the moment it is saved.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import streamlit as st

from tal.core.config import DataConfig


@dataclass(frozen=True)
class TestSet:
    """The test split of a dataset, as the Inspect and Compare pages need it."""

    name: str
    source: str
    x: np.ndarray  # (N, H, W, 1) float32, read-only
    y: np.ndarray  # (N,) class indices, or (N, C) multi-hot rows for multi-label data
    boxes: np.ndarray  # (N, 4) ink boxes (y0, x0, y1, x1)
    class_names: tuple
    notes: tuple
    objects: np.ndarray | None = None  # (N, K, 5) rows (class, y0, x0, y1, x1); class -1: empty slot

    @property
    def input_shape(self) -> tuple:
        return tuple(self.x.shape[1:])

    @property
    def multi_label(self) -> bool:
        return self.y.ndim == 2

    def has_class(self, c: int) -> np.ndarray:
        """bool (N,): the images that show class `c`."""
        return self.y[:, c] > 0 if self.multi_label else self.y == c

    def classes_of(self, index: int) -> tuple[int, ...]:
        """The classes image `index` shows (one for single-label data)."""
        return tuple(np.flatnonzero(self.y[index]).tolist()) if self.multi_label else (int(self.y[index]),)


def runs_root() -> Path:
    from tal.engine.registry import default_root

    return default_root()


def list_runs() -> tuple[list, list[str]]:
    """Readable runs (this registry first, newest first, then the shipped demos) and problems.

    A run folder whose JSON cannot be read is skipped with a message instead
    of breaking every page.
    """
    from tal.engine.registry import list_runs as _list_runs

    runs, problems = [], []
    for run in _list_runs(include_shipped=True):
        try:
            run.config, run.metrics  # noqa: B018 - read (and cache) both JSON files
            run.model_config  # noqa: B018
            runs.append(run)
        except Exception as exc:  # noqa: BLE001 - a broken folder must not break the page
            problems.append(
                f"Skipped run {run.name!r}: its files cannot be read ({type(exc).__name__}: {exc})."
            )
    return runs, problems


def run_counts() -> tuple[int, int]:
    """(this registry's runs, shipped demos); re-counted only when the registry folder changes
    (a run is renamed into it on completion), so the sidebar can poll it every few seconds."""
    root = runs_root()
    try:
        stamp = root.stat().st_mtime_ns
    except OSError:
        stamp = 0
    return _run_counts(str(root), stamp)


@st.cache_data(max_entries=4, show_spinner=False)
def _run_counts(root: str, stamp: int) -> tuple[int, int]:
    runs, _ = list_runs()
    mine = sum(not r.shipped for r in runs)
    return mine, len(runs) - mine


def _mtime(run) -> float:
    return (Path(run.path) / "model.keras").stat().st_mtime


@st.cache_resource(max_entries=8, show_spinner=False)
def _load_model(path: str, mtime: float):
    wait_for_warm_up()
    from tal.core.inspection import inspect
    from tal.engine.registry import Run

    model = Run(Path(path)).load_model()
    inspect(
        model, np.zeros(model.inputs[0].shape[1:3], "float32")
    )  # build the probe now, not on first use
    return model


def load_model(run):
    """The run's Keras model, loaded once per server (per file version)."""
    return _load_model(str(run.path), _mtime(run))


@st.cache_data(max_entries=16, show_spinner=False)
def _keras_code(path: str, mtime: float) -> str:
    from tal.engine.export import run_code
    from tal.engine.registry import Run

    run = Run(Path(path))
    return run_code(run, model=_load_model(path, mtime), weights=f"{run.name}.keras")


def keras_code(run) -> str:
    """The run's architecture as a Python file that loads `<run name>.keras` from beside itself."""
    return _keras_code(str(run.path), _mtime(run))


def load_error_message(run, exc: BaseException) -> str:
    """Why a run's model cannot be used, in words for users."""
    saved = run.config.get("versions", {}).get("tal", "an unknown version")
    import tal

    return (
        f"The model of run '{run.name}' cannot be loaded ({type(exc).__name__}: {str(exc).splitlines()[0]}). "
        f"It was saved by tal {saved}; this is tal {tal.__version__}. If the architecture changed since, "
        "retrain it on the Train page (same settings) or pick another run."
    )


def load_model_or_stop(run):
    """`load_model`, or a friendly error and the end of this page run."""
    import traceback

    from tal.ui.guard import show_error

    try:
        with st.spinner(f"Loading the model of '{run.name}'…"):
            return load_model(run)
    except Exception as exc:  # noqa: BLE001 - any unloadable file ends up here
        show_error(load_error_message(run, exc), traceback.format_exc())
        st.stop()


def data_config_of(run) -> DataConfig:
    """The data a run was trained on, adjusted for loading its test set here.

    A `data_dir` that no longer exists is dropped (the usual search order
    applies); the training subset is made tiny, since only the test split is
    used and the test split does not depend on it.
    """
    config = DataConfig.from_dict(run.config["train"]["data"])
    if config.data_dir and not Path(config.data_dir).exists():
        config = config.replace(data_dir=None)
    return config.replace(train_size=10, imbalance_classes=(), imbalance_keep=1.0)


@st.cache_resource(max_entries=4, show_spinner=False)
def _test_set(config_json: str, fallback: bool) -> TestSet:
    from tal.data.datasets import load_dataset

    data = load_dataset(DataConfig.from_json(config_json), fallback_to_synthetic=fallback)
    arrays = []
    for a in (data.x_test, data.y_test, data.boxes_test, data.objects("test")):
        a = np.ascontiguousarray(a)
        a.setflags(write=False)  # shared by every session: nobody may change it
        arrays.append(a)
    x, y, boxes, objects = arrays
    return TestSet(data.name, data.source, x, y, boxes, tuple(data.class_names), tuple(data.notes), objects)


def test_set(config: DataConfig, *, fallback: bool = False) -> TestSet:
    """The test split for `config` (raises `tal.DataNotFoundError` with instructions)."""
    return _test_set(config.to_json(indent=None), fallback)


@st.cache_resource(max_entries=8, show_spinner=False)
def _test_predictions(
    path: str, mtime: float, config_json: str, fallback: bool, prediction: str
) -> np.ndarray:
    wait_for_warm_up()
    from tal.core.inspection import inspect

    model = _load_model(path, mtime)
    x = _test_set(config_json, fallback).x
    # multi-label models: the set of classes said present (N, C); otherwise the class (N,)
    chunks = []
    for i in range(0, len(x), 1000):
        out = inspect(model, x[i : i + 1000], prediction=prediction)
        chunks.append(out.get("present", out["prediction"]))
    out = np.concatenate(chunks) if chunks else np.zeros((0,), dtype=int)
    out.setflags(write=False)
    return out


def test_predictions(run, config: DataConfig, *, fallback: bool = False) -> np.ndarray:
    """The run's predicted class for every test image, or for multi-label runs the
    (N, C) classes it says are present (once per run and test set)."""
    prediction = run.model_config.prediction
    return _test_predictions(
        str(run.path), _mtime(run), config.to_json(indent=None), fallback, prediction
    )


def mnist_status() -> tuple[bool, str]:
    """(found, where or why not), without downloading anything."""
    import os

    return _mnist_status(os.environ.get("TAL_DATA_DIR"))


@st.cache_data(ttl=60, show_spinner=False)
def _mnist_status(data_dir: str | None) -> tuple[bool, str]:  # keyed on the setting it depends on
    from tal.data.datasets import find_mnist

    try:
        *_, source = find_mnist(allow_download=False)
        return True, source
    except Exception as exc:  # noqa: BLE001 - any failure means "not available"
        return False, str(exc)


@st.cache_resource(show_spinner=False)
def warm_up() -> threading.Thread:
    """Import TensorFlow/Keras in the background once per server, so the first
    Inspect or Train click does not wait for it; then freeze those objects out
    of the garbage collector's full passes (see `tal.ui.streamlit_fixes`)."""

    def _import():
        try:
            import plotly.graph_objects  # noqa: F401

            from tal.engine.startup import import_tensorflow_quietly

            import_tensorflow_quietly()  # the server's log stays free of TensorFlow's start-up lines
            import tal.core.inspection  # noqa: F401
            import tal.engine.registry  # noqa: F401
            import tal.engine.training  # noqa: F401
            import tal.render.figures  # noqa: F401
            from tal.ui import streamlit_fixes

            streamlit_fixes.preload_lazy_imports()  # no module re-scan on a later run
            streamlit_fixes.freeze_imported()  # later full collections skip all of the above
        except Exception:  # noqa: BLE001 - warming up is best effort
            pass

    thread = threading.Thread(target=_import, name="tal-warm-up", daemon=True)
    thread.start()
    return thread


class _NoReference(Exception):
    """The run's images are not here: raised, not returned, so the cache keeps no None (they may come)."""


@st.cache_resource(max_entries=4, show_spinner=False)
def _novelty(config_json: str):
    from tal.engine import novelty

    reference = novelty.reference_for(DataConfig.from_json(config_json))
    if reference is None:
        raise _NoReference
    return reference


def novelty_reference(run):
    """`tal.engine.novelty.reference_for` the run's data (made once per data setting), or None when
    those images are not on this machine (asked again next time: they may have arrived)."""
    try:
        return _novelty(data_config_of(run).to_json(indent=None))
    except _NoReference:
        return None


def wait_for_warm_up() -> None:
    """Block until the warm-up's imports are done (at once when they are).

    Code that imports Keras or TensorFlow from a page must call this first: while
    the warm-up thread is half-way through TensorFlow's import, a second thread's
    import of it meets a half-initialised module (`dataset_ops has no attribute
    DatasetV2`) or Python's import deadlock detector, and the model fails to load
    (seen on a first visit straight to Inspect after the server started)."""
    warm_up().join()


@st.cache_data(max_entries=16, show_spinner=False)
def _localization(path: str, mtime: float, config_json: str, images: int, sanity: bool) -> dict:
    wait_for_warm_up()
    from tal.engine.localization import localize
    from tal.engine.registry import Run

    run = Run(Path(path))
    test = _test_set(config_json, False)
    return localize(_load_model(path, mtime), run.model_config, test.x[:images], test.objects[:images],
                    sanity=sanity, details=True)


def localization(run, images: int, sanity: bool) -> dict:
    """`tal.engine.localization.localize` of a run on its first `images` test images, with every
    pair's hit (computed once per run, image count and sanity setting)."""
    config = data_config_of(run)
    return _localization(str(run.path), _mtime(run), config.to_json(indent=None), int(images), bool(sanity))


@st.cache_data(max_entries=16, show_spinner=False)
def _timeline(path: str, mtime: float):
    from tal.engine.registry import Run

    return Run(Path(path)).timeline()


def timeline(run):
    """The run's map timeline (`Run.timeline()`), or None when it was saved without one."""
    return _timeline(str(run.path), _mtime(run))
