"""MNIST for TAL: find it, load it, and derive the variants the experiments need.

Why this module exists: training, the explorer pages, the CLI and the
benchmarks must all see the same images, split the same way for the same
seed, and must be able to say where the images came from. MNIST is never
shipped in the repository, so the loader looks for it in a fixed order:

1. an explicit folder (`data_dir`), else the `TAL_DATA_DIR` environment
   variable: the four IDX files (`.gz` or uncompressed) or an `mnist.npz`;
2. the Keras cache, `~/.keras/datasets/mnist.npz`;
3. a download through `keras.datasets.mnist.load_data()`.

If all fail, `DataNotFoundError` names these three ways; `dataset="synthetic"`
(font-rendered digits, see `tal.data.synthetic`) is the offline fallback.

On top of plain MNIST it builds "translated" MNIST (each digit at a random
place on a larger canvas, where attention has something to find) and applies
the seeded subset / class-imbalance / validation split of a `DataConfig`.

TensorFlow is imported only inside the download fallback, so loading data
stays fast (decoded arrays are also cached per file for the process).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from tal.core.config import DataConfig
from tal.data.mnist_files import (  # noqa: F401  (re-exported: tal.data.datasets is the public entry point)
    ENV_VAR,
    DataFormatError,
    DataNotFoundError,
    find_mnist,
    keras_cache_path,
    read_idx,
)

CLASS_NAMES = tuple(str(d) for d in range(10))
SYNTHETIC_TRAIN_SIZE = 6000
SYNTHETIC_TEST_SIZE = 1000
SYNTHETIC_SOURCE = "SYNTHETIC font-rendered digits, not MNIST"

# Independent random streams per step: changing one step's size or switching
# dataset="translated" on does not reshuffle the others.
_STREAMS = {
    "train_subset": 1,
    "imbalance": 2,
    "val_split": 3,
    "test_subset": 4,
    "train_placement": 5,
    "test_placement": 6,
}


# --------------------------------------------------------------------------- dataset


@dataclass(eq=False)
class Dataset:
    """Images, labels and ink boxes of one experiment, split train / val / test.

    Images are float32 (N, H, W, C) in [0, 1], C = 1 (gray) or 3 (colour,
    one's own images only). Labels are int32 (N,) class
    indices, or float32 (N, C) multi-hot rows for multi-label data
    (`multidigit`). Boxes are int32 (N, 4) as (y0, x0, y1, x1), the bounding
    box of all the ink in image coordinates with y1 and x1 exclusive (all
    zero for a blank image). `objects_*` hold one box per object with its
    class, (N, K, 5) as (class, y0, x0, y1, x1), class -1 for an empty slot;
    `objects(split)` derives them from labels and boxes for single-label data.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    boxes_train: np.ndarray
    boxes_val: np.ndarray
    boxes_test: np.ndarray
    class_names: tuple = CLASS_NAMES
    source: str = ""
    notes: tuple = field(default=())
    objects_train: np.ndarray | None = None
    objects_val: np.ndarray | None = None
    objects_test: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one image."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def multi_label(self) -> bool:
        """Whether labels are multi-hot rows (several classes per image)."""
        return self.y_train.ndim == 2

    @property
    def class_counts(self) -> np.ndarray:
        """Number of training images per class (showing the class, for multi-label data)."""
        if self.multi_label:
            return self.y_train.sum(axis=0).astype(np.int64)
        return np.bincount(self.y_train, minlength=self.num_classes)

    def objects(self, split: str) -> np.ndarray:
        """Boxes with classes of `split` ("train", "val" or "test"): int32 (N, K, 5).

        Rows are (class, y0, x0, y1, x1); class -1 marks an empty slot. For
        single-label data each image has one object: its label and ink box.
        """
        if split not in ("train", "val", "test"):
            raise ValueError(f"Expected one of {{'train', 'val', 'test'}}. Received: split={split!r}")
        stored = getattr(self, f"objects_{split}")
        if stored is not None:
            return stored
        return single_objects(getattr(self, f"y_{split}"), getattr(self, f"boxes_{split}"))

    def summary(self) -> dict:
        """JSON-friendly sizes, shape, counts, source and notes (for run cards)."""
        return {
            "name": self.name,
            "source": self.source,
            "train": int(len(self.y_train)),
            "val": int(len(self.y_val)),
            "test": int(len(self.y_test)),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "multi_label": self.multi_label,
            "class_counts": self.class_counts.tolist(),
            "notes": list(self.notes),
        }

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"Dataset(name={self.name!r}, train={s['train']}, val={s['val']}, test={s['test']}, "
            f"input_shape={self.input_shape}, source={self.source!r})"
        )


