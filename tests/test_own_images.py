"""Your own images end to end: safe unzipping, the Train form's block, training through tal.train, the CLI
and the app, and predicting with the data's own preparation."""
from __future__ import annotations

import io
import json
import stat
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from tal.core.config import DataConfig, ModelConfig, TrainConfig
from tal.data.unzip import UnpackError, data_folder, unpack

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TAL_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def examples(tmp_path_factory):
    from tal.data.examples import write_examples

    return write_examples(tmp_path_factory.mktemp("own") / "examples", per_class=40, table_images=120)


def _zip(entries: dict, *, method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _png_bytes(value=128) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (12, 12), value).save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------- unzipping


def test_a_zip_is_unpacked_once_into_a_folder_named_by_its_content(tmp_path):
    data = _zip({"pets/cat/1.png": _png_bytes(), "pets/dog/1.png": _png_bytes(9), "__MACOSX/pets/._x": b"x"})
    folder = unpack(data, tmp_path)
    assert data_folder(folder).name == "pets" and (folder / "pets" / "dog" / "1.png").is_file()
    assert not (folder / "__MACOSX").exists()
    assert unpack(data, tmp_path) == folder and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("name", ["../evil.png", "/etc/evil.png", "a/../../evil.png", "C:/evil.png"])
def test_zip_slip_is_refused_and_nothing_is_written(tmp_path, name):
    with pytest.raises(UnpackError, match="outside its folder"):
        unpack(_zip({"ok/a.png": _png_bytes(), name: b"x"}), tmp_path / "up")
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "up").exists()  # refused before any write


def test_zip_bombs_links_and_oversize_zips_are_refused(tmp_path):
    with pytest.raises(UnpackError, match="zip bomb"):
        unpack(_zip({"zeros.png": b"\0" * (50 * 1024 * 1024)}), tmp_path)
    with pytest.raises(UnpackError, match="at most"):
        unpack(_zip({"a.png": _png_bytes(), "b.png": _png_bytes(3)}, method=zipfile.ZIP_STORED), tmp_path,
               max_bytes=100)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    with pytest.raises(UnpackError, match="link"):
        unpack(buf.getvalue(), tmp_path)
    with pytest.raises(UnpackError, match="not a .zip"):
        unpack(b"PK but not really", tmp_path)
    assert not [p for p in tmp_path.iterdir()]  # nothing half-written anywhere


# ----------------------------------------------------------------- the Train form


def _train_page(tmp_path, monkeypatch) -> AppTest:
    import tal.engine.registry

    monkeypatch.setenv("TAL_RUNS_DIR", str(tmp_path / "runs"))
    shipped = tmp_path / "shipped"
    shipped.mkdir(exist_ok=True)
    monkeypatch.setattr(tal.engine.registry, "SHIPPED_DIR", shipped)
    at = AppTest.from_file(APP, default_timeout=120)
    at.switch_page("app_pages/train.py")
    return at.run()


def test_the_form_lists_a_folder_before_training_and_says_what_is_wrong(tmp_path, monkeypatch, examples):
    at = _train_page(tmp_path, monkeypatch)
    at.selectbox(key="train.dataset").set_value("folder").run()
    assert any("needs data_dir" in c.value for c in at.caption)
    at.text_input(key="train.data_dir").input(str(tmp_path / "nowhere")).run()
    assert any("does not exist" in e.value for e in at.error) and not at.exception
    at.text_input(key="train.data_dir").input(str(examples["folder"])).run()
    assert any("120 images, 3 classes (one class per image): circle 40, square 40, triangle 40" in c.value
               for c in at.caption), [c.value for c in at.caption]
    assert "data_dir" in at.query_params  # a link carries the folder
    at.selectbox(key="train.dataset").set_value("csv").run()
    table = examples["csv"]
    at.text_input(key="train.data_dir").input(str(table / "images")).run()
    at.text_input(key="train.labels_file").input(str(table / "Data_Entry.csv")).run()
    at.text_input(key="train.boxes_file").input(str(table / "BBox_List.csv")).run()
    assert any("Round" in e.value and "box_aliases" in e.value for e in at.error)
    at.text_input(key="train.box_aliases").input("Round=Circle").run()
    assert any("several labels per image" in c.value and "boxes" in c.value for c in at.caption)
    assert not at.exception


