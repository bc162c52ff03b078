"""Your own images as a `tal.data.datasets.Dataset`: class folders, a label table, or a MedMNIST file.

`load_own(config)` reads the `DataConfig`'s source (`dataset` "folder", "csv"
or "npz"), splits it (the layout's own splits, else seeded, by patient when
the table says who is who), takes the size subsets, and decodes only the
images kept, through the cache of `tal.data.image_cache`. What was skipped
(unreadable files, missing rows, …) is counted in the dataset's notes.
"""
from __future__ import annotations

import numpy as np

from tal.core.config import OWN_IMAGE_SIZE, DataConfig
from tal.data.sources.listing import Listing, SourceError, leak_note, named, plan_splits

__all__ = ["SourceError", "load_own", "list_source"]


def list_source(config: DataConfig) -> Listing:
    """The `Listing` of a folder or table source (npz files are read whole by `load_own`)."""
    if config.dataset == "folder":
        from tal.data.sources.folder import list_folder

        return list_folder(config.data_dir, config.class_names)
    if config.dataset == "csv":
        from tal.data.sources.table import list_table

        return list_table(config.data_dir, config.labels_file, boxes_file=config.boxes_file,
                          test_list=config.test_list, class_names=config.class_names,
                          uncertain=config.uncertain, box_aliases=config.box_aliases)
    raise ValueError(f"Expected dataset 'folder' or 'csv'. Received: dataset={config.dataset!r}")


def _channels(config: DataConfig):
    return {"gray": 1, "rgb": 3}.get(config.color)


def load_own(config: DataConfig, *, progress=None, workers: int | None = None):
    """The `Dataset` of one's own images that `config` describes.

    Args:
        config: a DataConfig with `dataset` "folder", "csv" or "npz" and `data_dir`.
        progress: called as `progress(done, total)` while pictures are decoded.
        workers: decoding threads (default: one per core).

    Raises:
        SourceError: the source cannot be used (the message says why, in the user's terms).
    """
    if config.dataset == "npz":
        return _from_npz(config)
    from tal.data.image_cache import decode_files

    listing = list_source(config)
    parts = plan_splits(listing, val_fraction=config.val_fraction, test_fraction=config.test_fraction,
                        train_size=config.train_size, test_size=config.test_size, seed=config.subset_seed)
    notes = list(listing.notes) + leak_note(listing, parts)
    wanted = np.concatenate([parts[s] for s in ("train", "val", "test")])
    size = config.image_size or OWN_IMAGE_SIZE
    decoded = decode_files(listing.root, [listing.files[i] for i in wanted], size=size,
                           channels=_channels(config), workers=workers, progress=progress)
    if decoded.failed:
        notes.append(f"{len(decoded.failed)} file(s) could not be read and were skipped: "
                     + named((f"{name} ({reason.rstrip('.')})" for name, reason in decoded.failed),
                             len(decoded.failed)) + ".")
    row_of = {name: row for row, name in enumerate(decoded.files)}
    out, kept_rows = {}, {}
    for split in ("train", "val", "test"):
        rows = [i for i in parts[split] if listing.files[i] in row_of]
        kept_rows[split] = rows
        pick = [row_of[listing.files[i]] for i in rows]
        out[f"x_{split}"] = decoded.pixels[pick].astype(np.float32) / 255.0
        out[f"y_{split}"] = listing.labels[rows]
        out[f"boxes_{split}"] = np.zeros((len(rows), 4), np.int32)
        out[f"objects_{split}"] = _objects(listing, rows, decoded.sizes[pick], size, notes)
    _check_classes(listing, out)
    if not len(out["y_test"]):
        raise SourceError(f"No readable image is left for testing in {listing.root}.")
    notes += _imbalance(config, listing, out)
    counts = ", ".join(f"{len(out[f'y_{s}'])} {s}" for s in ("train", "val", "test"))
    source = (f"your images: {listing.describe}; {len(listing.class_names)} classes; {counts}; fitted into "
              f"{size}×{size} px, {'colour' if out['x_train'].shape[-1] == 3 else 'gray'}")
    reused = len(decoded.files) + len(decoded.failed) - decoded.decoded
    notes.append(f"{decoded.decoded} picture(s) decoded now, {reused} read back from the cache.")
    return _dataset(config, listing.class_names, source, notes, out)


def _dataset(config, class_names, source, notes, parts):
    from tal.data.datasets import Dataset

    return Dataset(name=config.dataset, class_names=tuple(class_names), source=source, notes=tuple(notes), **parts)


def _objects(listing: Listing, rows, sizes, size: int, notes: list) -> np.ndarray:
    """(N, K, 5) rows (class, y0, x0, y1, x1) of the boxes, scaled with the pictures; class -1: no box."""
    from tal.data.pictures import Letterbox

    boxes = [listing.boxes.get(listing.files[i], []) for i in rows]
    out = np.full((len(rows), max([1, *map(len, boxes)]), 5), -1, np.int32)
    out[..., 1:] = 0
    outside = 0
    for n, (items, (width, height)) in enumerate(zip(boxes, sizes)):
        geometry = Letterbox(int(width), int(height), size)
        k = 0
        for cls, x, y, w, h in items:
            if x >= width or y >= height or x + w <= 0 or y + h <= 0:
                outside += 1
                continue
            y0, x0, y1, x1 = geometry.box(max(x, 0), max(y, 0), min(w, width - max(x, 0)), min(h, height - max(y, 0)))
            out[n, k] = (cls, y0, x0, max(y1, y0 + 1), max(x1, x0 + 1))
            k += 1
    if outside:
        notes.append(f"{outside} box(es) lie outside their image and were left out.")
    return out


