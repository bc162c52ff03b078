"""Two forms of the scale-wise branch, forward + backward time side by side.

- current (tal.core.layers.ScaleAttention): linear projections, so the weighted sum
  is one 1x1 convolution of the stage-weighted stacked inputs, then one BN+ReLU;
- earlier: `P_k = ReLU(BN(conv1x1(AvgPool(F_k))))` per stage (three
  convolutions and a BatchNorm over n·D channels), then `Σ_k w_k P_k`.

Both use the fused BatchNorm kernel, on the default model's stage shapes
(28×28×16, 14×14×32, 7×7×64), batch 64, timed round-robin; the result is each
form's fastest round minus an empty step's.

    python bench/scale_forms.py [--rounds 15]
"""
from __future__ import annotations

import argparse
import time

from _common import write_result


def earlier_form(dim):
    """The previous ScaleAttention, rebuilt from Keras layers (weights are not shared with tal)."""
    import keras
    from keras import layers, ops

    from tal.core.batchnorm import FusedBatchNormalization

    class EarlierScale(keras.layers.Layer):
        def build(self, shapes):
            last = shapes[-1][1]
            self.pools = [s[1] // last for s in shapes]
            self.projections = [layers.Conv2D(dim, 1, use_bias=False) for _ in shapes]
            for proj, s in zip(self.projections, shapes):
                proj.build((s[0], last, last, s[3]))
            self.norm = FusedBatchNormalization(momentum=0.9)
            self.norm.build((shapes[-1][0], last, last, len(shapes) * dim))
            self.squeeze, self.logits = layers.Dense(8, activation="relu"), layers.Dense(len(shapes))
            self.squeeze.build((None, dim))
            self.logits.build((None, 8))

        def call(self, xs, training=None):
            projected = [proj(ops.average_pool(f, k, k, "valid") if k > 1 else f)
                         for f, k, proj in zip(xs, self.pools, self.projections)]
            normed = ops.relu(self.norm(ops.concatenate(projected, axis=-1), training=training))
            _, h, w, _ = normed.shape
            stacked = ops.reshape(normed, (-1, h, w, len(xs), dim))
            weights = ops.softmax(self.logits(self.squeeze(ops.mean(ops.sum(stacked, axis=3), axis=(1, 2)))))
            return ops.sum(stacked * weights[:, None, None, :, None], axis=3)

    return EarlierScale()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf

    from tal.core.layers import ScaleAttention

    xs = [tf.random.normal(s) for s in ((64, 28, 28, 16), (64, 14, 14, 32), (64, 7, 7, 64))]
    upstream = tf.random.normal((64, 7, 7, 64))

    def train_step(layer):
        layer(xs)

        @tf.function
        def step(a, b, c):
            with tf.GradientTape() as tape:
                tape.watch([a, b, c])
                loss = tf.reduce_sum(layer([a, b, c], training=True) * upstream)
            return tape.gradient(loss, [a, b, c, *layer.trainable_weights])
        return step

    @tf.function
    def empty(a, b, c):
        with tf.GradientTape() as tape:
            tape.watch(c)
            loss = tf.reduce_sum(c * upstream)
        return tape.gradient(loss, [a, b, c])

    steps = {"current": train_step(ScaleAttention(64)), "earlier": train_step(earlier_form(64)), "empty": empty}
    for step in steps.values():
        for _ in range(10):
            step(*xs)
    times = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step(*xs)
            times[name].append((time.perf_counter() - start) / args.steps * 1000)
    empty_ms = min(times["empty"])
    net = {name: min(times[name]) - empty_ms for name in ("current", "earlier")}
    for name, ms in net.items():
        print(f"{name:8} {ms:6.2f} ms per forward+backward (fastest round, empty step subtracted; "
              f"median {np.median(times[name]) - np.median(times['empty']):.2f})")
    ratio = net["earlier"] / net["current"]
    print(f"earlier / current = {ratio:.2f}")
    write_result("scale_forms", {"batch_size": 64, "rounds": args.rounds, "net_ms": net, "ratio_earlier_to_current": ratio,
                                 "samples_ms": times})


if __name__ == "__main__":
    main()
