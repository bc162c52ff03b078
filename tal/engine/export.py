"""A run's architecture as a standalone Python file (`python -m tal export RUN --code FILE`, the app's download)."""
from __future__ import annotations

from pathlib import Path

from tal.core.keras_code import model_code
from tal.engine.files import write_text_atomic


def run_code(run, *, weights: str | None = None, model=None) -> str:
    """Python source that rebuilds `run`'s model with tal's layers and loads its weights when run.

    Args:
        run: a `tal.runs.Run`.
        weights: the weights file the script loads by default: by default the
            run's own `model.keras` (absolute path); a bare file name is looked
            for beside the script (what the app's download suggests).
        model: the run's model if already loaded (else it is loaded here).
    """
    model = model if model is not None else run.load_model()
    return model_code(model, weights=weights or str((run.path / "model.keras").resolve()),
                      title=f"Run {run.name} (TAL explorer)")


def export_code(run, path: str | Path, *, weights: str | None = None) -> Path:
    """Write `run_code(run)` to `path` (all or nothing); returns the path."""
    path = Path(path)
    write_text_atomic(path, run_code(run, weights=weights))
    return path
