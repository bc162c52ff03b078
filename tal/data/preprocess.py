"""MNIST-style preprocessing of user images (uploads, files, arrays).

A model trained on MNIST only understands images that look like MNIST: a light
digit on a black background, its long side 20 px, in a 28x28 field with its
centre of mass at the centre. Real uploads differ in every way, and Pillow has
traps of its own. Each step of `preprocess_image` exists for a reason:

1. `decode`: upload ``type=`` filters are hints, not validation, so anything
   may arrive (text, empty or truncated files). The pixel count is checked
   from the header before any pixel is decoded, because a 36-megapixel PNG can
   be a few KB (decompression bomb). Animated images use their first frame;
   the EXIF orientation is applied so phone photos are upright.
2. `to_grayscale_array`: a float grayscale array in [0, 1], mode by mode.
   ``convert("L")`` clips 16-bit images to white and turns transparent pixels
   (often stored as RGB 0, 0, 0) black; here 16-bit data is scaled by its true
   range and transparent pixels are composited over a colour that contrasts
   with the ink (`_composite`).
3. `normalise_ink`: the background level is the median of the outer ring of
   pixels. Light backgrounds (paper, scans, drawing canvases) are inverted so
   that ink is high, as in MNIST; the background is subtracted and the
   contrast stretched so the strongest ink is 1. Images without real contrast
   are rejected ("No digit found") instead of blowing noise up into a digit.
4. `crop_to_ink`: the bounding box of pixels above `INK_THRESHOLD`.
5. `fit_and_centre`: resize (Lanczos, on a float image, so strokes stay
   anti-aliased like MNIST's) so the long side is 20 px, then paste into 28x28
   so the centre of mass lands on pixel (row 14, column 14), 0-based. That is
   MNIST's own convention: the mean centre of mass of the MNIST test set is
   (13.99, 14.01). A larger ``size`` (e.g. 48 for translated-MNIST models)
   puts the 28x28 result in the middle of a bigger black canvas.
"""
from __future__ import annotations

import dataclasses
import io
import os
import pathlib
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 16_000_000  # refuse larger images (decompression bombs, memory)
MNIST_SIZE = 28
DIGIT_BOX = 20  # MNIST digits are fitted into 20x20 ...
MNIST_CENTRE = 14  # ... and centred by mass on pixel 14 (0-based) of 28
MIN_CONTRAST = 0.1  # ink must differ from the background by 10% of full range
INK_THRESHOLD = 0.2  # pixels above this fraction of the peak define the crop
FORMATS = ("PNG", "JPEG", "BMP", "GIF", "WEBP", "TIFF")  # "JPEG" includes phone MPOs
_FORMAT_NAMES = "PNG, JPEG, BMP, GIF, TIFF or WebP"
_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as Pillow's convert("L")


class ImageError(ValueError):
    """An input that cannot be turned into a digit; the message is for end users."""


def has_image_suffix(path) -> bool:
    """Whether the file name ends like an image of the `FORMATS` Pillow opens here (.png, .jpg, .tif, …).

    A name is only a hint (`decode` checks the content); it picks the images out of a folder.
    """
    suffix = pathlib.PurePath(path).suffix.lower()
    return bool(suffix) and Image.registered_extensions().get(suffix) in FORMATS


@dataclasses.dataclass(frozen=True)
class PreprocessReport:
    """What `preprocess_image` found and did, for showing to the user."""

    original_size: tuple[int, int]  # (width, height) as stored in the file
    original_mode: str  # Pillow mode, or "array <dtype>" for numpy input
    frames: int = 1  # frames in the file; the first one is used
    inverted: bool = False  # True when a light background was inverted
    exif_rotated: bool = False  # True when the EXIF orientation was applied
    ink_box: tuple[int, int, int, int] = (0, 0, 0, 0)  # (left, top, right, bottom) upright
    notes: tuple[str, ...] = ()  # human-readable remarks


def _no_digit(reason):
    return ImageError(f"No digit found: {reason}")


def check_pixels(width, height):
    """Refuse an empty image or one over MAX_PIXELS (from its header, before decoding)."""
    if width <= 0 or height <= 0:
        raise ImageError(f"The image is empty ({width} x {height} pixels).")
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"The image is {width:,} x {height:,} pixels ({width * height / 1e6:.1f} "
            f"megapixels); the limit is {MAX_PIXELS // 1_000_000} megapixels.")


