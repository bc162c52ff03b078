"""Tests for tal.data.preprocess: MNIST-style conversion of uploads and Pillow's traps.

Every trap image is built in memory with Pillow; each test fails if the trap is
handled the naive way (e.g. ``convert("L")`` on a 16-bit or transparent image).
"""
from __future__ import annotations

import gzip
import io
import pathlib
import struct
import warnings

import numpy as np
import pytest
from fresh import python
from PIL import Image, ImageDraw, ImageFile

from tal.data.preprocess import (
    MAX_PIXELS,
    ImageError,
    PreprocessReport,
    preprocess_image,
)

MNIST_DIR = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


# ---------------------------------------------------------------- helpers
def seven(width=60, height=80, ink=255, background=0, mode="L"):
    """A thick, asymmetric '7' (ink on background), no anti-aliasing."""
    img = Image.new(mode, (width, height), background)
    draw = ImageDraw.Draw(img)
    sx, sy = width / 60, height / 80
    draw.line([(12 * sx, 14 * sy), (48 * sx, 14 * sy)], fill=ink, width=round(8 * min(sx, sy)))
    draw.line([(48 * sx, 14 * sy), (24 * sx, 68 * sy)], fill=ink, width=round(8 * min(sx, sy)))
    return img


def encode(img, fmt="PNG", **kwargs):
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def centre_of_mass(x):
    ys, xs = np.indices(x.shape)
    return (x * ys).sum() / x.sum(), (x * xs).sum() / x.sum()


