"""Multi-digit canvases: placement, multi-hot labels, boxes and the split rules."""
from __future__ import annotations

import numpy as np
import pytest

from tal.core.config import ConfigError, DataConfig
from tal.data import multidigit
from tal.data.datasets import ink_boxes, load_dataset, single_objects


def _digits(count=40, size=28):
    """Square blobs whose side depends on the class, so each digit's ink box is known."""
    labels = np.arange(count) % 10
    images = np.zeros((count, size, size), np.uint8)
    for i, c in enumerate(labels):
        side = 8 + c
        images[i, 4 : 4 + side, 5 : 5 + side] = 200 + i % 50
    return images, labels


def _plan(images, seed=0, canvas=64, max_digits=3):
    anchors = np.arange(len(images))
    return multidigit.plan_canvases(anchors, anchors, ink_boxes(images), digit_size=28,
                                    canvas_size=canvas, max_digits=max_digits, seed=seed)


def test_each_canvas_holds_its_anchor_and_at_most_max_digits():
    images, _ = _digits()
    plan = _plan(images)
    assert np.array_equal(plan.digits[:, 0], np.arange(len(images)))  # canvas i starts with digit i
    counts = (plan.digits >= 0).sum(axis=1)
    assert counts.min() >= 1 and counts.max() <= 3
    assert len(set(counts.tolist())) > 1  # not always the same number of digits
    assert (plan.corners >= 0).all() and (plan.corners <= 64 - 28).all()


def test_plans_are_seeded():
    images, _ = _digits()
    a, b, c = _plan(images, seed=1), _plan(images, seed=1), _plan(images, seed=2)
    assert np.array_equal(a.digits, b.digits) and np.array_equal(a.corners, b.corners)
    assert not np.array_equal(a.corners, c.corners)


def test_objects_are_the_ink_of_each_digit_and_barely_overlap():
    images, labels = _digits()
    plan = _plan(images)
    objects = multidigit.objects(plan, labels, ink_boxes(images))
    canvases = multidigit.draw_canvases(images, plan, np.arange(len(plan)))
    for n in range(len(plan)):
        boxes = [tuple(o[1:]) for o in objects[n] if o[0] >= 0]
        ink = np.zeros((64, 64), bool)
        for y0, x0, y1, x1 in boxes:
            ink[y0:y1, x0:x1] = True
        assert np.array_equal(ink, canvases[n] > 0)  # the blobs fill their boxes, nothing else is ink
        for i in range(len(boxes)):
            for j in range(i):
                assert multidigit._overlap(boxes[i], boxes[j]) <= multidigit.MAX_OVERLAP
    # a hand-checked object: digit 3 is an 11x11 blob at (4, 5) of its image
    n, k = np.argwhere(plan.digits == 3)[0]
    top, left = plan.corners[n, k]
    assert objects[n, k].tolist() == [3, top + 4, left + 5, top + 15, left + 16]


def test_multi_hot_marks_exactly_the_classes_present():
    images, labels = _digits()
    plan = _plan(images)
    hot = multidigit.multi_hot(plan, labels, 10)
    objects = multidigit.objects(plan, labels, ink_boxes(images))
    for n in range(len(plan)):
        assert set(np.flatnonzero(hot[n])) == {int(c) for c in objects[n, :, 0] if c >= 0}
    assert hot.dtype == np.float32 and set(np.unique(hot)) <= {0.0, 1.0}


def test_single_label_objects_follow_labels_and_boxes():
    out = single_objects([3, 7], [[1, 2, 3, 4], [0, 0, 0, 0]])
    assert out.tolist() == [[[3, 1, 2, 3, 4]], [[-1, 0, 0, 0, 0]]]  # blank image: no object


def test_canvas_must_hold_a_digit():
    images, _ = _digits(5)
    with pytest.raises(ValueError, match="canvas_size >= 28"):
        _plan(images, canvas=20)
    with pytest.raises(ConfigError, match="canvas_size"):
        DataConfig(dataset="multidigit", canvas_size=10)


@pytest.fixture(scope="module")
def mnist_dir_or_skip():
    from conftest import mnist_dir

    path = mnist_dir()
    if path is None:
        pytest.skip("real MNIST not found (set TAL_DATA_DIR)")
    return str(path)


@pytest.fixture(scope="module")
def mnist_canvases(mnist_dir_or_skip):
    return load_dataset(DataConfig(dataset="multidigit", data_dir=mnist_dir_or_skip, train_size=2000, test_size=300))


def test_multidigit_dataset_shapes_and_split(mnist_canvases):
    data = mnist_canvases
    assert data.multi_label and data.input_shape == (64, 64, 1)
    assert data.y_train.shape == (1800, 10) and data.y_test.shape == (300, 10)
    assert data.objects("test").shape == (300, 3, 5)
    assert 1 <= data.y_test.sum(axis=1).min() and data.y_test.sum(axis=1).max() <= 3
    assert data.class_counts.sum() == data.y_train.sum()
    assert data.summary()["multi_label"] is True


def _ink_crops(images):
    return {img[y0:y1, x0:x1].tobytes() for img, (y0, x0, y1, x1) in zip(images, ink_boxes(images))}


def test_test_canvases_use_test_digits_only(mnist_dir_or_skip):
    from tal.data.mnist_files import find_mnist

    x_train, _, x_test, _, _ = find_mnist(mnist_dir_or_skip, allow_download=False)
    data = load_dataset(DataConfig(dataset="multidigit", data_dir=mnist_dir_or_skip, train_size=50, test_size=40))
    from_test, from_train = _ink_crops(x_test), _ink_crops(x_train)
    found = {"test": 0, "train": 0, "objects": 0}
    for n, row in enumerate(data.objects("test")):
        canvas = np.round(data.x_test[n, ..., 0] * 255).astype(np.uint8)
        for c, y0, x0, y1, x1 in row:
            if c >= 0:
                crop = canvas[y0:y1, x0:x1].tobytes()
                found["objects"] += 1
                found["test"] += crop in from_test
                found["train"] += crop in from_train
    # a neighbour may touch a digit's box (max 10 % overlap), so a few crops differ from their source
    assert found["test"] >= 0.8 * found["objects"] and found["train"] == 0


def test_imbalance_makes_classes_rare(mnist_dir_or_skip):
    config = DataConfig(dataset="multidigit", data_dir=mnist_dir_or_skip, train_size=3000,
                        imbalance_classes=(3,), imbalance_keep=0.1)
    data = load_dataset(config)
    share = data.y_train.mean(axis=0)
    assert share[3] < 0.25 * np.delete(share, 3).mean()
    assert any("Imbalanced" in note for note in data.notes)
    assert data.y_test.mean(axis=0)[3] > 0.1  # the test canvases are not thinned


def test_offline_synthetic_digits_build_the_same_canvases(tmp_path):
    config = DataConfig(dataset="multidigit", data_dir=str(tmp_path), allow_download=False,
                        train_size=200, test_size=50)
    data = load_dataset(config, fallback_to_synthetic=True)
    assert data.multi_label and data.input_shape == (64, 64, 1)
    assert "SYNTHETIC" in data.source and "canvas" in data.source
