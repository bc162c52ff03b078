"""How unlike the training images an input is: a hint beside a prediction, never a verdict.

A classifier answers for any input, and its confidence does not drop for
inputs unlike anything it was trained on: the multidigit demo calls random
noise an "8" at ~100 %. So the hint does not read the model at all. It
measures the input itself: the Euclidean distance, in input pixels (values in
[0, 1]), from the image to its nearest neighbour among a seeded sample of the
training images. The same distance of the run's own test images (to the same
sample) is the yardstick: an image farther away than all but `FLAG_SHARE` of
them is flagged, with how unusual it is ("farther than 99.6 % of test
images").

What this is not: a calibrated out-of-distribution detector. Pixel distance
knows nothing of what the model finds similar: a digit shifted by a few
pixels is "far", and a test image that the model gets wrong can be "near".
It answers the plainer question a user asks of a strange result: "does this
input look like anything the model has seen?" The nearest-neighbour search is
scikit-learn's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# An input farther from the training sample than this share of test images gets the hint.
FLAG_SHARE = 0.99
TRAIN_SAMPLE = 2000
TEST_SAMPLE = 1000


@dataclass(frozen=True)
class NoveltyReference:
    """Nearest-neighbour distances to a training sample, and the test images' own for comparison.

    Build it with `fit_reference`; `score` places new images against it.
    """

    neighbours: object  # a fitted sklearn.neighbors.NearestNeighbors on the flattened training sample
    test_distances: np.ndarray  # sorted nearest-neighbour distances of the test sample
    train_images: int

    def distances(self, images) -> np.ndarray:
        """Each image's distance to its nearest training image of the sample."""
        flat = _flatten(images)
        return self.neighbours.kneighbors(flat, n_neighbors=1, return_distance=True)[0][:, 0]

    def share_closer(self, distances) -> np.ndarray:
        """For each distance, the share of test images that lie closer to the training sample."""
        d = np.atleast_1d(np.asarray(distances, dtype="float64"))
        return np.searchsorted(self.test_distances, d, side="left") / len(self.test_distances)

    def score(self, images) -> list[dict]:
        """Per image: its `distance`, the `share_closer` of test images, and whether it is `unusual`."""
        d = self.distances(images)
        shares = self.share_closer(d)
        return [{"distance": float(x), "share_closer": float(s), "unusual": bool(s >= FLAG_SHARE)}
                for x, s in zip(d, shares)]


def fit_reference(x_train, x_test, *, train_sample: int = TRAIN_SAMPLE, test_sample: int = TEST_SAMPLE,
                  seed: int = 0) -> NoveltyReference:
    """A reference from a seeded sample of the training images and of the test images.

    Args:
        x_train, x_test: images `(N, H, W, channels)` (or `(N, H, W)`), values in [0, 1].
        train_sample, test_sample: how many of each to use (all when fewer).
        seed: the samples' seed.

    Raises:
        ValueError: when either set is empty or their image shapes differ.
    """
    from sklearn.neighbors import NearestNeighbors

    x_train, x_test = np.asarray(x_train), np.asarray(x_test)
    if not len(x_train) or not len(x_test):
        raise ValueError("A novelty reference needs training and test images; one of the sets is empty.")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"Training images {x_train.shape[1:]} and test images {x_test.shape[1:]} differ in shape.")
    rng = np.random.default_rng(seed)
    train = x_train[np.sort(rng.permutation(len(x_train))[:train_sample])]
    test = x_test[np.sort(rng.permutation(len(x_test))[:test_sample])]
    neighbours = NearestNeighbors(n_neighbors=1).fit(_flatten(train))
    test_d = neighbours.kneighbors(_flatten(test), n_neighbors=1, return_distance=True)[0][:, 0]
    return NoveltyReference(neighbours, np.sort(test_d), len(train))


def reference_config(data_config):
    """The `DataConfig` whose images make a run's reference: the run's data, with seeded samples of
    `TRAIN_SAMPLE` training and `TEST_SAMPLE` test images and no validation split."""
    return data_config.replace(train_size=TRAIN_SAMPLE, test_size=TEST_SAMPLE, val_fraction=0.0)


def reference_for(data_config) -> NoveltyReference | None:
    """`fit_reference` on the images of `reference_config(data_config)`, or None when those images are
    not on this machine (then no input can be placed, and callers say so)."""
    from tal.data.datasets import DataFormatError, DataNotFoundError, load_dataset
    from tal.data.sources import SourceError

    try:
        data = load_dataset(reference_config(data_config))
    except (DataNotFoundError, DataFormatError, SourceError):
        return None
    return fit_reference(data.x_train, data.x_test)


def hint(entry: dict, train_images: int) -> str | None:
    """The sentence shown beside a prediction for an unusual input (None for a usual one)."""
    if not entry["unusual"]:
        return None
    return (f"**This input looks unlike the training images**: {reason(entry, train_images)}. "
            "The prediction may say little: the model answers for any input, however confident it looks.")


def reason(entry: dict, train_images: int) -> str:
    """Why an input counts as unusual, as a clause: how far it is against the test images."""
    return (f"it is farther (in pixels) from its nearest of {train_images:,} training images than "
            f"{entry['share_closer']:.1%} of the test images are")


def _flatten(images) -> np.ndarray:
    x = np.asarray(images, dtype="float32")
    return x.reshape(len(x), -1)
