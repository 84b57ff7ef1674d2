"""Search hits written as GeoJSON / CSV: geometry, properties, CRS, reprojection, merging."""

import csv
import json
import math

import pytest

pytest.importorskip("rasterio", reason="rasterio is in the optional gis extra")
pyproj = pytest.importorskip("pyproj", reason="pyproj is in the optional gis extra")
shapely = pytest.importorskip("shapely", reason="shapely is in the optional gis extra")

from shapely import wkt  # noqa: E402
from shapely.geometry import Polygon  # noqa: E402
from shapely.geometry import shape  # noqa: E402

from dove_keras.geo import GeoHit  # noqa: E402
from dove_keras.geo import Scene  # noqa: E402
from dove_keras.geo import SceneTile  # noqa: E402
from dove_keras.geo import feature_collection  # noqa: E402
from dove_keras.geo import write_csv  # noqa: E402
from dove_keras.geo import write_geojson  # noqa: E402
from dove_keras.geo.reproject import crs_member  # noqa: E402
from dove_keras.geo.synthetic_mosaic import write_mosaic  # noqa: E402

pytestmark = pytest.mark.backend_independent

ORIGIN = (500000.0, 4500000.0)  # UTM 33N, on the central meridian, about 40.6 N


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    mosaic = write_mosaic(tmp_path_factory.mktemp("geo") / "utm.tif", grid=(2, 2), scene_size=64,
                          pixel_size=2.0, origin=ORIGIN)
    with Scene(mosaic.path, tile_size=64, stride=32, name="utm.tif") as opened:
        yield opened


def _hits(scene):
    """Rank 1 and 3 overlap by half a tile; rank 2 is apart (touches neither)."""
    return [
        GeoHit(1, 0.91, 0.42, scene.tile((0, 0, 64, 64))),
        GeoHit(2, 0.88, float("nan"), scene.tile((64, 64, 64, 64))),
        GeoHit(3, 0.75, None, scene.tile((32, 0, 64, 64))),
    ]


def _signed_area(ring):
    return 0.5 * sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:]))


def test_feature_collection_in_the_scene_crs(scene, tmp_path):
    path = write_geojson(tmp_path / "hits.geojson", _hits(scene))
    collection = json.loads(open(path).read())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hits.geojson"]  # no temporary left
    assert collection == feature_collection(_hits(scene))
    assert collection["type"] == "FeatureCollection"
    assert collection["crs"] == {"type": "name",
                                 "properties": {"name": "urn:ogc:def:crs:EPSG::32633"}}
    features = collection["features"]
    assert [f["properties"]["rank"] for f in features] == [1, 2, 3]
    first = features[0]
    assert first["type"] == "Feature" and first["geometry"]["type"] == "Polygon"
    (ring,) = first["geometry"]["coordinates"]
    assert len(ring) == 5 and ring[0] == ring[-1]
    assert _signed_area(ring) > 0  # counter-clockwise exterior (RFC 7946)
    x0, y0 = ORIGIN
    assert sorted(map(tuple, ring[:4])) == [(x0, y0 - 128), (x0, y0), (x0 + 128, y0 - 128),
                                            (x0 + 128, y0)]
    assert first["properties"] == {"rank": 1, "stage1_score": 0.91, "roam_score": 0.42,
                                   "scene": scene.path, "window": [0, 0, 64, 64],
                                   "key": "utm.tif#0,0,64,64"}
    assert features[1]["properties"]["roam_score"] is None  # NaN: not re-ranked
    assert features[2]["properties"]["roam_score"] is None
    for feature in features:
        properties = feature["properties"]
        assert type(properties["rank"]) is int and type(properties["stage1_score"]) is float
        assert all(type(v) is int for v in properties["window"])


