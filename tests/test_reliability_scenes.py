"""Issue 23, the hostile-user probe on `dove search`: options checked first, damaged and mixed scenes."""

import json

import pandas as pd
import pytest
from search_fixtures import saved_small_model

from dove_keras import cli

pytest.importorskip("rasterio", reason="the gis extra (rasterio, pyproj, shapely) is not installed")
pytest.importorskip("pyproj")
from dove_keras.geo.synthetic_mosaic import write_mosaic  # noqa: E402

SIDE = 64


@pytest.fixture(scope="module")
def scenes(tmp_path_factory):
    """A georeferenced scene, a plain TIFF and a truncated one (its header intact) in one folder."""
    folder = tmp_path_factory.mktemp("scenes")
    write_mosaic(str(folder / "geo.tif"), grid=(2, 1), scene_size=SIDE, seed=1)
    write_mosaic(str(folder / "plain.tif"), grid=(1, 1), scene_size=SIDE, seed=2, georeferenced=False)
    whole = (folder / "geo.tif").read_bytes()
    (folder / "damaged.tif").write_bytes(whole[: len(whole) // 2])
    _, _, preset = saved_small_model()
    return folder, str(preset)


def _index(scenes, out, *extra):
    folder, preset = scenes
    return cli.main(["search", "index", "--preset", preset, "--scenes", str(folder), "--out", str(out),
                     "--quiet", *extra])


# 6. Silent: options checked before any work, combinations too.
@pytest.mark.parametrize("extra, message", [
    (["--tile-size", "0"], "--tile-size must be >= 1, got 0"),
    (["--stride", "-4"], "--stride must be >= 1, got -4"),
    (["--percentiles", "90", "10"], "--percentiles must be LOW HIGH"),
    (["--bands", "4,3"], "one or three band numbers"),
])
def test_item06_index_options_are_refused_before_any_work(scenes, tmp_path, capsys, extra, message):
    assert _index(scenes, tmp_path / "index", *extra) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "index").exists()


def test_item06_option_combinations_are_refused_before_any_work(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    assert cli.main(["search", "index", "--preset", str(tmp_path), "--images", str(images), "--tile-size", "64",
                     "--out", str(tmp_path / "index")]) == 2
    assert "--tile-size: only for --scenes" in capsys.readouterr().err
    query = ["search", "query", "plane", "--index", str(tmp_path / "missing")]
    for extra, message in ((["--attention"], "give --sheet PNG too"),
                           (["--to-wgs84"], "give --geojson FILE too")):
        assert cli.main([*query, *extra, "--csv", str(tmp_path / "hits.csv")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "hits.csv").exists()


# 8 and 9. A damaged scene is listed, not fatal; a mixed index still gets its GeoJSON.
def test_item09_item08_damaged_scene_listed_and_mixed_hits_mapped(scenes, tmp_path, capsys):
    out = tmp_path / "index"
    assert _index(scenes, out) == 0
    printed = capsys.readouterr().out
    assert "3 pictures indexed" in printed and "damaged.tif" in printed and "damaged" in printed
    unreadable = pd.read_csv(out / "unreadable.csv")
    assert set(unreadable["path"].str.split("#").str[0]) == {"damaged.tif"}
    query = ["search", "query", "w3 w4", "--index", str(out), "-k", "3", "--geojson", str(tmp_path / "hits.geojson")]
    assert cli.main(query) == 2
    err = capsys.readouterr().err
    assert "pass --to-wgs84" in err and "to_wgs84=" not in err and not (tmp_path / "hits.geojson").exists()
    assert cli.main([*query, "--to-wgs84"]) == 0
    assert "1 hit(s) from scenes without a CRS are not in the GeoJSON" in capsys.readouterr().out
    features = json.loads((tmp_path / "hits.geojson").read_text())["features"]
    assert sorted(f["properties"]["scene"].rsplit("/", 1)[-1] for f in features) == ["geo.tif", "geo.tif"]


# 13. A missing scene path is "not found".
def test_item13_a_missing_scene_is_not_found(scenes, tmp_path, capsys):
    _, preset = scenes
    assert cli.main(["search", "index", "--preset", preset, "--scenes", str(tmp_path / "nonexist.tif"),
                     "--out", str(tmp_path / "index")]) == 2
    assert "nonexist.tif: not found" in capsys.readouterr().err
