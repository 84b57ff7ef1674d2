"""SavedModel export of DOVE with raw-input endpoints (DESIGN section 6)."""

from dove_keras.export.metadata import read_metadata
from dove_keras.export.saved_model import export_saved_model