def test_wgs84_reprojection_matches_pyproj(scene):
    collection = feature_collection(_hits(scene), to_wgs84=True)
    assert "crs" not in collection
    (ring,) = collection["features"][1]["geometry"]["coordinates"]
    assert ring[0] == ring[-1] and len(ring) > 5  # densified edges
    assert _signed_area(ring) > 0
    # Tile (64, 64, 64, 64), 2 m pixels: its bottom-right pixel corner by hand.
    corner = (ORIGIN[0] + 128 * 2.0, ORIGIN[1] - 128 * 2.0)
    transformer = pyproj.Transformer.from_crs("EPSG:32633", "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(*corner)
    assert 15.0 < lon < 15.01 and 40.5 < lat < 40.7  # lon, lat order
    assert min(math.dist((lon, lat), point) for point in ring) < 1e-9
    # The right edge's midpoint is a densified vertex, moved exactly like a corner.
    middle = transformer.transform(corner[0], corner[1] + 64.0)
    assert min(math.dist(middle, point) for point in ring) < 1e-9
    assert max(p[0] for p in ring) > lon  # meridian convergence: top right lies further east


def test_merging_overlapping_hits(scene):
    hits = _hits(scene)
    collection = feature_collection(hits, merge_overlaps=True)
    features = collection["features"]
    assert len(features) == 2
    merged, alone = features
    assert merged["properties"]["rank"] == 1 and merged["properties"]["stage1_score"] == 0.91
    assert merged["properties"]["merged_keys"] == ["utm.tif#0,0,64,64", "utm.tif#32,0,64,64"]
    assert merged["properties"]["window"] == [0, 0, 96, 64]
    assert alone["properties"]["merged_keys"] == ["utm.tif#64,64,64,64"]
    polygon = shape(merged["geometry"])
    for hit in (hits[0], hits[2]):
        assert polygon.covers(Polygon(hit.tile.footprint))
    assert polygon.area == pytest.approx(96 * 64 * 2.0 * 2.0)
    wgs84 = feature_collection(hits, to_wgs84=True, merge_overlaps=True)
    assert len(wgs84["features"]) == 2


def test_touching_tiles_are_not_merged(scene):
    hits = [GeoHit(1, 0.5, None, scene.tile((0, 0, 64, 64))),
            GeoHit(2, 0.4, None, scene.tile((64, 0, 64, 64)))]
    assert len(feature_collection(hits, merge_overlaps=True)["features"]) == 2


def test_same_window_of_two_scenes_is_not_merged(scene):
    tile = scene.tile((0, 0, 64, 64))
    other = SceneTile("other.tif", tile.window, tile.crs, tile.footprint, "other.tif#0,0,64,64")
    hits = [GeoHit(1, 0.5, None, tile), GeoHit(2, 0.4, None, other)]
    assert len(feature_collection(hits, merge_overlaps=True)["features"]) == 2


def _tile(crs, name="x.tif"):
    ring = [(0.0, 0.0), (0.0, -1.0), (1.0, -1.0), (1.0, 0.0), (0.0, 0.0)]
    return SceneTile(name, (0, 0, 1, 1), crs, ring, f"{name}#0,0,1,1")


def test_crs_rules():
    assert "crs" not in feature_collection([GeoHit(1, 0.1, None, _tile("EPSG:4326"))])
    assert "crs" not in feature_collection([GeoHit(1, 0.1, None, _tile(None))])
    mixed = [GeoHit(1, 0.2, None, _tile("EPSG:32633")), GeoHit(2, 0.1, None, _tile("EPSG:3857"))]
    with pytest.raises(ValueError, match="to_wgs84=True"):
        feature_collection(mixed)
    assert len(feature_collection(mixed, to_wgs84=True)["features"]) == 2
    with pytest.raises(ValueError, match="without a CRS"):
        feature_collection([GeoHit(1, 0.1, None, _tile(None))], to_wgs84=True)
    laea = pyproj.CRS("+proj=laea +lat_0=52 +lon_0=10 +x_0=4321000 +y_0=3210000").to_wkt()
    assert crs_member(laea) == {"type": "name", "properties": {"name": laea}}


def test_csv_rows(scene, tmp_path):
    path = write_csv(tmp_path / "hits.csv", _hits(scene), merge_overlaps=True)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hits.csv"]
    assert [r["rank"] for r in rows] == ["1", "2"]
    first = rows[0]
    assert (first["stage1_score"], first["roam_score"], first["crs"]) == ("0.91", "0.42",
                                                                           "EPSG:32633")
    assert rows[1]["roam_score"] == ""
    assert [first[c] for c in ("col", "row", "width", "height")] == ["0", "0", "96", "64"]
    assert json.loads(first["merged_keys"]) == ["utm.tif#0,0,64,64", "utm.tif#32,0,64,64"]
    x0, y0 = ORIGIN
    expected = Polygon([(x0, y0), (x0, y0 - 128), (x0 + 192, y0 - 128), (x0 + 192, y0)])
    assert wkt.loads(first["footprint_wkt"]).symmetric_difference(expected).area == 0
    plain = write_csv(tmp_path / "plain.csv", _hits(scene), to_wgs84=True)
    with open(plain, newline="") as f:
        rows = list(csv.DictReader(f))
    assert "merged_keys" not in rows[0] and rows[0]["crs"] == "EPSG:4326" and len(rows) == 3