def _check_classes(listing: Listing, parts: dict) -> None:
    """Every class needs a readable training image: a class the model never sees cannot be learnt."""
    labels = parts["y_train"]
    counts = labels.sum(axis=0) if labels.ndim == 2 else np.bincount(labels, minlength=len(listing.class_names))
    empty = [name for name, count in zip(listing.class_names, counts) if count == 0]
    if empty and labels.ndim == 1:
        raise SourceError(f"No readable training image of the class(es) {named(empty, len(empty))} in "
                          f"{listing.root}: each class needs at least one.")
    if not len(labels):
        raise SourceError(f"No readable training image in {listing.root}.")


def _imbalance(config: DataConfig, listing, parts) -> list:
    """`imbalance_classes`: thin those classes' training images to `imbalance_keep` (single-label only)."""
    if not config.imbalance_classes or config.imbalance_keep >= 1.0:
        return []
    from tal.data.datasets import _imbalanced

    labels = parts["y_train"]
    if labels.ndim == 2:
        return ["imbalance_classes applies to one class per image; left as it is."]
    outside = [c for c in config.imbalance_classes if c >= len(listing.class_names)]
    if outside:
        raise SourceError(f"imbalance_classes {outside} are not classes here (0 to {len(listing.class_names) - 1}).")
    keep = _imbalanced(labels, np.arange(len(labels)), config.imbalance_classes, config.imbalance_keep,
                       [config.subset_seed, 2])
    for key in ("x_train", "y_train", "boxes_train", "objects_train"):
        parts[key] = parts[key][keep]
    return [f"Imbalanced: kept {config.imbalance_keep:.0%} of the training images of classes "
            f"{[listing.class_names[c] for c in sorted(set(config.imbalance_classes))]}."]


def _from_npz(config: DataConfig):
    from tal.data.sources.listing import split_off
    from tal.data.sources.medmnist import read_npz

    parts, names, notes = read_npz(config.data_dir, config.class_names)
    train_images, train_labels = parts["train"]
    rng = lambda step: np.random.default_rng([int(config.subset_seed), 100 + step])  # noqa: E731
    rows = np.arange(len(train_labels))
    if config.train_size is not None and config.train_size < len(rows):
        rows = np.sort(rng(2).choice(rows, size=config.train_size, replace=False))
    if "val" in parts:
        val_images, val_labels = parts["val"]
        fit_rows, val = rows, None
    else:
        probe = Listing(root=None, files=list(rows), labels=train_labels, class_names=names,
                        split=np.full(len(rows), "", dtype=object))
        fit_rows, val_rows = split_off(probe, rows, config.val_fraction, rng(3))
        val_images, val_labels = train_images[val_rows], train_labels[val_rows]
        val = True
    test_images, test_labels = parts["test"]
    test_rows = np.arange(len(test_labels))
    if config.test_size is not None and config.test_size < len(test_rows):
        test_rows = np.sort(rng(4).choice(test_rows, size=config.test_size, replace=False))
    native = train_images.shape[1]
    size = config.image_size or native
    channels = _channels(config) or train_images.shape[-1]
    out = {}
    for split, images, labels in (("train", train_images[fit_rows], train_labels[fit_rows]),
                                  ("val", val_images, val_labels),
                                  ("test", test_images[test_rows], test_labels[test_rows])):
        out[f"x_{split}"] = _fit_arrays(images, size, channels)
        out[f"y_{split}"] = labels
        out[f"boxes_{split}"] = np.zeros((len(labels), 4), np.int32)
        out[f"objects_{split}"] = np.concatenate([np.full((len(labels), 1, 1), -1, np.int32),
                                                  np.zeros((len(labels), 1, 4), np.int32)], axis=2)
    probe = Listing(root=config.data_dir, files=[], labels=out["y_train"], class_names=names, split=[])
    _check_classes(probe, out)
    notes += _imbalance(config, probe, out)
    counts = ", ".join(f"{len(out[f'y_{s}'])} {s}" for s in ("train", "val", "test"))
    source = (f"your images: {config.data_dir} (MedMNIST layout{'; validation split from train' if val else ''}); "
              f"{len(names)} classes; {counts}; {size}×{size} px, {'colour' if channels == 3 else 'gray'}")
    return _dataset(config, names, source, notes, out)


def _fit_arrays(images: np.ndarray, size: int, channels: int) -> np.ndarray:
    """uint8 (N, H, W, C) → float32 (N, size, size, channels) in [0, 1], resized and gray/colour as asked."""
    from PIL import Image

    from tal.data.pictures import fit

    if images.shape[1] == size and images.shape[2] == size and images.shape[-1] == channels:
        return images.astype(np.float32) / 255.0
    mode = "L" if images.shape[-1] == 1 else "RGB"
    out = np.stack([fit(Image.fromarray(im[..., 0] if mode == "L" else im, mode), size, channels)
                    for im in images]) if len(images) else np.zeros((0, size, size, channels), np.uint8)
    return out.astype(np.float32) / 255.0
