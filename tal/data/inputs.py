"""A new image prepared the way a model's training images were.

A digit model learnt from MNIST-style inputs, so a photo of a digit gets the
MNIST preparation (`tal.data.preprocess`: ink found, centred by mass). A model
trained on one's own images learnt from pictures fitted into a square
(`tal.data.pictures`: resized keeping the aspect, padded, gray or colour),
so an upload is fitted the same way, nothing more.
"""
from __future__ import annotations

import numpy as np

from tal.core.config import DataConfig
from tal.data import pictures
from tal.data.preprocess import ImageError, decode, preprocess_image, source_label


def describe(data: DataConfig, input_shape) -> str:
    """How inputs are prepared for a model of `data` and `input_shape`, in a few words for captions."""
    side, channels = int(input_shape[0]), int(input_shape[-1])
    if not data.own:
        return f"an MNIST-style {side}×{side} input (ink centred by mass on black)"
    return f"fitted into {side}×{side} px keeping its aspect, {'colour' if channels == 3 else 'gray'}"


def prepare_input(source, data: DataConfig, input_shape, *, name=None) -> tuple[np.ndarray, tuple[str, ...]]:
    """(float32 image (H, W, C) in [0, 1], notes) for a model trained on `data` with `input_shape`.

    Args:
        source: a path, bytes, a binary file (an upload), a PIL image or a numpy array.
        data: the run's DataConfig (which preparation its images had).
        input_shape: the model's (height, width, channels).
        name: how messages name the input (default: its file name).

    Raises:
        ImageError: the input is not a usable image (the message says why, for end users).
    """
    side, channels = int(input_shape[0]), int(input_shape[-1])
    if not data.own:
        image, report = preprocess_image(source, size=side, name=name, return_report=True)
        image = image[..., None]
        return (np.repeat(image, 3, axis=-1) if channels == 3 else image), report.notes
    from PIL import Image

    label = source_label(source, name)
    if isinstance(source, np.ndarray):
        array = source if source.dtype == np.uint8 else np.clip(source * (255 if source.max() <= 1 else 1), 0, 255)
        try:
            source = Image.fromarray(array.astype(np.uint8).squeeze())
        except (TypeError, ValueError) as exc:
            raise ImageError(f"{label} has shape {source.shape}; expected (height, width) or (height, width, 3).") from exc
    img, facts = decode(source, label)
    notes = []
    if facts["frames"] > 1:
        notes.append(f"Animated image: used frame 1 of {facts['frames']}")
    if facts["exif_rotated"]:
        notes.append("Rotated upright using the photo's EXIF orientation")
    width, height = img.size
    if (width, height) != (side, side):
        notes.append(f"{width}×{height} fitted into {side}×{side}" + (", padded" if width != height else ""))
    if pictures.is_color(img) and channels == 1:
        notes.append("Colour turned to gray, as the training images were")
    return pictures.fit(img, side, channels).astype(np.float32) / 255.0, tuple(notes)
