"""What an index embeds: the image files of a folder, or the tiles of GeoTIFF scenes.

Both give `items()` (one `Item` per picture, with the size and modification
time of the file it comes from, so that a re-run sees what changed) and
`read(item)` (the uint8 RGB picture, or a skip reason).
"""

import dataclasses
import json
import os

from dove_keras.data.images import IMAGE_EXTENSIONS
from dove_keras.data.images import ImageError
from dove_keras.data.images import list_images
from dove_keras.data.images import load_image

TIFF_EXTENSIONS = (".tif", ".tiff")


@dataclasses.dataclass(frozen=True)
class Item:
    """One picture to embed.

    Attributes:
        key: its id in the index (a relative path, or a tile key).
        source: the file it is read from, relative to the source root.
        source_bytes, source_modified: that file's size and mtime when listed.
        window: `(col, row, width, height)` of a tile, None for a whole file.
        crs: a tile's CRS string (None when not georeferenced).
        footprint: a tile's polygon ring, JSON text ("" for a whole file).
    """

    key: str
    source: str
    source_bytes: int
    source_modified: float
    window: tuple = None
    crs: str = None
    footprint: str = ""


def _stat(path):
    stat = os.stat(path)
    return int(stat.st_size), float(stat.st_mtime)


class ImageFolder:
    """Every image file under a folder (recursive; symlinked folders followed once).

    Args:
        root: the folder.

    Raises:
        ValueError: not a folder, or no image file in it.
    """

    kind = "images"

    def __init__(self, root):
        self.root = os.path.abspath(root)
        if not os.path.isdir(self.root):
            raise ValueError(f"{root}: not a folder")
        self.names = list_images(self.root)
        if not self.names:
            raise ValueError(f"{root}: no {'/'.join(IMAGE_EXTENSIONS)} file found")

    def description(self):
        """What a resumed run must share with this one."""
        return {"kind": self.kind, "root": self.root}

    def items(self):
        return [Item(name, name, *_stat(os.path.join(self.root, name))) for name in self.names]

    def read(self, item):
        """`(picture, None)`; raises `ImageError` for an unreadable file."""
        return load_image(os.path.join(self.root, item.source)), None

    def full_path(self, source):
        return os.path.join(self.root, source)


class SceneTiles:
    """The tiles of GeoTIFF scenes (files, or folders searched recursively).

    Args:
        paths: scene files and/or folders of them.
        tile_size: tile side in pixels.
        stride: pixels between tile origins (default: `tile_size`).
        bands: 1-based band indexes shown as RGB (default (1, 2, 3), or grey).
        percentiles: the stretch of non-8-bit scenes (see `dove_keras.preprocessing.stretch`).

    Raises:
        ValueError: a path that is neither, no TIFF file, or options that do
            not fit a scene; ImportError without the `gis` extra.
    """

    kind = "scenes"

    def __init__(self, paths, tile_size, stride=None, bands=None, percentiles=(2.0, 98.0)):
        from dove_keras.geo import Scene
        from dove_keras.geo import list_scenes
        from dove_keras.geo.scenes import UnreadableScene

        files = []
        for path in paths:
            path = os.path.abspath(path)
            if os.path.isdir(path):
                files += [os.path.join(path, name) for name in list_scenes(path)]
            elif os.path.isfile(path) and path.lower().endswith(TIFF_EXTENSIONS):
                files.append(path)
            elif not os.path.exists(path):
                raise ValueError(f"{path}: not found")
            else:
                raise ValueError(f"{path}: neither a .tif/.tiff scene nor a folder of them")
        if not files:
            raise ValueError(f"no .tif/.tiff scene found in {', '.join(map(str, paths))}")
        self.root = os.path.commonpath([os.path.dirname(f) for f in files])
        self.options = {
            "tile_size": int(tile_size), "stride": int(stride or tile_size),
            "bands": None if bands is None else [int(b) for b in bands],
            "percentiles": [float(p) for p in percentiles],
        }
        self.scenes = {}
        for path in sorted(set(files)):
            name = os.path.relpath(path, self.root).replace(os.sep, "/")
            self.scenes[name] = Scene(
                path, tile_size, stride, None if bands is None else tuple(bands), tuple(percentiles), name=name,
            )
        self.unopenable, notes = {}, set()
        for name, scene in self.scenes.items():
            try:
                if scene.note:
                    notes.add(f"{name}: {scene.note}")
            except UnreadableScene as error:  # listed as unreadable by the index, like a damaged image
                self.unopenable[name] = str(error)
        self.notes = sorted(notes)

    def description(self):
        return {"kind": self.kind, "root": self.root, **self.options}

    def items(self):
        found = []
        for name, scene in self.scenes.items():
            size, modified = _stat(scene.path)
            if name in self.unopenable:
                found.append(Item(name, name, size, modified))
                continue
            for tile in scene.tiles():
                found.append(Item(
                    tile.key, name, size, modified, tuple(int(v) for v in tile.window), tile.crs,
                    json.dumps([[float(x), float(y)] for x, y in tile.footprint]),
                ))
        return found

    def read(self, item):
        """`(picture, None)` or `(None, "nodata" | "empty")`; raises `SceneError` for an unreadable one."""
        if item.source in self.unopenable:
            from dove_keras.geo.scenes import UnreadableScene

            raise UnreadableScene(self.unopenable[item.source])
        return self.scenes[item.source].read_tile(item.window)

    def full_path(self, source):
        return os.path.join(self.root, source)

    def close(self):
        for scene in self.scenes.values():
            scene.close()


def read_errors():
    """The exceptions a source's `read` raises for one unreadable picture."""
    from dove_keras.geo import SceneError

    return (ImageError, SceneError)
