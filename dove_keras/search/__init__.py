"""Two-stage search of image folders and GeoTIFF scenes with text (DESIGN section 1.5)."""

from dove_keras.search.encoders import SearchEncoder
from dove_keras.search.encoders import load_encoder
from dove_keras.search.index_layout import SearchIndexError
from dove_keras.search.index_reader import ImageIndex
from dove_keras.search.index_writer import build_index
from dove_keras.search.query import Searcher
from dove_keras.search.sources import ImageFolder
from dove_keras.search.sources import SceneTiles
