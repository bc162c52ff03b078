"""Finding and reading MNIST files: IDX (gzipped or not) and mnist.npz.

The resolution order (see `tal.data.datasets`) lives here: an explicit folder or
`$TAL_DATA_DIR`, then the Keras cache, then a download through Keras. When all
fail, `DataNotFoundError` names the three ways to provide the data. Decoded
files are cached per (path, size, mtime) for the process, read-only.
TensorFlow is imported only inside the download fallback.
"""
from __future__ import annotations

import functools
import gzip
import os
import zipfile
from pathlib import Path

import numpy as np

ENV_VAR = "TAL_DATA_DIR"
NPZ_NAME = "mnist.npz"
IMAGE_MAGIC = 2051  # IDX: unsigned bytes, 3 dimensions
LABEL_MAGIC = 2049  # IDX: unsigned bytes, 1 dimension
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


_HOW_TO_PROVIDE = (
    "Provide MNIST in one of three ways:\n"
    f"  (1) pass a folder (data_dir=...) or set {ENV_VAR} to a folder holding the "
    "four IDX files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
    "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz, or an mnist.npz;\n"
    "  (2) put mnist.npz in the Keras cache, ~/.keras/datasets/mnist.npz;\n"
    "  (3) allow the download through keras.datasets.mnist.load_data() (needs internet).\n"
    'Offline, dataset="synthetic" trains on font-rendered digits instead (not MNIST).'
)


class DataNotFoundError(FileNotFoundError):
    """No MNIST could be found; the message names the three ways to provide it."""


class DataFormatError(ValueError):
    """An IDX or npz file is corrupt or not MNIST-shaped; the message names the file."""


# --------------------------------------------------------------------------- files


def _read_bytes(path: Path) -> bytes:
    """Reads a file, gunzipping it when it starts with the gzip magic bytes."""
    with open(path, "rb") as handle:
        head = handle.read(2)
    if head != b"\x1f\x8b":
        return path.read_bytes()
    try:
        with gzip.open(path, "rb") as handle:
            return handle.read()
    except (OSError, EOFError) as exc:  # BadGzipFile is an OSError; truncation is EOFError
        raise DataFormatError(f"{path}: not a readable gzip file ({exc})") from None


def read_idx(path) -> np.ndarray:
    """Reads one MNIST IDX file, gzipped or not.

    Args:
        path: path to an IDX file (`.gz` or uncompressed; detected by content).

    Returns:
        For magic 2051 (images) a uint8 array of shape (N, rows, cols); for
        magic 2049 (labels) a uint8 array of shape (N,). The array is read-only.

    Raises:
        FileNotFoundError: if `path` does not exist.
        DataFormatError: on a wrong magic number or when the payload length
            does not match the header's dimensions.

    Example:

    >>> labels = read_idx("t10k-labels-idx1-ubyte.gz")  # doctest: +SKIP
    >>> labels.shape, labels[0]                          # doctest: +SKIP
    ((10000,), 7)
    """
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 8:
        raise DataFormatError(f"{path}: too short for an IDX header ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic not in (IMAGE_MAGIC, LABEL_MAGIC):
        raise DataFormatError(
            f"{path}: bad IDX magic number {magic}; expected {IMAGE_MAGIC} (images) "
            f"or {LABEL_MAGIC} (labels)"
        )
    ndim = 3 if magic == IMAGE_MAGIC else 1
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataFormatError(f"{path}: IDX header truncated ({len(data)} bytes)")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(dims))
    if len(data) - header != expected:
        raise DataFormatError(
            f"{path}: IDX header says {dims} ({expected} bytes) but the file holds "
            f"{len(data) - header} bytes of data"
        )
    return np.frombuffer(data, np.uint8, count=expected, offset=header).reshape(dims)


def _validate(arrays: dict, origin) -> dict:
    """Checks four MNIST arrays for shape, count and label range; returns uint8 read-only."""
    out = {}
    for key in IDX_FILES:
        array = np.asarray(arrays[key])
        if not np.issubdtype(array.dtype, np.integer) or (
            array.size and (array.min() < 0 or array.max() > 255)
        ):
            raise DataFormatError(f"{origin}: {key} must hold integers 0-255, got {array.dtype}")
        out[key] = array.astype(np.uint8, copy=False)
    for split in ("train", "test"):
        images, labels = out[f"x_{split}"], out[f"y_{split}"]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataFormatError(
                f"{origin}: x_{split} must have shape (N, 28, 28), got {images.shape}"
            )
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataFormatError(
                f"{origin}: y_{split} must have shape ({len(images)},) to match x_{split}, "
                f"got {labels.shape}"
            )
        if labels.size and labels.max() > 9:
            raise DataFormatError(f"{origin}: y_{split} holds label {labels.max()}, expected 0-9")
    for array in out.values():
        array.flags.writeable = False
    return out


