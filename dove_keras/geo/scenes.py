"""Large TIFF / GeoTIFF scenes read tile by tile as uint8 RGB.

A `Scene` opens its file lazily (on first use) and never reads it whole:
tiles are read through `rasterio.windows.Window`, the per-scene stretch
statistics come from one decimated read (see `stretch`), and GDAL's block
cache is held to `GDAL_CACHE_MB` during reads (its default, 5% of the RAM,
would keep most of a scene's decoded blocks), so peak memory depends on the
tile size, not on the scene size.

Pixels: uint8 bands pass through unchanged; any other type (16-bit, 32-bit,
float) gets the per-scene, per-band percentile stretch of `dove_keras.preprocessing.stretch`
(default 2nd-98th percentile, nodata excluded), clipped to 0..255.

Bands: `bands` picks three 1-based band indexes as (R, G, B), e.g. (4, 3, 2)
for a false-colour NIR composite, or one index shown as grey. Default: (1, 2, 3)
for scenes with three or more bands, (1, 1, 1) for one band.

Nodata: a pixel is nodata when any selected band masks it (the file's nodata
value, its mask band or alpha, or a non-finite float); nodata pixels read as 0.
A tile whose pixels are all nodata is skipped with reason "nodata"; a tile
whose selected bands are all zero (nodata counted as zero) is skipped with
reason "empty". Partly
nodata tiles are kept.

Georeference: footprints come from the file's affine geotransform in its CRS.
A TIFF without a geotransform (identity transform) is read all the same: its
footprints are pixel coordinates (x = column, y = row) and `Scene.note` says so.
"""

import collections
import warnings

import numpy as np

from dove_keras.errors import UsageError
from dove_keras.geo.optional import require
from dove_keras.geo.tiles import SceneTile
from dove_keras.geo.tiles import footprint
from dove_keras.geo.tiles import tile_key
from dove_keras.geo.tiles import tile_windows
from dove_keras.preprocessing import stretch

NOT_GEOREFERENCED = "not georeferenced: footprints are pixel coordinates"
NO_CRS = "no CRS: footprints are in the geotransform's coordinates, in an unknown CRS"
GDAL_CACHE_MB = 64


class SceneError(UsageError):
    """A scene file is unreadable, or the tiling or band options do not fit it."""


class UnreadableScene(SceneError):
    """A scene file that cannot be opened or whose pixels cannot be read (damaged)."""


def crs_string(crs):
    """"EPSG:xxxx" for a CRS with an EPSG code, else its WKT; None for no CRS."""
    if crs is None:
        return None
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else crs.to_wkt()


def open_raster(path):
    """Opens a raster with rasterio, without the not-georeferenced warning.

    Raises:
        ImportError: rasterio is not installed.
        UnreadableScene: the file is missing or not a raster GDAL can read.
    """
    rasterio = require("rasterio")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        try:
            return rasterio.open(path)
        except rasterio.errors.RasterioIOError as error:
            raise UnreadableScene(f"{path}: cannot open as a raster ({error})") from None


