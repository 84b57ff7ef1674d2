"""`python -m dove_keras.export PRESET OUT`: the subprocess of the torch export hand-off.

Loads the preset and exports it to OUT in this process (replacing OUT), under
`KERAS_BACKEND=tensorflow` (see `dove_keras.export.handoff`).
"""

import sys

import keras

from dove_keras.export.saved_model import export_saved_model
from dove_keras.training.loading import load_retriever


def main(argv):
    """Loads the preset `argv[0]` and exports it to `argv[1]` (replacing it)."""
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("the export subprocess must run with KERAS_BACKEND=tensorflow")
    export_saved_model(load_retriever(argv[0]), argv[1], overwrite=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
