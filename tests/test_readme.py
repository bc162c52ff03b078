"""The README's library example runs as written (in a scratch folder)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_two_quickstart_commands():
    text = README.read_text()
    assert "python -m pip install -r requirements.txt && streamlit run app.py" in text
    assert "python -m pip install -r requirements-dev.txt && python -m pytest" in text


@pytest.mark.slow
def test_library_example_runs(tmp_path, monkeypatch, mnist_path, runs_dir):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAL_DATA_DIR", str(mnist_path))
    digit = Image.new("L", (80, 100), 255)
    ImageDraw.Draw(digit).ellipse([15, 10, 65, 90], outline=0, width=9)  # a "0"
    digit.save(tmp_path / "my_digit.png")
    (block,) = python_blocks()
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["result"].run.path == runs_dir / "my-run"
    assert namespace["maps"]["A"].shape == (8, 7, 7, 10)
    assert namespace["layer_maps"]["score"].shape == (2, 10)
    assert namespace["timeline"]["A"].shape[1:] == (10, 7, 7, 10)
    assert 0 <= namespace["scores"]["methods"]["A"]["pointing"]["overall"] <= 1
    assert "mean_auc" in namespace["md"].metrics
