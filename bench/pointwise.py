"""A 1x1 convolution vs the same product as one matmul, forward + backward.

`tal.core.layers.base.pointwise` applies the branches' 1x1 `Conv2D` layers as one
matrix multiply over all positions. This records why: on TensorFlow's CPU
build, oneDNN's 1x1 convolution on the branches' small grids is slower than
the plain matmul of the same numbers. Shapes are the default model's (7×7
grid): the scale branch's projection (112 → 64 channels) and the element
branch's 1x1 layers (64 → 16, 16 → 10, 64 → 10). Both forms are timed
round-robin; each keeps its fastest round.

    python bench/pointwise.py [--rounds 9] [--batch-size N (default: TrainConfig's)]
"""
from __future__ import annotations

import argparse
import time

from _common import write_result

SHAPES = {"scale projection": (112, 64), "element estimator_in": (64, 16),
          "element estimator_out": (16, 10), "element confidence": (64, 10)}


def step_functions(batch, channels, filters):
    """Forward + backward of both forms on the same input, kernel and output gradient."""
    import tensorflow as tf

    x = tf.random.normal((batch, 7, 7, channels))
    kernel = tf.Variable(tf.random.normal((1, 1, channels, filters)))
    grad = tf.random.normal((batch, 7, 7, filters))

    def make(form):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch(x)
                if form == "conv":
                    y = tf.nn.conv2d(x, kernel, 1, "VALID")
                else:
                    y = tf.reshape(tf.reshape(x, (-1, channels)) @ tf.reshape(kernel, (channels, filters)),
                                   (-1, 7, 7, filters))
            return tape.gradient(y, [x, kernel], output_gradients=grad)
        return step

    return {"conv1x1": make("conv"), "matmul": make("matmul")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=None)
    args = parser.parse_args()

    import tal

    batch = args.batch_size or tal.TrainConfig().batch_size
    rows = []
    for name, (channels, filters) in SHAPES.items():
        steps = step_functions(batch, channels, filters)
        times = {form: [] for form in steps}
        for step in steps.values():
            for _ in range(5):
                step()  # trace and warm up
        for _ in range(args.rounds):
            for form, step in steps.items():
                start = time.perf_counter()
                for _ in range(args.repeats):
                    step()
                times[form].append((time.perf_counter() - start) / args.repeats)
        conv, matmul = min(times["conv1x1"]), min(times["matmul"])
        rows.append({"layer": name, "channels": channels, "filters": filters, "conv1x1_ms": 1000 * conv,
                     "matmul_ms": 1000 * matmul, "conv_over_matmul": conv / matmul})
        print(f"{name:24} {channels:4} → {filters:3}  conv1x1 {1000 * conv:6.3f} ms  matmul {1000 * matmul:6.3f} ms  "
              f"conv/matmul {conv / matmul:.2f}×")
    write_result("pointwise", {"batch_size": batch, "rounds": args.rounds, "repeats": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
