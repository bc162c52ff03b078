"""What `fit` trains on: on TensorFlow, a tf.data pipeline whose autotuning is off.

Handed NumPy arrays, Keras builds its own tf.data pipeline that prefetches with
AUTOTUNE. On a 2-core machine the autotuner made every other `fit` of the full
model return ~2 s late (its threads wind down after the last step), with the
steps themselves unchanged; a pipeline with autotuning off and a fixed prefetch
of two batches has no slow returns (bench/README.md, "Time to accuracy").
The batches are made the way Keras makes them: slices of one shuffled index
order per epoch, gathered from the arrays (for a given seed the order differs
from Keras's own). Other backends get the arrays as they are.
"""

from __future__ import annotations

PREFETCH_BATCHES = 2


def fit_data(x, y, batch_size: int, *, shuffle: bool, seed: int = 0) -> dict:
    """Keyword arguments for `model.fit` that feed it the array `x` and `y` (an array or a dict of arrays).

    Pass them as `model.fit(**fit_data(...), epochs=..., ...)`.
    """
    import keras

    if keras.backend.backend() != "tensorflow":
        return {"x": x, "y": y, "batch_size": batch_size, "shuffle": shuffle}
    import tensorflow as tf

    order = tf.data.Dataset.range(len(x))
    if shuffle:
        order = order.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    # the arrays travel as one dataset element beside the index batches, so they are not baked into the graph
    arrays = tf.data.Dataset.from_tensors((x, y)).repeat()
    batches = tf.data.Dataset.zip(order.batch(batch_size), arrays).map(
        lambda index, data: tf.nest.map_structure(lambda array: tf.gather(array, index), data)
    )
    options = tf.data.Options()
    options.autotune.enabled = False
    # shuffle=False: the order is the pipeline's own (Keras warns when a dataset comes with shuffle=True)
    return {"x": batches.prefetch(PREFETCH_BATCHES).with_options(options), "shuffle": False}
