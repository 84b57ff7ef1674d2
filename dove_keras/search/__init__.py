"""Two-stage image search: index a folder, query it with text (DESIGN section 1.5)."""

from dove_keras.search.encoders import load_encoder
from dove_keras.search.index import ImageIndex
from dove_keras.search.index import SearchIndexError
from dove_keras.search.index import build_index
from dove_keras.search.query import Searcher
