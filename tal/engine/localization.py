"""Do the attention maps point at the right thing? Scores against ground-truth boxes.

For every test image and every class present in it (one class per image on
MNIST and translated MNIST, one to three on multidigit canvases), a method's
map for that class is scored against the boxes of that class:

* **pointing game** (Zhang et al., ECCV 2016): a hit when the centre of the
  map's highest cell, in input pixels, lies inside a box of the class, with
  a tolerance of half a feature-grid cell (Zhang et al. use 15 px on large
  images). Chance: the share of grid cells whose centre would hit.
* **energy-based pointing game** (Wang et al., Score-CAM, CVPR-W 2020): the
  share of the map's positive mass, spread over input pixels, that falls
  inside the class's boxes. Chance: the boxes' share of the image, which is
  what a flat map scores.

Methods: the element-wise branch's own maps `A`, `U = σ(S)⊙A` and the
positive part of `S` (`S+`); Grad-CAM (Selvaraju et al., ICCV 2017) of the
main head on the last feature map before it, for any model; and the
class-agnostic spatial maps of other modules (CBAM's spatial gate, spatial
weights, the element branch's mask `M`), which point at the same place for
every class.

**Sanity check** (Adebayo et al., NeurIPS 2018, model-parameter
randomisation): each method's maps on the trained model against the same
architecture freshly initialised, as the Spearman rank correlation of every
(image, class) map pair. A method whose maps barely change when the weights
are random (|ρ| high, as Adebayo et al. read the absolute correlation)
reflects the input (edges, ink) rather than what the model learned, and is
flagged.

Grad-CAM is written here with `tf.GradientTape`: tf-keras-vis, the
maintained Keras implementation, targets tf.keras 2 (TensorFlow <= 2.15) and
one layer's output, while the features before our head come out of a
cascade of layers.
"""
from __future__ import annotations

import numpy as np

from tal.core import catalogue

# Maps of the element-wise branch, one per class.
CLASS_MAPS = ("A", "U", "S+")
GRADCAM = "gradcam"
# The methods that are not a catalogue map of their own (the others take their MapSpec's title).
OWN_TITLES = {"S+": "S⁺ (positive confidence)", GRADCAM: "Grad-CAM (post hoc)"}
TOLERANCE_CELLS = 0.5
# A method whose maps keep this absolute rank correlation on a re-initialised model is flagged.
RANDOMISATION_LIMIT = 0.5


class LocalizationError(ValueError):
    """A run or method cannot be scored (no boxes, or the model lacks the maps)."""


# ----------------------------------------------------------------------------- scores


def _present(objects_row) -> dict[int, list[tuple]]:
    """{class: [boxes]} of one image's (K, 5) object rows."""
    found: dict[int, list[tuple]] = {}
    for c, y0, x0, y1, x1 in np.asarray(objects_row).tolist():
        if c >= 0 and y1 > y0 and x1 > x0:
            found.setdefault(int(c), []).append((y0, x0, y1, x1))
    return found


def pairs(objects) -> list[tuple[int, int, list[tuple]]]:
    """(image, class, boxes of that class) for every class present in every image."""
    return [(n, c, boxes) for n, row in enumerate(objects) for c, boxes in sorted(_present(row).items())]


def _cell_centres(grid: tuple[int, int], image: tuple[int, int]):
    """Centres of the grid's cells in input pixels: (ys (h,), xs (w,)) and the cell size (cy, cx)."""
    (h, w), (height, width) = grid, image
    cy, cx = height / h, width / w
    return (np.arange(h) + 0.5) * cy, (np.arange(w) + 0.5) * cx, (cy, cx)


def _inside(y, x, boxes, tol) -> bool:
    """Whether (y, x) lies in any box (y0, x0, y1, x1; y1 / x1 exclusive pixel edges) grown by tol."""
    return any(y0 - tol[0] <= y <= y1 + tol[0] and x0 - tol[1] <= x <= x1 + tol[1] for y0, x0, y1, x1 in boxes)