def single_objects(labels, boxes) -> np.ndarray:
    """One object per image, (N, 1, 5) rows (class, y0, x0, y1, x1); class -1 where there is no ink."""
    labels, boxes = np.asarray(labels), np.asarray(boxes, dtype=np.int32)
    out = np.zeros((len(labels), 1, 5), np.int32)
    out[:, 0, 0] = labels
    out[:, 0, 1:] = boxes
    out[~boxes.any(axis=1), 0, 0] = -1
    return out


def subset_indices(total: int, size: int | None, seed) -> np.ndarray:
    """Seeded random subset of `range(total)`, sorted; all indices if `size` is None.

    Args:
        total: number of items to choose from.
        size: how many to keep; None or >= total keeps all.
        seed: an int or a sequence of ints for `np.random.default_rng`.

    Returns:
        Sorted int64 index array of length `min(size, total)`.

    Example:

    >>> subset_indices(10, 3, seed=0).tolist() == subset_indices(10, 3, seed=0).tolist()
    True
    """
    if size is None or size >= total:
        return np.arange(total)
    return np.sort(np.random.default_rng(seed).choice(total, size=size, replace=False))


def ink_boxes(images: np.ndarray) -> np.ndarray:
    """Bounding boxes of the ink (pixels > 0) of each image.

    Args:
        images: array of shape (N, H, W) or (N, H, W, 1).

    Returns:
        int32 array (N, 4) of (y0, x0, y1, x1), y1 / x1 exclusive; all zero
        for an image without ink.

    Example:

    >>> image = np.zeros((1, 5, 5)); image[0, 1:3, 2] = 1
    >>> ink_boxes(image).tolist()
    [[1, 2, 3, 3]]
    """
    ink = np.asarray(images) > 0
    if ink.ndim == 4:
        ink = ink[..., 0]
    rows, cols = ink.any(axis=2), ink.any(axis=1)
    height, width = ink.shape[1:]
    boxes = np.stack(
        [
            rows.argmax(axis=1),
            cols.argmax(axis=1),
            height - rows[:, ::-1].argmax(axis=1),
            width - cols[:, ::-1].argmax(axis=1),
        ],
        axis=1,
    ).astype(np.int32)
    boxes[~rows.any(axis=1)] = 0
    return boxes


def random_placements(count: int, digit_size: int, canvas_size: int, seed) -> np.ndarray:
    """Uniform random top-left corners (y, x) that keep a digit inside the canvas."""
    return np.random.default_rng(seed).integers(0, canvas_size - digit_size + 1, size=(count, 2))


def place_on_canvas(images: np.ndarray, corners: np.ndarray, canvas_size: int) -> np.ndarray:
    """Pastes each (h, w) image onto a zero canvas at its (y, x) corner.

    Args:
        images: uint8 or float array (N, h, w).
        corners: int array (N, 2) of top-left (y, x) positions.
        canvas_size: side of the square canvas (>= h and w).

    Returns:
        Array (N, canvas_size, canvas_size) of the images' dtype.
    """
    count, height, width = images.shape
    canvas = np.zeros((count, canvas_size, canvas_size), images.dtype)
    for i, (top, left) in enumerate(corners):
        canvas[i, top : top + height, left : left + width] = images[i]
    return canvas


