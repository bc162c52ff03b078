"""Preparing a folder of one's own images: all cores against one, against Keras's loader, and a second run.

Writes `--images` (default 20,000) 256×256 gray PNGs of drawn shapes into 10
class folders in a temporary folder, then, side by side in this one run:

  one core     tal.data.image_cache.decode_files, 1 thread, no cache
  all cores    the same with one thread per core, no cache
  keras        keras.utils.image_dataset_from_directory(image_size=64, gray),
               iterated once to the end (it decodes lazily)
  first run    tal.load_dataset(DataConfig(dataset="folder", …)) on an empty
               cache (listing, splitting, decoding, caching, assembling)
  second run   the same again: the folder is unchanged, so the cache answers

and prints images/s and the ratios (targets: the second run at most 10 % of
the first run's time). Results go to bench/results/own_images.json.

    python bench/own_images.py [--images 20000] [--size 64]
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def write_folder(root: Path, count: int, side: int = 256) -> list[str]:
    from PIL import Image, ImageDraw

    def one(i: int) -> str:
        rng = np.random.default_rng(i)
        k = i % 10
        img = Image.fromarray(rng.integers(0, 70, (side, side)).astype(np.uint8))
        s = int(rng.integers(side // 5, side // 2))
        x, y = (int(v) for v in rng.integers(0, side - s, 2))
        draw = ImageDraw.Draw(img)
        draw.regular_polygon((x + s / 2, y + s / 2, s / 2), n_sides=3 + k, fill=int(rng.integers(160, 256)))
        rel = f"shape{k}/{i:06d}.png"
        img.save(root / rel)
        return rel

    for k in range(10):
        (root / f"shape{k}").mkdir(parents=True)
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count()) as pool:
        return list(pool.map(one, range(count)))


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tal-bench-own-"))
    os.environ["TAL_CACHE_DIR"] = str(work / "cache")
    try:
        root = work / "shapes"
        written_s, files = timed(lambda: write_folder(root, args.images))
        print(f"wrote {len(files):,} PNGs of 256×256 in {written_s:.1f} s", flush=True)
        from tal.data.image_cache import decode_files

        n = len(files)
        results = {"images": n, "size": args.size, "cores": os.cpu_count()}
        one_s, _ = timed(lambda: decode_files(root, files, size=args.size, workers=1, use_cache=False))
        all_s, _ = timed(lambda: decode_files(root, files, size=args.size, use_cache=False))
        print(f"one core {n / one_s:,.0f} img/s · all cores {n / all_s:,.0f} img/s", flush=True)

        from tal.engine.startup import import_tensorflow_quietly

        import_tensorflow_quietly()
        import keras

        def keras_pass():
            ds = keras.utils.image_dataset_from_directory(root, image_size=(args.size, args.size), color_mode="grayscale",
                                                          batch_size=256, shuffle=False, verbose=False)
            return sum(int(x.shape[0]) for x, _ in ds)

        keras_s, seen = timed(keras_pass)
        assert seen == n, seen
        print(f"keras image_dataset_from_directory {n / keras_s:,.0f} img/s", flush=True)

        import tal
        from tal.core.config import DataConfig

        config = DataConfig(dataset="folder", data_dir=str(root), image_size=args.size)
        first_s, data = timed(lambda: tal.load_dataset(config))
        second_s, again = timed(lambda: tal.load_dataset(config))
        assert np.array_equal(data.x_test, again.x_test)
        print(f"first run {first_s:.1f} s · second run {second_s:.2f} s ({second_s / first_s:.1%} of the first)")
        results.update({
            "one_core_img_s": round(n / one_s, 1), "all_cores_img_s": round(n / all_s, 1),
            "keras_img_s": round(n / keras_s, 1), "all_cores_vs_one": round(one_s / all_s, 2),
            "all_cores_vs_keras": round(keras_s / all_s, 2), "first_run_s": round(first_s, 2),
            "second_run_s": round(second_s, 2), "second_vs_first": round(second_s / first_s, 4),
            "target_second_vs_first": 0.10,
        })
        print(json.dumps(results, indent=2))
        out = Path(__file__).resolve().parent / "results" / "own_images.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
