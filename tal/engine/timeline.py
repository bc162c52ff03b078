"""The attention maps of a few probe images over training: live snapshots and their replay.

Why: the maps are what users come to see, and a map alone after training
hides how it formed. During training, `MapTimeline` runs the probe images
(one validation image per class by default) through the model every few
steps and keeps their maps; the run folder stores them as `timeline.npz`
and `Run.timeline()` reads them back.

Cost: a snapshot is one forward pass of a handful of images, but it still
interrupts training. The interval adapts so that snapshots take at most
`budget` (5 %) of the training time: after each snapshot, the next one waits
`snapshot time / (budget · step time)` steps. Old snapshots are thinned (every
second one dropped) when there are more than `max_snapshots`, so a long run
keeps its whole history at a coarser step. The last snapshot is always of
the final (saved) weights.

Stored per snapshot: the probabilities the model gives each probe image and
every map its modules draw as a per-class grid, a picture or bars (`A`, `S`,
`M`, the gates, the scale weights, …), as float16; `U = σ(S)⊙A` and
`score = Σ A⊙S` are derived when loading.
"""
from __future__ import annotations

import math
import time

import numpy as np

from tal.core import catalogue, derived_maps

BUDGET = 0.05
MAX_SNAPSHOTS = 48
FILENAME = "timeline.npz"
# Maps that follow from the stored ones (rebuilt by `load`).
DERIVED = ("U", "score")


def probe_images(dataset, per_class: int = 1) -> np.ndarray:
    """One validation image per class (training images when there is no validation split).

    For multi-label data: the first canvases showing each class (a canvas
    can stand for several classes, so there may be fewer than C images).
    """
    x, y = (dataset.x_val, dataset.y_val) if len(dataset.y_val) else (dataset.x_train, dataset.y_train)
    chosen: list[int] = []
    for c in range(dataset.num_classes):
        members = np.flatnonzero(y[:, c] > 0) if y.ndim == 2 else np.flatnonzero(y == c)
        chosen += [int(i) for i in members[:per_class] if int(i) not in chosen]
    return np.asarray(x[np.asarray(sorted(chosen), dtype=int)], dtype="float32")


def stored_keys(outputs: dict) -> list[str]:
    """The `tal.inspect` keys a snapshot keeps: drawn maps that cannot be derived from others."""
    keys = []
    for key in outputs:
        try:
            spec = catalogue.map_spec(key)
        except KeyError:  # probabilities, prediction, the heads: not maps
            continue
        if not spec.computed and key not in DERIVED and spec.view in ("class_grid", "picture", "bars"):
            keys.append(key)
    return keys


