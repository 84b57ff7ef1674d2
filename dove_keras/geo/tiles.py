"""Tile records and the tile grid of a scene (pure Python, no rasterio needed).

The grid of a side of `size` pixels starts tiles at 0, `stride`, 2 `stride`, ...
while a tile fits; when the last one stops short of the edge, one more tile is
placed flush with the edge (offset `size - tile_size`), so every pixel is
covered and the last row/column may overlap its neighbour more than `stride`
says. A side shorter than `tile_size` gets one tile of the side's length (its
read is zero-padded to `tile_size`).
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class SceneTile:
    """One tile of a scene.

    Attributes:
        scene: the scene file's path, as given to `Scene`.
        window: (col_off, row_off, width, height) in pixels.
        crs: "EPSG:xxxx", else WKT; None when the scene has no CRS.
        footprint: closed polygon ring [(x, y), ...] (5 points: top-left,
            bottom-left, bottom-right, top-right, top-left pixel corners) in the
            scene CRS, or in pixel coordinates (x = column, y = row) when the
            scene is not georeferenced.
        key: stable id "<scene name>#<col>,<row>,<w>,<h>".
    """

    scene: str
    window: tuple
    crs: str | None
    footprint: list
    key: str


def grid_offsets(size, tile_size, stride):
    """Tile start offsets along one side, the last one flush with the edge.

    Args:
        size: side length in pixels.
        tile_size: tile side in pixels.
        stride: step between tile starts in pixels.

    Returns:
        A sorted list of offsets.
    """
    if size <= tile_size:
        return [0]
    offsets = list(range(0, size - tile_size + 1, stride))
    if offsets[-1] + tile_size < size:
        offsets.append(size - tile_size)
    return offsets


def tile_windows(width, height, tile_size, stride=None):
    """The (col_off, row_off, width, height) windows of a scene, row by row.

    Args:
        width: scene width in pixels.
        height: scene height in pixels.
        tile_size: tile side in pixels.
        stride: step between tiles, at most `tile_size` (default `tile_size`:
            no overlap).

    Returns:
        A list of windows; see the module docstring for the edge alignment.

    Raises:
        ValueError: a size or the stride is not a positive integer, or the
            stride is larger than the tile.
    """
    stride = tile_size if stride is None else stride
    for name, value in (("width", width), ("height", height), ("tile_size", tile_size),
                        ("stride", stride)):
        if int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if stride > tile_size:
        raise ValueError(f"stride {stride} is larger than tile_size {tile_size}: pixels between "
                         "tiles would be left out; use a stride <= tile_size")
    tile_w, tile_h = min(tile_size, width), min(tile_size, height)
    return [(col, row, tile_w, tile_h)
            for row in grid_offsets(height, tile_size, stride)
            for col in grid_offsets(width, tile_size, stride)]


def footprint(transform, window):
    """The closed corner ring of a pixel window under an affine transform.

    Args:
        transform: an `affine.Affine` mapping pixel (col, row) to (x, y).
        window: (col_off, row_off, width, height).

    Returns:
        [(x, y)] * 5: top-left, bottom-left, bottom-right, top-right, top-left.
        For a north-up scene this ring runs counter-clockwise on the map.
    """
    col, row, w, h = window
    t = transform
    corners = [(col, row), (col, row + h), (col + w, row + h), (col + w, row), (col, row)]
    return [(float(t.a * c + t.b * r + t.c), float(t.d * c + t.e * r + t.f)) for c, r in corners]


def tile_key(name, window):
    """The stable key "<name>#<col>,<row>,<w>,<h>" of a tile."""
    return f"{name}#{','.join(str(int(v)) for v in window)}"