def pointing_hit(heatmap, boxes, image_size, tolerance_cells: float = TOLERANCE_CELLS) -> bool:
    """Whether the centre of the heatmap's highest cell (first one on ties) hits a box.

    Args:
        heatmap: (h, w) map over the input.
        boxes: (y0, x0, y1, x1) boxes in input pixels, y1 and x1 exclusive.
        image_size: (H, W) of the input.
        tolerance_cells: how far outside a box still counts, in grid cells.
    """
    heatmap = np.asarray(heatmap, dtype=np.float64)
    ys, xs, cell = _cell_centres(heatmap.shape, image_size)
    i, j = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    tol = (tolerance_cells * cell[0], tolerance_cells * cell[1])
    return _inside(ys[i], xs[j], boxes, tol)


def pointing_chance(grid, boxes, image_size, tolerance_cells: float = TOLERANCE_CELLS) -> float:
    """Share of grid cells whose centre would hit: the pointing game of a random cell."""
    ys, xs, cell = _cell_centres(grid, image_size)
    ty, tx = tolerance_cells * cell[0], tolerance_cells * cell[1]
    hit = np.zeros((len(ys), len(xs)), bool)
    for y0, x0, y1, x1 in boxes:  # the same rule as _inside, for every cell centre at once
        hit |= ((ys >= y0 - ty) & (ys <= y1 + ty))[:, None] & ((xs >= x0 - tx) & (xs <= x1 + tx))[None, :]
    return float(hit.mean())


def box_mask(boxes, image_size) -> np.ndarray:
    """bool (H, W): pixels inside any of the boxes."""
    mask = np.zeros(image_size, bool)
    for y0, x0, y1, x1 in boxes:
        mask[max(y0, 0) : y1, max(x0, 0) : x1] = True
    return mask


def to_pixels(heatmap, image_size) -> np.ndarray:
    """The heatmap spread over input pixels: each pixel takes the value of the cell it lies in."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    (h, w), (height, width) = heatmap.shape, image_size
    rows = np.minimum((np.arange(height) * h) // height, h - 1)
    cols = np.minimum((np.arange(width) * w) // width, w - 1)
    return heatmap[np.ix_(rows, cols)]


def energy_share(heatmap, boxes, image_size) -> float | None:
    """Share of the heatmap's positive mass (over input pixels) inside the boxes; None for no mass."""
    pixels = np.maximum(to_pixels(heatmap, image_size), 0.0)
    total = pixels.sum()
    if total <= 0:
        return None
    return float(pixels[box_mask(boxes, image_size)].sum() / total)


def energy_chance(boxes, image_size) -> float:
    """The boxes' share of the image: what a flat map scores."""
    return float(box_mask(boxes, image_size).mean())


def score_maps(maps, objects, image_size, num_classes: int, tolerance_cells: float = TOLERANCE_CELLS,
               details: bool = False) -> dict:
    """Pointing game and energy share of one method's maps, per class and overall, with chance levels.

    Args:
        maps: (N, h, w, C) per-class maps, or (N, h, w) for a class-agnostic map.
        objects: (N, K, 5) rows (class, y0, x0, y1, x1); class -1 is an empty slot.
        image_size: (H, W) of the inputs.
        num_classes: C.
        tolerance_cells: pointing tolerance in grid cells.
        details: also list every pair as `[image, class, hit (0/1), energy share]` under `"pairs_detail"`.

    Returns:
        `{"pointing": {...}, "energy": {...}, "pairs": P}`, each score with
        `"overall"`, `"chance"`, `"per_class"` and `"chance_per_class"`
        (None for a class never present).
    """
    maps = np.asarray(maps)
    per_class = maps.ndim == 4
    records = {"pointing": [[] for _ in range(num_classes)], "energy": [[] for _ in range(num_classes)]}
    chances = {"pointing": [[] for _ in range(num_classes)], "energy": [[] for _ in range(num_classes)]}
    detail = []
    for n, c, boxes in pairs(objects):
        heatmap = maps[n, ..., c] if per_class else maps[n]
        hit = float(pointing_hit(heatmap, boxes, image_size, tolerance_cells))
        records["pointing"][c].append(hit)
        chances["pointing"][c].append(pointing_chance(heatmap.shape, boxes, image_size, tolerance_cells))
        share = energy_share(heatmap, boxes, image_size)
        share = 0.0 if share is None else share  # no positive mass: nothing inside
        records["energy"][c].append(share)
        chances["energy"][c].append(energy_chance(boxes, image_size))
        detail.append([int(n), int(c), int(hit), round(share, 4)])
    out = {"pairs": int(sum(len(r) for r in records["pointing"]))}
    if details:
        out["pairs_detail"] = detail
    for score in ("pointing", "energy"):
        flat = [v for r in records[score] for v in r]
        flat_chance = [v for r in chances[score] for v in r]
        out[score] = {
            "overall": float(np.mean(flat)) if flat else None,
            "chance": float(np.mean(flat_chance)) if flat_chance else None,
            "per_class": [float(np.mean(r)) if r else None for r in records[score]],
            "chance_per_class": [float(np.mean(r)) if r else None for r in chances[score]],
        }
    return out


