"""GeoTIFF scenes read as tiles: grid, pixels, stretch, nodata, footprints."""

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio", reason="rasterio is in the optional gis extra")

from affine import Affine  # noqa: E402  (a rasterio dependency)

from dove_keras.datasets.synthetic import generate_example  # noqa: E402
from dove_keras.geo import Scene  # noqa: E402
from dove_keras.geo import SceneError  # noqa: E402
from dove_keras.geo import is_geotiff  # noqa: E402
from dove_keras.geo import list_scenes  # noqa: E402
from dove_keras.geo import tile_windows  # noqa: E402
from dove_keras.geo.scenes import NOT_GEOREFERENCED  # noqa: E402
from dove_keras.geo.synthetic_mosaic import write_mosaic  # noqa: E402

pytestmark = pytest.mark.backend_independent


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("scenes")


@pytest.fixture(scope="module")
def mosaic(folder):
    """2 x 2 scenes of 128 px, no gap: a 256 x 256 uint8 RGB GeoTIFF, 0.5 m pixels."""
    return write_mosaic(folder / "rgb.tif", grid=(2, 2), scene_size=128, seed=3,
                        pixel_size=0.5, origin=(400000.0, 5000000.0))


def _pixels(mosaic, seed=3, scene_size=128):
    """The whole mosaic assembled in numpy from the generator."""
    image = np.zeros((mosaic.height, mosaic.width, 3), np.uint8)
    for planted in mosaic.scenes:
        col, row, w, h = planted.window
        image[row:row + h, col:col + w] = generate_example(seed, planted.index, scene_size)[0].image
    return image


def test_grid_aligns_the_last_tiles_with_the_edge():
    assert tile_windows(300, 200, 128) == [
        (c, r, 128, 128) for r in (0, 72) for c in (0, 128, 172)]
    assert [w[0] for w in tile_windows(300, 128, 128, stride=100)] == [0, 100, 172]
    assert tile_windows(256, 256, 128, stride=128) == [
        (c, r, 128, 128) for r in (0, 128) for c in (0, 128)]
    assert tile_windows(50, 300, 64) == [(0, r, 50, 64) for r in (0, 64, 128, 192, 236)]
    with pytest.raises(ValueError, match="stride must be a positive integer"):
        tile_windows(10, 10, 4, stride=0)
    with pytest.raises(ValueError, match="stride <= tile_size"):
        tile_windows(10, 10, 4, stride=5)


def test_scene_grid_covers_every_pixel(mosaic):
    scene = Scene(mosaic.path, tile_size=96, stride=80)
    windows = scene.windows()
    assert windows == tile_windows(256, 256, 96, 80)
    assert sorted({w[0] for w in windows}) == [0, 80, 160]  # 160 + 96 = 256
    covered = np.zeros((256, 256), int)
    for col, row, w, h in windows:
        covered[row:row + h, col:col + w] += 1
    assert covered.min() == 1
    assert [t.key for t in scene.tiles()][:2] == [f"{mosaic.path}#0,0,96,96",
                                                  f"{mosaic.path}#80,0,96,96"]


def test_uint8_tiles_equal_the_planted_scenes(mosaic):
    with Scene(mosaic.path, tile_size=128, name="rgb.tif") as scene:
        assert scene.crs == "EPSG:32633" and scene.note is None and scene.limits is None
        tiles = list(scene.tiles())
        assert [t.window for t in tiles] == [p.window for p in mosaic.scenes]
        for tile, planted in zip(tiles, mosaic.scenes):
            image, reason = scene.read_tile(tile)
            assert reason is None and image.dtype == np.uint8 and image.shape == (128, 128, 3)
            expected = generate_example(3, planted.index, 128)[0].image
            np.testing.assert_array_equal(image, expected)
        assert tiles[1].key == "rgb.tif#128,0,128,128"


def test_tiles_across_scenes_and_padding(mosaic):
    whole = _pixels(mosaic)
    scene = Scene(mosaic.path, tile_size=96, stride=80)
    for tile in scene.tiles():
        col, row, w, h = tile.window
        image, _ = scene.read_tile(tile)
        np.testing.assert_array_equal(image, whole[row:row + h, col:col + w])
    big = Scene(mosaic.path, tile_size=300)
    (tile,) = big.tiles()
    assert tile.window == (0, 0, 256, 256)
    image, _ = big.read_tile(tile)
    assert image.shape == (300, 300, 3)
    np.testing.assert_array_equal(image[:256, :256], whole)
    assert not image[256:].any() and not image[:, 256:].any()


