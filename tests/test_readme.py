"""The README's library example runs as written (in a scratch folder)."""
from __future__ import annotations

import re
from pathlib import Path

import keras
import numpy as np

import pytest
from fresh import python
from PIL import Image, ImageDraw

README = Path(__file__).resolve().parents[1] / "README.md"


def python_block(section: str) -> str:
    """The one Python example under the README heading `## {section}`."""
    text = README.read_text().split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    return block


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
    block = python_block("The library")
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    assert namespace["result"].run.path == runs_dir / "my-run"
    assert namespace["maps"]["A"].shape == (8, 7, 7, 10)
    assert namespace["layer_maps"]["score"].shape == (2, 10)
    assert namespace["timeline"]["A"].shape[1:] == (10, 7, 7, 10)
    assert 0 <= namespace["scores"]["methods"]["A"]["pointing"]["overall"] <= 1
    assert "mean_auc" in namespace["md"].metrics


def small_densenet(**kwargs):
    """Keras's DenseNet builder with 2 layers per dense block instead of DenseNet-121's 6/12/24/16.

    The README test swaps it in for `keras.applications.DenseNet121`: tracing DenseNet-121's
    training step alone takes ~60 s on 2 cores, and everything of tal's in the recipe (the
    layers on DenseNet features, the losses with one-hot labels, fit, save, load after only
    `import tal`, the maps) runs the same on the smaller network.
    """
    from keras.src.applications.densenet import DenseNet  # the builder behind DenseNet121

    return DenseNet([2, 2, 2, 2], **kwargs)


def test_own_model_example_shapes_are_densenet121s():
    """What the README states about DenseNet-121 on 32x32 inputs: a 1x1 grid of 1,024 channels."""
    base = keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(32, 32, 1))
    assert tuple(base.output.shape) == (None, 1, 1, 1024)
    assert "(8, 1, 1, 10), (8, 1024)" in python_block("Use the layers in your own Keras model")
    assert tuple(base.get_layer("conv3_block12_concat").output.shape[1:3]) == (4, 4)  # "(4×4)" in the README


@pytest.mark.slow
def test_own_model_example_trains_saves_and_loads_after_only_import_tal(tmp_path, monkeypatch, mnist_path):
    """The DenseNet recipe: one-hot labels through plain fit, weighted aux loss, maps, .keras round trip."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAL_DATA_DIR", str(mnist_path))
    monkeypatch.setattr(keras.applications, "DenseNet121", small_densenet)
    namespace: dict = {}
    exec(compile(python_block("Use the layers in your own Keras model"), "README.md", "exec"), namespace)  # noqa: S102
    model, x_test, maps = namespace["model"], namespace["x_test"], namespace["maps"]
    history = model.history.history
    assert np.isfinite(history["loss"][-1]) and history["aux_loss"][-1] > 0  # the auxiliary head was trained
    np.testing.assert_allclose(maps["element"]["A"].sum(axis=(1, 2)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(maps["element"]["score"], (maps["element"]["A"] * maps["element"]["S"]).sum(axis=(1, 2)),
                               rtol=1e-4, atol=1e-5)
    assert maps["channel"]["gate"].shape == (8, model.get_layer("channel").input.shape[-1])
    np.save(tmp_path / "x.npy", x_test[:4])
    np.save(tmp_path / "expected.npy", model.predict(x_test[:4], verbose=0)["main"])
    check = (  # a fresh interpreter that has imported nothing of tal but the package
        "import numpy as np, tal, keras\n"
        "model = keras.saving.load_model('densenet_tal.keras')\n"
        "out = model.predict(np.load('x.npy'), verbose=0)['main']\n"
        "np.testing.assert_allclose(out, np.load('expected.npy'), rtol=1e-4, atol=1e-6)\n"
        "print('loaded', type(model.get_layer('element')).__name__)\n"
    )
    done = python("-c", check, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "loaded ElementWiseAttention" in done.stdout
