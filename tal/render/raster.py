"""Small maps as plain PNG images: the input digit, M, single gates.

UI-free (NumPy, Pillow and Plotly's colour-scale tables only). A 28×28 input
or a 7×7 map drawn as a Plotly heatmap costs a whole chart in the browser
(mounting, axes, colour bar) every time it changes; the same picture as a PNG
is one `<img>`. These helpers trade hover values for speed, so the pages show
the value range in a caption instead (`value_range_text`).

Pixels are upscaled by an exact integer factor with nearest-neighbour
repetition, so each map cell stays a crisp square whatever the browser's
smoothing. Colours follow the Plotly scales the catalogue gives each map, so a PNG
and a Plotly heatmap of the same map look the same.
"""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np

INK_BOX = (245, 133, 24)  # "#F58518", the orange of the grid's prediction frame


@lru_cache(maxsize=None)
def colormap(scale: str, n: int = 256) -> np.ndarray:
    """`(n, 3)` uint8 lookup table sampled evenly from a Plotly colour scale
    ("Viridis", "RdBu_r", "Magma", …, or "gray" for black → white).
    Entry 0 is the scale's first colour, entry n-1 its last."""
    if scale.lower() in ("gray", "grey"):
        ramp = np.linspace(0, 255, n).round().astype("uint8")
        return np.repeat(ramp[:, None], 3, axis=1)
    from plotly.colors import get_colorscale, sample_colorscale, unlabel_rgb

    colors = sample_colorscale(get_colorscale(scale), list(np.linspace(0.0, 1.0, n)))
    lut = np.array([unlabel_rgb(c) for c in colors], dtype="float64")
    lut = np.clip(lut.round(), 0, 255).astype("uint8")
    lut.flags.writeable = False
    return lut


def colorize(values, *, scale: str, lo: float, hi: float, nan_color=(255, 255, 255)) -> np.ndarray:
    """A 2-D map → `(h, w, 3)` uint8 RGB: `lo` (and below) → the scale's first
    colour, `hi` (and above) → its last; NaN → `nan_color`."""
    v = np.asarray(values, dtype="float64")
    if v.ndim != 2:
        raise ValueError(f"Expected a 2-D map. Received: shape={v.shape}")
    lut = colormap(scale)
    span = hi - lo if hi > lo else 1.0
    t = np.clip((np.nan_to_num(v, nan=lo) - lo) / span, 0.0, 1.0)
    rgb = lut[np.rint(t * (len(lut) - 1)).astype(int)]
    rgb[np.isnan(v)] = nan_color
    return rgb


_LUMA = np.array([0.299, 0.587, 0.114])  # ITU-R 601, as Pillow's convert("L")


def luma(image) -> np.ndarray:
    """An image in [0, 1] as a 2-D gray array: `(H, W)`, `(H, W, 1)` as it is, `(H, W, 3)` by its luma."""
    img = np.asarray(image, dtype="float64")
    if img.ndim == 3 and img.shape[-1] == 3:
        return img @ _LUMA
    img = img.squeeze()
    if img.ndim != 2:
        raise ValueError(f"Expected an image (H, W), (H, W, 1) or (H, W, 3). Received: shape={np.shape(image)}")
    return img


def gray(image) -> np.ndarray:
    """An image in [0, 1] → its gray `(H, W, 3)` uint8, black 0 to white 1 (colour by its luma; for overlays)."""
    return colorize(luma(image), scale="gray", lo=0.0, hi=1.0, nan_color=(0, 0, 0))


def picture(image) -> np.ndarray:
    """An input image in [0, 1] as it is: `(H, W, 3)` uint8, in colour when it has three channels."""
    img = np.asarray(image, dtype="float64")
    if img.ndim == 3 and img.shape[-1] == 3:
        return np.clip(np.nan_to_num(img) * 255.0 + 0.5, 0, 255).astype("uint8")
    return gray(img)


def blend(background, foreground, alpha: float = 0.6) -> np.ndarray:
    """`alpha · foreground + (1 − alpha) · background` for two uint8 RGB images of one shape."""
    bg = np.asarray(background, dtype="float64")
    fg = np.asarray(foreground, dtype="float64")
    if bg.shape != fg.shape:
        raise ValueError(f"Shapes differ: background {bg.shape}, foreground {fg.shape}")
    return np.clip((alpha * fg + (1 - alpha) * bg).round(), 0, 255).astype("uint8")