def ink_box(x, threshold=0.2):
    rows = np.flatnonzero((x > threshold).any(axis=1))
    cols = np.flatnonzero((x > threshold).any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@pytest.fixture(scope="module")
def reference():
    """The expected output for the plain white-on-black '7'."""
    return preprocess_image(seven())


def assert_close(actual, expected, mean_tol=0.01, max_tol=0.05):
    assert actual.shape == expected.shape
    diff = np.abs(actual - expected)
    assert diff.mean() <= mean_tol and diff.max() <= max_tol, (diff.mean(), diff.max())


# ---------------------------------------------------------------- the MNIST format
def test_output_is_mnist_style(reference):
    x, report = preprocess_image(encode(seven()), return_report=True)
    np.testing.assert_array_equal(x, reference)
    assert x.shape == (28, 28) and x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    assert 18 <= max(ink_box(x)) <= 20
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5  # MNIST convention: pixel 14
    assert x[0, 0] == x[0, -1] == x[-1, 0] == x[-1, -1] == 0.0
    assert x[0].sum() == x[-1].sum() == x[:, 0].sum() == x[:, -1].sum() == 0.0
    assert isinstance(report, PreprocessReport)
    assert report.original_size == (60, 80) and report.original_mode == "L"
    assert report.frames == 1 and not report.inverted and not report.exif_rotated
    with pytest.raises(AttributeError):
        report.inverted = True  # frozen


def test_larger_canvas_centres_the_28px_digit(reference):
    x = preprocess_image(seven(), size=48)
    assert x.shape == (48, 48) and x.dtype == np.float32
    np.testing.assert_array_equal(x[10:38, 10:38], reference)
    assert x.sum() == pytest.approx(reference.sum())
    cy, cx = centre_of_mass(x)
    assert abs(cy - 24) <= 0.5 and abs(cx - 24) <= 0.5


@pytest.mark.parametrize("size", [20, 27, 28.0, True])
def test_bad_size_is_rejected(size):
    with pytest.raises(ValueError, match="size"):
        preprocess_image(seven(), size=size)


def test_mnist_round_trip():
    path = MNIST_DIR / "t10k-images-idx3-ubyte.gz"
    if not path.exists():
        pytest.skip(f"MNIST not found at {path}")
    with gzip.open(path) as f:
        magic, count, rows, cols = struct.unpack(">4I", f.read(16))
        assert magic == 2051
        images = np.frombuffer(f.read(20 * rows * cols), np.uint8).reshape(20, rows, cols)
    scores = []
    for image in images:
        x = preprocess_image(encode(Image.fromarray(image)))
        scores.append(np.corrcoef(x.ravel(), image.ravel() / 255.0)[0, 1])
    assert min(scores) > 0.8 and np.mean(scores) > 0.95, scores


# ---------------------------------------------------------------- sources
class FakeUpload:
    """Mimics Streamlit's UploadedFile: getvalue(), read(), name."""

    def __init__(self, data, name):
        self._buf, self.name = io.BytesIO(data), name

    def getvalue(self):
        return self._buf.getvalue()

    def read(self):
        return self._buf.read()


def test_every_source_type_gives_the_same_result(tmp_path, reference):
    data = encode(seven())
    path = tmp_path / "seven.png"
    path.write_bytes(data)
    upload = FakeUpload(data, "seven.png")
    upload.read()  # a previous reader left the pointer at the end
    consumed = io.BytesIO(data)
    consumed.read()
    arr = np.asarray(seven())
    sources = [str(path), path, data, bytearray(data), consumed, upload, seven(),
               Image.open(io.BytesIO(data)), arr, arr[..., None],
               np.stack([arr] * 3, axis=-1), arr.astype(np.uint16) * 257,
               arr / 255.0, arr.astype(np.float32), arr > 127]
    for source in sources:
        np.testing.assert_array_equal(preprocess_image(source), reference)


def test_unsupported_source_type_is_a_type_error():
    with pytest.raises(TypeError, match="Received"):
        preprocess_image(42)


@pytest.mark.parametrize("array", [np.zeros((28, 28, 5)), np.zeros(28), np.zeros((0, 5)),
                                   np.full((28, 28), np.nan), np.full((28, 28), "a")])
def test_bad_arrays_raise_image_error(array):
    with pytest.raises(ImageError):
        preprocess_image(array)


# ---------------------------------------------------------------- traps 1, 2, 3, 12
@pytest.mark.parametrize("data", [b"hello, this is text\n", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n",
                                  bytes(range(256)) * 4, b"\x89PNG\r\n"])
def test_not_an_image(data):
    with pytest.raises(ImageError, match="not an image file"):
        preprocess_image(data, name="scan.png")


def test_missing_and_empty_inputs(tmp_path):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageError, match="'empty.png' is empty"):
        preprocess_image(empty)
    with pytest.raises(ImageError, match="'nope.png' was not found"):
        preprocess_image(tmp_path / "nope.png")
    with pytest.raises(ImageError, match="is empty"):
        preprocess_image(b"")
    with pytest.raises(ImageError, match="'up.png' is empty"):
        preprocess_image(FakeUpload(b"", "dir/up.png"))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file(fmt):
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (120, 120), np.uint8))
    data = encode(noisy, fmt)
    with pytest.raises(ImageError, match="truncated or corrupt"):
        preprocess_image(data[: len(data) // 2])


def test_decompression_bomb_is_refused_from_the_header():
    data = encode(Image.new("L", (6000, 6000), 0))
    assert len(data) < 100_000  # 36 megapixels in a few KB
    with pytest.raises(ImageError, match=r"6,000 x 6,000 pixels \(36.0 megapixels\)"):
        preprocess_image(data)
    # Cut after the header: still refused for its size, so no pixel was decoded.
    with pytest.raises(ImageError, match="megapixels"):
        preprocess_image(data[:100])
    assert MAX_PIXELS == 16_000_000
    with pytest.raises(ImageError, match="16 megapixels"):
        preprocess_image(np.zeros((5000, 4000), np.uint8))


@pytest.mark.parametrize("side", [40, 100])  # Pillow's warning, then its error
def test_pillow_bomb_warning_and_error_become_image_error(monkeypatch, side):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match="too large"):
            preprocess_image(encode(seven(side, side)))


# ---------------------------------------------------------------- traps 4, 5, 6
def rgba_seven(ink_rgb, hidden_rgb):
    """Ink fully opaque, everything else fully transparent with colour hidden_rgb."""
    mask = np.asarray(seven()) > 0
    arr = np.zeros(mask.shape + (4,), np.uint8)
    arr[..., :3] = np.where(mask[..., None], ink_rgb, hidden_rgb)
    arr[..., 3] = np.where(mask, 255, 0)
    return Image.fromarray(arr, "RGBA")


@pytest.mark.parametrize("ink, hidden", [((0, 0, 0), (0, 0, 0)),  # naive: all black
                                         ((255, 255, 255), (255, 255, 255)),  # naive: all white
                                         ((20, 40, 200), (0, 0, 0))])
def test_transparent_background(ink, hidden, reference):
    img = rgba_seven(ink, hidden)
    x, report = preprocess_image(encode(img), return_report=True)
    np.testing.assert_allclose(x, reference, atol=1e-6)
    assert any("Transparent" in note for note in report.notes)


def test_transparent_la_and_palette(reference):
    la = rgba_seven((0, 0, 0), (0, 0, 0)).convert("LA")
    np.testing.assert_allclose(preprocess_image(encode(la)), reference, atol=1e-6)
    pal = Image.fromarray(np.where(np.asarray(seven()) > 0, 1, 0).astype(np.uint8), "P")
    pal.putpalette([0, 0, 0, 0, 0, 0] + [0] * 762)  # both entries black...
    data = encode(pal, transparency=0)  # ... but entry 0 is transparent
    assert Image.open(io.BytesIO(data)).mode == "P"
    np.testing.assert_allclose(preprocess_image(data), reference, atol=1e-6)


def test_transparent_corners_on_an_opaque_sheet(reference):
    arr = np.asarray(seven(ink=0, background=255).convert("RGBA")).copy()
    arr[:5, :5, :] = 0  # transparent black corners on a white sheet
    arr[-5:, -5:, :] = 0
    np.testing.assert_allclose(preprocess_image(arr), reference, atol=1e-6)


def test_16_bit_grayscale(reference):
    arr = np.where(np.asarray(seven()) > 0, 60000, 1000).astype(np.uint16)
    data = encode(Image.fromarray(arr))
    img = Image.open(io.BytesIO(data))
    assert img.mode.startswith("I") and np.asarray(img.convert("L")).min() == 255  # the trap
    x, report = preprocess_image(data, return_report=True)
    np.testing.assert_allclose(x, reference, atol=1e-6)
    assert any("16-bit" in note for note in report.notes)
    mode_i = Image.fromarray(np.where(np.asarray(seven()) > 0, 4000, 0).astype(np.int32))
    assert mode_i.mode == "I"
    np.testing.assert_allclose(preprocess_image(mode_i), reference, atol=1e-6)


def test_other_modes(reference):
    np.testing.assert_allclose(preprocess_image(encode(seven().convert("P"), "GIF")),
                               reference, atol=1e-6)
    np.testing.assert_allclose(preprocess_image(encode(seven().convert("1"))), reference,
                               atol=1e-6)
    f_mode = Image.fromarray(np.asarray(seven(), np.float32) / 255)
    assert f_mode.mode == "F"
    np.testing.assert_allclose(preprocess_image(f_mode), reference, atol=1e-6)
    coloured = seven(ink=(250, 200, 0), background=(10, 10, 60), mode="RGB")
    cmyk = encode(coloured.convert("CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(cmyk)).mode == "CMYK"
    assert_close(preprocess_image(cmyk), reference, mean_tol=0.03, max_tol=0.35)


# ---------------------------------------------------------------- traps 7, 8
def test_exif_rotation():
    upright = seven(ink=(0, 0, 0), background=(255, 255, 255), mode="RGB")
    stored = upright.rotate(90, expand=True)  # the sensor's view
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    data = encode(stored, "JPEG", quality=95, exif=exif.tobytes())
    x, report = preprocess_image(data, return_report=True)
    expected = preprocess_image(encode(upright, "JPEG", quality=95))
    assert_close(x, expected, mean_tol=0.02, max_tol=0.3)
    assert report.exif_rotated and report.original_size == (80, 60)
    assert any("EXIF" in note for note in report.notes)
    ignored = preprocess_image(encode(stored, "JPEG", quality=95))  # orientation ignored
    assert np.abs(ignored - expected).mean() > 0.1


def test_animated_gif_uses_the_first_frame():
    vertical = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(vertical).rectangle([17, 5, 22, 34], fill=255)
    horizontal = vertical.rotate(90)
    dot = Image.new("L", (40, 40), 0)
    ImageDraw.Draw(dot).ellipse([10, 10, 20, 20], fill=255)
    data = encode(vertical.convert("P"), "GIF", save_all=True, duration=100, loop=0,
                  append_images=[horizontal.convert("P"), dot.convert("P")])
    x, report = preprocess_image(data, return_report=True)
    np.testing.assert_allclose(x, preprocess_image(vertical), atol=1e-6)
    assert report.frames == 3
    assert "Animated image: used frame 1 of 3" in report.notes
    height, width = ink_box(x)
    assert height == 20 and width < 10


# ---------------------------------------------------------------- traps 9, 10, 11, 12
def test_light_and_dark_backgrounds_agree(reference):
    dark = seven()
    light = Image.fromarray(255 - np.asarray(dark))
    x_dark, r_dark = preprocess_image(dark, return_report=True)
    x_light, r_light = preprocess_image(light, return_report=True)
    np.testing.assert_allclose(x_light, x_dark, atol=1e-6)
    assert r_light.inverted and not r_dark.inverted
    grey_paper = seven(ink=20, background=120)  # dark ink on a grey (< 0.5) background
    np.testing.assert_allclose(preprocess_image(grey_paper), reference, atol=1e-6)
    photo = np.asarray(seven(ink=40, background=210), np.float64)
    photo += np.random.default_rng(1).normal(0, 4, photo.shape)  # sensor noise
    photo[70:73, 50:53] = 255  # a glare spot: lighter than the paper, but not ink
    assert_close(preprocess_image(np.clip(photo, 0, 255).astype(np.uint8)), reference,
                 mean_tol=0.03, max_tol=0.3)


@pytest.mark.parametrize("image", [
    Image.new("L", (50, 50), 255), Image.new("L", (50, 50), 0), Image.new("RGB", (50, 50),
                                                                          (128, 128, 128)),
    Image.fromarray(np.tile(np.linspace(120, 140, 50), (50, 1)).astype(np.uint8)),
    Image.new("L", (1, 1), 255), Image.new("RGBA", (30, 30), (0, 0, 0, 0)),
])
def test_no_ink(image):
    with pytest.raises(ImageError, match="No digit found"):
        preprocess_image(encode(image))


def test_tiny_and_non_square_images():
    dot = np.zeros((5, 5), np.uint8)
    dot[2, 2] = 255
    x = preprocess_image(dot)
    assert ink_box(x) == (20, 20)
    cy, cx = centre_of_mass(x)
    assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5
    bar = Image.new("L", (200, 20), 255)
    ImageDraw.Draw(bar).rectangle([10, 8, 189, 11], fill=0)
    x = preprocess_image(encode(bar))
    height, width = ink_box(x)
    assert width == 20 and height <= 2
    assert x[:, 4:24].sum() > 0 and x[:, :4].sum() == 0


def test_centring_never_cuts_ink_off():
    lopsided = Image.new("L", (100, 100), 0)  # a thin stem on a heavy base
    ImageDraw.Draw(lopsided).rectangle([48, 0, 49, 79], fill=255)
    ImageDraw.Draw(lopsided).rectangle([0, 80, 99, 99], fill=255)
    x = preprocess_image(lopsided)
    assert centre_of_mass(x)[0] > 15  # centred by mass, the base would fall off ...
    assert ink_box(x) == (20, 20) and x[0].sum() > 0  # ... off the top: clamped instead


def test_error_messages_name_the_file():
    with pytest.raises(ImageError) as info:
        preprocess_image(FakeUpload(b"not an image", "photos/scan.png"))
    assert str(info.value) == ("'scan.png' is not an image file Pillow can read "
                               "(PNG, JPEG, BMP, GIF, TIFF or WebP expected).")
    with pytest.raises(ImageError, match="'mine.jpg'"):
        preprocess_image(b"junk", name="mine.jpg")
    with pytest.raises(ImageError, match="^The file is not an image file"):
        preprocess_image(b"junk")
    with pytest.raises(ImageError, match=r"^The array has shape \(5,\)"):
        preprocess_image(np.zeros(5))


def test_module_imports_no_heavy_dependencies():
    code = ("import sys, tal.data.preprocess; "
            "print(sorted(m for m in ('tensorflow', 'keras', 'streamlit') if m in sys.modules))")
    out = python("-c", code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
