"""A GeoTIFF mosaic of synthetic scenes, for tests and demos of `dove_keras.geo`.

Scenes from `generate_example(seed, index, scene_size)` are placed on a
`columns x rows` grid, row by row (index 0 top left), `gap` pixels apart and
from the edges; gaps are zero. The file is tiled (256 px blocks), DEFLATE
compressed, and written strip by strip, so large mosaics need little memory.

Variants:

- `bit_depth=16`: four uint16 bands, R, G, B scaled from 0..255 to 0..4000
  and a pseudo near-infrared band (bright over green vegetation, dark over
  water), `(1.6 G - 0.3 R - 0.3 B)` scaled the same way and clipped.
- `nodata_window=(col, row, width, height)`: that region is nodata: the value
  65535 (declared as the file's nodata) at 16 bits, or masked out through an
  internal mask band at 8 bits.
- `georeferenced=False`: no CRS and no geotransform (a plain TIFF).
"""

import dataclasses
import warnings

import numpy as np

from dove_keras.datasets.synthetic.writer import generate_example
from dove_keras.geo.optional import require
from dove_keras.geo.tiles import footprint

BLOCK = 256
SCALE_16 = 4000
NODATA_16 = 65535
DEFAULT_CRS = "EPSG:32633"  # WGS 84 / UTM zone 33N
DEFAULT_ORIGIN = (500000.0, 4500000.0)  # top-left corner (easting, northing), metres


@dataclasses.dataclass(frozen=True)
class PlantedScene:
    """A synthetic scene placed in a mosaic.

    Attributes:
        index: its `generate_example` index (regenerate its pixels with
            `generate_example(seed, index, scene_size)`).
        window: (col, row, width, height) in mosaic pixels.
        footprint: closed corner ring in the mosaic CRS (pixel coordinates
            without georeference), as `dove_keras.geo.tiles.footprint`.
        captions: its five captions.
    """

    index: int
    window: tuple
    footprint: list
    captions: list


@dataclasses.dataclass(frozen=True)
class SyntheticMosaic:
    """A written mosaic.

    Attributes:
        path: the GeoTIFF.
        width: width in pixels.
        height: height in pixels.
        crs: its CRS string, or None.
        transform: its `affine.Affine` (identity without georeference).
        nodata: the declared nodata value, or None.
        scenes: the `PlantedScene`s, row by row.
    """

    path: str
    width: int
    height: int
    crs: str | None
    transform: object
    nodata: float | None
    scenes: list


def to_16_bit(rgb):
    """(4, H, W) uint16 R, G, B, NIR bands of a uint8 (H, W, 3) image (module docstring)."""
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    nir = np.clip(1.6 * g - 0.3 * r - 0.3 * b, 0, 255)
    bands = np.stack([r, g, b, nir]) * (SCALE_16 / 255.0)
    return np.rint(bands).astype(np.uint16)


def _planted(seed, grid, scene_size, gap, distinct, transform):
    columns, rows = grid
    scenes, images = [], {}
    for position in range(columns * rows):
        index = position % distinct
        if index not in images:
            images[index] = generate_example(seed, index, scene_size)
        row, col = divmod(position, columns)
        window = (gap + col * (scene_size + gap), gap + row * (scene_size + gap),
                  scene_size, scene_size)
        scenes.append(PlantedScene(index, window, footprint(transform, window),
                                   images[index][1]))
    return scenes, {i: scene.image for i, (scene, _) in images.items()}


def write_mosaic(path, grid=(2, 2), scene_size=128, seed=0, gap=0, bit_depth=8,
                 nodata_window=None, georeferenced=True, crs=DEFAULT_CRS, pixel_size=1.0,
                 origin=DEFAULT_ORIGIN, distinct=None):
    """Writes a tiled, compressed GeoTIFF mosaic of synthetic scenes.

    Args:
        path: the .tif file to write.
        grid: (columns, rows) of scenes.
        scene_size: side of each scene in pixels (at least 32).
        seed: the scenes' dataset seed.
        gap: zero pixels between scenes and around the grid.
        bit_depth: 8 (uint8 RGB) or 16 (uint16 R, G, B, NIR).
        nodata_window: (col, row, width, height) region written as nodata, or None.
        georeferenced: False writes no CRS and no geotransform.
        crs: the CRS when georeferenced.
        pixel_size: ground size of a pixel in CRS units (north-up, square).
        origin: (x, y) of the top-left corner in CRS units.
        distinct: cycle through this many different scenes (default: all
            different), to write large mosaics quickly.

    Returns:
        A `SyntheticMosaic`.
    """
    rasterio = require("rasterio")
    Window = require("rasterio.windows").Window
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth!r}")
    columns, rows = grid
    width = columns * scene_size + (columns + 1) * gap
    height = rows * scene_size + (rows + 1) * gap
    affine = require("affine").Affine
    transform = (affine(pixel_size, 0.0, origin[0], 0.0, -pixel_size, origin[1])
                 if georeferenced else affine.identity())
    scenes, images = _planted(seed, grid, scene_size, gap, distinct or columns * rows, transform)
    nodata = NODATA_16 if bit_depth == 16 and nodata_window is not None else None
    profile = dict(driver="GTiff", width=width, height=height, count=3 if bit_depth == 8 else 4,
                   dtype="uint8" if bit_depth == 8 else "uint16", tiled=True, blockxsize=BLOCK,
                   blockysize=BLOCK, compress="deflate", bigtiff="IF_SAFER", nodata=nodata)
    if georeferenced:
        profile.update(crs=crs, transform=transform)
    strip_bottoms = [gap + (r + 1) * (scene_size + gap) for r in range(rows)] + [height]
    strip_top = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as dst:
            for strip_bottom in strip_bottoms:
                if strip_bottom > strip_top:
                    _write_strip(dst, Window, scenes, images, strip_top, strip_bottom,
                                 bit_depth, nodata_window)
                strip_top = strip_bottom
    return SyntheticMosaic(str(path), width, height, crs if georeferenced else None, transform,
                           nodata, scenes)


def _write_strip(dst, Window, scenes, images, top, bottom, bit_depth, nodata_window):
    """Writes mosaic rows [top, bottom): the scenes in them, and the nodata region."""
    bands = np.zeros((dst.count, bottom - top, dst.width), dst.dtypes[0])
    for scene in scenes:
        col, row, w, h = scene.window
        if top <= row and row + h <= bottom:
            image = images[scene.index]
            pixels = np.moveaxis(image, -1, 0) if bit_depth == 8 else to_16_bit(image)
            bands[:, row - top:row - top + h, col:col + w] = pixels
    window = Window(0, top, dst.width, bottom - top)
    if nodata_window is None:
        dst.write(bands, window=window)
        return
    col, row, w, h = nodata_window
    inside = slice(max(row, top) - top, max(min(row + h, bottom) - top, 0))
    if bit_depth == 16:
        bands[:, inside, col:col + w] = NODATA_16
        dst.write(bands, window=window)
        return
    mask = np.full(bands.shape[1:], 255, np.uint8)
    mask[inside, col:col + w] = 0
    dst.write(bands, window=window)
    dst.write_mask(mask, window=window)
