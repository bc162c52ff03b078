"""Optimizers for training, without the all-reduce that leaks traced train steps.

On the TensorFlow backend, Keras 3.15 sums every gradient list through
`tf.distribute.get_replica_context().all_reduce` even when no distribution
strategy is in use. That call wraps its result in `tf.custom_gradient`, and
in graph mode each custom gradient is registered in TensorFlow's global
gradient registry and never removed; its closure holds the gradient tensors,
so every traced training step of every model trained in the process stays
alive (seen: ~6,500 graph operations and ~40 MB per finished run in
`bench/memory.py`). With a single replica the all-reduce is the identity,
so we skip it there.
"""
from __future__ import annotations

import types


def _sum_over_replicas_only_when_distributed(self, grads_and_vars):
    import tensorflow as tf

    if tf.distribute.has_strategy() and tf.distribute.get_strategy().num_replicas_in_sync > 1:
        return type(self)._all_reduce_sum_gradients(self, grads_and_vars)
    return list(grads_and_vars)


def skip_single_replica_all_reduce(optimizer):
    """Patch one optimizer instance so a single-replica step does not call all-reduce.

    Returns the same optimizer. A no-op on backends or Keras versions without
    the TensorFlow all-reduce step.
    """
    if hasattr(type(optimizer), "_all_reduce_sum_gradients"):
        optimizer._all_reduce_sum_gradients = types.MethodType(_sum_over_replicas_only_when_distributed, optimizer)
    return optimizer


def make_optimizer(name: str, learning_rate):
    """The optimizer a `TrainConfig.optimizer` names ("adam" or "sgd", Nesterov momentum 0.9)."""
    import keras

    if name == "adam":
        optimizer = keras.optimizers.Adam(learning_rate)
    elif name == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True)
    else:
        raise ValueError(f"Expected one of {{'adam', 'sgd'}}. Received: optimizer={name!r}")
    return skip_single_replica_all_reduce(optimizer)
