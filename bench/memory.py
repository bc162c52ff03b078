"""Peak memory of a training run, and memory growth across 5 runs in one process.

Each run trains the default full model for one epoch on 5,000 images without
saving. Resident memory (RSS) is read after each run, after garbage
collection; the growth is RSS after run 5 minus RSS after run 1 (run 1 pays
one-off costs: TensorFlow's kernels, the data cache). Target: ≤ 150 MB.

    python bench/memory.py [--runs 5] [--train-size 5000]
"""
from __future__ import annotations

import argparse
import gc

from _common import peak_rss_mb, rss_mb, write_result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=5000)
    args = parser.parse_args()

    import tal

    before = rss_mb()
    config = tal.TrainConfig(epochs=1, data=tal.DataConfig(train_size=args.train_size, test_size=2000))
    after = []
    for i in range(args.runs):
        result = tal.train(tal.ModelConfig(), config.replace(seed=i), save=False)
        del result
        gc.collect()
        after.append(rss_mb())
        print(f"run {i + 1}: RSS {after[-1]:.0f} MB (peak so far {peak_rss_mb():.0f} MB)", flush=True)
    growth = after[-1] - after[0]
    print(f"peak RSS {peak_rss_mb():.0f} MB; growth from run 1 to run {args.runs}: {growth:+.0f} MB (target ≤ 150 MB)")
    write_result("memory", {"runs": args.runs, "train_size": args.train_size, "rss_start_mb": before,
                            "rss_after_each_run_mb": after, "peak_rss_mb": peak_rss_mb(),
                            "growth_mb": growth, "target_growth_mb": 150})


if __name__ == "__main__":
    main()