def _to_float(images: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) -> float32 (N, H, W, 1) in [0, 1]."""
    out = images.astype(np.float32)
    out /= 255.0
    return out[..., None]


def _imbalanced(labels: np.ndarray, indices: np.ndarray, classes, keep: float, seed) -> np.ndarray:
    """Keeps `keep` (rounded, at least 1) of each listed class's indices; others untouched."""
    if not classes or keep >= 1.0:
        return indices
    rng = np.random.default_rng(seed)
    chosen = labels[indices]
    dropped = []
    for digit in sorted(set(classes)):
        members = indices[chosen == digit]
        n_keep = max(1, int(round(keep * len(members)))) if len(members) else 0
        dropped.append(rng.permutation(members)[n_keep:])
    return np.setdiff1d(indices, np.concatenate(dropped))


def _val_split(indices: np.ndarray, val_fraction: float, seed):
    """Last `val_fraction` of a seeded permutation -> validation; both parts sorted."""
    n_val = int(round(len(indices) * val_fraction))
    permuted = np.random.default_rng(seed).permutation(indices)
    return np.sort(permuted[: len(indices) - n_val]), np.sort(permuted[len(indices) - n_val :])


def _stream(seed: int, step: str) -> list[int]:
    return [int(seed), _STREAMS[step]]


def _raw_arrays(config: DataConfig):
    """(x_train, y_train, x_test, y_test, source) of MNIST or the synthetic digits."""
    if config.dataset == "synthetic":
        return _synthetic_raw(config)
    return find_mnist(config.data_dir, allow_download=config.allow_download)


@functools.lru_cache(maxsize=4)
def _synthetic_cached(n_train: int, n_test: int, seed: int):
    from tal.data.synthetic import synthetic_digits

    arrays = synthetic_digits(n_train, n_test, seed=seed)
    for array in arrays:
        array.flags.writeable = False
    return arrays


def _synthetic_raw(config: DataConfig):
    from tal.data.synthetic import describe_fonts

    n_train = config.train_size or SYNTHETIC_TRAIN_SIZE
    n_test = config.test_size or SYNTHETIC_TEST_SIZE
    arrays = _synthetic_cached(n_train, n_test, config.subset_seed)
    return (*arrays, f"{SYNTHETIC_SOURCE} (Pillow, {describe_fonts()})")


def _clip_note(split: str, requested, available: int) -> list[str]:
    if requested is not None and requested > available:
        return [
            f"{split}_size={requested} exceeds the {available} {split} images available; "
            "using all."
        ]
    return []