# ----------------------------------------------------------------------------- maps


def grad_cam(model, images, batch_size: int = 128) -> np.ndarray:
    """Grad-CAM of every class of the main head: (N, h, w, C).

    `ReLU(Σ_k α_k F_k)` with `α_k = mean_{h,w} ∂y_c/∂F_k`, where `F` is the
    last feature map before the head and `y_c` the class's logit (before the
    softmax / sigmoid), per Selvaraju et al. 2017.
    """
    import tensorflow as tf

    from tal.core.models import features_and_logits

    images = np.asarray(images, dtype="float32")
    chunks = []
    for start in range(0, len(images), batch_size):
        x = tf.convert_to_tensor(images[start : start + batch_size])
        with tf.GradientTape(persistent=True) as tape:
            features, logits = features_and_logits(model, x)
            per_class = [logits[:, c] for c in range(logits.shape[-1])]
        cams = []
        for y_c in per_class:
            grads = tape.gradient(y_c, features)  # images are independent: d(sum)/dF_n = dy_c(n)/dF_n
            alpha = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
            cams.append(tf.nn.relu(tf.reduce_sum(alpha * features, axis=-1)))
        del tape
        chunks.append(tf.stack(cams, axis=-1).numpy())
    return np.concatenate(chunks)


def spatial_maps_of(model_config) -> tuple[str, ...]:
    """Class-agnostic spatial maps ((B, H, W) pictures) the model's modules expose."""
    keys = []
    for module in catalogue.selected(model_config):
        for spec in module.maps:
            if spec.spatial_picture:
                keys.append(spec.output)
    return tuple(keys)


def method_title(method: str) -> str:
    """What a method is, in a few words: its map's catalogue title (class-agnostic maps say so)."""
    if method in OWN_TITLES:
        return OWN_TITLES[method]
    try:
        spec = catalogue.map_spec(method)
    except KeyError:
        return method
    return f"{spec.title} (all classes)" if spec.spatial_picture else spec.title


def available_methods(model_config) -> tuple[str, ...]:
    """The methods that can score this model: its own maps, then Grad-CAM."""
    own = CLASS_MAPS if model_config.element else ()
    return (*own, *spatial_maps_of(model_config), GRADCAM)


def method_maps(model, images, methods, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Each requested method's maps on `images`: (N, h, w, C) or (N, h, w) for class-agnostic ones."""
    from tal.core.inspection import inspect

    out: dict[str, np.ndarray] = {}
    probe_keys = [m for m in methods if m != GRADCAM]
    if probe_keys:
        probed = inspect(model, images, batch_size=batch_size)
        for method in probe_keys:
            out[method] = np.maximum(probed["S"], 0.0) if method == "S+" else probed[method]
    if GRADCAM in methods:
        out[GRADCAM] = grad_cam(model, images)
    return out


def rank_correlation(trained, randomised, objects) -> float:
    """Mean Spearman rank correlation of the (image, present class) map pairs of two models."""
    from scipy.stats import spearmanr

    trained, randomised = np.asarray(trained), np.asarray(randomised)
    values = []
    for n, c, _ in pairs(objects):
        a = trained[n, ..., c] if trained.ndim == 4 else trained[n]
        b = randomised[n, ..., c] if randomised.ndim == 4 else randomised[n]
        a, b = a.ravel(), b.ravel()
        if np.ptp(a) == 0 or np.ptp(b) == 0:
            values.append(0.0)  # a constant map carries no ranking to share
            continue
        values.append(float(spearmanr(a, b).statistic))
    return float(np.mean(values)) if values else float("nan")


def randomised_copy(model_config, seed: int = 12345):
    """The same architecture with fresh random weights (the randomisation check's control).

    Seeded, so the check gives the same number every time; Python's and
    NumPy's global random states are put back afterwards (a server process
    shares them with everything else it runs).
    """
    import random

    import keras

    from tal.core.models import build_model

    saved = random.getstate(), np.random.get_state()
    try:
        keras.utils.set_random_seed(seed)
        return build_model(model_config)
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])