def _idx_paths(folder: Path) -> dict | None:
    """Maps each split to its IDX file in `folder` (gz or not); None if any is missing."""
    found = {}
    for key, stem in IDX_FILES.items():
        variants = (stem, stem.replace("-idx", ".idx"))  # Kaggle-style names use a dot
        candidates = [folder / (v + ext) for v in variants for ext in (".gz", "")]
        found[key] = next((p for p in candidates if p.is_file()), None)
    if all(found.values()):
        return found
    if any(found.values()):
        missing = [IDX_FILES[k] + ".gz" for k, p in found.items() if p is None]
        raise DataNotFoundError(
            f"{folder} holds only some of the MNIST IDX files; missing: {', '.join(missing)}.\n"
            + _HOW_TO_PROVIDE
        )
    return None


def _signature(paths) -> tuple:
    """(path, size, mtime) of each file, so the cache notices replaced files."""
    return tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in paths)


@functools.lru_cache(maxsize=8)
def _read_idx_set(signature: tuple) -> dict:
    paths = dict(zip(IDX_FILES, (Path(entry[0]) for entry in signature)))
    return _validate({key: read_idx(path) for key, path in paths.items()}, paths["x_train"].parent)


@functools.lru_cache(maxsize=8)
def _read_npz(signature: tuple) -> dict:
    path = Path(signature[0][0])
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in IDX_FILES if k not in npz.files]
            if missing:
                raise DataFormatError(f"{path}: npz lacks the arrays {missing}")
            arrays = {k: npz[k] for k in IDX_FILES}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(f"{path}: not a readable mnist.npz ({exc})") from None
    return _validate(arrays, path)


def _load_location(location: Path):
    """Loads MNIST from a folder or an npz file; returns (arrays, source) or None."""
    if location.is_file():
        if location.suffix != ".npz":
            raise DataNotFoundError(
                f"{location} is a file but not an .npz; point at its folder instead.\n"
                + _HOW_TO_PROVIDE
            )
        return _read_npz(_signature([location])), f"mnist.npz at {location}"
    if not location.is_dir():
        return None
    idx = _idx_paths(location)
    if idx is not None:
        return _read_idx_set(_signature(idx.values())), f"IDX files in {location}"
    npz = location / NPZ_NAME
    if npz.is_file():
        return _read_npz(_signature([npz])), f"mnist.npz in {location}"
    return None


def keras_cache_path() -> Path:
    """Where Keras caches the MNIST download: `~/.keras/datasets/mnist.npz`."""
    return Path.home() / ".keras" / "datasets" / NPZ_NAME


def _download_mnist():
    """Downloads (or reuses Keras's copy of) the full MNIST through Keras."""
    import keras  # lazy: TensorFlow's import costs seconds

    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def find_mnist(data_dir=None, allow_download: bool = True):
    """Finds MNIST and returns its raw arrays and where they came from.

    Resolution order: `data_dir`, else `$TAL_DATA_DIR` (a folder with the four
    IDX files, `.gz` or uncompressed, or an `mnist.npz`, or a direct path to an
    npz file); then `~/.keras/datasets/mnist.npz`; then, if `allow_download`,
    `keras.datasets.mnist.load_data()`. A folder named explicitly (argument
    or environment variable) must hold MNIST: it is an error, not a silent
    fall-through, when it does not.

    Args:
        data_dir: folder (or npz file) to read; None to use the search order.
        allow_download: whether the Keras download may be tried last.

    Returns:
        Tuple `(x_train, y_train, x_test, y_test, source)`: read-only uint8
        arrays (images (N, 28, 28), labels (N,)) and a human-readable string
        such as "IDX files in /data/mnist".

    Raises:
        DataNotFoundError: when no source holds MNIST, or the named folder does
            not; the message lists the three ways to provide the data.
        DataFormatError: when a file is found but is corrupt.

    Example:

    >>> x_train, y_train, x_test, y_test, source = find_mnist()  # doctest: +SKIP
    >>> x_test.shape, source                                     # doctest: +SKIP
    ((10000, 28, 28), 'IDX files in /work/shared/data/mnist')
    """
    if data_dir is not None:
        named, how = data_dir, "data_dir"
    else:
        named, how = os.environ.get(ENV_VAR), ENV_VAR
    if named:
        location = Path(named).expanduser()
        found = _load_location(location)
        if found is None:
            state = "does not exist" if not location.exists() else "holds no MNIST"
            raise DataNotFoundError(
                f"{how}={str(location)!r} {state} (looked for the four IDX files or "
                f"{NPZ_NAME}).\n{_HOW_TO_PROVIDE}"
            )
        return _unpack(*found)
    cache = keras_cache_path()
    if cache.is_file():
        return _unpack(_read_npz(_signature([cache])), f"mnist.npz in Keras cache ({cache})")
    reason = "downloads not allowed (allow_download=False)"
    if allow_download:
        try:
            arrays = _validate(_download_mnist(), "keras.datasets.mnist.load_data()")
            return _unpack(arrays, "keras.datasets.mnist.load_data() (download / Keras cache)")
        except Exception as exc:  # no internet, no TensorFlow, a bad proxy ...
            reason = f"download failed: {type(exc).__name__}: {exc}"
    raise DataNotFoundError(
        f"MNIST not found: no {ENV_VAR}, no {cache}, {reason}.\n{_HOW_TO_PROVIDE}"
    )


def _unpack(arrays: dict, source: str):
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], source