def _as_file(source, label):
    """Return a path or a BytesIO for `Image.open`, refusing empty input."""
    if isinstance(source, (str, os.PathLike)):
        path = pathlib.Path(source)
        try:
            n_bytes = path.stat().st_size if path.is_file() else None
        except (OSError, ValueError) as exc:
            raise ImageError(f"{label} could not be read ({exc}).") from None
        if n_bytes is None:
            raise ImageError(f"{label} was not found (or is not a file).")
        if n_bytes == 0:
            raise ImageError(f"{label} is empty (0 bytes).")
        return path
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "getvalue"):  # BytesIO, Streamlit's UploadedFile
        data = source.getvalue()
    elif hasattr(source, "read"):
        if hasattr(source, "seek"):
            source.seek(0)
        data = source.read()
    else:
        raise TypeError("Expected a path, bytes, a binary file, a PIL image or a numpy "
                        f"array. Received: source of type {type(source).__name__}")
    if isinstance(data, str):
        raise TypeError("The file was opened in text mode; open it with mode 'rb'.")
    if not data:
        raise ImageError(f"{label} is empty (0 bytes).")
    return io.BytesIO(data)


def decode(source, label="The file"):
    """Open `source`; return its first frame, upright and loaded, and some facts."""
    if isinstance(source, Image.Image):
        img, owned = source, False
    else:
        fp = _as_file(source, label)
        # Pillow warns above its MAX_IMAGE_PIXELS and raises above twice that. (The
        # filter change is process-wide for a moment; it only ever adds "error".)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                img = Image.open(fp, formats=FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{label} is too large to open safely; the limit is "
                             f"{MAX_PIXELS // 1_000_000} megapixels.") from None
        except UnidentifiedImageError:
            raise ImageError(f"{label} is not an image file Pillow can read "
                             f"({_FORMAT_NAMES} expected).") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise ImageError(f"{label} could not be opened: the file is truncated or "
                             "corrupt.") from exc
        owned = True
    try:
        facts = {"original_size": img.size, "original_mode": img.mode}
        check_pixels(*img.size)  # header only: nothing decoded yet
        facts["frames"] = int(getattr(img, "n_frames", 1) or 1)
        img.seek(0)
        img.load()  # raises OSError on truncated data (LOAD_TRUNCATED_IMAGES unset)
        orientation = img.getexif().get(0x0112, 1)
        upright = ImageOps.exif_transpose(img)  # always a new image
    except ImageError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure means a bad file
        raise ImageError(f"{label} could not be decoded: the image file is truncated or "
                         "corrupt.") from exc
    finally:
        if owned:
            img.close()
    facts["exif_rotated"] = orientation not in (None, 1)
    return upright, facts


def _to_unit(arr, label, notes):
    """Scale a numeric array to [0, 1] according to its dtype and range."""
    if arr.dtype == bool:
        return arr.astype(np.float64)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise ImageError(f"{label} has pixel type {arr.dtype}; expected numbers.")
    is_int = np.issubdtype(arr.dtype, np.integer)
    x = arr.astype(np.float64)
    if not np.isfinite(x).all():
        raise ImageError(f"{label} contains invalid pixel values (NaN or infinity).")
    lo, hi = float(x.min()), float(x.max())
    if arr.dtype == np.uint16:
        notes.append("16-bit image scaled by its full range (0-65535)")
        return x / 65535.0
    if lo >= 0 and hi <= (255 if is_int else 1):
        return x / (255.0 if is_int else 1.0)
    if lo >= 0 and not is_int and hi <= 255:
        return x / 255.0
    if lo >= 0:
        notes.append(f"Pixel values up to {hi:g} scaled by their maximum")
        return x / hi
    notes.append(f"Pixel values from {lo:g} to {hi:g} stretched to the full range")
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def _ring(a):
    """The outer ring of pixels of a 2-D array (the whole array if tiny)."""
    if min(a.shape) <= 2:
        return a.ravel()
    return np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])


