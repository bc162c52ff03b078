"""Small example datasets of drawn shapes, in each layout of one's own images, made offline.

`write_examples(folder)` writes, for trying the explorer without data of one's own:

- ``folder/shapes/``: class folders (circle/, square/, triangle/) of colour
  pictures of varied sizes, for ``--dataset folder``;
- ``folder/xray-like/``: ``images/`` of gray 16-bit and 8-bit PNGs holding 0 to 3
  shapes each, ``Data_Entry.csv`` in ChestX-ray14's layout (with its split
  header and trailing empty column), ``BBox_List.csv`` in its box layout (with
  "Round" where the labels say "Circle", as the real file says Infiltrate for
  Infiltration), ``test_list.txt`` split by patient, for ``--dataset csv``;
- ``folder/shapes.npz``: MedMNIST's layout (28×28 gray, labels (N, 1)), for
  ``--dataset npz``.

The folder is written beside its final place and moved there when complete.
"""
from __future__ import annotations

import csv
import shutil
import uuid
from pathlib import Path

import numpy as np
from PIL import Image, ImageColor, ImageDraw

SHAPES = ("circle", "square", "triangle")
FINDINGS = ("Circle", "Square", "Triangle")
BOX_SPELLING = {"Circle": "Round"}  # the box file's own name for a class, as in ChestX-ray14


def _draw(draw: ImageDraw.ImageDraw, shape: str, box, fill) -> None:
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)


def _picture(rng, shape: str, width: int, height: int, colour: bool) -> Image.Image:
    """One shape at a random place and size on a noisy background."""
    background = rng.integers(0, 90, size=(height, width, 3 if colour else 1)).astype(np.uint8)
    img = Image.fromarray(background if colour else background[..., 0])
    side = int(rng.integers(min(width, height) // 3, min(width, height) * 2 // 3))
    x0, y0 = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
    # colour pictures: a saturated colour of any hue (the class is the shape, never the colour)
    fill = ImageColor.getrgb(f"hsv({int(rng.integers(0, 360))},85%,100%)") if colour else int(rng.integers(170, 256))
    _draw(ImageDraw.Draw(img), shape, (x0, y0, x0 + side, y0 + side), fill)
    return img


def _write_folder(out: Path, rng, per_class: int) -> None:
    for shape in SHAPES:
        (out / shape).mkdir(parents=True)
        for i in range(per_class):
            width, height = int(rng.integers(48, 160)), int(rng.integers(48, 160))
            img = _picture(rng, shape, width, height, colour=True)
            (img.save(out / shape / f"{shape}_{i:03d}.jpg", quality=90) if i % 2 else
             img.save(out / shape / f"{shape}_{i:03d}.png"))


def _write_table(out: Path, rng, images: int, side: int = 128) -> None:
    (out / "images").mkdir(parents=True)
    rows, boxes, test = [], [], []
    n_patients = -(-images // 3)  # three follow-ups per patient
    first_test = n_patients - max(1, n_patients // 5) + 1  # the last fifth of the patients is the test list
    for i in range(images):
        patient = i // 3 + 1
        name = f"{patient:08d}_{i % 3:03d}.png"
        canvas = rng.integers(0, 60, size=(side, side)).astype(np.float64)
        present = [f for f in FINDINGS if rng.random() < 0.4]
        img = Image.fromarray(canvas.astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for finding in present:
            s = int(rng.integers(side // 5, side // 3))
            x0, y0 = int(rng.integers(0, side - s)), int(rng.integers(0, side - s))
            _draw(draw, finding.lower(), (x0, y0, x0 + s, y0 + s), int(rng.integers(170, 256)))
            if patient >= first_test:  # boxes for test images only, as in the real files
                boxes.append((name, BOX_SPELLING.get(finding, finding), x0, y0, s, s))
        pixels = np.asarray(img)
        if i % 2:  # every other picture as 16-bit gray, as radiographs often are
            Image.fromarray(pixels.astype(np.uint16) * 257).save(out / "images" / name)
        else:
            img.save(out / "images" / name)
        rows.append([name, "|".join(present) or "No Finding", i % 3, patient, int(rng.integers(20, 80)),
                     "MF"[patient % 2], "PA", side, side, 0.143, 0.143])
        if patient >= first_test:
            test.append(name)
    with open(out / "Data_Entry.csv", "w", newline="") as f:
        # ChestX-ray14's header as it is: its bracketed names hold commas, and it ends with one.
        f.write("Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Gender,View Position,"
                "OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y],\n")
        csv.writer(f).writerows(rows)
    with open(out / "BBox_List.csv", "w", newline="") as f:
        f.write("Image Index,Finding Label,Bbox [x,y,w,h],,,\n")
        csv.writer(f).writerows(boxes)
    (out / "test_list.txt").write_text("\n".join(test) + "\n")


def _write_npz(path: Path, rng, train: int, val: int, test: int) -> None:
    arrays = {}
    for split, count in (("train", train), ("val", val), ("test", test)):
        labels = rng.integers(0, len(SHAPES), size=(count, 1))
        arrays[f"{split}_images"] = np.stack([np.asarray(_picture(rng, SHAPES[k], 28, 28, colour=False))
                                              for k in labels[:, 0]]).astype(np.uint8)
        arrays[f"{split}_labels"] = labels.astype(np.uint8)
    np.savez_compressed(path, **arrays)


def write_examples(folder, *, seed: int = 0, per_class: int = 150, table_images: int = 480) -> dict:
    """Writes the three example datasets into `folder` (which must not exist or be empty).

    Returns:
        {layout: path} of what was written: "folder", "csv" (the image folder; its tables beside the
        images), "npz".

    Raises:
        FileExistsError: `folder` exists and is not empty.
    """
    folder = Path(folder).expanduser()
    if folder.exists() and any(folder.iterdir()):
        raise FileExistsError(f"{folder} exists and is not empty; name a new folder for the examples.")
    rng = np.random.default_rng(seed)
    staging = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}.partial"
    staging.mkdir(parents=True)
    try:
        _write_folder(staging / "shapes", rng, per_class)
        _write_table(staging / "xray-like", rng, table_images)
        _write_npz(staging / "shapes.npz", rng, train=per_class * 10, val=per_class * 2, test=per_class * 3)
        if folder.exists():
            folder.rmdir()
        staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"folder": folder / "shapes", "csv": folder / "xray-like", "npz": folder / "shapes.npz"}