def test_band_selection(mosaic):
    whole = _pixels(mosaic)
    scene = Scene(mosaic.path, tile_size=128, bands=(2,))
    image, _ = scene.read_tile((128, 128, 128, 128))
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], whole[128:, 128:, 1])
    image, _ = Scene(mosaic.path, tile_size=128, bands=(3, 1, 2)).read_tile((0, 0, 128, 128))
    np.testing.assert_array_equal(image, whole[:128, :128][..., [2, 0, 1]])
    with pytest.raises(SceneError, match="1..3"):
        Scene(mosaic.path, bands=(4, 3, 2)).windows()
    with pytest.raises(SceneError, match="outside"):
        Scene(mosaic.path, tile_size=128).read_tile((200, 0, 128, 128))


def test_16_bit_false_colour_uses_the_percentile_stretch(folder):
    mosaic = write_mosaic(folder / "nir.tif", grid=(3, 2), scene_size=96, seed=5, bit_depth=16,
                          nodata_window=(0, 0, 40, 192))
    with rasterio.open(mosaic.path) as dataset:
        assert dataset.count == 4 and dataset.dtypes[0] == "uint16"
        raw = dataset.read()
    assert raw[:3][raw[:3] != 65535].max() <= 4000
    valid = (raw[[3, 2, 1]] != 65535).all(axis=0)
    expected = np.zeros((3, 192, 288), np.uint8)
    for channel, band in enumerate((4, 3, 2)):
        values = raw[band - 1].astype(np.float64)
        low, high = np.percentile(values[valid], [2, 98])
        assert 0 < low < high < 4000
        stretched = np.clip((values - low) * 255.0 / (high - low), 0, 255)
        expected[channel] = np.where(valid, np.rint(stretched), 0)
    scene = Scene(mosaic.path, tile_size=64, bands=(4, 3, 2))
    assert scene.bands == (4, 3, 2)
    kept = 0
    for tile, image in scene.iter_tiles():
        col, row, w, h = tile.window
        window = expected[:, row:row + h, col:col + w]
        np.testing.assert_array_equal(image, np.moveaxis(window, 0, -1))
        kept += 1
    assert kept == len(scene.windows()) == 15  # the 40 px nodata strip fills no tile
    image, _ = scene.read_tile((0, 0, 64, 64))
    assert not image[:, :40].any() and image[:, 40:].any()


def test_float_grey_scene_ignores_nan(tmp_path):
    # One float band, 128 x 64, no declared nodata: the left tile is all NaN.
    values = np.linspace(-1.0, 3.0, 128 * 64, dtype=np.float32).reshape(64, 128)
    values[:, :64] = np.nan
    values[0, 64:] = np.nan
    path = tmp_path / "float.tif"
    with rasterio.open(path, "w", driver="GTiff", width=128, height=64, count=1, dtype="float32",
                       crs="EPSG:3857", transform=Affine(1, 0, 0, 0, -1, 64)) as dst:
        dst.write(values, 1)
    scene = Scene(path, tile_size=64)
    assert scene.bands == (1, 1, 1)
    finite = values[np.isfinite(values)].astype(np.float64)
    low, high = np.percentile(finite, [2, 98])
    np.testing.assert_allclose(scene.limits, [[low, high]] * 3)
    kept = list(scene.iter_tiles())
    assert scene.skipped == {"nodata": 1} and [t.window for t, _ in kept] == [(64, 0, 64, 64)]
    image = kept[0][1]
    expected = np.rint(np.clip((values[:, 64:] - low) * 255.0 / (high - low), 0, 255))
    expected[0] = 0
    np.testing.assert_array_equal(image[..., 2], expected)
    np.testing.assert_array_equal(image[..., 0], image[..., 1])


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_nodata_and_empty_tiles_are_skipped_and_counted(folder, bit_depth):
    # One 128 px scene inside a 64 px zero border: 256 x 256, 16 tiles of 64 px;
    # the 12 border tiles are all zero (one of them partly nodata), the scene's
    # top-left tile is all nodata.
    mosaic = write_mosaic(folder / f"holes{bit_depth}.tif", grid=(1, 1), scene_size=128, gap=64,
                          bit_depth=bit_depth, nodata_window=(32, 64, 96, 64))
    scene = Scene(mosaic.path, tile_size=64)
    kept = [tile.window for tile, _ in scene.iter_tiles()]
    assert kept == [(128, 64, 64, 64), (64, 128, 64, 64), (128, 128, 64, 64)]
    assert scene.skipped == {"nodata": 1, "empty": 12}
    assert scene.read_tile((64, 64, 64, 64)) == (None, "nodata")
    assert scene.read_tile((0, 0, 64, 64)) == (None, "empty")


