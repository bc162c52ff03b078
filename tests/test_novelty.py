"""The 'unlike the training images' hint: nearest-neighbour distances against the test images' own."""
from __future__ import annotations

import numpy as np
import pytest

from tal.engine import novelty


def _images(values):
    return np.asarray(values, dtype="float32").reshape(-1, 1, 1, 1)  # 1-pixel images: distance = |a − b|


def test_distances_and_shares_by_hand():
    ref = novelty.fit_reference(_images([0, 1, 2, 3]), _images([0.1, 0.2, 0.3, 0.4]))
    # nearest training pixel: 0 for all four test images → distances 0.1 … 0.4
    np.testing.assert_allclose(ref.test_distances, [0.1, 0.2, 0.3, 0.4], atol=1e-6)
    np.testing.assert_allclose(ref.distances(_images([0.25, 1.35, 10])), [0.25, 0.35, 7.0], atol=1e-6)
    scored = ref.score(_images([0.25, 1.35, 10]))
    assert [s["share_closer"] for s in scored] == [0.5, 0.75, 1.0]  # 2, 3 and 4 of the 4 test images lie closer
    assert [s["unusual"] for s in scored] == [False, False, True]
    assert novelty.hint(scored[0], ref.train_images) is None
    assert "farther (in pixels) from its nearest of 4 training images than 100.0% of the test" in novelty.hint(scored[2], 4)


def test_samples_are_seeded_and_bad_sets_are_refused():
    rng = np.random.default_rng(0)
    train, test = rng.random((50, 2, 2, 1)), rng.random((30, 2, 2, 1))
    a = novelty.fit_reference(train, test, train_sample=10, test_sample=5, seed=3)
    b = novelty.fit_reference(train, test, train_sample=10, test_sample=5, seed=3)
    assert a.train_images == 10 and len(a.test_distances) == 5
    np.testing.assert_array_equal(a.test_distances, b.test_distances)
    with pytest.raises(ValueError, match="empty"):
        novelty.fit_reference(train[:0], test)
    with pytest.raises(ValueError, match="differ in shape"):
        novelty.fit_reference(train, rng.random((3, 3, 3, 1)))


def test_on_mnist_noise_is_unusual_and_test_digits_are_not(mnist_path):
    from tal.core.config import DataConfig
    from tal.data.datasets import load_dataset

    data = load_dataset(DataConfig(train_size=2000, test_size=600, data_dir=str(mnist_path)))
    ref = novelty.fit_reference(data.x_train, data.x_test[:400])
    noise = np.random.default_rng(0).random((3, 28, 28, 1)).astype("float32")
    assert all(s["unusual"] for s in ref.score(noise))
    held_out = ref.score(data.x_test[400:600])  # test digits the reference did not see
    assert np.mean([s["unusual"] for s in held_out]) < 0.05
