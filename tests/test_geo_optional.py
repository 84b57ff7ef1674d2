"""dove_keras.geo imports without the GIS packages and says how to install them."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.backend_independent

SCRIPT = """
import sys
sys.modules.update(rasterio=None, pyproj=None, shapely=None, affine=None)
import dove_keras.geo
scene = dove_keras.geo.Scene("missing.tif")
try:
    scene.windows()
except ImportError as error:
    print(error)
"""


def test_geo_imports_without_rasterio_and_names_the_extra():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            check=True)
    assert "rasterio is needed" in result.stdout
    assert 'pip install -e ".[gis]"' in result.stdout
