"""The run registry: atomic writes, listing, loading and errors (no TensorFlow needed)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tal.engine import registry


class FakeModel:
    def save(self, path):
        Path(path).write_bytes(b"model")


def _write(root, name="run", **metrics):
    return registry.write_run(name, config={"model": {}, "train": {}}, history={"epochs": []},
                              metrics={"test_accuracy": 0.9, **metrics}, model=FakeModel(), root=root)


def test_write_list_and_load(tmp_path):
    run = _write(tmp_path, "first")
    assert sorted(p.name for p in run.path.iterdir()) == sorted(registry.RUN_FILES)
    assert [r.name for r in registry.list_runs(tmp_path)] == ["first"]
    loaded = registry.load_run("first", tmp_path)
    assert loaded.metrics["test_accuracy"] == 0.9 and loaded.path == run.path
    assert registry.load_run(run.path).name == "first"


def test_taken_names_get_a_suffix_and_names_are_cleaned(tmp_path):
    assert _write(tmp_path, "a b/c").name == "a-b-c"
    assert _write(tmp_path, "a b/c").name == "a-b-c-2"
    with pytest.raises(ValueError, match="letter or digit"):
        _write(tmp_path, "///")


def test_failed_write_leaves_nothing(tmp_path):
    class Broken:
        def save(self, path):
            Path(path).write_bytes(b"half")
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        registry.write_run("x", config={}, history={}, metrics={}, model=Broken(), root=tmp_path)
    assert list(tmp_path.iterdir()) == []


class Marked:
    """A model whose saved file says which one it is; `check(path)` runs while it is saved."""

    def __init__(self, mark: bytes, check=None):
        self.mark, self.check = mark, check

    def save(self, path):
        if self.check is not None:
            self.check(Path(path))
        Path(path).write_bytes(self.mark)


def _write_marked(root, name, mark, **kw):
    return registry.write_run(name, config={"mark": mark.decode()}, history={"epochs": []}, metrics={"m": 1},
                              model=Marked(mark, kw.pop("check", None)), root=root, **kw)


@pytest.mark.parametrize("swap", ["exchange", "two renames"])
def test_replace_puts_the_new_run_in_place_of_the_old_one(tmp_path, monkeypatch, swap):
    if swap == "two renames":  # where the system cannot swap two folders in one step
        monkeypatch.setattr(registry, "_exchange", lambda a, b: False)
    _write_marked(tmp_path, "r", b"old")

    def old_run_still_whole(path):  # the old run is untouched while the new one is written
        assert (tmp_path / "r" / "model.keras").read_bytes() == b"old" and registry.is_complete(tmp_path / "r")

    run = _write_marked(tmp_path, "r", b"new", replace=True, check=old_run_still_whole)
    assert run.path == tmp_path / "r" and (run.path / "model.keras").read_bytes() == b"new"
    assert run.config == {"mark": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no second run, no staging or old folder left
    assert _write_marked(tmp_path, "fresh", b"x", replace=True).name == "fresh"  # nothing to replace


def test_a_failed_or_interrupted_replacement_leaves_the_old_run(tmp_path):
    _write_marked(tmp_path, "r", b"old")

    class Broken:
        def __init__(self, error):
            self.error = error

        def save(self, path):
            Path(path).write_bytes(b"half")
            raise self.error

    for error in (OSError("disk full"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            registry.write_run("r", config={}, history={}, metrics={}, model=Broken(error), root=tmp_path,
                               replace=True)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]
        assert (tmp_path / "r" / "model.keras").read_bytes() == b"old"


def test_replace_is_one_step_readers_never_miss_the_run(tmp_path):
    import threading

    if not registry._exchange(tmp_path, tmp_path):  # swapping a folder with itself is a no-op
        pytest.skip("no atomic folder swap on this system")
    _write_marked(tmp_path, "r", b"0")
    done, missing = threading.Event(), []

    def read():
        while not done.is_set():
            if not registry.is_complete(tmp_path / "r"):
                missing.append(1)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for k in range(1, 40):
            _write_marked(tmp_path, "r", str(k).encode(), replace=True)
    finally:
        done.set()
        reader.join()
    assert missing == [] and (tmp_path / "r" / "model.keras").read_bytes() == b"39"


def test_replace_never_replaces_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "notes.txt").write_text("mine")
    with pytest.raises(registry.ConfigError, match="not a complete run, so it is not replaced.*'r-2'"):
        registry.check_name("r", tmp_path, if_exists="replace")
    assert _write_marked(tmp_path, "r", b"new", replace=True).name == "r-2"
    assert (tmp_path / "r" / "notes.txt").read_text() == "mine"


def test_check_name_refuses_a_taken_name_with_a_free_one(tmp_path):
    _write(tmp_path, "cli1")
    _write(tmp_path, "cli1")  # cli1-2
    assert registry.check_name("cli 1", tmp_path, if_exists="error") == "cli-1"  # free, made folder-safe
    assert registry.check_name("cli1", tmp_path) == "cli1"  # "rename": taken is fine
    assert registry.check_name("cli1", tmp_path, if_exists="replace") == "cli1"
    assert registry.check_name(None, tmp_path, if_exists="error") is None  # automatic names
    with pytest.raises(registry.RunExistsError, match="'cli1' already exists") as taken:
        registry.check_name("cli1", tmp_path, if_exists="error")
    assert (taken.value.name, taken.value.free, taken.value.root) == ("cli1", "cli1-3", tmp_path)
    assert registry.free_name("cli1", tmp_path) == "cli1-3" and registry.free_name("new", tmp_path) == "new"
    with pytest.raises(registry.ConfigError, match="if_exists"):
        registry.check_name("x", tmp_path, if_exists="overwrite")


def test_incomplete_folders_are_not_runs(tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "SHIPPED_DIR", tmp_path / "no-shipped-models")
    (tmp_path / "manual").mkdir()
    (tmp_path / "manual" / "config.json").write_text("{}")
    (tmp_path / ".staging-x-123").mkdir()
    assert registry.list_runs(tmp_path) == []
    with pytest.raises(registry.RunNotFoundError, match="no runs yet"):
        registry.load_run("manual", tmp_path)


def test_run_killed_mid_write_is_not_listed(tmp_path):
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from tal.engine import registry

        class SlowModel:
            def save(self, path):
                Path(path).write_bytes(b"partial")
                print("saving", flush=True)
                time.sleep(60)

        registry.write_run("victim", config={{}}, history={{}}, metrics={{}}, model=SlowModel(), root={str(tmp_path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        assert proc.stdout.readline().strip() == "saving"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    staging = [p for p in tmp_path.iterdir() if p.name.startswith(registry.STAGING_PREFIX)]
    assert len(staging) == 1 and (staging[0] / "model.keras").exists()
    assert registry.list_runs(tmp_path) == []
    assert not (tmp_path / "victim").exists()
    assert registry.prune_staging(tmp_path, older_than_s=0) == 1
    assert list(tmp_path.iterdir()) == []


def _staging(root: Path, name: str, age_s: float) -> Path:
    """A staging folder last modified `age_s` seconds ago."""
    path = root / f"{registry.STAGING_PREFIX}{name}"
    path.mkdir(parents=True)
    (path / "model.keras").write_bytes(b"partial")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_prune_staging_removes_only_folders_older_than_the_limit(tmp_path):
    stale, fresh = _staging(tmp_path, "killed", 7200), _staging(tmp_path, "saving-now", 5)
    run = _write(tmp_path, "kept")
    assert registry.prune_staging(tmp_path) == 1  # default: an hour
    assert not stale.exists() and fresh.exists() and run.path.exists()
    assert registry.prune_staging(tmp_path, older_than_s=60) == 0
    assert registry.prune_staging(tmp_path / "no-such-folder") == 0


def test_write_json_atomic_never_leaves_temp_files(tmp_path):
    registry.write_json_atomic(tmp_path / "a.json", {"x": [1, 2]})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": [1, 2]}
    with pytest.raises(TypeError):
        registry.write_json_atomic(tmp_path / "b.json", {"x": object()})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_save_npz_atomic_keeps_the_name_and_cleans_up(tmp_path):
    import numpy as np

    from tal.engine.files import save_npz_atomic

    target = tmp_path / "out" / "maps.npz"
    save_npz_atomic(target, a=np.arange(3))
    with np.load(target) as saved:
        assert saved["a"].tolist() == [0, 1, 2]
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    class Broken:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("no array")

    with pytest.raises(RuntimeError):
        save_npz_atomic(target, ok=np.arange(2), b=Broken())
    assert sorted(p.name for p in target.parent.iterdir()) == ["maps.npz"]
    with np.load(target) as saved:
        assert list(saved) == ["a"]  # the failed write left the old file alone


def test_listing_is_newest_first_and_delete(tmp_path):
    old = _write(tmp_path, "old")
    os.utime(old.path, (time.time() - 100, time.time() - 100))
    _write(tmp_path, "new")
    assert [r.name for r in registry.list_runs(tmp_path)] == ["new", "old"]
    registry.delete_run("old", tmp_path)
    assert [r.name for r in registry.list_runs(tmp_path)] == ["new"]


def test_default_root_follows_the_environment(runs_dir):
    assert registry.default_root() == runs_dir
    _write(None, "env")
    assert registry.load_run("env").path == runs_dir / "env"
