"""The run registry: every training run is one folder, written atomically.

A run is written into a hidden staging folder (`.staging-…`) and renamed
into place only when every file is complete, so a crash or a kill never
leaves a folder the registry lists as a run. Available as `tal.runs`.

Layout of a run folder:
    config.json   model and training config, seed, package versions
    history.json  per-epoch and sampled per-batch curves
    metrics.json  test accuracy, per-class accuracy, confusion matrix, ...
    model.keras   the trained model
    timeline.npz  the probe images' maps over training (optional; runs before it have none)
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tal.core.config import ConfigError
from tal.engine.files import write_json_atomic, write_text_atomic  # noqa: F401 (re-exported)

RUN_FILES = ("config.json", "history.json", "metrics.json", "model.keras")
STAGING_PREFIX = ".staging-"
SHIPPED_DIR = Path(__file__).resolve().parents[2] / "models"


class RunNotFoundError(LookupError):
    """No complete run of that name or path."""


class RunExistsError(ConfigError):
    """A run name that is taken, where a new run was not to take another one (`check_name`).

    `name` is the taken name, `root` the registry, `free` a free name such as 'cli1-2'.
    """

    def __init__(self, message: str, *, name: str, root: Path, free: str):
        super().__init__(message)
        self.name, self.root, self.free = name, root, free


def default_root() -> Path:
    """`$TAL_RUNS_DIR`, else `./runs`."""
    return Path(os.environ.get("TAL_RUNS_DIR", "runs"))


@dataclass
class Run:
    """A complete run on disk; `config`, `metrics` and `history` are read lazily."""

    path: Path
    shipped: bool = False
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.path.name

    def _json(self, filename):
        if filename not in self._cache:
            self._cache[filename] = json.loads((self.path / filename).read_text())
        return self._cache[filename]

    @property
    def config(self) -> dict:
        return self._json("config.json")

    @property
    def metrics(self) -> dict:
        return self._json("metrics.json")

    @property
    def history(self) -> dict:
        return self._json("history.json")

    @property
    def model_config(self):
        from tal.core.config import ModelConfig

        return ModelConfig.from_dict(self.config["model"])

    @property
    def train_config(self):
        from tal.core.config import TrainConfig

        return TrainConfig.from_dict(self.config["train"])

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes' names as the data gave them (digits "0" … "9" for runs saved before they were kept)."""
        names = self.config.get("data", {}).get("class_names")
        return tuple(names) if names else tuple(str(c) for c in range(self.model_config.num_classes))

    def timeline(self) -> dict | None:
        """The probe images' maps over training (`tal.engine.timeline.load`), or None for a run
        saved without one (older runs, or `TrainConfig(timeline=False)`).

        Keys: `"steps"` `(T,)`, `"images"` `(P, H, W, 1)`, and every stored map with a
        leading `T` axis, e.g. `"A"` `(T, P, h, w, C)`; `U` and `score` are derived.
        """
        from tal.engine.timeline import FILENAME, load

        path = self.path / FILENAME
        return load(path) if path.is_file() else None

    def load_model(self):
        """The trained Keras model (safe mode: no arbitrary code is run)."""
        import keras

        import tal.core.layers  # noqa: F401  (registers the custom layers)
        import tal.core.losses  # noqa: F401

        return keras.saving.load_model(self.path / "model.keras", compile=False, safe_mode=True)


def is_complete(path: Path) -> bool:
    path = Path(path)
    return (
        path.is_dir()
        and not path.name.startswith(".")
        and all((path / f).is_file() and (path / f).stat().st_size > 0 for f in RUN_FILES)
    )


def list_runs(root: str | Path | None = None, *, include_shipped: bool = False) -> list[Run]:
    """Complete runs under `root` (default `default_root()`), newest first.

    With `include_shipped`, the demo models shipped in `models/` come after.
    """
    runs = _scan(Path(root) if root is not None else default_root(), shipped=False)
    runs.sort(key=lambda r: r.path.stat().st_mtime, reverse=True)
    if include_shipped:
        runs += sorted(_scan(SHIPPED_DIR, shipped=True), key=lambda r: r.name)
    return runs


def _scan(root: Path, shipped: bool) -> list[Run]:
    if not root.is_dir():
        return []
    return [Run(p, shipped=shipped) for p in root.iterdir() if is_complete(p)]


def load_run(name_or_path: str | Path, root: str | Path | None = None) -> Run:
    """A run by folder path, by name under `root`, or by name among the shipped models."""
    candidates = [Path(name_or_path)]
    if not Path(name_or_path).is_absolute():
        candidates += [(Path(root) if root is not None else default_root()) / str(name_or_path), SHIPPED_DIR / str(name_or_path)]
    for path in candidates:
        if is_complete(path):
            return Run(path, shipped=path.parent.resolve() == SHIPPED_DIR)
    names = [r.name for r in list_runs(root, include_shipped=True)]
    hint = f" Available runs: {', '.join(names[:12])}{' …' if len(names) > 12 else ''}." if names else " There are no runs yet: train one with `python -m tal train`."
    raise RunNotFoundError(f"No complete run called {str(name_or_path)!r}.{hint}")