def upscale(rgb, factor: int) -> np.ndarray:
    """Nearest-neighbour upscaling by an exact integer factor: each pixel → a `factor × factor` square."""
    factor = int(factor)
    if factor < 1:
        raise ValueError(f"Expected an integer factor >= 1. Received: factor={factor}")
    a = np.asarray(rgb)
    return np.repeat(np.repeat(a, factor, axis=0), factor, axis=1)


def factor_for(side: int, target: int) -> int:
    """The largest integer factor that keeps `side · factor` within `target` pixels (at least 1)."""
    return max(1, int(target) // max(int(side), 1))


def draw_box(rgb, box, factor: int, color=INK_BOX, dash: int = 3) -> np.ndarray:
    """A dotted one-pixel rectangle around the input pixels `box = (y0, x0, y1, x1)` (y1, x1
    exclusive), on an image already upscaled by `factor`. Returns a copy."""
    out = np.array(rgb, copy=True)
    y0, x0, y1, x1 = (int(round(float(v))) for v in box)
    if not (y1 > y0 and x1 > x0):
        return out
    h, w = out.shape[:2]
    top, left = max(y0 * factor, 0), max(x0 * factor, 0)
    bottom, right = min(y1 * factor - 1, h - 1), min(x1 * factor - 1, w - 1)
    on_x = (np.arange(left, right + 1) // dash) % 2 == 0
    on_y = (np.arange(top, bottom + 1) // dash) % 2 == 0
    for row in (top, bottom):
        out[row, left : right + 1][on_x] = color
    for col in (left, right):
        out[top : bottom + 1, col][on_y] = color
    return out


def colorbar(scale: str, height: int, width: int = 10) -> np.ndarray:
    """A vertical colour bar `(height, width, 3)`: the scale's last colour on top, first at the bottom."""
    lut = colormap(scale)
    rows = lut[np.rint(np.linspace(len(lut) - 1, 0, height)).astype(int)]
    return np.repeat(rows[:, None, :], width, axis=1)


def with_colorbar(rgb, scale: str, *, gap: int = 8, width: int = 10) -> np.ndarray:
    """The image with a colour bar beside it on the right (white gap between)."""
    img = np.asarray(rgb, dtype="uint8")
    h = img.shape[0]
    spacer = np.full((h, gap, 3), 255, dtype="uint8")
    return np.concatenate([img, spacer, colorbar(scale, h, width)], axis=1)


def to_png(rgb, *, compress_level: int = 1) -> bytes:
    """uint8 RGB (or 2-D gray) array → PNG bytes (`compress_level` 1: fastest, 9: smallest; pages redraw
    these on every click, and over a local network the time to compress outweighs the bytes saved)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype="uint8")).save(buf, format="PNG", optimize=False,
                                                                  compress_level=compress_level)
    return buf.getvalue()


def value_range_text(values, *, symbol: str, digits: int = 3) -> str:
    """'M from 0 to 1' style summary of a map's finite values (the PNG has no hover)."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if v.size == 0:
        return f"{symbol}: no finite values"
    return f"{symbol} from {v.min():.{digits}g} to {v.max():.{digits}g}"


# --------------------------------------------------------------------------- the pictures the pages show


def input_png(image, *, size: int = 224, box=None, objects=None) -> bytes:
    """The model's input (gray or colour), pixel-exact, upscaled to about `size` px.

    `box` draws the ink box (dotted); `objects`, rows `(class, y0, x0, y1, x1)`
    with class -1 for an empty slot, draw each object's box in its class's
    colour with the class written at its top-left corner.
    """
    rgb = picture(image)
    factor = factor_for(rgb.shape[1], size)
    big = upscale(rgb, factor)
    if box is not None:
        big = draw_box(big, box, factor)
    if objects is not None:
        big = label_boxes(big, objects, factor)
    return to_png(big)


def class_color(c: int) -> tuple[int, int, int]:
    """A distinct colour per class (Tableau 10, as the charts use)."""
    from tal.render.figures import PALETTE

    value = PALETTE[int(c) % len(PALETTE)].lstrip("#")
    return tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))


def label_boxes(rgb, objects, factor: int) -> np.ndarray:
    """Each object's box, solid, in its class colour, and the class name on a dark tab above it."""
    from PIL import Image, ImageDraw

    img = Image.fromarray(np.asarray(rgb, dtype="uint8"))
    draw = ImageDraw.Draw(img)
    for c, y0, x0, y1, x1 in np.asarray(objects).tolist():
        if c < 0 or not (y1 > y0 and x1 > x0):
            continue
        color = class_color(c)
        draw.rectangle([x0 * factor, y0 * factor, x1 * factor - 1, y1 * factor - 1], outline=color, width=2)
        left, top = x0 * factor, max(y0 * factor - 12, 0)
        draw.rectangle([left, top, left + 9, top + 11], fill=color)
        draw.text((left + 2, top), str(c), fill=(0, 0, 0))
    return np.asarray(img)


def map_png(
    value,
    *,
    scale: str,
    lo: float,
    hi: float,
    background=None,
    alpha: float = 0.6,
    size: int = 224,
    bar: bool = True,
) -> bytes:
    """A 2-D map in colour, upscaled to about `size` px, with a colour bar on the right.

    With `background` (a grayscale input `(H, W)` in [0, 1]) the map is bilinearly
    upsampled to the input's size and blended over it (`alpha` for the map), as the
    Plotly overlays are.
    """
    z = np.asarray(value, dtype="float32")
    if background is not None:
        from tal.render.figures import upsample

        bg = gray(background)
        rgb = blend(bg, colorize(upsample(z, *bg.shape[:2]), scale=scale, lo=lo, hi=hi), alpha)
    else:
        rgb = colorize(z, scale=scale, lo=lo, hi=hi)
    big = upscale(rgb, factor_for(rgb.shape[1], size))
    return to_png(with_colorbar(big, scale) if bar else big)


def probe_sheet(snapshot: dict, *, tile: int = 84, gap: int = 4) -> tuple[bytes, list[str]]:
    """The probe images of one timeline snapshot and their maps as one PNG: a column per image.

    Rows: the input, then for the class the model predicts for it, `A` and
    `S` (when the model has the element-wise branch), then every spatial map
    drawn as a picture (`M`, CBAM's spatial gate, spatial weights). Each map
    row shares one colour range over all images (so a sharpening `A` shows as
    a brighter peak), and its label is written left of it (`probe_row_label`).
    Returns the PNG and the row names, top to bottom.

    `snapshot`: `{"images": (P, H, W, 1), "probabilities": (P, C), map: (P, …)}`,
    as `tal.engine.timeline` records it.
    """
    from tal.render.figures import upsample

    images = np.asarray(snapshot["images"], dtype="float32")
    predicted = np.asarray(snapshot["probabilities"]).argmax(axis=-1)
    rows: list[tuple[str, list[np.ndarray]]] = [("input", [picture(img) for img in images])]
    from tal.core import catalogue

    pictures = [k for k in snapshot if k not in ("A", "S") and _is_picture(k)]
    for key in [k for k in ("A", "S") if k in snapshot] + pictures:
        spec = catalogue.map_spec(key)
        scale, signed = spec.colorscale, spec.signed
        values = np.asarray(snapshot[key], dtype="float32")
        if values.ndim == 4:  # per class: the predicted class of each image
            values = values[np.arange(len(values)), ..., predicted]
        hi = float(np.abs(values).max()) if signed else float(values.max())
        lo = -hi if signed else float(values.min())
        hi = hi if hi > lo else lo + 1e-6
        rows.append((key, [colorize(upsample(v, *img.shape[:2]), scale=scale, lo=lo, hi=hi)
                           for v, img in zip(values, images)]))
    side = tile
    sheet = np.full((len(rows) * (side + gap) - gap, PROBE_LABEL_W + len(images) * (side + gap) - gap, 3), 255,
                    np.uint8)
    for r, (_, tiles) in enumerate(rows):
        for c, rgb in enumerate(tiles):
            factor = max(1, side // rgb.shape[0])
            big = upscale(rgb, factor)[:side, :side]
            y, x = r * (side + gap), PROBE_LABEL_W + c * (side + gap)
            sheet[y : y + big.shape[0], x : x + big.shape[1]] = big
    image = _row_labels(sheet, [name for name, _ in rows], side, gap)
    return to_png(image), [name for name, _ in rows]


PROBE_LABEL_W = 96  # px of the probe sheet's row labels, left of the first column (large type: pages
# show the sheet scaled down, Compare two of them side by side)


def probe_row_label(key: str) -> list[str]:
    """What a probe-sheet row is, as the lines drawn beside it: its symbol first, then a few words.

    `A` and `S` are shown for the class the model rates highest for each image (its prediction;
    for a multi-label model, its likeliest class): "top class". A picture row is named by its
    catalogue title up to the first ':', '=' or '(' ("CBAM spatial gate", "Spatial weights W"),
    its symbol first unless the title has it."""
    if key == "input":
        return ["input"]
    from tal.core import catalogue

    spec = catalogue.map_spec(key)
    if key in ("A", "S"):
        return [spec.symbol, "top class"]
    short = spec.title
    for stop in (":", "=", "("):
        short = short.split(stop)[0]
    short = short.strip() or spec.symbol
    if short == spec.symbol:
        return [short]
    if spec.symbol in short.split():  # "Spatial weights W": the title names the symbol already
        return _wrap(short, PROBE_LABEL_W - 8, first=20, rest=14)
    return [spec.symbol, *_wrap(short, PROBE_LABEL_W - 8, first=14, rest=14)]


def _wrap(text: str, width: int, *, first: int, rest: int) -> list[str]:
    """`text` in lines of at most `width` px in the bundled font, the first line `first` px high and the
    others `rest` (a long word keeps a line of its own)."""
    from PIL import Image, ImageDraw

    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines: list[str] = []
    for word in text.split():
        size = first if len(lines) == 1 else rest
        if lines and measure.textlength(f"{lines[-1]} {word}", font=_font(size)) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def _row_labels(sheet: np.ndarray, rows: list[str], side: int, gap: int) -> np.ndarray:
    """The sheet with each row's label (`probe_row_label`) written left of it, centred on the row."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(sheet)
    draw = ImageDraw.Draw(image)
    for r, key in enumerate(rows):
        first, *rest = probe_row_label(key)
        sizes = [20] + [14] * len(rest)
        height = sum(size + 2 for size in sizes)
        y = r * (side + gap) + max((side - height) // 2, 0)
        for text, size in zip([first, *rest], sizes):
            draw.text((4, y), text.replace("⊙", "·"), fill=(40, 40, 40) if size == 20 else (90, 90, 90),
                      font=_font(size))  # the bundled font has no ⊙
            y += size + 2
    return np.asarray(image)


def _is_picture(key: str) -> bool:
    """Whether `key` is a (B, H, W) map the catalogue draws as a picture."""
    from tal.core import catalogue

    try:
        spec = catalogue.map_spec(key)
    except KeyError:
        return False
    return spec.spatial_picture


# ------------------------------------------------------------------------------------------ the class grid

BOX_GREEN = (84, 162, 75)  # "#54A24B"  # the ground-truth boxes' dotted green, as on the interactive grid
GRID_FRAME = 3  # px of the orange frame around a highlighted class's tiles


@lru_cache(maxsize=4)
def _font(size: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def class_grid_png(
    maps: dict,
    *,
    kinds,
    class_names,
    styles: dict,
    ranges: dict,
    background=None,
    overlay: bool = False,
    highlight=(),
    boxes: dict | None = None,
    tile: int = 64,
    gap: int = 6,
) -> bytes:
    """The per-class grid as one PNG: a row per map kind, a column per class, a colour bar per row.

    The static twin of `tal.render.figures.map_grid_figure` (same colours, ranges,
    frames and boxes, no hover): one `<img>` instead of a chart the browser lays
    out again on every update.

    Args:
        maps: `{kind: (h, w, C)}` for one image.
        kinds: the rows, in order.
        class_names: C column labels.
        styles: `{kind: (symbol, colour scale)}`.
        ranges: `{kind: (lo, hi)}`: one colour range per row, shared by its tiles.
        background: the input `(H, W)` in [0, 1]; with `overlay` each map is
            bilinearly upsampled to it and blended over it.
        highlight: class indices to frame (the prediction, or the classes present).
        boxes: `{class: [(y0, x0, y1, x1), …]}` in input pixels, drawn dotted on that class's tiles.
    """
    from PIL import Image, ImageDraw

    from tal.render.figures import upsample

    c = len(class_names)
    label_w, bar_gap, bar_w, value_w, label_h = 34, 10, 10, 58, 22
    width = label_w + c * (tile + gap) - gap + bar_gap + bar_w + value_w
    height = len(kinds) * (tile + gap) - gap + label_h
    sheet = np.full((height, width, 3), 255, np.uint8)
    framed = {int(k) for k in np.atleast_1d(highlight) if k is not None}
    bg = None if background is None or not overlay else gray(background)
    input_side = luma(background).shape[0] if background is not None else None
    if boxes and input_side is None:
        raise ValueError("Boxes are in input pixels: pass the input image as `background` to draw them.")
    texts = []
    for r, kind in enumerate(kinds):
        values = np.asarray(maps[kind], dtype="float32")
        symbol, scale = styles[kind]
        lo, hi = ranges[kind]
        y = r * (tile + gap)
        for k in range(c):
            z = values[..., k]
            if bg is not None:
                rgb = blend(bg, colorize(upsample(z, *bg.shape[:2]), scale=scale, lo=lo, hi=hi), 0.6)
            else:
                rgb = colorize(z, scale=scale, lo=lo, hi=hi)
            factor = max(1, tile // rgb.shape[0])
            big = upscale(rgb, factor)
            for box in (boxes or {}).get(k, []):  # input pixels → this tile's pixels
                big = draw_box(big, [v * big.shape[0] / input_side for v in box], 1, color=BOX_GREEN)
            big = _fit(big, tile)
            x = label_w + k * (tile + gap)
            sheet[y : y + tile, x : x + tile] = big
            if k in framed:
                _frame(sheet, y, x, tile)
        bar_x = label_w + c * (tile + gap) - gap + bar_gap
        sheet[y : y + tile, bar_x : bar_x + bar_w] = colorbar(scale, tile, bar_w)
        texts += [((4, y + tile // 2 - 8), symbol.replace("⊙", "·"), 15),  # the bundled font has no ⊙
                  ((bar_x + bar_w + 4, y), _short(hi), 11), ((bar_x + bar_w + 4, y + tile - 13), _short(lo), 11)]
    image = Image.fromarray(sheet)
    draw = ImageDraw.Draw(image)
    for k, name in enumerate(class_names):
        x = label_w + k * (tile + gap) + tile // 2
        texts.append(((x, height - label_h + 4), str(name), 13, "center"))
    for pos, text, size, *anchor in texts:
        if anchor:  # centred under its column
            w = draw.textlength(text, font=_font(size))
            pos = (pos[0] - w / 2, pos[1])
        draw.text(pos, text, fill=(40, 40, 40), font=_font(size))
    return to_png(np.asarray(image))


def _fit(rgb, side: int) -> np.ndarray:
    """Crop or pad (white) an upscaled tile to exactly `side × side`, centred."""
    out = np.full((side, side, 3), 255, np.uint8)
    h, w = min(rgb.shape[0], side), min(rgb.shape[1], side)
    y, x = (side - h) // 2, (side - w) // 2
    out[y : y + h, x : x + w] = rgb[:h, :w]
    return out


def _frame(sheet, y: int, x: int, side: int) -> None:
    """The prediction's orange frame, drawn just inside a tile."""
    t = GRID_FRAME
    sheet[y : y + t, x : x + side] = INK_BOX
    sheet[y + side - t : y + side, x : x + side] = INK_BOX
    sheet[y : y + side, x : x + t] = INK_BOX
    sheet[y : y + side, x + side - t : x + side] = INK_BOX


def _short(v: float) -> str:
    return f"{v:.3g}"
