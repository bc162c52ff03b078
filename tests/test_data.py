"""Tests for tal.data.datasets (finding, reading and splitting MNIST) and tal.data.synthetic.

Real MNIST is read from $TAL_DATA_DIR or ../shared/data/mnist beside the
repository; those tests skip when it is absent. Everything else builds tiny
IDX / npz files in tmp_path. The Keras download is always patched out, so no
test touches the network.
"""
from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tal.data import datasets as data

from tal.data import mnist_files
from tal.core.config import DataConfig
from tal.data.datasets import DataFormatError, DataNotFoundError
from tal.data.synthetic import synthetic_digits

IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST folder ($TAL_DATA_DIR or ../shared/data/mnist), else skip."""
    folder = Path(
        os.environ.get("TAL_DATA_DIR")
        or Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
    )
    if not (folder / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST not found in {folder}")
    return folder


@pytest.fixture(autouse=True)
def no_download(monkeypatch):
    """Every test: the Keras download fails instead of touching the network."""

    def refuse():
        raise ConnectionError("network disabled in tests")

    monkeypatch.setattr(mnist_files, "_download_mnist", refuse)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No TAL_DATA_DIR and an empty HOME (so no Keras cache)."""
    monkeypatch.delenv("TAL_DATA_DIR", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    return home


def tiny_mnist(count=20, test_count=10, seed=0, first_label=0) -> dict:
    """Random MNIST-shaped arrays; y_train[0] == first_label marks which copy was read."""
    rng = np.random.default_rng(seed)
    arrays = {
        "x_train": rng.integers(0, 256, (count, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, count).astype(np.uint8),
        "x_test": rng.integers(0, 256, (test_count, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, test_count).astype(np.uint8),
    }
    arrays["y_train"][0] = first_label
    return arrays


def idx_bytes(array: np.ndarray) -> bytes:
    magic = 2051 if array.ndim == 3 else 2049
    header = b"".join(int(v).to_bytes(4, "big") for v in (magic, *array.shape))
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(folder: Path, arrays: dict, compress: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for key, stem in IDX_NAMES.items():
        payload = idx_bytes(arrays[key])
        if compress:
            (folder / f"{stem}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / stem).write_bytes(payload)
    return folder


def write_npz(path: Path, arrays: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


# --------------------------------------------------------------------------- reading


def test_read_idx_real_mnist(mnist_dir):
    x_train = data.read_idx(mnist_dir / "train-images-idx3-ubyte.gz")
    y_train = data.read_idx(mnist_dir / "train-labels-idx1-ubyte.gz")
    x_test = data.read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    y_test = data.read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert x_train.shape == (24345, 28, 28) and y_train.shape == (24345,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    assert x_train.dtype == y_train.dtype == np.uint8
    assert set(np.unique(y_test)) == set(range(10)) and y_train.max() == 9
    assert y_test[0] == 7
    assert x_test.max() == 255 and x_test.min() == 0


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_gz_and_uncompressed(tmp_path, compress):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    payload = idx_bytes(images)
    path = tmp_path / ("images.gz" if compress else "images")
    path.write_bytes(gzip.compress(payload) if compress else payload)
    np.testing.assert_array_equal(data.read_idx(path), images)
    labels = np.array([3, 1, 4], np.uint8)
    (tmp_path / "labels").write_bytes(idx_bytes(labels))
    np.testing.assert_array_equal(data.read_idx(tmp_path / "labels"), labels)


def test_read_idx_bad_magic_names_file(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes((1234).to_bytes(4, "big") + bytes(8))
    with pytest.raises(DataFormatError, match="bad-idx3-ubyte.*magic"):
        data.read_idx(path)


@pytest.mark.parametrize("cut", [1, 100])
def test_read_idx_truncated_payload(tmp_path, cut):
    path = tmp_path / "short.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((3, 28, 28), np.uint8))[:-cut]))
    with pytest.raises(DataFormatError, match="short.gz"):
        data.read_idx(path)


def test_read_idx_truncated_gzip_stream(tmp_path):
    packed = gzip.compress(idx_bytes(np.ones((5, 28, 28), np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataFormatError, match="cut.gz"):
        data.read_idx(path)


def test_idx_folder_gz_and_uncompressed(tmp_path, isolated):
    arrays = tiny_mnist()
    for compress in (True, False):
        folder = write_idx_folder(tmp_path / f"idx{compress}", arrays, compress=compress)
        x_train, y_train, x_test, y_test, source = data.find_mnist(folder)
        np.testing.assert_array_equal(x_train, arrays["x_train"])
        np.testing.assert_array_equal(y_test, arrays["y_test"])
        assert source == f"IDX files in {folder}"


def test_npz_folder_and_direct_file(tmp_path, isolated):
    arrays = tiny_mnist()
    npz = write_npz(tmp_path / "npz" / "mnist.npz", arrays)
    for location in (npz.parent, npz):
        x_train, y_train, x_test, y_test, source = data.find_mnist(location)
        np.testing.assert_array_equal(x_test, arrays["x_test"])
        assert "mnist.npz" in source


def test_npz_wrong_shape_is_format_error(tmp_path, isolated):
    arrays = tiny_mnist()
    arrays["y_train"] = arrays["y_train"][:-1]
    npz = write_npz(tmp_path / "mnist.npz", arrays)
    with pytest.raises(DataFormatError, match="mnist.npz.*y_train"):
        data.find_mnist(npz)


def test_cached_arrays_are_read_only(tmp_path, isolated):
    folder = write_idx_folder(tmp_path / "idx", tiny_mnist())
    x_train, *_ = data.find_mnist(folder)
    with pytest.raises(ValueError):
        x_train[0, 0, 0] = 1
    loaded = plain_mnist(folder)
    loaded.x_train[:] = 0  # callers own their float copies
    assert plain_mnist(folder).x_train.any()


# --------------------------------------------------------------------------- resolution order


def test_resolution_order(tmp_path, isolated, monkeypatch):
    explicit = write_idx_folder(tmp_path / "explicit", tiny_mnist(first_label=1))
    env = write_npz(tmp_path / "env" / "mnist.npz", tiny_mnist(first_label=2)).parent
    write_npz(isolated / ".keras" / "datasets" / "mnist.npz", tiny_mnist(first_label=3))
    downloads = []

    def fake_download():
        downloads.append(1)
        return tiny_mnist(first_label=4)

    monkeypatch.setattr(mnist_files, "_download_mnist", fake_download)
    monkeypatch.setenv("TAL_DATA_DIR", str(env))

    def first_label(**kwargs):
        return int(data.find_mnist(**kwargs)[1][0])

    assert first_label(data_dir=explicit) == 1
    assert first_label() == 2
    monkeypatch.delenv("TAL_DATA_DIR")
    assert first_label() == 3
    assert "Keras cache" in data.find_mnist()[4]
    (isolated / ".keras" / "datasets" / "mnist.npz").unlink()
    assert first_label() == 4 and downloads == [1]
    with pytest.raises(DataNotFoundError, match="allow_download=False"):
        data.find_mnist(allow_download=False)
    assert downloads == [1]


def test_not_found_message_names_three_ways(isolated):
    with pytest.raises(DataNotFoundError) as info:
        data.find_mnist()
    message = str(info.value)
    for expected in (
        "TAL_DATA_DIR",
        "train-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "mnist.npz",
        "~/.keras/datasets/",
        "keras.datasets.mnist.load_data()",
        'dataset="synthetic"',
        "network disabled",  # the download's own failure is reported
    ):
        assert expected in message
    assert isinstance(info.value, FileNotFoundError)


def test_explicit_missing_folder_is_named(tmp_path, isolated, monkeypatch):
    write_npz(isolated / ".keras" / "datasets" / "mnist.npz", tiny_mnist())
    missing = tmp_path / "nowhere"
    with pytest.raises(DataNotFoundError, match="nowhere.*does not exist"):
        data.find_mnist(missing)  # no silent fall-through to the Keras cache
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataNotFoundError, match="empty.*holds no MNIST"):
        data.find_mnist(empty)
    monkeypatch.setenv("TAL_DATA_DIR", str(missing))
    with pytest.raises(DataNotFoundError, match="TAL_DATA_DIR.*nowhere"):
        data.find_mnist()


def test_partial_idx_folder_names_missing_files(tmp_path, isolated):
    folder = write_idx_folder(tmp_path / "idx", tiny_mnist())
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match="missing: t10k-labels-idx1-ubyte.gz"):
        data.find_mnist(folder)


def test_tal_data_does_not_import_tensorflow():
    code = "import sys, tal.data.datasets; sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root).returncode == 0


# --------------------------------------------------------------------------- plain MNIST


def plain_mnist(folder, **changes) -> data.Dataset:
    """All of MNIST (or the seeded subsets in `changes`), no validation split."""
    return data.load_dataset(DataConfig(data_dir=str(folder), val_fraction=0.0, **changes))


def test_real_mnist_without_validation_split(mnist_dir):
    ds = plain_mnist(mnist_dir)
    assert ds.name == "mnist" and ds.input_shape == (28, 28, 1)
    assert ds.x_train.shape == (24345, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert 0.0 <= ds.x_test.min() and ds.x_test.max() == 1.0
    assert ds.x_val.shape == (0, 28, 28, 1) and ds.y_val.shape == (0,)
    assert ds.boxes_val.shape == (0, 4) and ds.boxes_test.dtype == np.int32
    assert ds.y_test[0] == 7 and ds.class_counts.sum() == 24345
    assert ds.class_names == tuple("0123456789") and ds.num_classes == 10
    assert "IDX files in" in ds.source
    json.dumps(ds.summary())


def test_ink_boxes_contain_all_ink(mnist_dir):
    ds = plain_mnist(mnist_dir, train_size=300, subset_seed=0)
    assert_boxes_hold_ink(ds.x_train, ds.boxes_train)


def assert_boxes_hold_ink(images, boxes):
    height, width = images.shape[1:3]
    assert (boxes[:, :2] >= 0).all()
    assert (boxes[:, 2] <= height).all() and (boxes[:, 3] <= width).all()
    for image, (y0, x0, y1, x1) in zip(images[..., 0], boxes):
        assert y1 > y0 and x1 > x0
        outside = image.copy()
        outside[y0:y1, x0:x1] = 0
        assert not outside.any()
        assert image[y0].any() and image[y1 - 1].any()  # the box is tight
        assert image[:, x0].any() and image[:, x1 - 1].any()


def test_subset_size_and_determinism(mnist_dir):
    a = plain_mnist(mnist_dir, train_size=100, test_size=50, subset_seed=1)
    b = plain_mnist(mnist_dir, train_size=100, test_size=50, subset_seed=1)
    c = plain_mnist(mnist_dir, train_size=100, test_size=50, subset_seed=2)
    assert a.x_train.shape == (100, 28, 28, 1) and a.x_test.shape == (50, 28, 28, 1)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.x_train, c.x_train)
    picked = data.subset_indices(1000, 10, seed=5)
    np.testing.assert_array_equal(picked, data.subset_indices(1000, 10, seed=5))
    assert not np.array_equal(picked, data.subset_indices(1000, 10, seed=6))


def test_train_size_above_available_is_clipped_with_note(tmp_path, isolated):
    folder = write_idx_folder(tmp_path / "idx", tiny_mnist(count=20))
    ds = plain_mnist(folder, train_size=500)
    assert len(ds.y_train) == 20
    assert any("train_size=500" in note for note in ds.notes)


# --------------------------------------------------------------------------- load_dataset


def config(mnist_dir, **changes) -> DataConfig:
    base = dict(data_dir=str(mnist_dir), train_size=600, test_size=200, val_fraction=0.0)
    return DataConfig(**{**base, **changes})


def test_translated_places_digits_on_canvas(mnist_dir):
    plain = data.load_dataset(config(mnist_dir))
    moved = data.load_dataset(config(mnist_dir, dataset="translated", canvas_size=48))
    assert moved.name == "translated" and moved.input_shape == (48, 48, 1)
    assert moved.x_train.shape == (600, 48, 48, 1) and moved.x_test.shape == (200, 48, 48, 1)
    np.testing.assert_array_equal(moved.y_train, plain.y_train)
    assert_boxes_hold_ink(moved.x_train, moved.boxes_train)
    assert_boxes_hold_ink(moved.x_test, moved.boxes_test)
    ink_sums = moved.x_train.sum(axis=(1, 2, 3)), plain.x_train.sum(axis=(1, 2, 3))
    np.testing.assert_allclose(*ink_sums, rtol=1e-5)
    for i in range(0, 600, 37):  # the ink itself is unchanged, only moved
        (a0, b0, a1, b1), (c0, d0, c1, d1) = plain.boxes_train[i], moved.boxes_train[i]
        np.testing.assert_array_equal(
            plain.x_train[i, a0:a1, b0:b1], moved.x_train[i, c0:c1, d0:d1]
        )
    assert len({tuple(b[:2]) for b in moved.boxes_train}) > 100  # positions really vary
    again = data.load_dataset(config(mnist_dir, dataset="translated"))
    np.testing.assert_array_equal(again.boxes_train, moved.boxes_train)
    other = data.load_dataset(config(mnist_dir, dataset="translated", subset_seed=1))
    assert not np.array_equal(other.boxes_test, moved.boxes_test)
    assert "48x48 canvas" in moved.source


def test_imbalance_thins_chosen_classes_only(mnist_dir):
    full = config(mnist_dir, train_size=None, test_size=None)
    base = data.load_dataset(full)
    thin = data.load_dataset(full.replace(imbalance_classes=(3, 5), imbalance_keep=0.1))
    before, after = base.class_counts, thin.class_counts
    for digit in range(10):
        if digit in (3, 5):
            assert after[digit] == round(0.1 * before[digit])
        else:
            assert after[digit] == before[digit]
    np.testing.assert_array_equal(thin.y_test, base.y_test)
    np.testing.assert_array_equal(thin.x_test, base.x_test)
    assert any("Imbalanced" in note for note in thin.notes)


def test_validation_split(mnist_dir):
    whole = data.load_dataset(config(mnist_dir, train_size=1000))
    split = data.load_dataset(config(mnist_dir, train_size=1000, val_fraction=0.2))
    assert len(split.y_train) == 800 and len(split.y_val) == 200
    assert split.x_val.shape == (200, 28, 28, 1) and split.boxes_val.shape == (200, 4)
    np.testing.assert_array_equal(
        split.class_counts + np.bincount(split.y_val, minlength=10), whole.class_counts
    )
    train_rows = {row.tobytes() for row in split.x_train}
    assert not any(row.tobytes() in train_rows for row in split.x_val)  # disjoint
    assert whole.x_val.shape == (0, 28, 28, 1) and whole.y_val.dtype == np.int32


def test_test_size_subset(mnist_dir):
    ds = data.load_dataset(config(mnist_dir, test_size=123))
    assert ds.x_test.shape == (123, 28, 28, 1) and ds.boxes_test.shape == (123, 4)


def test_missing_mnist_raises_or_falls_back(isolated):
    cfg = DataConfig(train_size=100, test_size=20, val_fraction=0.1)
    with pytest.raises(DataNotFoundError):
        data.load_dataset(cfg)
    ds = data.load_dataset(cfg, fallback_to_synthetic=True)
    assert ds.name == "synthetic" and "SYNTHETIC" in ds.source and "not MNIST" in ds.source
    assert len(ds.y_train) == 90 and len(ds.y_val) == 10 and len(ds.y_test) == 20
    assert any("MNIST not found" in note and "TAL_DATA_DIR" in note for note in ds.notes)
    moved = data.load_dataset(
        cfg.replace(dataset="translated", canvas_size=40), fallback_to_synthetic=True
    )
    assert moved.input_shape == (40, 40, 1) and "SYNTHETIC" in moved.source


# --------------------------------------------------------------------------- class weights


def test_class_weights_hand_computed():
    np.testing.assert_allclose(data.class_weights([0, 1, 1, 1], 2), [1.5, 0.5])
    # counts [1, 3, 0]: class 2 absent -> weight 0, mean taken over the present classes
    np.testing.assert_allclose(data.class_weights([0, 1, 1, 1], 3), [1.5, 0.5, 0.0])
    # counts [2, 1, 1]: inverse [1/2, 1, 1], mean 5/6 -> [0.6, 1.2, 1.2]
    np.testing.assert_allclose(data.class_weights([0, 0, 1, 2], 3), [0.6, 1.2, 1.2], rtol=1e-6)
    balanced = data.class_weights(np.repeat(np.arange(10), 7), 10)
    assert balanced.dtype == np.float32
    np.testing.assert_allclose(balanced, np.ones(10))
    with pytest.raises(ValueError, match="labels"):
        data.class_weights([0, 5], 3)


# --------------------------------------------------------------------------- synthetic


def test_synthetic_digits_shapes_balance_determinism():
    x_train, y_train, x_test, y_test = synthetic_digits(200, 50, seed=0)
    assert x_train.shape == (200, 28, 28) and x_test.shape == (50, 28, 28)
    assert x_train.dtype == np.uint8 and x_train.max() == 255
    np.testing.assert_array_equal(np.bincount(y_train, minlength=10), np.full(10, 20))
    assert np.bincount(y_test, minlength=10).min() == 5
    again = synthetic_digits(200, 50, seed=0)
    np.testing.assert_array_equal(again[0], x_train)
    np.testing.assert_array_equal(again[1], y_train)
    assert not np.array_equal(synthetic_digits(200, 50, seed=1)[0], x_train)
    assert (x_train[:, :, 0] == 0).mean() > 0.9  # MNIST-style: dark border, ink inside


def test_synthetic_classes_look_different():
    x_train, y_train, _, _ = synthetic_digits(300, 0, seed=3)
    ones = x_train[y_train == 1].mean(axis=0)
    zeros = x_train[y_train == 0].mean(axis=0)
    assert np.abs(ones - zeros).mean() > 20  # a '0' is a ring, a '1' is a bar
    assert zeros[14, 14] < ones[14, 14]  # the 0 has a hole where the 1 has ink


def test_synthetic_digits_are_fitted_and_centred_like_user_images():
    from tal.data.synthetic import render_digit

    x_train, _, _, _ = synthetic_digits(100, 0, seed=4)
    ink = x_train.astype(np.float64)
    ys, xs = np.indices((28, 28))
    cy = (ink * ys).sum(axis=(1, 2)) / ink.sum(axis=(1, 2))
    cx = (ink * xs).sum(axis=(1, 2)) / ink.sum(axis=(1, 2))
    # centred by mass on pixel 14 as in tal.data.preprocess, plus at most 1 px jitter
    assert np.abs(cy - 14).max() <= 1.5 and np.abs(cx - 14).max() <= 1.5
    boxes = data.ink_boxes(x_train)
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    assert (sides <= 20).all() and (sides >= 19).mean() > 0.9  # long side fitted to 20 px
    big = render_digit(3, size=48)
    assert big.shape == (48, 48) and not big[:10].any() and not big[-10:].any()
    with pytest.raises(ValueError, match="size >= 28"):
        synthetic_digits(1, 0, size=20)


def test_load_dataset_synthetic():
    cfg = DataConfig(dataset="synthetic", train_size=100, test_size=30, val_fraction=0.2)
    ds = data.load_dataset(cfg)
    assert ds.name == "synthetic"
    assert ds.source.startswith("SYNTHETIC font-rendered digits, not MNIST")
    assert ds.x_train.shape == (80, 28, 28, 1) and ds.x_val.shape == (20, 28, 28, 1)
    assert ds.x_test.shape == (30, 28, 28, 1) and ds.x_train.dtype == np.float32
    assert_boxes_hold_ink(ds.x_test, ds.boxes_test)
