"""A complete search index, opened for queries (arrays memory-mapped)."""

import os

import numpy as np
import pandas as pd

from dove_keras.data.images import load_image
from dove_keras.search.index_layout import ARRAYS
from dove_keras.search.index_layout import SearchIndexError
from dove_keras.search.index_layout import read_header


class ImageIndex:
    """An index written by `build_index`.

    Args:
        path: the index folder.

    Raises:
        SearchIndexError: not an index, or an unfinished one.
    """

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.header = read_header(self.path)
        if not self.header.get("complete"):
            raise SearchIndexError(
                f"{path}: the index is unfinished (interrupted?): re-run `dove search index` "
                "with the same arguments to complete it"
            )
        read = dict(keep_default_na=False, dtype={"path": str, "source": str, "window": str, "crs": str})
        self.table = pd.read_csv(os.path.join(self.path, "images.csv"), **read)
        self.unreadable = pd.read_csv(os.path.join(self.path, "unreadable.csv"), keep_default_na=False)
        self.source = self.header["source"]
        self.use_roam = self.header["use_roam"]
        self._arrays = {
            name: np.load(os.path.join(self.path, f"{name}.npy"), mmap_mode="r")
            for name in ARRAYS
            if os.path.isfile(os.path.join(self.path, f"{name}.npy"))
        }

    def __len__(self):
        return len(self.table)

    @property
    def is_scenes(self):
        """Whether the rows are tiles of GeoTIFF scenes (else image files)."""
        return self.source["kind"] == "scenes"

    @property
    def global_embeddings(self):
        """`(N, d)` memory-mapped V_M."""
        return self._arrays["global"]

    def features(self, rows):
        """Image features of `rows` for `score`: float32 copies in memory."""
        rows = np.asarray(rows)
        features = {}
        for name, array in self._arrays.items():
            values = np.asarray(array[rows])
            features[name] = values if name == "region_mask" else values.astype("float32")
        return features

    def full_path(self, row):
        """Absolute path of the file of `row` (the scene of a tile)."""
        return os.path.join(self.source["root"], self.table["source"].iloc[int(row)])

    def picture(self, row):
        """The uint8 RGB picture of `row` as indexed (a tile is read from its scene).

        Raises:
            ImageError, SceneError: the file is unreadable now.
        """
        if not self.is_scenes:
            return load_image(self.full_path(row))
        from dove_keras.geo import Scene

        options = self.source
        bands = None if options["bands"] is None else tuple(options["bands"])
        with Scene(self.full_path(row), options["tile_size"], options["stride"], bands,
                   tuple(options["percentiles"])) as scene:
            picture, _ = scene.read_tile(self.window(row))
        return picture

    def window(self, row):
        """`(col, row, width, height)` of a tile row, None for an image file."""
        text = self.table["window"].iloc[int(row)]
        return tuple(int(v) for v in text.split(",")) if text else None
