"""Your own images: pictures fitted to a square, the decode cache, class folders, label tables, MedMNIST files.

Every layout is written by hand in tmp_path, and what is read back (labels,
splits, boxes in the fitted image's pixels) is checked against numbers worked
out by hand. Nothing here trains (see test_training.py for that).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tal.core.config import ConfigError, DataConfig
from tal.data import image_cache, pictures
from tal.data.datasets import load_dataset
from tal.data.sources import SourceError
from tal.data.sources.listing import Listing, plan_splits
from tal.engine import identity


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TAL_CACHE_DIR", str(tmp_path / "cache"))


def _png(path: Path, value=255, size=(10, 10), mode="L"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)
    return path


def _classes(root: Path, counts: dict, size=(12, 8)):
    for name, n in counts.items():
        for i in range(n):
            _png(root / name / f"{i}.png", value=40 * (list(counts).index(name) + 1), size=size)
    return root


# ----------------------------------------------------------------- pictures


def test_letterbox_geometry_and_boxes_by_hand():
    g = pictures.Letterbox(width=200, height=100, size=20)
    assert g.scale == 0.1 and g.inner == (20, 10) and g.offset == (0, 5)
    # x=50, y=20, w=40, h=30 → rows 20·0.1+5 = 7 … 50·0.1+5 = 10, columns 5 … 9
    assert g.box(50, 20, 40, 30) == (7, 5, 10, 9)
    assert g.box(-10, -10, 500, 500) == (4, 0, 20, 20)  # clipped to the square


def test_fit_pads_keeping_the_aspect_and_reads_16_bit_and_transparency(tmp_path):
    img = Image.new("L", (40, 20), 200)
    out = pictures.fit(img, 10, 1)
    assert out.shape == (10, 10, 1) and out.dtype == np.uint8
    assert (out[:2] == 0).all() and (out[-3:] == 0).all() and (out[3:7] == 200).all()  # 5 rows of picture, centred
    deep = tmp_path / "deep.png"
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(deep)  # half of the 16-bit range
    image, original, colour = pictures.read(deep, 8)
    assert original == (8, 8) and not colour and abs(int(image[4, 4, 0]) - 128) <= 1  # not clipped to white
    clear = tmp_path / "clear.png"
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(clear)
    image, _, colour = pictures.read(clear, 8)
    assert colour and image.shape == (8, 8, 3) and (image == 255).all()  # over white, not black


def test_bad_files_raise_image_errors(tmp_path):
    from tal.data.preprocess import ImageError

    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageError, match="not an image"):
        pictures.read_checked(tmp_path / "text.png", 8)
    good = _png(tmp_path / "good.png", size=(64, 64))
    (tmp_path / "cut.png").write_bytes(good.read_bytes()[:60])
    with pytest.raises(ImageError):
        pictures.read_checked(tmp_path / "cut.png", 8)
    bomb = tmp_path / "bomb.png"
    Image.new("1", (5000, 5000)).save(bomb)  # 25 megapixels in a few KB
    with pytest.raises(ImageError, match="megapixels"):
        pictures.read_checked(bomb, 8)


# ----------------------------------------------------------------- cache


def test_the_cache_is_reused_and_notices_a_changed_file(tmp_path):
    root = _classes(tmp_path / "imgs", {"a": 3})
    files = [f"a/{i}.png" for i in range(3)]
    first = image_cache.decode_files(root, files, size=8)
    assert first.decoded == 3 and first.pixels.shape == (3, 8, 8, 1)
    again = image_cache.decode_files(root, files, size=8)
    assert again.decoded == 0 and np.array_equal(again.pixels, first.pixels)
    _png(root / "a" / "1.png", value=7, size=(12, 8))
    stat = (root / "a" / "1.png").stat()
    os.utime(root / "a" / "1.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    changed = image_cache.decode_files(root, files, size=8)
    assert changed.decoded == 1
    assert changed.pixels[1, 4, 4, 0] == 7 and np.array_equal(changed.pixels[[0, 2]], first.pixels[[0, 2]])
    assert image_cache.decode_files(root, files, size=16).decoded == 3  # another side: its own cache


def test_a_broken_cache_index_means_decoding_afresh(tmp_path):
    root = _classes(tmp_path / "imgs", {"a": 2})
    files = ["a/0.png", "a/1.png"]
    image_cache.decode_files(root, files, size=8)
    (index,) = Path(os.environ["TAL_CACHE_DIR"]).rglob("index.json")
    index.write_text("{ half")
    assert image_cache.decode_files(root, files, size=8).decoded == 2


def test_gray_and_colour_pictures_share_one_cache(tmp_path):
    root = tmp_path / "imgs"
    _png(root / "g.png", value=100)
    _png(root / "c.png", value=(255, 0, 0), mode="RGB")
    auto = image_cache.decode_files(root, ["g.png", "c.png"], size=4)
    assert auto.any_color and auto.pixels.shape == (2, 4, 4, 3) and (auto.pixels[0] == 100).all()
    gray = image_cache.decode_files(root, ["g.png", "c.png"], size=4, channels=1)
    assert gray.decoded == 0 and gray.pixels.shape == (2, 4, 4, 1)
    assert gray.pixels[1, 0, 0, 0] == round(0.299 * 255)  # luma of pure red


# ----------------------------------------------------------------- class folders


def test_class_folders_read_back_with_sorted_class_names(tmp_path):
    root = _classes(tmp_path / "pets", {"dog": 6, "cat": 4})
    _png(root / "loose.png")
    (root / "cat" / "readme.txt").write_text("hi")
    (root / "dog" / "broken.png").write_bytes(b"\x89PNG junk")
    data = load_dataset(DataConfig(dataset="folder", data_dir=str(root), image_size=8, val_fraction=0.0,
                                   test_fraction=0.3))
    assert data.class_names == ("cat", "dog") and data.input_shape == (8, 8, 1)
    assert len(data.y_train) + len(data.y_test) == 10  # 4 cats + 6 readable dogs
    every = np.concatenate([data.x_train, data.x_test])[:, 4, 4, 0]
    labels = np.concatenate([data.y_train, data.y_test])
    assert np.allclose(every[labels == 0], 80 / 255) and np.allclose(every[labels == 1], 40 / 255)  # cat 80, dog 40
    notes = " ".join(data.notes)
    assert "1 image(s) directly in" in notes and "not images by their name" in notes
    assert "1 file(s) could not be read" in notes and "broken.png" in notes


def test_split_folders_are_used_as_they_are(tmp_path):
    root = tmp_path / "data"
    _classes(root / "train", {"a": 5, "b": 5})
    _classes(root / "test", {"a": 2, "b": 1})
    _classes(root / "val", {"a": 1, "b": 1})
    data = load_dataset(DataConfig(dataset="folder", data_dir=str(root), image_size=8))
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (10, 2, 3)
    assert sorted(data.y_test.tolist()) == [0, 0, 1]


@pytest.mark.parametrize("make, message", [
    (lambda r: r, "does not exist"),
    (lambda r: r.mkdir() or r, "has no class folders"),
    (lambda r: _classes(r, {"only": 2}), "one class folder"),
    (lambda r: (_classes(r, {"a": 2}), (r / "b").mkdir(), (r / "b" / "x.txt").write_text("x"))[0], "holds no image"),
])
def test_class_folder_mistakes_get_one_clear_message(tmp_path, make, message):
    root = make(tmp_path / "pics")
    with pytest.raises(SourceError, match=message):
        load_dataset(DataConfig(dataset="folder", data_dir=str(root)))


def test_a_class_whose_images_are_all_unreadable_is_an_error(tmp_path):
    root = _classes(tmp_path / "pics", {"a": 3})
    (root / "b").mkdir()
    (root / "b" / "0.png").write_text("nope")
    with pytest.raises(SourceError, match="No readable training image of the class"):
        load_dataset(DataConfig(dataset="folder", data_dir=str(root), test_fraction=0.3))


# ----------------------------------------------------------------- label tables

NIH_HEADER = ("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
              "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n")


def _nih(tmp_path, rows, *, width=200, height=100):
    """Images named like ChestX-ray14's and its Data_Entry table: rows of (file, findings, patient)."""
    images = tmp_path / "images"
    for file, _, _ in rows:
        _png(images / "sub" / file, value=90, size=(width, height))
    table = tmp_path / "Data_Entry_2017.csv"
    table.write_text(NIH_HEADER + "".join(f"{f},{labels},0,{p},50,M,PA,{width},{height},0.14,0.14\n"
                                          for f, labels, p in rows))
    return images, table


