"""Decoding a folder's pictures once, in parallel, into a cache the next run reuses.

Why: decoding and resizing thousands of PNGs or JPEGs takes far longer than a
short training on them, and the same folder is trained on again and again. So
each picture is decoded once, at the chosen side, and kept in a cache folder
(``$TAL_CACHE_DIR``, else ``~/.cache/tal``): one per image folder and side.
A later run only checks each file's size and modification time; files that
changed or are new are decoded again, the rest are read back from the cache.

The cache keeps gray pictures in one array and colour pictures in another, so
one cache serves every colour setting: gray output turns colour pictures to
luma, colour output repeats gray. Files that could not be read are recorded
with the reason (and retried once they change).

Each cache update is written to new array files first; the index that names
them is replaced last, atomically, so an interrupted run leaves the previous
cache intact (never a half-written one). Decoding runs on a thread pool:
Pillow releases the GIL while it decodes and resizes, so threads use every
core without the start-up cost (and fork hazards) of processes.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import os
import uuid
from pathlib import Path

import numpy as np

from tal.data import pictures
from tal.data.preprocess import ImageError

ENV_VAR = "TAL_CACHE_DIR"
_VERSION = 1  # bump when the decoding changes, so old caches are not reused
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def cache_root() -> Path:
    return Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "tal") / "images"


@dataclasses.dataclass
class Decoded:
    """The requested files' pictures, in the order asked for; failed files are left out."""

    pixels: np.ndarray  # uint8 (n_ok, size, size, channels)
    files: list  # the files that were read, in order
    sizes: np.ndarray  # int (n_ok, 2): each original's (width, height)
    failed: list  # (file, reason) of each file that could not be read
    any_color: bool  # whether any of the read pictures is colour
    decoded: int  # how many files were decoded now (the rest came from the cache)


def _signature(path: Path):
    stat = path.stat()
    return [int(stat.st_size), int(stat.st_mtime_ns)]


def _decode_one(path: Path, size: int):
    try:
        return pictures.read_checked(path, size), None  # gray stays 1 channel, colour 3
    except ImageError as exc:
        return None, str(exc)


class _Store:
    """One cache folder: index.json naming the current gray and colour arrays and each file's entry."""

    def __init__(self, folder: Path | None, size: int):
        self.folder, self.size = folder, size
        self.entries: dict = {}
        self.arrays = {"gray": None, "color": None}
        self.names = {"gray": None, "color": None}
        if folder is not None:
            self._load()

    def _load(self):
        try:
            index = json.loads((self.folder / "index.json").read_text())
            if index.get("version") != _VERSION or index.get("size") != self.size:
                return
            arrays = {kind: np.load(self.folder / name, mmap_mode="r") if name else None
                      for kind, name in index["arrays"].items()}
        except (OSError, ValueError, KeyError, TypeError):
            return  # no cache, or one from an interrupted or older version: decode afresh
        self.entries, self.arrays, self.names = index["entries"], arrays, dict(index["arrays"])

    def lookup(self, name: str, signature):
        entry = self.entries.get(name)
        return entry if entry is not None and entry["sig"] == signature else None

    def pixels(self, entry) -> np.ndarray:
        return np.asarray(self.arrays[entry["kind"]][entry["row"]])

    def save(self, new: dict) -> None:
        """Adds `new` {file: (signature, result, error)} and writes the cache (new arrays, then the index)."""
        if not new or self.folder is None:
            return
        entries = dict(self.entries)
        rows = {"gray": [], "color": []}  # (file, image or None for "the old row") of each array to write
        for name, entry in self.entries.items():
            if name not in new and "row" in entry:
                rows[entry["kind"]].append((name, None))
        changed = set()
        for name, (signature, result, error) in new.items():
            if result is None:
                entries[name] = {"sig": signature, "error": error}
                continue
            image, original, colour = result
            kind = "color" if colour else "gray"
            entries[name] = {"sig": signature, "kind": kind, "size": list(original)}
            rows[kind].append((name, image))
            changed.add(kind)
        changed |= {self.entries[n]["kind"] for n in new if "row" in self.entries.get(n, {})}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            names, arrays = dict(self.names), dict(self.arrays)
            for kind in changed:  # rewritten whole, so a changed file leaves no stale row behind
                old = self.arrays[kind]
                images = [old[self.entries[name]["row"]] if image is None else image for name, image in rows[kind]]
                for row, (name, _) in enumerate(rows[kind]):
                    entries[name] = {**entries[name], "row": row}
                names[kind] = f"{kind}-{uuid.uuid4().hex[:12]}.npy" if images else None
                arrays[kind] = np.stack(images) if images else None
                if images:
                    np.save(self.folder / names[kind], arrays[kind])
            index = {"version": _VERSION, "size": self.size, "arrays": names, "entries": entries}
            temporary = self.folder / f".index-{uuid.uuid4().hex[:8]}.json"
            temporary.write_text(json.dumps(index))
            os.replace(temporary, self.folder / "index.json")  # the cache changes here, all at once
            for kind, name in self.names.items():
                if name and name != names[kind]:
                    (self.folder / name).unlink(missing_ok=True)
        except OSError:
            return  # a cache that cannot be written only costs time next run
        self.entries, self.names, self.arrays = entries, names, arrays


