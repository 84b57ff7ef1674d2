"""Footprints reprojected to WGS 84 (lon, lat), and the GeoJSON "crs" member.

Before reprojection every edge is densified (`DENSIFY` pieces per edge of the
shortest side), so that a straight edge in the scene CRS stays close to its
true, curved shape in longitude / latitude.
"""

import functools

import numpy as np

from dove_keras.geo.optional import require

WGS84 = "EPSG:4326"
DENSIFY = 8


@functools.lru_cache(maxsize=16)
def _transformer(crs):
    pyproj = require("pyproj")
    return pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)


def to_wgs84(geometry, crs):
    """A shapely geometry moved from `crs` to EPSG:4326, as (lon, lat).

    Args:
        geometry: shapely Polygon in `crs`.
        crs: the source CRS ("EPSG:xxxx" or WKT).

    Returns:
        The densified, reprojected Polygon.

    Raises:
        ValueError: `crs` is None (a scene without CRS cannot be reprojected).
    """
    if crs is None:
        raise ValueError("cannot reproject footprints of a scene without a CRS to EPSG:4326: "
                         "write them in the scene's coordinates (to_wgs84=False)")
    shapely = require("shapely")
    transformer = _transformer(crs)
    left, bottom, right, top = geometry.bounds
    dense = shapely.segmentize(geometry, min(right - left, top - bottom) / DENSIFY)

    def move(xy):
        lon, lat = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(dense, move)


def crs_member(crs):
    """The GeoJSON (2008) "crs" member GDAL / QGIS read, or None for EPSG:4326 or no CRS.

    An EPSG CRS is named "urn:ogc:def:crs:EPSG::xxxx"; a CRS without an EPSG
    code is named by its WKT, which GDAL also accepts.
    """
    if crs is None or crs == WGS84:
        return None
    name = f"urn:ogc:def:crs:EPSG::{crs[5:]}" if crs.startswith("EPSG:") else crs
    return {"type": "name", "properties": {"name": name}}