class Scene:
    """A TIFF scene cut into a grid of square tiles.

    Args:
        path: the .tif / .tiff file.
        tile_size: tile side in pixels.
        stride: step between tiles (default `tile_size`); see `dove_keras.geo.tiles`
            for how the last row and column align with the scene edge.
        bands: 1-based band indexes shown as (R, G, B), or one index for grey
            (see the module docstring for the default).
        percentiles: (low, high) percentiles of the stretch of non-uint8 data.
        name: the scene's name in tile keys (e.g. its path relative to the
            searched folder); default `path`.

    Attributes:
        skipped: Counter of tiles skipped by `iter_tiles`, by reason.

    Use as a context manager, or call `close()`, to release the file.
    """

    def __init__(self, path, tile_size=256, stride=None, bands=None,
                 percentiles=stretch.DEFAULT_PERCENTILES, name=None):
        self.path = str(path)
        self.name = str(name if name is not None else path).replace("\\", "/")
        self.tile_size = tile_size
        self.stride = tile_size if stride is None else stride
        tile_windows(1, 1, self.tile_size, self.stride)  # validates both
        low, high = percentiles
        if not 0 <= low < high <= 100:
            raise SceneError(f"percentiles must be (low, high) with 0 <= low < high <= 100, "
                             f"got {percentiles!r}")
        self.percentiles = (float(low), float(high))
        self._requested_bands = bands
        self._dataset = None
        self._limits = None
        self.skipped = collections.Counter()

    # The file, opened on first use.

    @property
    def dataset(self):
        """The open rasterio dataset."""
        return self._open()

    def _open(self):
        """Opens the file on first use and reads what the tiling needs; returns the dataset."""
        if self._dataset is None:
            dataset = open_raster(self.path)
            try:
                self._bands = self._check_bands(dataset.count)
            except SceneError:
                dataset.close()
                raise
            all_valid = require("rasterio.enums").MaskFlags.all_valid
            self._masked = dataset.nodata is not None or any(
                dataset.mask_flag_enums[b - 1] != [all_valid] for b in set(self._bands))
            self._crs = crs_string(dataset.crs)
            self._dataset = dataset
        return self._dataset

    def _check_bands(self, count):
        bands = self._requested_bands
        if bands is None:
            if count == 2:
                raise SceneError(f"{self.path} has 2 bands: pass bands=(b,) for grey, "
                                 "or three band indexes")
            return (1, 1, 1) if count == 1 else (1, 2, 3)
        bands = tuple(bands)
        if len(bands) not in (1, 3) or any(int(b) != b or not 1 <= b <= count for b in bands):
            raise SceneError(f"{self.path}: bands={bands!r} must be one or three band indexes "
                             f"in 1..{count} (the scene has {count} bands)")
        return tuple(int(b) for b in bands) * (3 if len(bands) == 1 else 1)

    def close(self):
        """Closes the file (it reopens on next use)."""
        if self._dataset is not None:
            self._dataset.close()
            self._dataset = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Metadata.

    @property
    def width(self):
        return self.dataset.width

    @property
    def height(self):
        return self.dataset.height

    @property
    def bands(self):
        """The (R, G, B) band indexes read."""
        self._open()
        return self._bands

    @property
    def crs(self):
        """"EPSG:xxxx", else WKT; None when the file has no CRS."""
        self._open()
        return self._crs

    @property
    def georeferenced(self):
        """Whether the file has a geotransform (a non-identity affine transform)."""
        return not self.dataset.transform.is_identity

    @property
    def note(self):
        """Why footprints are not map coordinates in a known CRS, else None."""
        if not self.georeferenced:
            return NOT_GEOREFERENCED
        return NO_CRS if self.crs is None else None

    # The tile grid.

    def windows(self):
        """The (col_off, row_off, width, height) tile windows, row by row."""
        return tile_windows(self.width, self.height, self.tile_size, self.stride)

    def tile(self, window):
        """The `SceneTile` of a pixel window."""
        window = tuple(int(v) for v in window)
        return SceneTile(scene=self.path, window=window, crs=self.crs,
                         footprint=footprint(self.dataset.transform, window),
                         key=tile_key(self.name, window))

    def tiles(self):
        """Yields the `SceneTile`s of the grid, row by row (nothing is read)."""
        for window in self.windows():
            yield self.tile(window)

    # Pixels.

    def _read(self, indexes, **kwargs):
        """Reads bands as (values, valid): `valid` is False at nodata and non-finite
        values, or None when the file has no nodata and every value is finite."""
        dataset = self._open()
        rasterio = require("rasterio")
        try:
            with rasterio.Env(GDAL_CACHEMAX=GDAL_CACHE_MB):
                if self._masked:
                    data = dataset.read(indexes, masked=True, **kwargs)
                    values, valid = data.data, ~np.ma.getmaskarray(data)
                else:
                    values, valid = dataset.read(indexes, **kwargs), None
        except rasterio.errors.RasterioError as error:
            raise UnreadableScene(f"{self.path}: the pixels cannot be read, the file is damaged "
                             f"({error.__cause__ or error})") from None
        if values.dtype.kind == "f":
            finite = np.isfinite(values)
            if not finite.all():
                valid = finite if valid is None else valid & finite
        return values, valid

    @property
    def limits(self):
        """Per-band (low, high) stretch limits of the read bands, or None for uint8 data."""
        if self._open().dtypes[0] == "uint8":
            return None
        if self._limits is None:
            indexes = sorted(set(self.bands))
            stats_shape = stretch.stats_shape(self.width, self.height)
            values, valid = self._read(indexes, out_shape=(len(indexes), *stats_shape))
            valid = np.ones(values.shape, bool) if valid is None else valid
            found = stretch.band_limits(values, valid, self.percentiles)
            self._limits = found[[indexes.index(b) for b in self.bands]]
        return self._limits

    def read_tile(self, tile):
        """Reads a tile as uint8 RGB.

        Args:
            tile: a `SceneTile` of this scene (or its window tuple).

        Returns:
            (image, reason): `image` is uint8 (tile_size, tile_size, 3), zero-padded
            right and below when the scene is smaller than a tile, and `reason`
            None; or (None, "nodata" / "empty") for a tile to skip (see the
            module docstring).

        Raises:
            SceneError: the window lies outside the scene.
        """
        col, row, w, h = getattr(tile, "window", tile)
        if col < 0 or row < 0 or w < 1 or h < 1 or col + w > self.width or row + h > self.height:
            raise SceneError(f"{self.path}: window {(col, row, w, h)} is outside the "
                             f"{self.width} x {self.height} scene")
        window = require("rasterio.windows").Window(col, row, w, h)
        indexes = sorted(set(self.bands))
        values, valid = self._read(indexes, window=window)
        pick = [indexes.index(b) for b in self.bands]
        values = values if pick == [0, 1, 2] else values[pick]
        if valid is not None:
            valid = valid[pick].all(axis=0)
            if not valid.any():
                return None, "nodata"
            values = np.where(valid, values, 0)
        if not values.any():
            return None, "empty"
        limits = self.limits
        rgb = values if limits is None else stretch.apply_stretch(values, limits)
        image = np.zeros((self.tile_size, self.tile_size, 3), np.uint8)
        image[:h, :w] = np.moveaxis(rgb if valid is None else np.where(valid, rgb, 0), 0, -1)
        return image, None

    def iter_tiles(self):
        """Reads the grid tile by tile, skipping nodata and empty tiles.

        Yields:
            (SceneTile, uint8 image) for each kept tile; skipped tiles are
            counted in `self.skipped` by reason.
        """
        for tile in self.tiles():
            image, reason = self.read_tile(tile)
            if reason is not None:
                self.skipped[reason] += 1
                continue
            yield tile, image