def test_partly_nodata_tile_is_kept_with_zero_pixels(folder, mosaic):
    masked = write_mosaic(folder / "part.tif", grid=(2, 2), scene_size=128, seed=3,
                          nodata_window=(0, 0, 32, 256))
    image, reason = Scene(masked.path, tile_size=128).read_tile((0, 0, 128, 128))
    assert reason is None
    assert not image[:, :32].any()
    np.testing.assert_array_equal(image[:, 32:], _pixels(mosaic)[:128, 32:128])


def test_footprint_follows_the_geotransform(mosaic):
    tile = Scene(mosaic.path, tile_size=64).tile((64, 128, 64, 64))
    # Top-left corner (400000, 5000000), 0.5 m pixels, north up.
    left, right = 400000.0 + 64 * 0.5, 400000.0 + 128 * 0.5
    top, bottom = 5000000.0 - 128 * 0.5, 5000000.0 - 192 * 0.5
    assert tile.footprint == [(left, top), (left, bottom), (right, bottom), (right, top),
                              (left, top)]
    assert tile.crs == "EPSG:32633"
    assert mosaic.scenes[3].footprint == [(400064.0, 4999936.0), (400064.0, 4999872.0),
                                          (400128.0, 4999872.0), (400128.0, 4999936.0),
                                          (400064.0, 4999936.0)]


def test_plain_tiff_gets_pixel_footprints_and_a_note(folder):
    plain = write_mosaic(folder / "plain.tif", grid=(1, 1), scene_size=96, georeferenced=False)
    scene = Scene(plain.path, tile_size=64)
    assert scene.crs is None and not scene.georeferenced and scene.note == NOT_GEOREFERENCED
    tile = scene.tile((32, 0, 64, 64))
    assert tile.crs is None
    assert tile.footprint == [(32.0, 0.0), (32.0, 64.0), (96.0, 64.0), (96.0, 0.0), (32.0, 0.0)]
    image, reason = scene.read_tile(tile)
    assert reason is None
    np.testing.assert_array_equal(image, generate_example(0, 0, 96)[0].image[:64, 32:])
    assert not is_geotiff(plain.path)


def test_list_scenes_and_is_geotiff(tmp_path, mosaic):
    (tmp_path / "a" / "b").mkdir(parents=True)
    write_mosaic(tmp_path / "a" / "b" / "deep.TIFF", grid=(1, 1), scene_size=32)
    write_mosaic(tmp_path / "z.tif", grid=(1, 1), scene_size=32, georeferenced=False)
    (tmp_path / "a" / "photo.png").write_bytes(b"not a scene")
    (tmp_path / "notes.txt").write_text("x")
    assert list_scenes(tmp_path) == ["a/b/deep.TIFF", "z.tif"]
    assert is_geotiff(tmp_path / "a" / "b" / "deep.TIFF") and is_geotiff(mosaic.path)
    assert not is_geotiff(tmp_path / "z.tif")
    with pytest.raises(SceneError, match="cannot open as a raster"):
        is_geotiff(tmp_path / "a" / "photo.png")
    with pytest.raises(NotADirectoryError):
        list_scenes(tmp_path / "notes.txt")


def test_stats_use_a_decimated_read():
    from dove_keras.preprocessing.stretch import stats_shape

    assert stats_shape(16384, 4096) == (256, 1024)
    assert stats_shape(500, 300) == (300, 500)
