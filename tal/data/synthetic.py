"""Synthetic MNIST-like digits rendered from fonts, for machines without MNIST.

Why: the explorer, the CLI and the tests must still run where real MNIST cannot
be found and nothing can be downloaded (an offline laptop, a sandboxed CI job).
These digits are rendered locally with Pillow from whatever TrueType fonts the
machine has (Pillow's built-in scalable font when it has none), randomly
distorted (font, size, stroke width, rotation, shear, aspect, a one-pixel
jitter) and then normalised the way MNIST was, by the same crop / fit / centre
steps as user images (`tal.data.preprocess`): white ink on black, fitted into
a 20x20 box keeping the aspect ratio, centred by centre of mass in 28x28.

They are NOT MNIST. Accuracy on them says nothing about handwriting, so every
dataset built from them says so in its `source` string. The output depends on
the seed and on the fonts installed, so it is deterministic on one machine but
may differ between machines.
"""
from __future__ import annotations

import functools
import glob
import os

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tal.data.preprocess import MNIST_SIZE, crop_to_ink, fit_and_centre

# Folders searched for TrueType / OpenType fonts (missing ones are skipped).
FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.fonts",
    "~/.local/share/fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "C:/Windows/Fonts",
)
# Font families whose digits are not ordinary digits (or that have none).
_SKIP_WORDS = ("symbol", "emoji", "math", "dingbat", "wingding", "icon", "awesome", "braille")
_MAX_FONTS = 64

_RENDER_SIZES = (28, 36, 44)  # font sizes in points; the glyph is rescaled to 20x20 anyway
_MAX_ROTATION_DEG = 15.0
_MAX_SHEAR = 0.25
_ASPECT_RANGE = (0.8, 1.2)
_MAX_JITTER = 1  # pixels added to MNIST's centring by mass


def find_fonts() -> tuple[str, ...]:
    """Lists the usable TrueType/OpenType font files on this machine.

    Returns:
        A sorted tuple of font paths (at most 64) whose digits render as
        ink; empty when the machine has none.

    Example:

    >>> fonts = find_fonts()
    >>> all(f.lower().endswith((".ttf", ".otf")) for f in fonts)
    True
    """
    return _find_fonts_cached()


@functools.lru_cache(maxsize=1)
def _find_fonts_cached() -> tuple[str, ...]:
    candidates = set()
    for folder in FONT_DIRS:
        folder = os.path.expanduser(folder)
        if not os.path.isdir(folder):
            continue
        for pattern in ("**/*.ttf", "**/*.otf", "**/*.TTF", "**/*.OTF"):
            candidates.update(glob.glob(os.path.join(folder, pattern), recursive=True))
    usable = [
        path
        for path in sorted(candidates)
        if not any(word in os.path.basename(path).lower() for word in _SKIP_WORDS)
        and _renders_digits(path)
    ]
    return tuple(usable[:_MAX_FONTS])


def _renders_digits(path: str) -> bool:
    """True when the font loads and draws a visible, distinct '0' and '1'."""
    try:
        font = ImageFont.truetype(path, 32)
        zero, one = _draw_glyph("0", font, 0), _draw_glyph("1", font, 0)
    except (OSError, ValueError):
        return False
    return zero.any() and one.any() and not np.array_equal(zero, one)


@functools.lru_cache(maxsize=512)
def _font(path: str | None, size: int):
    """Loads (and caches) one font; `path=None` means Pillow's built-in font."""
    if path is not None:
        return ImageFont.truetype(path, size)
    try:
        return ImageFont.load_default(size=size)  # scalable since Pillow 10.1
    except TypeError:  # older Pillow: small bitmap font only
        return ImageFont.load_default()


def _draw_glyph(text: str, font, stroke: int) -> np.ndarray:
    """Draws `text` white on black, centred on a canvas with room to rotate it."""
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font, stroke_width=stroke)
    side = 2 * max(right - left, bottom - top, 1) + 4
    image = Image.new("L", (side, side), 0)
    origin = ((side - (right - left)) / 2 - left, (side - (bottom - top)) / 2 - top)
    ImageDraw.Draw(image).text(
        origin, text, fill=255, font=font, stroke_width=stroke, stroke_fill=255
    )
    return np.asarray(image)


def _distort(glyph: np.ndarray, rotation_deg: float, shear: float, aspect: float) -> np.ndarray:
    """Rotates, shears and stretches a glyph about its canvas centre (one affine warp)."""
    theta = np.deg2rad(rotation_deg)
    rotate = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    shear_x = np.array([[1.0, shear], [0.0, 1.0]])
    stretch = np.diag([aspect, 1.0])
    forward = rotate @ shear_x @ stretch
    inverse = np.linalg.inv(forward)  # Pillow maps output pixels back to input pixels
    centre = np.array([glyph.shape[1], glyph.shape[0]]) / 2.0
    offset = centre - inverse @ centre
    data = (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])
    image = Image.fromarray(glyph).transform(
        glyph.shape[::-1], Image.Transform.AFFINE, data, resample=Image.Resampling.BILINEAR
    )
    return np.asarray(image)


