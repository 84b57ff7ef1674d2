"""Imports of the optional GIS packages, with an install hint when missing."""

import importlib

INSTALL_HINT = 'pip install -e ".[gis]"'


def require(module):
    """Imports an optional GIS module (rasterio, pyproj, shapely, ...).

    Args:
        module: the module name, e.g. "rasterio" or "rasterio.windows".

    Returns:
        The imported module.

    Raises:
        ImportError: the package is not installed; the message says how to install it.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        raise ImportError(
            f"{top} is needed for GeoTIFF scenes and GeoJSON output but is not installed "
            f"({error}); install the optional GIS extra: {INSTALL_HINT}"
        ) from error