def to_grayscale_array(img, label="The image"):
    """Return (gray, alpha or None, notes) as float arrays in [0, 1]."""
    notes = []
    mode = img.mode
    if mode.startswith("I;16"):  # 16-bit grayscale: convert("L") would clip to white
        notes.append("16-bit image scaled by its full range (0-65535)")
        return np.asarray(img, dtype=np.float64) / 65535.0, None, notes
    if mode in ("I", "F"):
        return _to_unit(np.asarray(img), label, notes), None, notes
    try:
        if mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info:
            rgba = np.asarray(img.convert("RGBA"), dtype=np.float64) / 255.0
            return rgba[..., :3] @ _LUMA, rgba[..., 3], notes
        if mode in ("1", "L"):
            return np.asarray(img.convert("L"), dtype=np.float64) / 255.0, None, notes
        if mode == "LAB":
            return np.asarray(img.getchannel("L"), dtype=np.float64) / 255.0, None, notes
        return (np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0) @ _LUMA, None, notes
    except (ValueError, OSError) as exc:
        raise ImageError(f"{label} uses an unsupported colour mode ({mode}).") from exc


def _array_to_gray(arr, label, notes):
    """Split a numpy image (H, W) or (H, W, 1-4 channels) into gray and alpha."""
    if arr.ndim == 3 and arr.shape[-1] in (1, 2, 3, 4):
        channels = arr.shape[-1]
    elif arr.ndim == 2:
        channels = 0
    else:
        raise ImageError(f"{label} has shape {arr.shape}; expected (height, width) "
                         "or (height, width, channels) with 1 to 4 channels.")
    check_pixels(arr.shape[1], arr.shape[0])
    x = _to_unit(arr, label, notes)
    if channels == 0:
        return x, None
    gray = x[..., :3] @ _LUMA if channels >= 3 else x[..., 0]
    alpha = x[..., -1] if channels in (2, 4) else None
    return gray, alpha


def _composite(gray, alpha, notes):
    """Flatten transparency onto a colour that keeps the ink visible."""
    if alpha is None or alpha.min() >= 1.0:
        return gray
    opaque = alpha >= 0.5
    if not opaque.any():
        raise _no_digit("the image is fully transparent.")
    ring_alpha = _ring(alpha)
    if np.median(ring_alpha) < 0.5:  # transparent surround: the opaque pixels are ink
        fill = 1.0 if gray[opaque].mean() < 0.5 else 0.0
    else:  # opaque surround with transparent holes: fill with the surround's colour
        fill = float(np.median(_ring(gray)[ring_alpha >= 0.5]))
    notes.append(f"Transparent background composited over {'white' if fill >= 0.5 else 'black'}")
    return gray * alpha + fill * (1.0 - alpha)


def normalise_ink(gray):
    """Return (ink, inverted): ink in [0, 1] on a background of exactly 0."""
    background = float(np.median(_ring(gray)))
    light_ink = float(gray.max()) - background
    dark_ink = background - float(gray.min())
    inverted = background > 0.5
    if max(light_ink, dark_ink) < MIN_CONTRAST:
        if np.ptp(gray) == 0:
            raise _no_digit("the image is blank (a single colour).")
        raise _no_digit(f"the image has too little contrast (at most {max(light_ink, dark_ink):.0%}"
                        f" of the full range; {MIN_CONTRAST:.0%} is needed).")
    if (dark_ink if inverted else light_ink) < MIN_CONTRAST:
        inverted = not inverted  # e.g. dark ink on a mid-grey background
    ink = (background - gray) if inverted else (gray - background)
    return np.clip(ink / ink.max(), 0.0, 1.0), inverted


def crop_to_ink(ink):
    """Return (crop, (left, top, right, bottom)) around pixels above INK_THRESHOLD."""
    mask = ink > INK_THRESHOLD
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    return ink[top:bottom, left:right], (int(left), int(top), int(right), int(bottom))


