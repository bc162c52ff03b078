"""Atomic file writes: readers (another session, the app's run list) never see
a half-written file.

Each file is written to a hidden temporary file beside its target, flushed to
disk, and renamed over the target (`os.replace`, atomic on POSIX and Windows).
On any error the temporary file is removed and the target is left untouched.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable, IO


def write_atomic(path: str | Path, write: Callable[[IO], None], *, binary: bool = False) -> None:
    """Call `write(file)` on a temporary file beside `path`, then rename it over `path`.

    Args:
        path: the target; its folder is created if missing.
        write: writes the whole content to the open file it is given.
        binary: open the temporary file in binary mode.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; runs and outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically."""
    write_atomic(path, lambda f: f.write(text))


def write_json_atomic(path: str | Path, data) -> None:
    """Write `data` as indented, key-sorted JSON atomically (NumPy arrays become lists)."""
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, default=_jsonable))


def save_npz_atomic(path: str | Path, **arrays) -> None:
    """`numpy.savez_compressed(path, **arrays)`, atomically (the name is kept as given)."""
    import numpy as np

    write_atomic(path, lambda f: np.savez_compressed(f, **arrays), binary=True)


def _jsonable(value):
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