def test_chestxray_table_labels_and_boxes_by_hand(tmp_path):
    rows = [("00000001_000.png", "Cardiomegaly|Effusion", 1), ("00000002_000.png", "No Finding", 2),
            ("00000003_000.png", "Infiltration", 3), ("00000004_000.png", "Effusion", 4)]
    images, table = _nih(tmp_path, rows)
    boxes = tmp_path / "BBox_List_2017.csv"
    boxes.write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n"
                     "00000001_000.png,Effusion,50,20,40,30,,,\n"
                     "00000003_000.png,Infiltrate,0,0,200,100,,,\n"
                     "00000003_000.png,Effusion,300,10,5,5,,,\n"
                     "99999999_000.png,Effusion,1,1,1,1,,,\n")
    (tmp_path / "test_list.txt").write_text("00000001_000.png\n00000003_000.png\n")
    config = DataConfig(dataset="csv", data_dir=str(images), labels_file=str(table), boxes_file=str(boxes),
                        test_list=str(tmp_path / "test_list.txt"), image_size=20, box_aliases=("Infiltrate=Infiltration",))
    data = load_dataset(config)
    assert data.class_names == ("Cardiomegaly", "Effusion", "Infiltration") and data.multi_label
    assert len(data.y_test) == 2 and data.y_test.tolist() == [[1, 1, 0], [0, 0, 1]]
    assert sorted(map(tuple, np.concatenate([data.y_train, data.y_val]).tolist())) == [(0, 0, 0), (0, 1, 0)]
    objects = data.objects("test")
    assert objects[0, 0].tolist() == [1, 7, 5, 10, 9]  # Effusion, scaled 0.1 and moved down 5 (see the letterbox test)
    assert objects[1, 0].tolist() == [2, 5, 0, 15, 20]  # the whole picture: rows 5 … 15 of the square
    assert (objects[0, 1:, 0] == -1).all() and (objects[1, 1:, 0] == -1).all()
    notes = " ".join(data.notes)
    assert "1 box(es) lie outside their image" in notes and "99999999_000.png" in notes
    assert config.multi_label