def fit_and_centre(crop, size=MNIST_SIZE, *, jitter=(0, 0)):
    """Fit `crop` into 20x20 (aspect kept) and centre it by mass in size x size.

    The one MNIST-style fit of the package: user images here, and the
    font-rendered digits of `tal.data.synthetic`.

    Args:
        crop: float array (h, w), ink high, cropped to the ink (`crop_to_ink`).
        size: output side, >= 28; larger sizes put the 28x28 field in the
            middle of a black canvas.
        jitter: (dy, dx) pixels added to the centred position (clamped, like
            the centring itself, so that no ink is cut off).

    Returns:
        float32 array (size, size) in [0, 1] whose maximum is 1.

    Raises:
        ImageError: if the marks vanish when scaled down.
    """
    h, w = crop.shape
    scale = DIGIT_BOX / max(h, w)
    new_w, new_h = (max(1, min(DIGIT_BOX, round(n * scale))) for n in (w, h))
    resized = Image.fromarray(crop.astype(np.float32)).resize(
        (new_w, new_h), Image.Resampling.LANCZOS)
    patch = np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)
    if patch.sum() <= 0:
        raise _no_digit("the marks vanish when scaled to 20 x 20 pixels.")
    patch /= patch.max()
    ys, xs = np.indices(patch.shape)
    cy, cx = (patch * ys).sum() / patch.sum(), (patch * xs).sum() / patch.sum()
    # Shift so the mass centre lands on pixel 14; clamp so that no ink is cut off.
    top = min(max(int(np.floor(MNIST_CENTRE - cy + 0.5)) + jitter[0], 0), MNIST_SIZE - new_h)
    left = min(max(int(np.floor(MNIST_CENTRE - cx + 0.5)) + jitter[1], 0), MNIST_SIZE - new_w)
    out = np.zeros((size, size), dtype=np.float32)
    offset = (size - MNIST_SIZE) // 2
    out[offset + top:offset + top + new_h, offset + left:offset + left + new_w] = patch
    return out


def source_label(source, name):
    """How error messages refer to the input: its quoted name, or a generic noun."""
    if name is None and isinstance(source, (str, os.PathLike)):
        name = pathlib.Path(source).name
    elif name is None:
        attr = getattr(source, "name", None) or getattr(source, "filename", None)
        name = pathlib.Path(attr).name if isinstance(attr, str) and attr else None
    if name:
        return f"'{name}'"
    if isinstance(source, np.ndarray):
        return "The array"
    return "The image" if isinstance(source, Image.Image) else "The file"


def preprocess_image(source, *, size=MNIST_SIZE, name=None, return_report=False):
    """Turn any digit image into an MNIST-style input.

    Args:
        source: a path (str or `pathlib.Path`), raw `bytes`, a binary file-like
            object (e.g. Streamlit's `UploadedFile`), a `PIL.Image.Image`, or a
            numpy array of shape (H, W) or (H, W, C) with C in 1-4 (uint8,
            uint16 or float in [0, 1] or [0, 255]).
        size: side of the output; 28 for MNIST. Larger sizes (e.g. 48) put the
            28x28 digit in the centre of a black canvas.
        name: name used in error messages; defaults to the file name or the
            object's `.name`; "" for a generic "The file …" (for callers that
            name the file themselves).
        return_report: also return a `PreprocessReport`.

    Returns:
        A float32 array of shape (size, size) in [0, 1]: ink high, background 0,
        the digit's long side 20 px, its centre of mass on pixel
        (size // 2, size // 2) (0-based; within half a pixel). With
        `return_report=True`, the tuple `(array, report)`.

    Raises:
        ImageError: for any input that is not a usable digit image (not an
            image, empty, truncated, over `MAX_PIXELS`, blank, ...), with a
            message meant for end users.
        ValueError: if `size` is below 28.
        TypeError: if `source` is of an unsupported type.

    Example:

    >>> x = preprocess_image("drawing.png")              # doctest: +SKIP
    >>> model.predict(x[None, ..., None])                # doctest: +SKIP
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MNIST_SIZE:
        raise ValueError(f"Expected an integer size >= {MNIST_SIZE}. Received: size={size!r}")
    label = source_label(source, name)
    notes = []
    if isinstance(source, np.ndarray):
        gray, alpha = _array_to_gray(source, label, notes)
        facts = {"original_size": (source.shape[1], source.shape[0]),
                 "original_mode": f"array {source.dtype}", "frames": 1, "exif_rotated": False}
    else:
        img, facts = decode(source, label)
        gray, alpha, notes = to_grayscale_array(img, label)
    if facts["frames"] > 1:
        notes.insert(0, f"Animated image: used frame 1 of {facts['frames']}")
    if facts["exif_rotated"]:
        notes.insert(0, "Rotated upright using the photo's EXIF orientation")
    ink, inverted = normalise_ink(_composite(gray, alpha, notes))
    if inverted:
        notes.append("Light background inverted (MNIST digits are light on black)")
    crop, box = crop_to_ink(ink)
    digit = fit_and_centre(crop, int(size))
    if not return_report:
        return digit
    return digit, PreprocessReport(inverted=inverted, ink_box=box, notes=tuple(notes), **facts)
