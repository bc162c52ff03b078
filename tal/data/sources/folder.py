"""Class folders: one subfolder of images per class, optionally inside train/, val/ and test/.

The layout of `keras.utils.image_dataset_from_directory` and torchvision's
`ImageFolder`: class names are the subfolders' names, sorted; images may sit
deeper inside a class folder. With `train/` (and `val/`, `test/`) at the top,
those splits are used as they are.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from tal.data.preprocess import has_image_suffix
from tal.data.sources.listing import Listing, SourceError, named

SPLIT_FOLDERS = {"train": ("train", "training"), "val": ("val", "valid", "validation"), "test": ("test", "testing")}
_SKIPPED = ("__MACOSX",)  # what zip tools add beside the real folders


def _subfolders(folder: Path) -> list[Path]:
    return sorted((p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")
                   and p.name not in _SKIPPED), key=lambda p: p.name)


def _images_in(folder: Path) -> tuple[list[Path], int]:
    """(image files under `folder`, sorted; how many other files were passed over)."""
    images, others = [], 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or any(part.startswith(".") for part in path.relative_to(folder).parts):
            continue
        if has_image_suffix(path):
            images.append(path)
        else:
            others += 1
    return images, others


def _split_folders(root: Path) -> dict:
    by_name = {p.name.lower(): p for p in _subfolders(root)}
    found = {split: next((by_name[n] for n in names if n in by_name), None) for split, names in SPLIT_FOLDERS.items()}
    return {k: v for k, v in found.items() if v is not None} if found["train"] is not None else {}


def list_folder(root, class_names=()) -> Listing:
    """The images of a class-folder layout under `root`.

    Args:
        root: the folder.
        class_names: keep only these classes, in this order (default: every subfolder, sorted).

    Raises:
        SourceError: the folder is missing or empty, has fewer than two classes, a class folder holds
            no image, or a named class has no folder.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SourceError(f"The folder {root} does not exist (or is not a folder).")
    splits = _split_folders(root) or {"": root}
    per_split = {split: {p.name: p for p in _subfolders(folder)} for split, folder in splits.items()}
    found = sorted(set().union(*per_split.values()))
    where = " or ".join(str(f) for f in splits.values())
    if not found:
        raise SourceError(f"{where} has no class folders: put the images of each class in a subfolder named "
                          f"after the class ({root}/cat/…, {root}/dog/…).")
    classes = tuple(class_names) or tuple(found)
    missing = [c for c in classes if c not in found]
    if missing:
        raise SourceError(f"No folder for the class(es) {named(missing)} in {where}; the class folders are "
                          f"{named(found)}.")
    if len(classes) < 2:
        raise SourceError(f"{where} has one class folder ({classes[0]}); a classifier needs at least two, "
                          "one subfolder per class.")
    files, labels, split_of, notes, others = [], [], [], [], 0
    for split, folders in per_split.items():
        for k, name in enumerate(classes):
            if name not in folders:
                continue
            images, skipped = _images_in(folders[name])
            others += skipped
            if not images and split in ("", "train"):
                raise SourceError(f"The class folder {folders[name]} holds no image (PNG, JPEG, BMP, GIF, TIFF "
                                  "or WebP).")
            files += [str(p.relative_to(root)) for p in images]
            labels += [k] * len(images)
            split_of += [split] * len(images)
    loose = [p for folder in splits.values() for p in folder.iterdir() if p.is_file() and has_image_suffix(p)]
    if loose:
        notes.append(f"{len(loose)} image(s) directly in {named(sorted({str(p.parent) for p in loose}))} were left "
                     "out: only images inside a class folder have a class.")
    if others:
        notes.append(f"{others} file(s) in the class folders are not images by their name and were passed over.")
    unused = [c for c in found if c not in classes]
    if unused:
        notes.append(f"Folders not among class_names were left out: {named(unused)}.")
    layout = " with " + "/".join(f"{s}/" for s in splits) if "" not in splits else ""
    return Listing(root=root, files=files, labels=np.array(labels, np.int32), class_names=classes,
                   split=np.array(split_of, dtype=object), notes=notes,
                   describe=f"class folders in {root}{layout}")
