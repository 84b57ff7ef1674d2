"""The on-disk layout of a search index (shared by its writer and reader).

    index.json               the model (spec, fingerprint), the source and its options, state
    chunks/chunk-NNNNN.npz   embedded items, written atomically one chunk at a time
    global.npy               (N, d) V_M, the stage-1 search embeddings
    fused.npy                (N, d) V_MR, the image side of the ROAM score
    regions.npy              (N, N_r, d) F_R and region_mask.npy (N, N_r), for re-ranking
    images.csv               one row per item (row = position in the arrays): `path`
                             (the item key: a file path relative to the source root, or
                             a tile key `scene#col,row,w,h`), `source`, `source_bytes`,
                             `source_modified`, `height`, `width`, and for tiles
                             `window`, `crs`, `footprint` (JSON ring)
    unreadable.csv           items that could not be read, with the reason
    skipped.csv              scene tiles left out as all nodata or empty
"""

import glob
import json
import os

from dove_keras.errors import UsageError
from dove_keras.utils.versions import check_format_version

FORMAT_VERSION = 2
HEADER = "index.json"
ARRAYS = ("global", "fused", "regions", "region_mask")
ITEM_COLUMNS = ("path", "source", "source_bytes", "source_modified", "height", "width", "window", "crs", "footprint")
FAILED_COLUMNS = ("path", "source", "source_bytes", "source_modified", "error")


class SearchIndexError(UsageError):
    """An index folder that cannot be used as asked (wrong model, incomplete...)."""


def read_header(folder):
    """The checked `index.json` of an index folder."""
    path = os.path.join(folder, HEADER)
    if not os.path.isfile(path):
        raise SearchIndexError(f"{folder}: no {HEADER}: not an index made by `dove search index`")
    with open(path, encoding="utf-8") as f:
        header = json.load(f)
    try:
        check_format_version(header.get("format_version"), FORMAT_VERSION, path, "search index")
    except ValueError as error:
        raise SearchIndexError(str(error)) from None
    return header


def chunk_files(folder):
    """The chunk files of an index, in writing order."""
    return sorted(glob.glob(os.path.join(folder, "chunks", "chunk-[0-9][0-9][0-9][0-9][0-9].npz")))


def chunk_number(path):
    return int(os.path.basename(path)[6:11])