# ----------------------------------------------------------------------------- a run


def localize(
    model,
    model_config,
    images,
    objects,
    *,
    methods=None,
    sanity: bool = True,
    tolerance_cells: float = TOLERANCE_CELLS,
    details: bool = False,
) -> dict:
    """Scores every method's maps of `model` on `images` against the `objects` boxes.

    Args:
        model: a model built by `tal.build_model` (or loaded from a run).
        model_config: its `tal.ModelConfig`.
        images: (N, H, W, 1) test images.
        objects: (N, K, 5) rows (class, y0, x0, y1, x1) (`Dataset.objects("test")`).
        methods: names from `available_methods(model_config)`; None: all of them.
        sanity: also run the model-parameter randomisation check.
        tolerance_cells: pointing tolerance in grid cells.
        details: also list every (image, class) pair's hit and energy (see `score_maps`).

    Returns:
        A JSON-friendly dict: `"methods"` maps each method to its scores (see
        `score_maps`), its grid and, with `sanity`, `"randomisation"`
        (`spearman`, `trusted`); `"skipped"` names requested methods the
        model cannot give, with the reason.

    Raises:
        LocalizationError: when no image has a box, or no requested method is available.
    """
    images = np.asarray(images, dtype="float32")
    objects = np.asarray(objects)
    if not pairs(objects):
        raise LocalizationError("These images have no boxes to score the maps against.")
    available = available_methods(model_config)
    requested = tuple(methods) if methods else available
    skipped = {m: _why_not(m, model_config) for m in requested if m not in available}
    chosen = tuple(m for m in requested if m in available)
    if not chosen:
        raise LocalizationError(
            f"None of the requested methods can score this model: {'; '.join(skipped.values())}"
        )
    image_size = tuple(images.shape[1:3])
    num_classes = int(model_config.num_classes)
    maps = method_maps(model, images, chosen)
    random_maps = method_maps(randomised_copy(model_config), images, chosen) if sanity else {}
    results = {}
    for method in chosen:
        scores = score_maps(maps[method], objects, image_size, num_classes, tolerance_cells, details)
        scores["grid"] = list(maps[method].shape[1:3])
        scores["class_agnostic"] = maps[method].ndim == 3
        if sanity:
            rho = rank_correlation(maps[method], random_maps[method], objects)
            scores["randomisation"] = {"spearman": rho, "trusted": bool(abs(rho) < RANDOMISATION_LIMIT)}
        results[method] = scores
    grid = results[chosen[0]]["grid"]
    return {
        "images": int(len(images)),
        "pairs": results[chosen[0]]["pairs"],
        "input": list(image_size),
        "tolerance_cells": tolerance_cells,
        "tolerance_px": tolerance_cells * image_size[0] / grid[0],
        "randomisation_limit": RANDOMISATION_LIMIT if sanity else None,
        "methods": results,
        "skipped": skipped,
    }


def _why_not(method: str, model_config) -> str:
    if method in CLASS_MAPS:
        return f"{method}: this model has no element-wise branch, so no {method} maps"
    known = {spec.output for m in catalogue.MODULES for spec in m.maps}
    if method in known:
        return f"{method}: the module that draws it is not in this model"
    return f"{method}: unknown method (choose from {', '.join(available_methods(model_config))})"