def test_a_box_label_matching_no_class_is_named_with_the_fix(tmp_path):
    images, table = _nih(tmp_path, [("00000001_000.png", "Infiltration", 1), ("00000002_000.png", "Mass", 2)])
    boxes = tmp_path / "b.csv"
    boxes.write_text("Image Index,Finding Label,Bbox [x,y,w,h],,,\n00000001_000.png,Infiltrate,1,1,5,5,,,\n")
    with pytest.raises(SourceError, match=r"Infiltrate \(1 boxes\).*--box-aliases Infiltrate=CLASS"):
        load_dataset(DataConfig(dataset="csv", data_dir=str(images), labels_file=str(table), boxes_file=str(boxes)))


def test_the_split_is_by_patient_with_no_patient_on_both_sides(tmp_path):
    rows = [(f"{p:08d}_{k:03d}.png", "Mass" if (p + k) % 2 else "Nodule", p) for p in range(1, 31) for k in range(3)]
    images, table = _nih(tmp_path, rows, width=16, height=16)
    data_config = DataConfig(dataset="csv", data_dir=str(images), labels_file=str(table), image_size=8,
                             val_fraction=0.2, test_fraction=0.3)
    from tal.data.sources import list_source

    listing = list_source(data_config)
    parts = plan_splits(listing, val_fraction=0.2, test_fraction=0.3, train_size=None, test_size=None, seed=0)
    patients = {s: set(listing.groups[rows_].tolist()) for s, rows_ in parts.items()}
    assert not (patients["train"] & patients["test"]) and not (patients["val"] & patients["test"])
    assert not (patients["train"] & patients["val"])
    assert sum(map(len, parts.values())) == 90 and 20 <= len(parts["test"]) <= 32
    assert all(len(rows_) % 3 == 0 for rows_ in parts.values())  # whole patients (three images each)


