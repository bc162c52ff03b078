"""What a source of one's own images lists before any picture is decoded, and how it is split.

A source (class folders, a label table, …) only lists files, labels, the
split its layout fixes, the group each image belongs to (a patient) and the
boxes drawn on it. Splitting and subsetting happen on that list, so only the
images a run uses are ever decoded.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")
SHOWN = 3  # files named in a message before "and N more"


class SourceError(ValueError):
    """A folder, table or file of one's own images cannot be used as it is; the message says why."""


@dataclasses.dataclass
class Listing:
    """The images of a source: relative files, labels, fixed splits, groups and boxes.

    `labels` is int (N,) for one class per image or float32 (N, C) multi-hot.
    `split` holds "train", "val", "test" or "" (not fixed by the layout).
    `groups` names what must stay on one side of a split (a patient), or None.
    `boxes` maps a file to its [(class, x, y, w, h)] in the original's pixels.
    """

    root: Path
    files: list
    labels: np.ndarray
    class_names: tuple
    split: np.ndarray
    groups: np.ndarray | None = None
    boxes: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)
    describe: str = ""

    @property
    def multi_label(self) -> bool:
        return self.labels.ndim == 2

    def __post_init__(self):
        self.split = np.asarray(self.split, dtype=object)


def named(items, total: int | None = None) -> str:
    """'a, b, c and 4 more' for messages that count and name a few."""
    items = [str(i) for i in items]
    total = len(items) if total is None else total
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {total - SHOWN} more" if total > SHOWN else "")


def _group_keys(listing: Listing, rows: np.ndarray) -> np.ndarray:
    if listing.groups is None:
        return rows.astype(object)
    return listing.groups[rows]


def split_off(listing: Listing, rows: np.ndarray, fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """(kept, taken): about `fraction` of `rows` taken at random, whole groups at a time."""
    if not len(rows) or fraction <= 0:
        return rows, rows[:0]
    keys = _group_keys(listing, rows)
    unique, inverse, counts = np.unique(keys.astype(str), return_inverse=True, return_counts=True)
    order = rng.permutation(len(unique))
    target = fraction * len(rows)
    taken_groups, total = [], 0
    for g in order:
        if total >= target:
            break
        taken_groups.append(g)
        total += counts[g]
    taken = np.isin(inverse, taken_groups)
    if taken.all() and len(unique) > 1:  # never take everything
        taken &= inverse != taken_groups[-1]
    return np.sort(rows[~taken]), np.sort(rows[taken])


def plan_splits(listing: Listing, *, val_fraction: float, test_fraction: float, train_size, test_size,
                seed: int) -> dict:
    """Rows of each split: the layout's own, else seeded (by group), then the size subsets.

    The test split is fixed before `train_size` is applied, so a smaller
    training subset never moves an image into the test set.
    """
    rng = lambda step: np.random.default_rng([int(seed), 100 + step])  # noqa: E731
    split = listing.split
    rows = np.arange(len(listing.files))
    test = rows[split == "test"]
    pool = rows[(split == "train") | (split == "")]
    if not len(test):
        pool, test = split_off(listing, pool, test_fraction, rng(1))
    if train_size is not None and train_size < len(pool):
        pool = np.sort(rng(2).choice(pool, size=train_size, replace=False))
    val = rows[split == "val"]
    if not len(val):
        pool, val = split_off(listing, pool, val_fraction, rng(3))
    if test_size is not None and test_size < len(test):
        test = np.sort(rng(4).choice(test, size=test_size, replace=False))
    return {"train": pool, "val": val, "test": test}


def leak_note(listing: Listing, parts: dict) -> list[str]:
    """A note when one group (patient) is in the test split and another: its images leak into the test score."""
    if listing.groups is None:
        return []
    seen = {name: set(listing.groups[rows].astype(str)) for name, rows in parts.items()}
    both = (seen["train"] | seen["val"]) & seen["test"]
    if not both:
        return []
    return [f"{len(both)} patient(s) have images both in the test split and in training or validation "
            f"({named(sorted(both))}): the test list splits them, so the test score is optimistic."]
