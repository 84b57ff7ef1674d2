"""Large GeoTIFF scenes as tiles, and georeferenced search results as GeoJSON / CSV.

`synthetic_mosaic.write_mosaic` writes a GeoTIFF of generated scenes (tests, benchmarks).

The GIS packages (rasterio, pyproj, shapely) are optional: importing this
package never needs them, and the functions that do raise an ImportError that
says to `pip install -e ".[gis]"`.
"""

from dove_keras.geo.folders import is_geotiff
from dove_keras.geo.folders import list_scenes
from dove_keras.geo.geojson import feature_collection
from dove_keras.geo.geojson import write_csv
from dove_keras.geo.geojson import write_geojson
from dove_keras.geo.hits import GeoHit
from dove_keras.geo.scenes import Scene
from dove_keras.geo.scenes import SceneError
from dove_keras.geo.tiles import SceneTile
from dove_keras.geo.tiles import tile_windows