class MapTimeline:
    """Snapshots of the probe images' maps during training (see the module notes).

    Args:
        images: probe images `(P, H, W, 1)`.
        budget: the largest share of the training time snapshots may take.
        max_snapshots: thin the history (drop every second snapshot) above this.
    """

    def __init__(self, images, *, budget: float = BUDGET, max_snapshots: int = MAX_SNAPSHOTS):
        if not 0 < budget <= 1:
            raise ValueError(f"Expected 0 < budget <= 1. Received: budget={budget!r}")
        if max_snapshots < 2:
            raise ValueError(f"Expected max_snapshots >= 2. Received: max_snapshots={max_snapshots!r}")
        self.images = np.asarray(images, dtype="float32")
        self.budget, self.max_snapshots = budget, max_snapshots
        self.steps: list[int] = []
        self.maps: dict[str, list[np.ndarray]] = {}
        self.next_step = 0
        self.seconds = 0.0  # time spent in snapshots after the first (which traces the probe)

    def due(self, step: int) -> bool:
        return step >= self.next_step

    def snapshot(self, model, step: int, *, step_seconds: float | None = None) -> dict:
        """Record the probe images' maps at `step`; returns `{"step", "probabilities", maps…}`.

        `step_seconds` (the mean training step) schedules the next snapshot
        within the budget; without it the next step is due at once.
        """
        from tal.core.inspection import inspect

        started = time.perf_counter()
        outputs = inspect(model, self.images)
        keys = ["probabilities", *stored_keys(outputs)]  # what the model answered, then its maps
        if self.steps and self.steps[-1] == step:  # the same step again (the final weights): replace
            self.steps.pop()
            for values in self.maps.values():
                values.pop()
        self.steps.append(int(step))
        for key in keys:
            self.maps.setdefault(key, []).append(np.asarray(outputs[key], dtype=np.float16))
        self._thin()
        spent = time.perf_counter() - started
        if len(self.steps) > 1:
            self.seconds += spent
        wait = 1 if not step_seconds else math.ceil(spent / (self.budget * step_seconds))
        self.next_step = step + max(1, wait)
        return {"step": int(step), **{k: outputs[k] for k in keys}}

    def _thin(self) -> None:
        if len(self.steps) <= self.max_snapshots:
            return
        keep = list(range(0, len(self.steps) - 1, 2)) + [len(self.steps) - 1]  # the newest always stays
        self.steps = [self.steps[i] for i in keep]
        self.maps = {k: [v[i] for i in keep] for k, v in self.maps.items()}

    def arrays(self) -> dict[str, np.ndarray]:
        """`{"steps": (T,), "images": (P, H, W, 1), map: (T, P, …)}` for saving."""
        out = {"steps": np.asarray(self.steps, dtype=np.int64), "images": self.images}
        out.update({k: np.stack(v) for k, v in self.maps.items()})
        return out


def index_at(steps, step: int) -> int:
    """The snapshot to show at training step `step`: the last one taken at or before it
    (the first when `step` precedes them all)."""
    steps = np.asarray(steps)
    if steps.ndim != 1 or not len(steps):
        raise ValueError(f"Expected a non-empty 1-D sequence of snapshot steps. Received shape {steps.shape}")
    return max(0, int(np.searchsorted(steps, step, side="right")) - 1)


def snapshot_at(timeline: dict, t: int) -> dict:
    """Snapshot `t` of a loaded timeline as the live maps draw it: `{"step", "images", map: (P, …)}`."""
    out = {k: v[t] for k, v in timeline.items() if k not in ("steps", "images")}
    return {**out, "images": timeline["images"], "step": int(timeline["steps"][t])}


ALIGNMENTS = ("step", "share")


def matched_indices(step_lists, at: float, *, by: str = "step") -> list[int]:
    """The snapshot of each timeline to show side by side at one point of training.

    Snapshots come when the budget allows, so two runs never share their
    steps; each run shows its last snapshot at or before the point. `by`:
    `"step"`, `at` is a training step (the same step for every run), or
    `"share"`, `at` is a share of each run's own training in [0, 1] (for runs
    of different lengths; the last snapshot is at the run's last step).
    """
    if by not in ALIGNMENTS:
        raise ValueError(f"Expected by in {ALIGNMENTS}. Received: by={by!r}")
    if by == "share" and not 0 <= at <= 1:
        raise ValueError(f"Expected a share of training between 0 and 1. Received: {at!r}")
    out = []
    for steps in step_lists:
        target = at if by == "step" else at * float(np.asarray(steps)[-1])
        out.append(index_at(steps, math.floor(target + 1e-9)))
    return out


def save(path, arrays: dict) -> None:
    """Write a timeline as a compressed `.npz`, atomically."""
    from tal.engine.files import save_npz_atomic

    save_npz_atomic(path, **arrays)


def load(path) -> dict[str, np.ndarray]:
    """A saved timeline, with `U` and `score` derived when `A` and `S` are there (float32)."""
    with np.load(path) as stored:
        out = {k: stored[k] if k in ("steps", "images") else stored[k].astype(np.float32) for k in stored.files}
    if "A" in out and "S" in out:  # (T, P, H, W, C): snapshots of the probe images
        out["U"] = derived_maps.weighted_attention(out["A"], out["S"])
        out["score"] = derived_maps.auxiliary_score(out["A"], out["S"])
    return out
