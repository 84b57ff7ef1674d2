"""Searching GeoTIFF scenes: tiles indexed with their footprints, georeferenced hits, resumption."""

import json

import keras
import numpy as np
import pandas as pd
import pytest
from search_fixtures import interrupt_after_first_chunk
from search_fixtures import saved_small_model

from dove_keras import cli
from dove_keras.search import ImageIndex
from dove_keras.search import SceneTiles
from dove_keras.search import Searcher
from dove_keras.search import build_index
from dove_keras.search import load_encoder

rasterio = pytest.importorskip("rasterio", reason="the gis extra (rasterio, pyproj, shapely) is not installed")
pyproj = pytest.importorskip("pyproj")
from dove_keras.geo.synthetic_mosaic import write_mosaic  # noqa: E402

SIDE = 64


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scenes")
    mosaic = write_mosaic(str(folder / "mosaic.tif"), grid=(3, 2), scene_size=SIDE, seed=1)
    model, _, preset = saved_small_model()
    return {"folder": folder, "mosaic": mosaic, "model": model, "preset": preset, "encoder": load_encoder(model)}


def test_tiles_are_indexed_with_window_crs_and_footprint(scenes, tmp_path):
    mosaic = scenes["mosaic"]
    summary = build_index(scenes["encoder"], SceneTiles([mosaic.path], SIDE), tmp_path / "index", progress=False)
    assert summary["images"] == 6 and summary["skipped"] == {}
    index = ImageIndex(tmp_path / "index")
    assert index.is_scenes and set(index.table["crs"]) == {"EPSG:32633"}
    for planted in mosaic.scenes:
        key = f"mosaic.tif#{','.join(map(str, planted.window))}"
        row = index.table["path"].tolist().index(key)
        assert index.window(row) == tuple(planted.window)
        ring = json.loads(index.table["footprint"].iloc[row])
        np.testing.assert_allclose(ring, planted.footprint)
        # The row holds the features of exactly that tile.
        picture = index.picture(row)
        expected = scenes["model"].embed_images([picture])["global"]
        np.testing.assert_allclose(index.features([row])["global"], keras.ops.convert_to_numpy(expected), atol=1e-5)


