"""Finding TIFF scenes in a folder and telling GeoTIFFs from plain images."""

import os

from dove_keras.geo.scenes import open_raster
from dove_keras.utils.files import list_files

TIFF_EXTENSIONS = (".tif", ".tiff")


def list_scenes(folder):
    """TIFF files under a folder (recursive), as sorted relative paths.

    Args:
        folder: the folder.

    Returns:
        A sorted list of paths relative to `folder`, with "/" separators
        (extensions matched case-insensitively; other image files are left out).

    Raises:
        NotADirectoryError: `folder` is not a folder.
    """
    if not os.path.isdir(folder):
        raise NotADirectoryError(f"{folder}: not a folder of scenes")
    return list_files(folder, TIFF_EXTENSIONS)


def is_geotiff(path):
    """Whether a file is a georeferenced raster (it has a non-identity geotransform).

    A plain TIFF (or any other image GDAL reads) without a geotransform gives
    False; such a file can still be tiled, with pixel-coordinate footprints.

    Raises:
        ImportError: rasterio is not installed.
        SceneError: the file is missing or not a raster.
    """
    with open_raster(path) as dataset:
        return not dataset.transform.is_identity
