"""Cost of the live map timeline: training images/s with snapshots on vs off, side by side.

The same default model trains on the same images with `TrainConfig(timeline=…)`
on and off, alternating (off, on, off, on, …) so that a busy spell on the
machine hits both. Throughput is end to end: training images over the
`fit` wall time (`training_time_s`, which includes the snapshots, the
per-epoch validation and the BatchNorm recalibration, the same for both).
Target: on / off ≥ 0.95 (live maps cost at most 5 % of images/s).

    python bench/live_maps.py [--rounds 3] [--train-size 6000] [--epochs 2]
"""
from __future__ import annotations

import argparse
import statistics

from _common import write_result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--dataset", default="mnist")
    args = parser.parse_args()

    import tal

    data = tal.DataConfig(dataset=args.dataset, train_size=args.train_size, test_size=500)
    dataset = tal.load_dataset(data)
    rows = []
    for r in range(args.rounds):
        for on in (False, True):
            result = tal.train(tal.ModelConfig(), tal.TrainConfig(epochs=args.epochs, timeline=on, data=data),
                               save=False, dataset=dataset)
            m = result.metrics
            rate = m["steps_completed"] * tal.TrainConfig().batch_size / m["training_time_s"]
            rows.append({"round": r, "timeline": on, "images_per_s": rate, "snapshots": m["snapshots"],
                         "snapshot_time_s": m["snapshot_time_s"], "training_time_s": m["training_time_s"]})
            print(f"round {r} timeline {'on ' if on else 'off'}: {rate:7.0f} images/s "
                  f"({m['snapshots']} snapshots, {m['snapshot_time_s']:.2f} s of {m['training_time_s']:.1f} s)",
                  flush=True)
    ratios = [on["images_per_s"] / off["images_per_s"] for off, on in zip(rows[::2], rows[1::2])]
    median = statistics.median(ratios)
    print(f"timeline on / off, per round: {[round(x, 3) for x in ratios]}; median {median:.3f} (target ≥ 0.95)")
    write_result("live_maps", {"dataset": args.dataset, "train_size": args.train_size, "epochs": args.epochs,
                               "rows": rows, "ratios": ratios, "median_ratio": median, "target": 0.95})


if __name__ == "__main__":
    main()
