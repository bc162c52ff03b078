"""What `fit` trains on (tal.engine.feed): the same images and labels as Keras's own batching, every image once
per epoch, a fresh order each epoch, and autotuning off."""
import keras
import numpy as np
import pytest

from tal.engine.feed import fit_data

tensorflow_only = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the tf.data feed is TensorFlow's")


def _epochs(feed: dict, n: int) -> list[list]:
    dataset = feed["x"]
    return [[(np.asarray(x), {k: np.asarray(v) for k, v in y.items()}) for x, y in dataset] for _ in range(n)]


def _order(batches) -> list[float]:
    """The images' single values in the order the batches give them."""
    return np.concatenate([np.asarray(xb).ravel() for xb, _ in batches]).tolist()


@tensorflow_only
def test_each_epoch_gives_every_image_once_with_its_own_labels_in_a_new_order():
    x = np.arange(10, dtype="float32").reshape(10, 1, 1, 1) * 10  # image i holds the value 10·i
    y = np.arange(10) % 3
    feed = fit_data(x, {"main": y, "aux": y}, 4, shuffle=True, seed=1)
    assert feed["shuffle"] is False  # the pipeline shuffles; Keras must not be asked to
    first, second = _epochs(feed, 2)
    for epoch in (first, second):
        assert [len(xb) for xb, _ in epoch] == [4, 4, 2]  # the last batch holds the remainder, nothing dropped
        assert sorted(_order(epoch)) == [10.0 * i for i in range(10)]
        for xb, yb in epoch:  # each label travels with its image: image 10·i has label i % 3
            np.testing.assert_array_equal(yb["main"], (xb.ravel() / 10).astype(int) % 3)
            np.testing.assert_array_equal(yb["aux"], yb["main"])
    assert _order(first) != _order(second)
    assert _order(first) != sorted(_order(first))


@tensorflow_only
def test_the_order_follows_the_seed_and_no_shuffle_keeps_it():
    x = np.arange(12, dtype="float32").reshape(12, 1, 1, 1)
    y = np.zeros(12, dtype="int64")
    seeded = [_order(fit_data(x, y, 5, shuffle=True, seed=3)["x"]) for _ in range(2)]
    assert seeded[0] == seeded[1]
    assert _order(fit_data(x, y, 5, shuffle=False)["x"]) == list(range(12))


@tensorflow_only
def test_autotuning_is_off_and_two_batches_are_prefetched():
    import tensorflow as tf

    feed = fit_data(np.zeros((3, 1, 1, 1), "float32"), np.zeros(3), 2, shuffle=False)
    assert feed["x"].options().autotune.enabled is False
    assert isinstance(feed["x"], tf.data.Dataset)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_get_the_arrays(monkeypatch, backend):
    monkeypatch.setattr(keras.backend, "backend", lambda: backend)
    x, y = np.zeros((3, 1, 1, 1)), np.zeros(3)
    feed = fit_data(x, y, 2, shuffle=True, seed=0)
    assert feed["x"] is x and feed["y"] is y and feed["batch_size"] == 2 and feed["shuffle"] is True
