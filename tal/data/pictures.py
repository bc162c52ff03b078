"""Any picture → a square training image: resized keeping its aspect, padded, gray or colour.

Users' own images come in every size, mode and bit depth. A model needs one
size, so each image is scaled until its long side is `size` and padded with
black on both sides of the short one (a letterbox: nothing is cut off, no
shape is stretched). Boxes drawn on the original are moved by the same
`Letterbox` geometry.

Reading goes through `tal.data.preprocess.decode`, which already refuses
decompression bombs, empty, truncated and corrupt files, takes the first frame
of an animation and applies the EXIF orientation. The modes Pillow's own
conversions get wrong are handled here: 16-bit gray is scaled by its full
range (``convert("L")`` would clip it to white) and transparent pixels are
composited over white (dropping the alpha would often leave them black).
"""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from tal.data.preprocess import ImageError, check_pixels, decode

GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")


@dataclasses.dataclass(frozen=True)
class Letterbox:
    """How an original of `width` × `height` pixels sits in the `size` × `size` image."""

    width: int
    height: int
    size: int

    @property
    def scale(self) -> float:
        return self.size / max(self.width, self.height)

    @property
    def inner(self) -> tuple[int, int]:
        """(width, height) of the scaled picture inside the square (at least 1 pixel each)."""
        return (max(1, round(self.width * self.scale)), max(1, round(self.height * self.scale)))

    @property
    def offset(self) -> tuple[int, int]:
        """(left, top) padding."""
        w, h = self.inner
        return ((self.size - w) // 2, (self.size - h) // 2)

    def box(self, x: float, y: float, w: float, h: float) -> tuple[int, int, int, int]:
        """An (x, y, w, h) box in original pixels as (y0, x0, y1, x1) in the square image, clipped to it."""
        s, (left, top) = self.scale, self.offset
        y0, x0 = int(np.floor(y * s + top)), int(np.floor(x * s + left))
        y1, x1 = int(np.ceil((y + h) * s + top)), int(np.ceil((x + w) * s + left))
        clip = lambda v: min(max(v, 0), self.size)  # noqa: E731
        return (clip(y0), clip(x0), clip(y1), clip(x1))


def is_color(img: Image.Image) -> bool:
    """Whether an opened picture stores colour (palette images count as colour)."""
    return img.mode not in GRAY_MODES


def _as_8bit(img: Image.Image, channels: int) -> Image.Image:
    """`img` as 8-bit "L" or "RGB", 16-bit scaled by its full range, transparency over white."""
    mode = img.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
        gray = Image.fromarray(np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
        return gray if channels == 1 else gray.convert("RGB")
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    return img.convert("L" if channels == 1 else "RGB")


def fit(img: Image.Image, size: int, channels: int) -> np.ndarray:
    """An opened picture as uint8 (size, size, channels): long side `size`, centred, black padding."""
    geometry = Letterbox(img.width, img.height, size)
    img = _as_8bit(img, channels)
    # reducing_gap: Pillow first shrinks by whole factors (fast), then resamples the rest.
    small = img.resize(geometry.inner, Image.Resampling.BILINEAR, reducing_gap=3.0)
    out = np.zeros((size, size, channels), np.uint8)
    (left, top), (w, h) = geometry.offset, geometry.inner
    pixels = np.asarray(small, dtype=np.uint8)
    out[top : top + h, left : left + w] = pixels.reshape(h, w, channels)
    return out


def read(path, size: int, channels: int | None = None) -> tuple[np.ndarray, tuple[int, int], bool]:
    """Decode and fit one file: (uint8 image (size, size, channels), original (width, height), is colour).

    `channels` None keeps the file's own: 1 for a gray picture, 3 for a colour one.

    Raises:
        ImageError: the file is not a readable, safe image (the message names the problem).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below, from the header
        probe = Image.open(path)
    with probe:
        original = probe.size
        check_pixels(*original)
        colour = is_color(probe)
        channels = channels or (3 if colour else 1)
        if probe.format == "JPEG":  # JPEG can decode at 1/2 … 1/8 of its size: far less work
            probe.draft("L" if channels == 1 else "RGB", (size, size))
        img, facts = decode(probe, label="The file")
    if facts["exif_rotated"] and (img.width > img.height) != (original[0] > original[1]):
        original = original[::-1]  # boxes are drawn on the upright picture
    return fit(img, size, channels), (int(original[0]), int(original[1])), colour


def read_checked(path, size: int, channels: int | None = None):
    """`read`, with anything Pillow raises on a bad file turned into an `ImageError`."""
    try:
        return read(path, size, channels)
    except ImageError:
        raise
    except Image.DecompressionBombError:
        raise ImageError("The file is too large to open safely.") from None
    except UnidentifiedImageError:
        raise ImageError("The file is not an image Pillow can read.") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure means a bad file
        raise ImageError(f"The file could not be read ({type(exc).__name__}): it is not an image, "
                         "or it is truncated or corrupt.") from exc