def load_dataset(
    config: DataConfig | None = None, *, fallback_to_synthetic: bool = False, progress=None
) -> Dataset:
    """Builds the dataset a `DataConfig` describes.

    Steps, each with its own seeded stream of `config.subset_seed`: pick the
    images (`mnist`, `translated` = MNIST digits at uniformly random places on
    a `canvas_size` square canvas, or `synthetic`), take the `train_size`
    subset, thin the `imbalance_classes` to `imbalance_keep` of their training
    images (the test set is never touched), move the last `val_fraction` of a
    seeded permutation of the training images to validation, take the
    `test_size` subset of the test set.

    Args:
        config: a `tal.core.config.DataConfig`; None uses the defaults.
        fallback_to_synthetic: when MNIST cannot be found, return synthetic
            digits (with a note saying so) instead of raising.
        progress: for one's own images (`dataset` folder or csv), called as
            `progress(done, total)` while pictures are decoded.

    Returns:
        A `Dataset`. Sizes larger than available are clipped, with a note.

    Raises:
        DataNotFoundError: when MNIST is needed, not found, and
            `fallback_to_synthetic` is False.
        SourceError: when one's own images cannot be used as they are.
        DataFormatError: when a found MNIST file is corrupt.

    Example:

    >>> from tal.core.config import DataConfig
    >>> data = load_dataset(DataConfig(dataset="translated", train_size=1000))  # doctest: +SKIP
    >>> data.input_shape                                                        # doctest: +SKIP
    (48, 48, 1)
    """
    config = config or DataConfig()
    if config.own:  # the user's own images: tal.data.sources
        from tal.data.sources import load_own

        return load_own(config, progress=progress)
    notes: list[str] = []
    name = config.dataset
    try:
        x_train, y_train, x_test, y_test, source = _raw_arrays(config)
    except DataNotFoundError as exc:
        if not fallback_to_synthetic:
            raise
        name = "synthetic"
        x_train, y_train, x_test, y_test, source = _synthetic_raw(config)
        notes.append(f"MNIST not found, so these are synthetic digits instead. {exc}")

    if config.dataset == "multidigit":
        return _multidigit(config, name, (x_train, y_train), (x_test, y_test), source, notes)
    seed = config.subset_seed
    notes += _clip_note("train", config.train_size, len(y_train))
    notes += _clip_note("test", config.test_size, len(y_test))
    train_idx = subset_indices(len(y_train), config.train_size, _stream(seed, "train_subset"))
    before = len(train_idx)
    train_idx = _imbalanced(
        y_train,
        train_idx,
        config.imbalance_classes,
        config.imbalance_keep,
        _stream(seed, "imbalance"),
    )
    if len(train_idx) != before:
        notes.append(
            f"Imbalanced: kept {config.imbalance_keep:.0%} of the training images of classes "
            f"{sorted(set(config.imbalance_classes))} ({before} -> {len(train_idx)} images)."
        )
    fit_idx, val_idx = _val_split(train_idx, config.val_fraction, _stream(seed, "val_split"))
    test_idx = subset_indices(len(y_test), config.test_size, _stream(seed, "test_subset"))

    if config.dataset == "translated":
        side = config.canvas
        x_train, x_test = _translate(x_train, x_test, side, seed)
        source += f"; each digit placed at a random position on a {side}x{side} canvas"
    split = (fit_idx, val_idx, test_idx)
    return _assemble(name, (x_train, y_train), (x_test, y_test), split, source, notes)


class _LazyCanvas:
    """Places digits on the canvas only when indexed, so subsets stay cheap."""

    def __init__(self, images: np.ndarray, corners: np.ndarray, canvas_size: int):
        self.images, self.corners, self.canvas_size = images, corners, canvas_size

    def __getitem__(self, indices):
        return place_on_canvas(self.images[indices], self.corners[indices], self.canvas_size)


def _translate(x_train, x_test, canvas_size: int, seed: int):
    """Seeded placements per original image: a digit keeps its place across subsets."""
    digit = x_train.shape[1]
    corners_train = random_placements(
        len(x_train), digit, canvas_size, _stream(seed, "train_placement")
    )
    corners_test = random_placements(
        len(x_test), digit, canvas_size, _stream(seed, "test_placement")
    )
    return (
        _LazyCanvas(x_train, corners_train, canvas_size),
        _LazyCanvas(x_test, corners_test, canvas_size),
    )


