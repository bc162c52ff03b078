"""Multi-digit canvases: A3Net's multi-label task with digits instead of findings.

A3Net classifies chest X-rays that show several findings at once, each in its
own place. The digit analogue: a square canvas (64×64 by default) holding one
to `max_digits` MNIST digits at random places, labelled with the multi-hot set
of digits present and with one box per digit, so attention maps can be scored
against where each class really is (`tal.engine.localization`).

Every canvas is *anchored* on one source image of its split (canvas i always
contains digit i) and draws its other digits from the same split, so a test
canvas never shows a training digit, and subsets, validation splits and class
thinning work on canvases exactly as they do on plain MNIST. Placement is
seeded per canvas; only the canvases a subset keeps are drawn.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Two digits may share at most this share of the smaller one's ink box (digits
# barely touch, as neighbouring findings might; none hides another).
MAX_OVERLAP = 0.1
_PLACEMENT_TRIES = 30


@dataclass(frozen=True)
class CanvasPlan:
    """Which source digits go where on each canvas.

    `digits` (N, K) indexes the split's source images (-1: no digit in that
    slot); `corners` (N, K, 2) holds each digit's top-left (y, x) on the canvas.
    """

    digits: np.ndarray
    corners: np.ndarray
    canvas_size: int

    def __len__(self) -> int:
        return len(self.digits)


def _overlap(a, b) -> float:
    """Shared area of boxes a and b over the smaller box's area."""
    height = min(a[2], b[2]) - max(a[0], b[0])
    width = min(a[3], b[3]) - max(a[1], b[1])
    if height <= 0 or width <= 0:
        return 0.0
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return height * width / max(smaller, 1)


def plan_canvases(
    anchors: np.ndarray,
    pool: np.ndarray,
    digit_boxes: np.ndarray,
    *,
    digit_size: int,
    canvas_size: int,
    max_digits: int,
    seed,
) -> CanvasPlan:
    """Places 1 to `max_digits` digits on each canvas, the first being its anchor.

    Args:
        anchors: source-image index of each canvas's first digit, shape (N,).
        pool: source-image indices the other digits are drawn from.
        digit_boxes: ink boxes (y0, x0, y1, x1) of every source image, (M, 4).
        digit_size: side of a source image (28 for MNIST).
        canvas_size: side of the canvas (at least `digit_size`).
        max_digits: most digits per canvas; the count is uniform in 1..max_digits.
        seed: an int or a sequence of ints for `np.random.default_rng`.

    Returns:
        A `CanvasPlan`. A digit that finds no free place in 30 tries is left
        out (the canvas then has fewer digits), so ink boxes never overlap
        by more than `MAX_OVERLAP` of the smaller box.
    """
    if canvas_size < digit_size:
        raise ValueError(f"Expected canvas_size >= {digit_size}. Received: canvas_size={canvas_size}")
    rng = np.random.default_rng(seed)
    count = len(anchors)
    digits = np.full((count, max_digits), -1, np.int64)
    corners = np.zeros((count, max_digits, 2), np.int64)
    extra = max(len(pool), 1)
    wanted = rng.integers(1, max_digits + 1, size=count)
    # One draw per canvas and slot, whether used or not: canvas i's plan depends
    # only on the seed, never on how the canvases before it turned out.
    others = np.asarray(pool)[rng.integers(0, extra, size=(count, max_digits))] if len(pool) else None
    places = rng.integers(0, canvas_size - digit_size + 1, size=(count, max_digits, _PLACEMENT_TRIES, 2))
    boxes = digit_boxes.tolist()
    for i in range(count):
        placed: list[tuple] = []
        k = 0
        for slot in range(int(wanted[i])):
            digit = int(anchors[i]) if slot == 0 else (int(others[i, slot]) if others is not None else -1)
            if digit < 0:
                continue
            y0, x0, y1, x1 = boxes[digit]
            for top, left in places[i, slot].tolist():
                box = (top + y0, left + x0, top + y1, left + x1)
                if all(_overlap(box, other) <= MAX_OVERLAP for other in placed):
                    placed.append(box)
                    digits[i, k], corners[i, k] = digit, (top, left)
                    k += 1
                    break
    return CanvasPlan(digits, corners, canvas_size)


def draw_canvases(images: np.ndarray, plan: CanvasPlan, rows) -> np.ndarray:
    """The canvases `rows` of `plan` as an array (n, S, S) of the images' dtype.

    Digits are combined with a pixel-wise maximum, so touching strokes stay
    strokes instead of adding up past white.
    """
    rows = np.arange(len(plan))[rows] if not isinstance(rows, np.ndarray) else rows
    rows = np.atleast_1d(rows)
    side, size = plan.canvas_size, images.shape[1]
    out = np.zeros((len(rows), side, side), images.dtype)
    for n, row in enumerate(rows.tolist()):
        for digit, (top, left) in zip(plan.digits[row].tolist(), plan.corners[row].tolist()):
            if digit < 0:
                continue
            window = out[n, top : top + size, left : left + size]
            np.maximum(window, images[digit], out=window)
    return out


def multi_hot(plan: CanvasPlan, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """float32 (N, num_classes): 1 where a digit of that class is on the canvas."""
    present = plan.digits >= 0
    rows = np.repeat(np.arange(len(plan)), plan.digits.shape[1])[present.ravel()]
    classes = labels[plan.digits[present]].astype(np.int64)
    out = np.zeros((len(plan), num_classes), np.float32)
    out[rows, classes] = 1.0
    return out


def objects(plan: CanvasPlan, labels: np.ndarray, digit_boxes: np.ndarray) -> np.ndarray:
    """int32 (N, K, 5): (class, y0, x0, y1, x1) of every digit's ink box on its canvas.

    Empty slots are (-1, 0, 0, 0, 0); y1 and x1 are exclusive.
    """
    out = np.zeros((*plan.digits.shape, 5), np.int32)
    out[..., 0] = -1
    present = plan.digits >= 0
    digits = plan.digits[present]
    shift = np.tile(plan.corners[present], 2)  # (y, x) -> (y, x, y, x)
    out[present, 0] = labels[digits]
    out[present, 1:] = digit_boxes[digits] + shift
    return out