def test_a_killed_scene_index_resumes_to_the_same_index(scenes, tmp_path, monkeypatch):
    source = SceneTiles([scenes["mosaic"].path], SIDE)
    build_index(scenes["encoder"], source, tmp_path / "single", chunk_size=4, progress=False)
    interrupt_after_first_chunk(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        build_index(scenes["encoder"], source, tmp_path / "resumed", chunk_size=4, progress=False)
    monkeypatch.undo()
    summary = build_index(scenes["encoder"], source, tmp_path / "resumed", chunk_size=4, progress=False)
    assert (summary["images"], summary["new"]) == (6, 2)
    single, resumed = ImageIndex(tmp_path / "single"), ImageIndex(tmp_path / "resumed")
    pd.testing.assert_frame_equal(single.table, resumed.table)
    np.testing.assert_allclose(single.global_embeddings, resumed.global_embeddings, atol=1e-6)


def test_16_bit_four_band_and_nodata_scenes_index(scenes, tmp_path, capsys):
    wide = write_mosaic(str(tmp_path / "nir.tif"), grid=(2, 1), scene_size=SIDE, bit_depth=16,
                        nodata_window=(0, 0, SIDE, SIDE))
    code = cli.main(["search", "index", "--preset", str(scenes["preset"]), "--scenes", wide.path,
                     "--bands", "4,3,2", "--out", str(tmp_path / "index"), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "1 pictures indexed" in out and "scene tiles skipped: 1 nodata" in out
    assert ImageIndex(tmp_path / "index").header["source"]["bands"] == [4, 3, 2]


def test_a_plain_tiff_gets_pixel_footprints_and_a_note(scenes, tmp_path, capsys):
    plain = write_mosaic(str(tmp_path / "plain.tif"), grid=(1, 1), scene_size=SIDE, georeferenced=False)
    code = cli.main(["search", "index", "--preset", str(scenes["preset"]), "--scenes", plain.path,
                     "--out", str(tmp_path / "index"), "--quiet"])
    assert code == 0
    assert "not georeferenced: footprints are pixel coordinates" in capsys.readouterr().out
    index = ImageIndex(tmp_path / "index")
    assert json.loads(index.table["footprint"].iloc[0])[2] == [SIDE, SIDE]  # bottom-right pixel corner
    assert index.table["crs"].iloc[0] == ""


def test_query_writes_georeferenced_hits(scenes, tmp_path, capsys):
    mosaic = scenes["mosaic"]
    out = tmp_path / "index"
    assert cli.main(["search", "index", "--preset", str(scenes["preset"]), "--scenes", mosaic.path,
                     "--out", str(out), "--quiet"]) == 0
    hits = tmp_path / "hits.geojson"
    code = cli.main(["search", "query", "--index", str(out), "w3 w4 w9", "-k", "3", "--geojson", str(hits),
                     "--to-wgs84"])
    assert code == 0 and "wrote" in capsys.readouterr().out
    collection = json.loads(hits.read_text())
    assert collection["type"] == "FeatureCollection" and len(collection["features"]) == 3
    feature = collection["features"][0]
    assert feature["properties"]["rank"] == 1 and isinstance(feature["properties"]["roam_score"], float)
    window = feature["properties"]["window"]
    # The hit's top-left corner by hand: the mosaic's transform, then UTM 33N -> WGS 84.
    x, y = mosaic.transform * (window[0], window[1])
    lon, lat = pyproj.Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True).transform(x, y)
    ring = np.array(feature["geometry"]["coordinates"][0])
    assert np.min(np.hypot(ring[:, 0] - lon, ring[:, 1] - lat)) < 1e-9
    table = pd.read_csv(tmp_path / "hits.csv")
    assert table["rank"].tolist() == [1, 2, 3]


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="the fit runs on TensorFlow only (CPU budget)")
def test_a_caption_of_a_planted_scene_finds_its_tile(scenes, tmp_path):
    from model_fixtures import small_model

    from dove_keras.models import DOVEImageConverter
    from dove_keras.models import DOVEPreprocessor
    from dove_keras.models import DOVETokenizer
    from dove_keras.preprocessing.captions import normalize_caption
    from dove_keras.search.pixels import model_pixels

    mosaic = write_mosaic(str(tmp_path / "planted.tif"), grid=(4, 3), scene_size=SIDE, seed=5)
    source = SceneTiles([mosaic.path], SIDE)
    words = sorted({w for s in mosaic.scenes for c in s.captions for w in normalize_caption(c).split()})
    preprocessor = DOVEPreprocessor(DOVETokenizer(words), DOVEImageConverter(SIDE), 16)
    keras.utils.set_random_seed(0)
    model = small_model(vocabulary_size=len(words) + 2, embedding_dim=32, word_dim=16, iga_key_dim=8,
                        train_image_backbone=True, preprocessor=preprocessor)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    items = {item.window: item for item in source.items()}
    pixels = model_pixels([source.read(items[tuple(s.window)])[0] for s in mosaic.scenes], SIDE)
    captions = np.array([c for s in mosaic.scenes for c in s.captions[:3]])
    image_ids = np.repeat(np.arange(len(mosaic.scenes)), 3).astype("int32")
    model.fit({"images": pixels[image_ids], "captions": captions, "image_ids": image_ids},
              batch_size=36, epochs=25, verbose=0)
    encoder = load_encoder(model)
    build_index(encoder, source, tmp_path / "index", progress=False)
    searcher = Searcher(ImageIndex(tmp_path / "index"), encoder)
    found = []
    for planted in mosaic.scenes:
        results = searcher.search(planted.captions[0], k=3, candidates=12)
        hits = searcher.geo_hits(results)
        found.append(any(np.allclose(hit.tile.footprint, planted.footprint) for hit in hits))
    # Chance: 3 of 12 tiles (25 %).
    assert np.mean(found) >= 0.75, found
