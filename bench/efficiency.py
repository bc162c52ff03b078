"""Hardware efficiency: the model's training FLOP/s over a float32 matmul's FLOP/s.

Both are measured in the same run on the same cores. The model's FLOPs per
training step come from TensorFlow's graph profiler on one forward pass
(multiply-adds counted as 2 FLOPs), times 3 for forward + backward (the
usual estimate: the backward pass costs about twice the forward). The
reference is a 1024×1024 float32 matrix product. The models and the matmul
are timed round-robin (one round of each, repeated) and each keeps its fastest
round, so a busy moment on the machine hits them alike. A model's round is the
median of its steps, each timed on its own (`_common.timed_steps`: `fit`'s
per-call set-up is not a training step). Target: ≥ 35 %.

    python bench/efficiency.py [--steps 60] [--batch-size N] [--rounds 7]
"""
from __future__ import annotations

import argparse
import time

from _common import timed_steps, write_result


def forward_flops(model, batch_size: int) -> int:
    import tensorflow as tf

    spec = tf.TensorSpec((batch_size, *model.inputs[0].shape[1:]), tf.float32)
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    graph = convert_variables_to_constants_v2(concrete).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return int(tf.compat.v1.profiler.profile(graph=graph, options=opts).total_float_ops)


def matmul_round(n: int = 1024, repeats: int = 30):
    """A function timing one round of `repeats` n×n float32 products; returns FLOP/s."""
    import tensorflow as tf

    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    mm = tf.function(lambda: tf.matmul(a, b))
    mm().numpy()

    def one_round() -> float:
        start = time.perf_counter()
        for _ in range(repeats):
            result = mm()
        result.numpy()
        return 2 * n ** 3 / ((time.perf_counter() - start) / repeats)
    return one_round


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=None, help="default: TrainConfig's")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    import keras
    import numpy as np

    import tal
    from tal.core.models import build_model
    from tal.engine.training import compile_model

    args.batch_size = args.batch_size or tal.TrainConfig().batch_size
    data = tal.load_dataset(tal.DataConfig(train_size=args.batch_size * args.steps, val_fraction=0.0))
    x, y = data.x_train, data.y_train
    rows, rounds = [], {}
    for name, toggles in (("baseline", dict(scale=False, channel=False, element=False)), ("full", {})):
        config = tal.ModelConfig(**toggles)
        model = build_model(config)
        flops = 3 * forward_flops(model, args.batch_size)
        compile_model(model, config, tal.TrainConfig(batch_size=args.batch_size), None, keras.Variable(0.5, trainable=False), 10_000)
        targets = {k: y for k in model.output_names}
        model.fit(x[: 2 * args.batch_size], {k: v[: 2 * args.batch_size] for k, v in targets.items()},
                  batch_size=args.batch_size, verbose=0)

        def one_round(model=model, targets=targets):
            return float(np.median(timed_steps(model, x, targets, args.batch_size)))
        rows.append({"model": name, "train_flops_per_step": flops})
        rounds[name] = (one_round, [])
    rounds["matmul"] = (matmul_round(), [])
    for _ in range(args.rounds):
        for timer, samples in rounds.values():
            samples.append(timer())
    reference = max(rounds["matmul"][1])
    for row in rows:
        row["step_s"] = min(rounds[row["model"]][1])
        row["step_samples_s"] = rounds[row["model"]][1]
        row["flops_per_s"] = row["train_flops_per_step"] / row["step_s"]
    print(f"float32 matmul (1024²): {reference / 1e9:.1f} GFLOP/s")
    for row in rows:
        row["efficiency"] = row["flops_per_s"] / reference
        print(f"{row['model']:10} {row['train_flops_per_step'] / 1e6:8.1f} MFLOP/step  "
              f"{1000 * row['step_s']:6.1f} ms/step  {row['flops_per_s'] / 1e9:6.2f} GFLOP/s  "
              f"= {100 * row['efficiency']:.1f} % of matmul (target ≥ 35 %)")
    write_result("efficiency", {"batch_size": args.batch_size, "matmul_flops_per_s": reference, "rows": rows,
                                "matmul_samples_flops_per_s": rounds["matmul"][1], "rounds": args.rounds,
                                "target": 0.35})


if __name__ == "__main__":
    main()
