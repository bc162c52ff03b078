"""The attention maps of a few probe images over training: live snapshots and their replay.

Why: the maps are what users come to see, and a map alone after training
hides how it formed. During training, `MapTimeline` runs the probe images
(one validation image per class by default) through the model every few
steps and keeps their maps; the run folder stores them as `timeline.npz`
and `Run.timeline()` reads them back.

When: the maps form in the first steps and change slowly after, so the
snapshots are spread over the whole planned training and dense early. Given
the planned total T (the training passes it), the target steps are evenly
spaced in log(step + c) from step 0 to T (`schedule`); the offset c is as
small (the start as dense) as leaves no gap above `MAX_GAP` (10 %) of the
training between two snapshots, but at least T / `R_MAX` (T / 50), so that
the first steps are not all snapshots. Over T = 1,376 steps and 48
snapshots that is steps 0, 2, 5, 8, 11, 14, … 1064, 1160, 1263, 1376: two
thirds of them in the first quarter, the largest gap 8 % of the training.

Cost: a snapshot is one forward pass of a handful of images, but it still
interrupts training. Their number follows the budget: all of them together
may take at most `budget` (5 %) of the training time, so after each
snapshot the count is re-planned as `budget · T · step time / snapshot time`
(between `MIN_SNAPSHOTS`, below which the spread is lost, and
`max_snapshots`), and the next snapshot waits for the next target step of
that plan. Early snapshots come a few steps apart, later ones far apart:
the budget is kept over the training, not between each two snapshots (only a
training so short that the budget affords fewer than `MIN_SNAPSHOTS`
spends more on them).
Without a planned total (`snapshot` called without `total_steps`) the next
snapshot waits `snapshot time / (budget · step time)` steps.

When there are more than `max_snapshots` (a plan that grew, or no plan),
the history is thinned one snapshot at a time: the one whose removal leaves
the smallest gap in log(step + c) (`thinned`), never step 0 or the newest,
so a long run keeps its early steps and its spread. The last snapshot is
always of the final (saved) weights, also for a run stopped early.
`spread_problems` says whether a timeline has that spread.

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
MIN_SNAPSHOTS = 16  # the budget never plans fewer: with fewer, the spread (and the early steps) are lost
MAX_GAP = 0.1  # the schedule's largest gap between two snapshots, as a share of the planned steps
R_MAX = 50.0  # the densest start: the offset c is at least T / R_MAX
# What `spread_problems` asks of a timeline: a quarter of its snapshots in the first quarter of its steps,
# and no gap above 15 % of them (looser than the schedule's own MAX_GAP: a re-planned count, rounding).
EARLY_SHARE = 0.25
LARGEST_GAP = 0.15
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


def _last_gap(ratio: float, count: int) -> float:
    """The last gap of `schedule` as a share of the total, for `count` steps evenly spaced in
    log(step + c) with T / c = `ratio` (0: evenly spaced steps)."""
    if ratio <= 0:
        return 1 / (count - 1)
    return 1 - ((1 + ratio) ** ((count - 2) / (count - 1)) - 1) / ratio


def spread_ratio(count: int, *, max_gap: float = MAX_GAP, ratio_max: float = R_MAX) -> float:
    """T / c for `count` snapshots: the largest ratio (at most `ratio_max`) whose last gap, the largest
    one, is at most `max_gap` of the total; 0 (evenly spaced) when even that leaves a larger gap."""
    if count < 3 or _last_gap(0, count) >= max_gap:
        return 0.0
    if _last_gap(ratio_max, count) <= max_gap:
        return float(ratio_max)
    low, high = 0.0, float(ratio_max)  # the last gap grows with the ratio
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if _last_gap(middle, count) <= max_gap else (low, middle)
    return low


def schedule(total: int, count: int, *, max_gap: float = MAX_GAP, ratio_max: float = R_MAX) -> list[int]:
    """Up to `count` target steps from 0 to `total`, evenly spaced in log(step + c), dense early.

    c = total / `spread_ratio(count)`; steps that round to the same integer are kept once, so a
    short training gets fewer. Example: `schedule(100, 16)` is `[0, 4, 9, 13, 18, …, 81, 90, 100]`.
    """
    total, count = int(total), int(count)
    if total < 0 or count < 2:
        raise ValueError(f"Expected total >= 0 and count >= 2. Received: total={total!r}, count={count!r}")
    ratio = spread_ratio(count, max_gap=max_gap, ratio_max=ratio_max)
    u = np.linspace(0.0, 1.0, count)
    shares = u if ratio == 0 else np.expm1(u * math.log1p(ratio)) / ratio
    return sorted({int(round(total * share)) for share in shares})


def schedule_offset(total: int, count: int) -> float:
    """The c of `schedule(total, count)`: log(step + c) is the scale its steps are evenly spaced on."""
    ratio = spread_ratio(count)
    return math.inf if ratio == 0 else max(total, 1) / ratio


def thinned(steps, count: int, *, offset: float = 1.0) -> list[int]:
    """The indices of `steps` (increasing) to keep so that `count` remain, dropping one at a time the
    snapshot whose removal leaves the smallest gap in log(step + offset) (the earliest on a tie);
    the first and the last are never dropped. `offset=math.inf`: gaps in steps."""
    if count < 2:
        raise ValueError(f"Expected count >= 2. Received: count={count!r}")
    keep = list(range(len(steps)))
    where = (np.asarray(steps, dtype=float) if math.isinf(offset)
             else np.log(np.asarray(steps, dtype=float) + offset))
    while len(keep) > count:
        at = where[keep]
        left_open = at[2:] - at[:-2]  # the gap that dropping keep[i] (i = 1 … n-2) leaves
        del keep[1 + int(np.argmin(left_open))]
    return keep


def spread_problems(steps, total: int, *, early_share: float = EARLY_SHARE,
                    largest_gap: float = LARGEST_GAP) -> list[str]:
    """What keeps a timeline's snapshot steps from showing the maps form over a training of `total`
    steps; empty when nothing does.

    Asked: a first snapshot at step 0 and a last at `total`, at least `early_share` of the snapshots
    in the first quarter of the steps (step ≤ total / 4), and no gap between two snapshots above
    `largest_gap` of the steps.
    """
    steps = [int(s) for s in steps]
    if not steps:
        return ["no snapshots"]
    problems = []
    if steps[0] != 0:
        problems.append(f"the first snapshot is at step {steps[0]}, not 0")
    if steps[-1] != total:
        problems.append(f"the last snapshot is at step {steps[-1]}, not the last step {total}")
    early = sum(s <= total / 4 for s in steps)
    if early < early_share * len(steps):
        problems.append(f"{early} of {len(steps)} snapshots in the first quarter of the {total} steps "
                        f"(at least {math.ceil(early_share * len(steps))} wanted)")
    gaps = np.diff(steps)
    if len(gaps) and gaps.max() > largest_gap * total:
        at = int(np.argmax(gaps))
        problems.append(f"a gap of {int(gaps.max())} steps ({gaps.max() / max(total, 1):.0%} of the training), "
                        f"from step {steps[at]} to {steps[at + 1]} (at most {largest_gap:.0%} wanted)")
    return problems


class MapTimeline:
    """Snapshots of the probe images' maps during training (see the module notes).

    Args:
        images: probe images `(P, H, W, 1)`.
        budget: the largest share of the training time snapshots may take.
        max_snapshots: the most snapshots planned, and kept (the history is thinned above it).
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
        self.timed = 0  # how many snapshots `seconds` adds up (thinning does not change it)
        self.total_steps: int | None = None  # the planned training steps, once a snapshot was told them
        self.planned: list[int] = []  # the current plan's target steps (`schedule`)

    def due(self, step: int) -> bool:
        return step >= self.next_step

    def snapshot(self, model, step: int, *, step_seconds: float | None = None,
                 total_steps: int | None = None) -> dict:
        """Record the probe images' maps at `step`; returns `{"step", "probabilities", maps…}`.

        `total_steps` (the planned training steps) spreads the snapshots over the whole training,
        dense early, and `step_seconds` (the mean training step) sizes their number to the budget;
        without a total the next snapshot waits the budget's interval after this one, and without
        either it is due at once.
        """
        from tal.core.inspection import inspect

        if total_steps is not None:
            self.total_steps = int(total_steps)
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
            self.timed += 1
        self.next_step = self._next(step, spent, step_seconds)
        return {"step": int(step), **{k: outputs[k] for k in keys}}

    def affordable(self, step_seconds: float | None) -> int:
        """How many snapshots the plan holds: `budget · T · step time / snapshot time`, between
        `MIN_SNAPSHOTS` and `max_snapshots` (`max_snapshots` before any snapshot was timed)."""
        low = min(MIN_SNAPSHOTS, self.max_snapshots)
        if not step_seconds or not self.timed or self.total_steps is None:
            return self.max_snapshots
        count = self.budget * self.total_steps * step_seconds / (self.seconds / self.timed)
        return int(min(self.max_snapshots, max(low, math.floor(count))))

    def _next(self, step: int, spent: float, step_seconds: float | None) -> int:
        if self.total_steps is not None:
            self.planned = schedule(self.total_steps, self.affordable(step_seconds))
            later = [s for s in self.planned if s > step]
            if later:
                return later[0]
        wait = 1 if not step_seconds else math.ceil(spent / (self.budget * step_seconds))
        return step + max(1, wait)

    def _offset(self) -> float:
        """The c of the log(step + c) scale the history is thinned on: the plan's, else 1."""
        if self.total_steps is None:
            return 1.0
        return schedule_offset(self.total_steps, self.max_snapshots)

    def _thin(self) -> None:
        if len(self.steps) <= self.max_snapshots:
            return
        keep = thinned(self.steps, self.max_snapshots, offset=self._offset())  # step 0 and the newest stay
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