@pytest.mark.slow
def test_the_app_trains_on_a_folder_and_inspect_names_its_classes(tmp_path, monkeypatch, examples):
    at = _train_page(tmp_path, monkeypatch)
    at.selectbox(key="train.dataset").set_value("folder").run()
    at.text_input(key="train.data_dir").input(str(examples["folder"])).run()
    at.number_input(key="train.image_size").set_value(32).run()
    at.number_input(key="train.epochs").set_value(1).run()
    at.text_input(key="train.name").input("shapes").run()
    at.button(key="train.start").click().run()
    job = at.session_state["train_job"]
    assert job.wait(240) and job.status == "completed", job.error_details
    at.run()
    assert not at.exception and any("Finished" in s.value for s in at.success)
    inspect = AppTest.from_file(APP, default_timeout=120)
    inspect.query_params["run"] = "shapes"
    inspect.switch_page("app_pages/inspect.py")
    inspect.run()
    assert not inspect.exception
    shown = " ".join(str(getattr(e, "options", "")) for e in inspect.get("segmented_control"))
    assert "circle" in shown and "triangle" in shown, shown


# ----------------------------------------------------------------- the library and the CLI


@pytest.mark.slow
def test_a_short_training_from_each_layout(tmp_path, examples):
    import tal

    table = examples["csv"]
    layouts = {
        "folder": DataConfig(dataset="folder", data_dir=str(examples["folder"]), image_size=24),
        "csv": DataConfig(dataset="csv", data_dir=str(table / "images"), labels_file=str(table / "Data_Entry.csv"),
                          boxes_file=str(table / "BBox_List.csv"), test_list=str(table / "test_list.txt"),
                          box_aliases=("Round=Circle",), image_size=24),
        "npz": DataConfig(dataset="npz", data_dir=str(examples["npz"]), class_names=("circle", "square", "triangle"),
                          train_size=300),
    }
    for layout, data in layouts.items():
        result = tal.train(ModelConfig(), TrainConfig(epochs=1, batch_size=32, timeline=False, data=data),
                           runs_dir=tmp_path / "runs", name=layout)
        card = json.loads((result.run.path / "config.json").read_text())
        assert result.metrics["status"] == "completed", layout
        assert tuple(card["data"]["class_names"]) == result.run.class_names
        if layout == "csv":
            assert result.run.class_names == ("Circle", "Square", "Triangle") and "mean_auc" in result.metrics
            assert result.run.model_config.input_shape == (24, 24, 1) and result.run.model_config.multi_label
        elif layout == "folder":
            assert result.run.model_config.input_shape == (24, 24, 3) and "test_accuracy" in result.metrics
        else:
            assert result.run.class_names == ("circle", "square", "triangle")


@pytest.mark.slow
def test_cli_trains_on_a_folder_and_predicts_with_its_preparation(tmp_path, examples, capsys):
    from tal.cli import main

    runs = str(tmp_path / "runs")
    assert main(["train", "--dataset", "folder", "--data-dir", str(examples["folder"]), "--image-size", "24",
                 "--epochs", "1", "--name", "shapes", "--runs-dir", runs, "--quiet", "--no-timeline"]) == 0
    capsys.readouterr()
    photo = tmp_path / "big.jpg"
    Image.new("RGB", (300, 120), (200, 30, 30)).save(photo)
    assert main(["predict", "shapes", str(photo), "--runs-dir", runs, "--maps", str(tmp_path / "m.npz")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["results"][0]["class"] in ("circle", "square", "triangle")
    images = np.load(tmp_path / "m.npz")["images"]
    assert images.shape == (1, 24, 24, 3)  # fitted and kept in colour, not made an MNIST digit
    assert (images[0, :4] == 0).all() and images[0, 12, 12, 0] > 0.7  # letterbox bars above, the red inside


def test_cli_bad_own_data_is_one_error_line(tmp_path, capsys):
    from tal.cli import main

    assert main(["train", "--dataset", "folder", "--data-dir", str(tmp_path / "nowhere"), "--runs-dir",
                 str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"tal: error: The folder {tmp_path / 'nowhere'} does not exist (or is not a folder)."]
    assert main(["train", "--dataset", "csv", "--data-dir", str(tmp_path)]) == 2
    assert "needs labels_file" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_cli_example_data_prints_the_commands(tmp_path, capsys):
    from tal.cli import main

    assert main(["example-data", str(tmp_path / "ex")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out["written"]) == {"folder", "csv", "npz"} and "--box-aliases Round=Circle" in out["train"]["csv"]
    assert main(["example-data", str(tmp_path / "ex")]) == 2
    assert "not empty" in capsys.readouterr().err
