"""Search results on scene tiles written as GeoJSON or CSV, atomically.

GeoJSON: a FeatureCollection with one Feature per hit (or per merged group,
see `dove_keras.geo.hits`), a Polygon geometry (exterior ring counter-clockwise,
closed) and the properties `rank` (int), `stage1_score` (float), `roam_score`
(float or null), `scene` (str), `window` ([col, row, width, height] ints),
`key` (str) and, when merging, `merged_keys` (list of str). Coordinates are in
the scenes' CRS, with a top-level "crs" member unless it is EPSG:4326 (all hits
must then share one CRS), or in EPSG:4326 (lon, lat) with `to_wgs84=True`.

CSV: one row per feature with the columns of `CSV_COLUMNS`; `crs` is the
footprint's CRS, `footprint_wkt` the polygon as WKT, `roam_score` empty when
null, `merged_keys` a JSON list (written only when merging).

Both writers write `path + ".partial"`, then rename it over the destination
(`dove_keras.utils.files.atomic_write_text`), so a reader never sees a partial file.
"""

import csv
import io
import json

from dove_keras.geo import hits as hits_lib
from dove_keras.geo import reproject
from dove_keras.geo.optional import require
from dove_keras.utils.files import atomic_write_text

CSV_COLUMNS = ("rank", "stage1_score", "roam_score", "scene", "col", "row", "width",
               "height", "key", "crs", "footprint_wkt")


def _results(hits, to_wgs84, merge_overlaps):
    """(output CRS, [(MergedHit, output geometry)]) of the hits, best rank first."""
    hits = list(hits)
    crss = {h.tile.crs for h in hits}
    if not to_wgs84 and len(crss) > 1:
        names = sorted(str(c)[:40] for c in crss)
        raise ValueError(f"the hits come from scenes in {len(crss)} different CRSs ({names}): "
                         "write them with to_wgs84=True")
    if merge_overlaps:
        rows = hits_lib.merge_overlapping(hits)
    else:
        rows = [hits_lib.single(h) for h in sorted(hits, key=lambda h: h.rank)]
    orient = require("shapely.geometry.polygon").orient
    if to_wgs84:
        return reproject.WGS84, [
            (row, orient(reproject.to_wgs84(row.geometry, row.hit.tile.crs))) for row in rows]
    return (hits[0].tile.crs if hits else None), [(row, orient(row.geometry)) for row in rows]


def _properties(row, merge_overlaps):
    hit = row.hit
    properties = {
        "rank": int(hit.rank),
        "stage1_score": float(hit.stage1_score),
        "roam_score": hits_lib.roam_value(hit),
        "scene": str(hit.tile.scene),
        "window": [int(v) for v in row.window],
        "key": str(hit.tile.key),
    }
    if merge_overlaps:
        properties["merged_keys"] = list(row.keys)
    return properties


def feature_collection(hits, to_wgs84=False, merge_overlaps=False):
    """The GeoJSON FeatureCollection of search hits (see the module docstring).

    Args:
        hits: `GeoHit`s.
        to_wgs84: reproject the footprints to EPSG:4326 (lon, lat) with pyproj.
        merge_overlaps: merge overlapping hits of the same scene.

    Returns:
        A JSON-serialisable dict.

    Raises:
        ValueError: the hits span several CRSs without `to_wgs84`, or a scene
            without CRS is reprojected.
        ImportError: shapely (or pyproj, for `to_wgs84`) is not installed.
    """
    mapping = require("shapely.geometry").mapping
    crs, rows = _results(hits, to_wgs84, merge_overlaps)
    collection = {"type": "FeatureCollection"}
    member = reproject.crs_member(crs)
    if member is not None:
        collection["crs"] = member
    collection["features"] = [
        {"type": "Feature", "geometry": json.loads(json.dumps(mapping(geometry))),
         "properties": _properties(row, merge_overlaps)}
        for row, geometry in rows
    ]
    return collection


def write_geojson(path, hits, to_wgs84=False, merge_overlaps=False):
    """Writes search hits as a GeoJSON FeatureCollection, atomically.

    Args:
        path: the .geojson file (its folder must exist).
        hits: `GeoHit`s.
        to_wgs84: reproject the footprints to EPSG:4326 (lon, lat).
        merge_overlaps: merge overlapping hits of the same scene.

    Returns:
        `path`.

    Raises:
        ValueError, ImportError: as `feature_collection`.
    """
    collection = feature_collection(hits, to_wgs84, merge_overlaps)
    atomic_write_text(path, json.dumps(collection, indent=1) + "\n")
    return path


def write_csv(path, hits, to_wgs84=False, merge_overlaps=False):
    """Writes search hits as CSV rows (see the module docstring), atomically.

    Arguments, result and errors are those of `write_geojson`, with `path`
    the .csv file.
    """
    crs, rows = _results(hits, to_wgs84, merge_overlaps)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS + (("merged_keys",) if merge_overlaps else ()))
    for row, geometry in rows:
        p = _properties(row, merge_overlaps)
        roam = "" if p["roam_score"] is None else repr(p["roam_score"])
        line = [p["rank"], repr(p["stage1_score"]), roam, p["scene"], *p["window"], p["key"],
                "" if crs is None else crs, geometry.wkt]
        writer.writerow(line + ([json.dumps(p["merged_keys"])] if merge_overlaps else []))
    atomic_write_text(path, buffer.getvalue())
    return path