def _multidigit(config: DataConfig, name, train, test, source, notes) -> Dataset:
    """Canvases of 1 to `max_digits` digits, each anchored on one image of its split.

    Class thinning (`imbalance_classes`) removes training digits before any
    canvas is planned, so the thinned classes are rarer on every canvas, not
    only as anchors; the test canvases are never thinned.
    """
    from tal.data import multidigit

    (x_train, y_train), (x_test, y_test) = train, test
    seed, side = config.subset_seed, config.canvas
    pool = _imbalanced(
        y_train, np.arange(len(y_train)), config.imbalance_classes, config.imbalance_keep,
        _stream(seed, "imbalance"),
    )
    if len(pool) != len(y_train):
        notes.append(
            f"Imbalanced: kept {config.imbalance_keep:.0%} of the training digits of classes "
            f"{sorted(set(config.imbalance_classes))} ({len(y_train)} -> {len(pool)} digits)."
        )
    digit_boxes_train, digit_boxes_test = _digit_boxes(x_train), _digit_boxes(x_test)
    common = dict(digit_size=x_train.shape[1], canvas_size=side, max_digits=config.max_digits)
    plan_train = multidigit.plan_canvases(
        pool, pool, digit_boxes_train, seed=_stream(seed, "train_placement"), **common
    )
    test_all = np.arange(len(y_test))
    plan_test = multidigit.plan_canvases(
        test_all, test_all, digit_boxes_test, seed=_stream(seed, "test_placement"), **common
    )
    notes += _clip_note("train", config.train_size, len(plan_train))
    notes += _clip_note("test", config.test_size, len(plan_test))
    train_idx = subset_indices(len(plan_train), config.train_size, _stream(seed, "train_subset"))
    fit_idx, val_idx = _val_split(train_idx, config.val_fraction, _stream(seed, "val_split"))
    test_idx = subset_indices(len(plan_test), config.test_size, _stream(seed, "test_subset"))
    classes = len(CLASS_NAMES)
    parts = {}
    for part, images, labels, boxes, plan, idx in (
        ("train", x_train, y_train, digit_boxes_train, plan_train, fit_idx),
        ("val", x_train, y_train, digit_boxes_train, plan_train, val_idx),
        ("test", x_test, y_test, digit_boxes_test, plan_test, test_idx),
    ):
        raw = multidigit.draw_canvases(images, plan, idx)
        parts[f"x_{part}"] = _to_float(raw)
        parts[f"y_{part}"] = multidigit.multi_hot(plan, labels, classes)[idx]
        parts[f"boxes_{part}"] = ink_boxes(raw)
        parts[f"objects_{part}"] = multidigit.objects(plan, labels, boxes)[idx]
    source += (
        f"; 1 to {config.max_digits} digits of the same split on each {side}x{side} canvas, "
        "labelled with every digit present"
    )
    return Dataset(name=name, class_names=CLASS_NAMES, source=source, notes=tuple(notes), **parts)


def _digit_boxes(images: np.ndarray) -> np.ndarray:
    """Ink boxes of every source digit, computed once per (read-only) array."""
    key = (id(images), images.shape)
    cached = _DIGIT_BOXES.get(key)
    if cached is None or cached[0] is not images:
        cached = _DIGIT_BOXES[key] = (images, ink_boxes(images))
    return cached[1]


_DIGIT_BOXES: dict = {}


def _assemble(name, train, test, split, source, notes) -> Dataset:
    """Indexes the raw arrays by the split and converts them to float / int32 / boxes."""
    (x_train, y_train), (x_test, y_test) = train, test
    fit_idx, val_idx, test_idx = split
    parts = {}
    for part, images, labels, idx in (
        ("train", x_train, y_train, fit_idx),
        ("val", x_train, y_train, val_idx),
        ("test", x_test, y_test, test_idx),
    ):
        raw = images[idx]
        parts[f"x_{part}"] = _to_float(raw)
        parts[f"y_{part}"] = labels[idx].astype(np.int32)
        parts[f"boxes_{part}"] = ink_boxes(raw)
    return Dataset(name=name, class_names=CLASS_NAMES, source=source, notes=tuple(notes), **parts)


def class_weights(labels, num_classes: int) -> np.ndarray:
    """Inverse-frequency class weights, normalised to mean 1 over the present classes.

    A class absent from `labels` gets weight 0 and is left out of the mean (it
    cannot contribute to the loss anyway, and an infinite weight would be
    useless). Balanced labels give all ones.

    Args:
        labels: integer class labels, shape (N,).
        num_classes: number of classes.

    Returns:
        float32 array (num_classes,).

    Raises:
        ValueError: if a label is outside [0, num_classes).

    Example:

    >>> class_weights([0, 1, 1, 1], 2).tolist()
    [1.5, 0.5]
    """
    labels = np.asarray(labels).ravel()
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"Expected labels in [0, {num_classes}). Received labels from "
            f"{labels.min()} to {labels.max()}"
        )
    counts = np.bincount(labels.astype(np.int64), minlength=num_classes).astype(np.float64)
    weights = np.zeros(num_classes, np.float64)
    present = counts > 0
    if present.any():
        weights[present] = 1.0 / counts[present]
        weights[present] /= weights[present].mean()
    return weights.astype(np.float32)
