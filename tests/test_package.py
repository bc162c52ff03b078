"""`pip install .`: a wheel built from the repository installs in a fresh virtualenv, with a `tal` command."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd, **kwargs):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          **kwargs)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _site_folders() -> list[str]:
    """The site-packages folders on this interpreter's path (a virtualenv's, and the base's if it sees them)."""
    return [p for p in sys.path if Path(p).name in ("site-packages", "dist-packages") and Path(p).is_dir()]


@pytest.mark.slow
def test_a_wheel_installs_in_a_fresh_virtualenv_and_the_tal_command_works(tmp_path):
    source = tmp_path / "source"  # built from a copy, so the build leaves nothing in the repository
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "tal", source / "tal", ignore=shutil.ignore_patterns("__pycache__"))
    # offline: no build isolation, no dependencies fetched (the virtualenv sees this Python's packages)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", tmp_path / "dist", source,
        cwd=tmp_path)
    (wheel,) = (tmp_path / "dist").glob("tal_explorer-*.whl")
    import tal

    assert wheel.name.startswith(f"tal_explorer-{tal.__version__}-py3-none-any")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tal/core/layers/element.py" in names and "tal/ui/jobs.py" in names
    metadata = zipfile.ZipFile(wheel).read(f"tal_explorer-{tal.__version__}.dist-info/METADATA").decode()
    assert "Requires-Dist: keras==3.15.*" in metadata and "Provides-Extra: app" in metadata
    entry_points = zipfile.ZipFile(wheel).read(f"tal_explorer-{tal.__version__}.dist-info/entry_points.txt").decode()
    assert "tal = tal.cli:main" in entry_points

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=tmp_path)
    python, command = venv / "bin" / "python", venv / "bin" / "tal"
    # The dependencies come from the interpreter running the tests, whether it is a virtualenv or the
    # system Python (`--system-site-packages` would see only the base interpreter's packages): its site
    # folders (with their own .pth files) go on the new environment's path after the environment's own,
    # so the wheel's copy of tal wins.
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path)
    (Path(purelib.stdout.strip()) / "tests-dependencies.pth").write_text(
        "".join(f"import site; site.addsitedir({folder!r})\n" for folder in _site_folders()))
    run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel, cwd=tmp_path)
    help_text = run(command, "--help", cwd=tmp_path).stdout
    assert "train" in help_text and "export" in help_text
    where = run(python, "-c", "import tal, tal.layers; print(tal.__file__)", cwd=tmp_path).stdout.strip()
    assert where.startswith(str(venv)), where  # the installed copy, not the repository
    listed = run(command, "runs", "--no-shipped", "--runs-dir", tmp_path / "runs", cwd=tmp_path)
    assert "No runs" in listed.stdout + listed.stderr or listed.stdout.strip() in ("", "[]")