def safe_name(name: str) -> str:
    """Folder-safe run name: letters, digits, '.', '_', '-' (others become '-')."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip(".-")
    if not cleaned:
        raise ConfigError(f"A run name needs at least one letter or digit. Received: {name!r}")
    return cleaned[:80]


def _unique(root: Path, name: str) -> Path:
    path, k = root / name, 2
    while path.exists():
        path, k = root / f"{name}-{k}", k + 1
    return path


def free_name(name: str, root: str | Path | None = None) -> str:
    """`name` made folder-safe, with `-2`, `-3`, … appended if it is taken: the name `write_run` would use now."""
    return _unique(Path(root) if root is not None else default_root(), safe_name(name)).name


IF_EXISTS = ("rename", "error", "replace")


def check_name(name: str | None, root: str | Path | None = None, *, if_exists: str = "rename") -> str | None:
    """The folder-safe `name`, checked before a training for what `write_run` will do with it.

    `if_exists`: "rename" (a taken name becomes name-2, …: nothing to check), "error" (raise
    `RunExistsError` if the name is taken), "replace" (fine if the name is free or holds a complete
    run; a folder there that is not a run is never replaced: `ConfigError`). A `name` of None (an
    automatic name, made unique when saved) only has `if_exists` checked.
    """
    if if_exists not in IF_EXISTS:
        raise ConfigError(f"Expected if_exists to be one of {IF_EXISTS}. Received: if_exists={if_exists!r}")
    if name is None:
        return None
    root = Path(root) if root is not None else default_root()
    name = safe_name(name)
    path = root / name
    if if_exists == "error" and path.exists():
        free = free_name(name, root)
        raise RunExistsError(f"A run called {name!r} already exists in {root}. Give the new run another name "
                             f"(e.g. {free!r}), or replace the old run (if_exists='replace').", name=name,
                             root=root, free=free)
    if if_exists == "replace" and path.exists() and not is_complete(path):
        raise ConfigError(f"{path} exists but is not a complete run, so it is not replaced. Give the new run "
                          f"another name (e.g. {free_name(name, root)!r}).")
    return name


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders in one step (Linux's renameat2 RENAME_EXCHANGE); False where that is not available."""
    import ctypes
    import errno
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):  # C library without it (glibc before 2.28, musl)
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):  # a file system or kernel that cannot swap
        return False
    raise OSError(code, os.strerror(code), str(b))


def _replace(staging: Path, target: Path) -> None:
    """Put the complete run `staging` in place of the complete run `target`, then delete the old one.

    One atomic swap where the system has it: readers see the old run or the new one, never
    neither. Elsewhere two renames, the old run moved aside first and moved back if the second
    fails; for the moment between them the name is free.
    """
    if _exchange(staging, target):  # staging now holds the old run
        shutil.rmtree(staging, ignore_errors=True)
        return
    old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f"{STAGING_PREFIX}replaced-{target.name}-"))
    os.rmdir(old)
    os.rename(target, old)
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


def write_run(name: str, *, config: dict, history: dict, metrics: dict, model, root: str | Path | None = None,
              timeline: dict | None = None, replace: bool = False) -> Run:
    """Write a complete run folder atomically and return it.

    Everything goes into a hidden staging folder first; the final rename is
    the commit. If the name is taken, `-2`, `-3`, … is appended; with
    `replace`, a complete run of that name is replaced instead, only once
    the new one is complete (`_replace`: an atomic swap; a write that fails
    leaves the old run as it was). A folder of that name that is not a run
    is never replaced.
    """
    root = Path(root) if root is not None else default_root()
    root.mkdir(parents=True, exist_ok=True)
    name = safe_name(name)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f"{STAGING_PREFIX}{name}-"))
    try:
        os.chmod(staging, 0o755)
        for filename, data in (("config.json", config), ("history.json", history), ("metrics.json", metrics)):
            write_json_atomic(staging / filename, data)
        model.save(staging / "model.keras")
        if timeline is not None:
            from tal.engine.timeline import FILENAME, save

            save(staging / FILENAME, timeline)
        if replace and is_complete(root / name):
            _replace(staging, root / name)
            return Run(root / name)
        for _ in range(3):  # another writer may take the name between _unique and rename
            target = _unique(root, name)
            try:
                os.rename(staging, target)
                return Run(target)
            except OSError:
                if not target.exists():
                    raise
        raise FileExistsError(f"Could not find a free name for run {name!r} in {root}")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def delete_run(name_or_path: str | Path, root: str | Path | None = None) -> None:
    run = load_run(name_or_path, root)
    if run.shipped:
        raise PermissionError(f"{run.name!r} is a shipped demo model; it cannot be deleted from here.")
    shutil.rmtree(run.path)


def prune_staging(root: str | Path | None = None, older_than_s: float = 3600.0) -> int:
    """Remove staging folders left by killed writers; returns how many were removed.

    Called when the CLI starts a command that writes runs and when a training
    worker starts. A run's staging folder lives only while the run is saved
    (seconds; the demos' staging registry changes with each finished model),
    so one not modified for `older_than_s` seconds is abandoned.
    """
    root = Path(root) if root is not None else default_root()
    removed = 0
    if root.is_dir():
        for path in root.glob(f"{STAGING_PREFIX}*"):
            try:
                age = time.time() - path.stat().st_mtime
            except OSError:  # renamed into place by its writer (or removed by another pruner) meanwhile
                continue
            if age > older_than_s:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
    return removed
