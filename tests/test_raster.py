"""Small maps as PNG pictures (tal.render.raster): colours, exact upscaling, the ink box (no browser)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tal.render import raster


def decode(png: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG"
    return np.asarray(img.convert("RGB"))


def test_colormap_runs_from_the_scales_first_to_its_last_colour():
    lut = raster.colormap("Magma")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert tuple(lut[0]) == (0, 0, 4) and tuple(lut[-1]) == (252, 253, 191)  # Plotly's Magma ends
    gray = raster.colormap("gray")
    assert tuple(gray[0]) == (0, 0, 0) and tuple(gray[-1]) == (255, 255, 255)


def test_colorize_maps_min_to_the_first_colour_and_max_to_the_last():
    z = np.array([[0.0, 0.5], [1.0, 7.0]])
    rgb = raster.colorize(z, scale="Viridis", lo=0.0, hi=1.0)
    lut = raster.colormap("Viridis")
    assert tuple(rgb[0, 0]) == tuple(lut[0])
    assert tuple(rgb[1, 0]) == tuple(lut[-1])
    assert tuple(rgb[1, 1]) == tuple(lut[-1])  # above the range: clipped
    assert tuple(rgb[0, 1]) == tuple(lut[128])  # 0.5 · 255 = 127.5 rounds to 128
    with_nan = raster.colorize(np.array([[np.nan, 0.0]]), scale="Viridis", lo=0, hi=1)
    assert tuple(with_nan[0, 0]) == (255, 255, 255)
    with pytest.raises(ValueError, match="2-D"):
        raster.colorize(np.zeros((2, 2, 2)), scale="Viridis", lo=0, hi=1)


def test_upscale_repeats_each_pixel_into_an_exact_square():
    a = np.arange(6, dtype="uint8").reshape(2, 3)
    big = raster.upscale(a, 4)
    assert big.shape == (8, 12)
    assert (big[:4, :4] == 0).all() and (big[4:, 8:] == 5).all()
    assert raster.factor_for(28, 224) == 8 and raster.factor_for(7, 224) == 32
    assert raster.factor_for(500, 224) == 1
    with pytest.raises(ValueError, match="factor"):
        raster.upscale(a, 0)


def test_input_png_is_the_grayscale_input_upscaled_8x_with_a_dotted_ink_box():
    image = np.zeros((28, 28), dtype="float32")
    image[10, 12] = 1.0
    rgb = decode(raster.input_png(image, size=224, box=(4, 5, 20, 18)))
    assert rgb.shape == (224, 224, 3)
    assert (rgb[80:88, 96:104] == 255).all()  # pixel (10, 12) → an 8×8 white square
    assert (rgb[0:8, 0:8] == 0).all()
    # the box's top edge runs along row 4·8 from column 5·8 to 18·8 − 1, dotted
    edge = rgb[32, 40:144]
    orange = (edge == raster.INK_BOX).all(axis=1)
    assert orange[0] and 0.3 < orange.mean() < 0.7
    assert (rgb[32, 39] == 0).all() and (rgb[32, 144] == 0).all()  # nothing outside the box
    assert (rgb[31, 40:144] == 0).all()


def test_map_png_has_a_colour_bar_and_blends_over_the_input():
    m = np.array([[0.0, 1.0], [1.0, 0.0]])
    rgb = decode(raster.map_png(m, scale="Magma", lo=0, hi=1, size=224))
    lut = raster.colormap("Magma")
    assert rgb.shape == (224, 224 + 8 + 10, 3)  # map, white gap, colour bar
    assert tuple(rgb[0, 0]) == tuple(lut[0]) and tuple(rgb[0, 223]) == tuple(lut[-1])
    assert (rgb[:, 224:232] == 255).all()
    assert tuple(rgb[0, -1]) == tuple(lut[-1]) and tuple(rgb[-1, -1]) == tuple(lut[0])  # bar: top = max
    # over a white input, a map value 0 is 60 % its colour and 40 % white
    over = decode(raster.map_png(np.zeros((7, 7)), scale="Magma", lo=0, hi=1,
                                 background=np.ones((28, 28)), size=224, bar=False))
    assert over.shape == (224, 224, 3)
    expected = np.round(0.6 * lut[0] + 0.4 * 255).astype(int)
    np.testing.assert_array_equal(over[100, 100], expected)


def test_value_range_text():
    assert raster.value_range_text([0.0, 0.5, 1.0], symbol="M") == "M from 0 to 1"
    assert raster.value_range_text([np.nan], symbol="M") == "M: no finite values"


def test_probe_sheet_has_a_row_per_map_and_a_column_per_image():
    import io

    import numpy as np
    from PIL import Image

    from tal.render.raster import probe_sheet

    rng = np.random.default_rng(0)
    snapshot = {
        "images": rng.random((3, 28, 28, 1)),
        "probabilities": np.eye(3, 10),
        "A": rng.random((3, 7, 7, 10)),
        "S": rng.standard_normal((3, 7, 7, 10)),
        "M": rng.random((3, 7, 7)),
        "channel_gate": rng.random((3, 64)),  # bars: not a row
    }
    png, rows = probe_sheet(snapshot, tile=84, gap=4)
    assert rows == ["input", "A", "S", "M"]
    label_w = raster.PROBE_LABEL_W  # the row labels, left of the first column
    assert Image.open(io.BytesIO(png)).size == (label_w + 3 * 88 - 4, 4 * 88 - 4)
    rgb = decode(png)
    for r in range(4):  # every row has its label written beside it, in dark ink on the white margin
        assert (rgb[r * 88:r * 88 + 84, :label_w] < 128).any(), rows[r]
    assert (rgb[:, :label_w - 4] >= 40).all()  # text only: no tile reaches into the label column
    _, only = probe_sheet({"images": snapshot["images"], "probabilities": snapshot["probabilities"]})
    assert only == ["input"]


def test_probe_rows_are_labelled_by_what_they_show():
    assert raster.probe_row_label("input") == ["input"]
    assert raster.probe_row_label("A") == ["A", "top class"] and raster.probe_row_label("S") == ["S", "top class"]
    assert raster.probe_row_label("M") == ["M"]
    assert raster.probe_row_label("cbam_spatial") == ["CBAM", "spatial gate"]
    assert raster.probe_row_label("sw_weights") == ["Spatial", "weights W"]


def test_class_grid_png_places_each_class_tile_with_its_rows_colour_range_frame_and_box():
    # 2 classes, 2×2 maps; tile 8 px → factor 4 (exact), gap 6, label column 34 px
    a = np.zeros((2, 2, 2), "float32")
    a[0, 0, 0] = 1.0  # class 0's top-left cell is the row's maximum; everything else its minimum
    s = np.full((2, 2, 2), -2.0, "float32")
    s[1, 1, 1] = 2.0
    png = raster.class_grid_png(
        {"A": a, "S": s}, kinds=["A", "S"], class_names=["zero", "one"],
        styles={"A": ("A", "Viridis"), "S": ("S", "RdBu_r")}, ranges={"A": (0.0, 1.0), "S": (-2.0, 2.0)},
        background=np.zeros((4, 4)), highlight=1, boxes={0: [(0, 0, 2, 2)]}, tile=8, gap=6)
    rgb = decode(png)
    viridis, rdbu = raster.colormap("Viridis"), raster.colormap("RdBu_r")
    assert rgb.shape == (2 * 8 + 6 + 22, 34 + 2 * 8 + 6 + 10 + 10 + 58, 3)
    # row A, class 0: its top-left 4×4 cell is Viridis' last colour, the bottom-right its first
    assert (rgb[1:3, 35:37] == viridis[-1]).all() and (rgb[4:8, 38:42] == viridis[0]).all()
    # row S (y from 14), class 1 (x from 48): framed in orange; its bottom-right cell is RdBu_r's last colour
    assert tuple(rgb[14, 48]) == raster.INK_BOX and tuple(rgb[21, 55]) == raster.INK_BOX
    assert (rgb[18:19, 52:53] == rdbu[-1]).all()
    assert tuple(rgb[14 + 1 + raster.GRID_FRAME, 34 + 1]) == tuple(rdbu[0])  # class 0 is not framed
    # the box (0, 0)–(2, 2) in input pixels of a 4-pixel input covers class 0's top-left half of the tile:
    # its dotted edge starts at the tile's corner in green
    assert tuple(rgb[14, 34]) == raster.BOX_GREEN
    # each row has its colour bar beside the tiles, top colour = the scale's last
    bar_x = 34 + (2 * 8 + 6) + 10  # tiles and their gap, then the bar gap
    assert (rgb[0, bar_x:bar_x + 10] == viridis[-1]).all() and (rgb[14 + 7, bar_x] == rdbu[0]).all()


def test_class_grid_png_needs_the_input_to_place_boxes():
    with pytest.raises(ValueError, match="input pixels"):
        raster.class_grid_png({"A": np.zeros((2, 2, 1))}, kinds=["A"], class_names=["0"],
                              styles={"A": ("A", "Viridis")}, ranges={"A": (0, 1)}, boxes={0: [(0, 0, 1, 1)]})