def _store_for(root: Path, size: int, use_cache: bool) -> _Store:
    if not use_cache:
        return _Store(None, size)
    key = hashlib.sha256(f"{root.resolve()}|{size}".encode()).hexdigest()[:20]
    return _Store(cache_root() / key, size)


def decode_files(root, files, *, size: int, channels: int | None = None, workers: int | None = None,
                 use_cache: bool = True, progress=None) -> Decoded:
    """The pictures `files` (paths relative to `root`) at `size` × `size`, from the cache or decoded.

    Args:
        root: the image folder.
        files: relative paths inside `root`.
        size: the side each picture is fitted into (`tal.data.pictures.fit`).
        channels: 1 (gray) or 3 (colour); None: 3 when any picture read is colour, else 1.
        workers: decoding threads (default: one per core).
        use_cache: False decodes everything and writes no cache (for benchmarks).
        progress: called as `progress(done, total)` while decoding.

    Returns:
        A `Decoded`; files that could not be read are in `failed` with their reason.
    """
    root = Path(root)
    store = _store_for(root, size, use_cache)
    found, todo, failed = {}, {}, {}
    for name in files:
        path = root / name
        try:
            signature = _signature(path)
        except OSError:
            failed[name] = "The file was not found."
            continue
        entry = store.lookup(name, signature)
        if entry is None:
            todo[name] = signature
        elif "error" in entry:
            failed[name] = entry["error"]
        else:
            found[name] = entry
    new = {}
    if todo:
        workers = workers or os.cpu_count() or 1
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            jobs = {pool.submit(_decode_one, root / name, size): name for name in todo}
            for done, job in enumerate(concurrent.futures.as_completed(jobs), 1):
                name = jobs[job]
                result, error = job.result()
                new[name] = (todo[name], result, error)
                if progress is not None:
                    progress(done, len(todo))
        store.save(new)
    kept, sizes, colours, fresh = [], [], [], {}
    for name in files:
        if name in failed:
            continue
        if name in new:
            result, error = new[name][1:]
            if result is None:
                failed[name] = error
                continue
            fresh[len(kept)] = result[0]
            original, colour = result[1], result[2]
        else:
            entry = store.entries[name]  # (the rows may have moved when the cache was rewritten)
            original, colour = entry["size"], entry["kind"] == "color"
        kept.append(name)
        sizes.append(original)
        colours.append(colour)
    any_color = any(colours)
    channels = channels or (3 if any_color else 1)
    pixels = np.zeros((len(kept), size, size, channels), np.uint8)
    for kind in ("gray", "color"):  # the cached pictures of each array in one gather, not one by one
        at = [i for i, name in enumerate(kept) if i not in fresh and store.entries[name]["kind"] == kind]
        if at:
            rows = np.array([store.entries[kept[i]]["row"] for i in at])
            order = np.argsort(rows)  # ascending rows read the memory-mapped file front to back
            block = np.asarray(store.arrays[kind][rows[order]])
            pixels[np.array(at)[order]] = _to_channels(block, channels)
    for i, image in fresh.items():
        pixels[i] = _to_channels(image, channels)
    return Decoded(pixels=pixels, files=kept, sizes=np.array(sizes, np.int64).reshape(-1, 2),
                   failed=[(name, failed[name]) for name in files if name in failed],
                   any_color=any_color, decoded=len(todo))


def _to_channels(image: np.ndarray, channels: int) -> np.ndarray:
    """One picture (H, W, C) or a stack (N, H, W, C) with `channels` channels: gray repeated, colour by luma."""
    if image.shape[-1] == channels:
        return image
    if channels == 3:
        return np.repeat(image, 3, axis=-1)
    return np.clip(image.astype(np.float32) @ _LUMA + 0.5, 0, 255).astype(np.uint8)[..., None]