def test_table_mistakes_get_one_clear_message(tmp_path):
    images, table = _nih(tmp_path, [("00000001_000.png", "Mass", 1), ("00000002_000.png", "Nodule", 2)])
    base = dict(dataset="csv", data_dir=str(images), labels_file=str(table))
    with pytest.raises(SourceError, match="outside class_names: Nodule"):
        load_dataset(DataConfig(**base, class_names=("Mass",)))
    escape = tmp_path / "escape.csv"
    escape.write_text("Image Index,Finding Labels\n../secret.png,Mass\n")
    with pytest.raises(SourceError, match="leaves the image folder"):
        load_dataset(DataConfig(**{**base, "labels_file": str(escape)}))
    with pytest.raises(SourceError, match="does not exist"):
        load_dataset(DataConfig(**{**base, "labels_file": str(tmp_path / "nope.csv")}))
    gone = tmp_path / "gone.csv"
    gone.write_text("Image Index,Finding Labels\n" + "".join(f"missing_{i}.png,Mass\n" for i in range(5))
                    + "00000001_000.png,Mass\n00000002_000.png,Nodule\n")
    data = load_dataset(DataConfig(**{**base, "labels_file": str(gone)}, test_fraction=0.5, val_fraction=0.0))
    assert "5 row(s) of gone.csv name a file that is not in" in " ".join(data.notes)
    assert "missing_0.png, missing_1.png, missing_2.png and 2 more" in " ".join(data.notes)
    with pytest.raises(ConfigError, match="needs labels_file"):
        DataConfig(dataset="csv", data_dir=str(images))


@pytest.mark.parametrize("policy, expected", [("zeros", [[1, 0], [0, 0], [0, 1]]), ("ones", [[1, 1], [0, 1], [0, 1]]),
                                              ("skip", [[0, 1]])])
def test_one_column_per_class_with_an_uncertain_policy(tmp_path, policy, expected):
    images = tmp_path / "CheXpert-v1.0-small"
    for i in range(3):
        _png(images / "train" / f"patient0000{i}" / "study1" / "view1_frontal.jpg".replace(".jpg", ".png"))
    table = tmp_path / "train.csv"
    table.write_text("Path,Sex,Age,Edema,Pleural Effusion\n"
                     "CheXpert-v1.0-small/train/patient00000/study1/view1_frontal.png,Male,68,1.0,-1.0\n"
                     "CheXpert-v1.0-small/train/patient00001/study1/view1_frontal.png,Female,87,,-1.0\n"
                     "CheXpert-v1.0-small/train/patient00002/study1/view1_frontal.png,Male,50,0.0,1.0\n")
    from tal.data.sources import list_source

    listing = list_source(DataConfig(dataset="csv", data_dir=str(images), labels_file=str(table), uncertain=policy))
    assert listing.class_names == ("Edema", "Pleural Effusion")
    assert listing.labels.tolist() == expected
    assert set(listing.groups.tolist()) <= {"patient00000", "patient00001", "patient00002"}


# ----------------------------------------------------------------- MedMNIST files


def _npz(path, *, labels_shape=1, colour=False, n=(20, 6, 8)):
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n):
        shape = (count, 28, 28, 3) if colour else (count, 28, 28)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape).astype(np.uint8)
        arrays[f"{split}_labels"] = (rng.integers(0, 3, (count, 1)) if labels_shape == 1
                                     else rng.integers(0, 2, (count, labels_shape))).astype(np.uint8)
        arrays[f"{split}_labels"][: 3 if labels_shape == 1 else 0, 0] = [0, 1, 2][: 3 if labels_shape == 1 else 0]
    np.savez(path, **arrays)
    return arrays


