"""Shared fixtures: quiet TensorFlow, real MNIST location, a throw-away run registry."""
from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The decoded-image cache of one's own images goes to a throw-away folder, never the user's ~/.cache.
import tempfile  # noqa: E402

os.environ.setdefault("TAL_CACHE_DIR", tempfile.mkdtemp(prefix="tal-test-cache-"))

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_MNIST = REPO.parent / "shared" / "data" / "mnist"


def mnist_dir() -> Path | None:
    """`$TAL_DATA_DIR`, else ../shared/data/mnist beside the repo; None when neither exists."""
    env = os.environ.get("TAL_DATA_DIR")
    for candidate in (Path(env) if env else None, SHARED_MNIST):
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


@pytest.fixture
def mnist_path() -> Path:
    path = mnist_dir()
    if path is None:
        pytest.skip("real MNIST not found (set TAL_DATA_DIR)")
    return path


@pytest.fixture
def runs_dir(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "runs"
    monkeypatch.setenv("TAL_RUNS_DIR", str(root))
    return root


def pytest_collection_modifyitems(config, items):
    """Browser tests are slow tests too, so the quick tier (`-m "not slow"`) leaves them out."""
    for item in items:
        if item.get_closest_marker("browser") and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