def render_digit(
    digit: int,
    font_path: str | None = None,
    *,
    font_size: int = 36,
    stroke: int = 0,
    rotation_deg: float = 0.0,
    shear: float = 0.0,
    aspect: float = 1.0,
    jitter: tuple[int, int] = (0, 0),
    size: int = 28,
) -> np.ndarray:
    """Renders one digit MNIST-style: white on black, 20x20 fit, centred by mass.

    Args:
        digit: the digit to draw, 0-9.
        font_path: a TrueType/OpenType file; None uses Pillow's built-in font.
        font_size: font size in points before the 20x20 fit.
        stroke: extra stroke width in pixels (thicker ink).
        rotation_deg: counter-clockwise rotation in degrees.
        shear: horizontal shear factor.
        aspect: horizontal stretch (1.0 keeps the font's proportions).
        jitter: (dy, dx) pixel offset added after centring.
        size: output side in pixels, >= 28 (28 for MNIST; larger sizes put the
            28x28 field in the middle of a black canvas).

    Returns:
        uint8 array of shape (size, size), 0 = background, 255 = ink.

    Example:

    >>> render_digit(7).shape
    (28, 28)
    """
    if not 0 <= int(digit) <= 9:
        raise ValueError(f"Expected a digit 0-9. Received: digit={digit!r}")
    if size < MNIST_SIZE:
        raise ValueError(f"Expected size >= {MNIST_SIZE}. Received: size={size!r}")
    glyph = _draw_glyph(str(int(digit)), _font(font_path, font_size), stroke)
    warped = _distort(glyph, rotation_deg, shear, aspect)
    if not warped.any():  # degenerate font / warp: fall back to the undistorted glyph
        warped = glyph
    crop, _ = crop_to_ink(warped / float(warped.max()))
    return np.round(fit_and_centre(crop, size, jitter=jitter) * 255).astype(np.uint8)


def _random_digits(labels: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """Renders one randomly styled image per label."""
    fonts = find_fonts() or (None,)
    images = np.empty((len(labels), size, size), np.uint8)
    for i, digit in enumerate(labels):
        font_size = int(rng.choice(_RENDER_SIZES))
        images[i] = render_digit(
            int(digit),
            fonts[rng.integers(len(fonts))],
            font_size=font_size,
            stroke=int(rng.integers(0, 1 + font_size // 20)),
            rotation_deg=float(rng.uniform(-_MAX_ROTATION_DEG, _MAX_ROTATION_DEG)),
            shear=float(rng.uniform(-_MAX_SHEAR, _MAX_SHEAR)),
            aspect=float(rng.uniform(*_ASPECT_RANGE)),
            jitter=tuple(int(j) for j in rng.integers(-_MAX_JITTER, _MAX_JITTER + 1, size=2)),
            size=size,
        )
    return images


def _balanced_labels(count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` labels with every digit equally often (to within one), shuffled."""
    return rng.permutation(np.arange(count) % 10).astype(np.uint8)


def synthetic_digits(n_train: int, n_test: int, seed: int = 0, size: int = 28):
    """Generates font-rendered, MNIST-style digit images (NOT real MNIST).

    Train and test images come from independent random streams of `seed`, so
    changing `n_train` does not change the test images.

    Args:
        n_train: number of training images (>= 0).
        n_test: number of test images (>= 0).
        seed: random seed; the same seed gives the same images on one machine.
        size: image side in pixels, >= 28 (28 matches MNIST).

    Returns:
        Tuple `(x_train, y_train, x_test, y_test)`: uint8 images of shape
        (N, size, size) with 0 = background and 255 = ink, and uint8 labels
        0-9 with each digit equally often (to within one).

    Raises:
        ValueError: if a count is negative or `size` is below 28.

    Example:

    >>> x_train, y_train, x_test, y_test = synthetic_digits(20, 10, seed=1)
    >>> x_train.shape, x_test.shape
    ((20, 28, 28), (10, 28, 28))
    """
    for name, value in (("n_train", n_train), ("n_test", n_test)):
        if not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"Expected {name} to be an integer >= 0. Received: {name}={value!r}")
    if size < MNIST_SIZE:
        raise ValueError(f"Expected size >= {MNIST_SIZE}. Received: size={size!r}")
    arrays = []
    for stream, count in ((0, int(n_train)), (1, int(n_test))):
        rng = np.random.default_rng([int(seed), stream])
        labels = _balanced_labels(count, rng)
        arrays += [_random_digits(labels, rng, size), labels]
    return tuple(arrays)


def describe_fonts() -> str:
    """One line naming how the synthetic digits are drawn (for `Dataset.source`)."""
    fonts = find_fonts()
    if not fonts:
        return "Pillow's built-in font"
    return f"{len(fonts)} local fonts"