def test_medmnist_file_read_back_single_and_multi_label(tmp_path):
    arrays = _npz(tmp_path / "organ.npz")
    data = load_dataset(DataConfig(dataset="npz", data_dir=str(tmp_path / "organ.npz"), class_names=("x", "y", "z")))
    assert data.class_names == ("x", "y", "z") and data.input_shape == (28, 28, 1) and not data.multi_label
    assert np.array_equal(data.y_test, arrays["test_labels"][:, 0]) and len(data.y_val) == 6
    assert np.allclose(data.x_test[..., 0], arrays["test_images"] / 255.0)
    multi = _npz(tmp_path / "chest.npz", labels_shape=14, colour=True)
    config = DataConfig(dataset="npz", data_dir=str(tmp_path / "chest.npz"), image_size=14)
    data = load_dataset(config)
    assert config.multi_label and data.multi_label and data.input_shape == (14, 14, 3)
    assert data.class_names[:2] == ("class 0", "class 1") and np.array_equal(data.y_test, multi["test_labels"])


def test_medmnist_mistakes_get_one_clear_message(tmp_path):
    np.savez(tmp_path / "half.npz", train_images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(SourceError, match="lacks test_images, test_labels, train_labels"):
        load_dataset(DataConfig(dataset="npz", data_dir=str(tmp_path / "half.npz")))
    _npz(tmp_path / "organ.npz")
    with pytest.raises(SourceError, match="3 classes but 2 class name"):
        load_dataset(DataConfig(dataset="npz", data_dir=str(tmp_path / "organ.npz"), class_names=("a", "b")))
    (tmp_path / "junk.npz").write_text("junk")
    with pytest.raises(SourceError, match="not a readable .npz"):
        load_dataset(DataConfig(dataset="npz", data_dir=str(tmp_path / "junk.npz")))


# ----------------------------------------------------------------- the rest


def test_example_datasets_load_in_each_layout(tmp_path):
    from tal.data.examples import write_examples

    paths = write_examples(tmp_path / "ex", per_class=6, table_images=30)
    folder = load_dataset(DataConfig(dataset="folder", data_dir=str(paths["folder"]), image_size=16))
    assert folder.class_names == ("circle", "square", "triangle") and folder.input_shape == (16, 16, 3)
    table = paths["csv"]
    csv = load_dataset(DataConfig(dataset="csv", data_dir=str(table / "images"), labels_file=str(table / "Data_Entry.csv"),
                                  boxes_file=str(table / "BBox_List.csv"), test_list=str(table / "test_list.txt"),
                                  box_aliases=("Round=Circle",), image_size=16))
    assert csv.class_names == ("Circle", "Square", "Triangle") and (csv.objects("test")[..., 0] >= 0).any()
    assert not any("patient" in n for n in csv.notes)  # the test list keeps patients whole
    assert load_dataset(DataConfig(dataset="npz", data_dir=str(paths["npz"]))).input_shape == (28, 28, 1)
    with pytest.raises(FileExistsError):
        write_examples(tmp_path / "ex")


def test_digit_identities_are_unchanged_and_own_data_is_told_apart_by_its_folder():
    models = Path(__file__).resolve().parents[1] / "models"
    for config_file in sorted(models.glob("*/config.json")):
        config = json.loads(config_file.read_text())
        if "identity" in config:
            assert identity.identity_of(config["model"], config["train"]) == config["identity"], config_file
    from tal.core.config import ModelConfig, TrainConfig

    one, two = (TrainConfig(data=DataConfig(dataset="folder", data_dir=d)) for d in ("/a", "/b"))
    assert identity.run_identity(ModelConfig(), one) != identity.run_identity(ModelConfig(), two)


def test_plan_splits_fixes_the_test_set_before_the_training_subset():
    listing = Listing(root=None, files=list(range(100)), labels=np.zeros(100, np.int32), class_names=("a", "b"),
                      split=np.full(100, "", dtype=object))
    full = plan_splits(listing, val_fraction=0.1, test_fraction=0.2, train_size=None, test_size=None, seed=3)
    small = plan_splits(listing, val_fraction=0.1, test_fraction=0.2, train_size=30, test_size=None, seed=3)
    assert np.array_equal(full["test"], small["test"]) and len(full["test"]) == 20
    assert len(small["train"]) + len(small["val"]) == 30 and len(small["val"]) == 3
    assert not set(small["train"]) & set(small["test"])
