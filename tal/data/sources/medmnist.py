"""MedMNIST's layout: one .npz with train_/val_/test_ images and labels.

Images are uint8 (N, H, W) gray or (N, H, W, 3) colour; labels are (N, 1)
class indices, or (N, C) multi-hot for several findings per image
(ChestMNIST's 14). The `medmnist` package downloads these files; any file in
the same layout works.
"""
from __future__ import annotations

import functools
import zipfile
from pathlib import Path

import numpy as np

from tal.data.sources.listing import SourceError

SPLITS = ("train", "val", "test")
_NAME_KEYS = ("class_names", "label_names", "classes")


def _open(path) -> np.lib.npyio.NpzFile:
    path = Path(path).expanduser()
    if not path.is_file():
        raise SourceError(f"The file {path} does not exist (or is not a file).")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise SourceError(f"{path} is not a readable .npz file ({' '.join(str(exc).split())}).") from None


@functools.lru_cache(maxsize=8)
def _label_columns(path: str, mtime: int) -> int:
    with _open(path) as npz:
        if "train_labels" not in npz.files:
            return 1
        labels = npz["train_labels"]
    return 1 if labels.ndim == 1 else int(labels.shape[1])


def is_multi_label(path) -> bool:
    """Whether the file's labels are multi-hot rows (more than one label column); False when unreadable."""
    try:
        return _label_columns(str(path), Path(path).stat().st_mtime_ns) > 1
    except (OSError, SourceError):
        return False


def _check_images(images: np.ndarray, key: str, path) -> np.ndarray:
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise SourceError(f"{path}: {key} has shape {images.shape}; expected (N, H, W) gray or (N, H, W, 3) colour.")
    if images.dtype != np.uint8:
        if not np.issubdtype(images.dtype, np.number):
            raise SourceError(f"{path}: {key} holds {images.dtype}, not pixel values.")
        top = 1.0 if images.size and float(np.nanmax(images)) <= 1.0 else 255.0
        images = np.clip(np.nan_to_num(images.astype(np.float64)) / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return images


def _check_labels(labels: np.ndarray, count: int, key: str, path) -> np.ndarray:
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.shape[0] != count or labels.ndim not in (1, 2):
        raise SourceError(f"{path}: {key} has shape {labels.shape}; expected ({count}, 1) class indices or "
                          f"({count}, C) multi-hot rows, one per image.")
    if not np.issubdtype(labels.dtype, np.number):
        raise SourceError(f"{path}: {key} holds {labels.dtype}, not numbers.")
    if labels.ndim == 2 and not np.isin(labels, (0, 1)).all():
        raise SourceError(f"{path}: {key} has values other than 0 and 1 in its multi-hot rows.")
    if labels.ndim == 1 and (labels.min() < 0 or not np.all(labels == np.round(labels))):
        raise SourceError(f"{path}: {key} must hold class indices 0, 1, 2, …")
    return labels.astype(np.float32 if labels.ndim == 2 else np.int32)


def read_npz(path, class_names=()) -> tuple[dict, tuple, list]:
    """({split: (uint8 images (N, H, W, C), labels)}, class names, notes) of a MedMNIST-style file.

    Raises:
        SourceError: the file is missing or unreadable, lacks train_/test_ arrays, or their shapes,
            values or class names do not fit together.
    """
    notes = []
    with _open(path) as npz:
        keys = set(npz.files)
        needed = {"train_images", "train_labels", "test_images", "test_labels"}
        if not needed <= keys:
            raise SourceError(f"{path} lacks {', '.join(sorted(needed - keys))}; MedMNIST's layout has "
                              f"train_images, train_labels, (val_images, val_labels,) test_images, test_labels. "
                              f"It holds: {', '.join(sorted(keys)) or 'nothing'}.")
        parts = {}
        for split in SPLITS:
            if f"{split}_images" not in keys:
                continue
            images = _check_images(npz[f"{split}_images"], f"{split}_images", path)
            labels = _check_labels(npz[f"{split}_labels"], len(images), f"{split}_labels", path)
            parts[split] = (images if images.ndim == 4 else images[..., None], labels)
        stored = next((tuple(str(n) for n in npz[k].tolist()) for k in _NAME_KEYS if k in keys), ())
    shapes = {split: p[0].shape[1:] for split, p in parts.items()}
    if len(set(shapes.values())) > 1:
        raise SourceError(f"{path}: the splits' images differ in shape ({shapes}).")
    multi = {split: p[1].ndim == 2 for split, p in parts.items()}
    if len(set(multi.values())) > 1:
        raise SourceError(f"{path}: some splits have one label per image and others multi-hot rows.")
    columns = parts["train"][1].shape[1] if multi["train"] else int(max(p[1].max() for p in parts.values())) + 1
    names = tuple(class_names) or stored or tuple(f"class {k}" for k in range(columns))
    if (multi["train"] and len(names) != columns) or (not multi["train"] and len(names) < columns):
        raise SourceError(f"{path} has {columns} classes but {len(names)} class name(s) were given "
                          f"({', '.join(names)}).")
    if len(names) < 2:
        raise SourceError(f"{path} has one class; a classifier needs at least two.")
    return parts, names, notes
