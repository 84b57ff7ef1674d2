"""Export of a torch-backend retriever by a TensorFlow-backend subprocess.

The torch backend cannot trace TensorFlow graphs, but a preset (config,
weights, preprocessor) is backend-independent: the retriever is saved as a
preset, loaded in a `KERAS_BACKEND=tensorflow` Python process and exported
there (`python -m dove_keras.export.handoff PRESET OUT`).
"""

import os
import sys
import tempfile

from dove_keras.backends import run_backend


def export_through_tensorflow(retriever, path):
    """Exports `retriever` (any backend) from a TensorFlow-backend subprocess.

    Returns:
        `path`.

    Raises:
        RuntimeError: the subprocess failed (its error output is included).
    """
    with tempfile.TemporaryDirectory(prefix="dove-export-") as workdir:
        preset = os.path.join(workdir, "preset")
        retriever.save_to_preset(preset)
        run_backend("tensorflow", [sys.executable, "-m", "dove_keras.export.handoff", preset, os.path.abspath(path)])
    return path


def main(argv):
    """Loads the preset `argv[0]` and exports it to `argv[1]` (replacing it)."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise SystemExit("the export subprocess must run with KERAS_BACKEND=tensorflow")
    from dove_keras.export.saved_model import export_saved_model
    from dove_keras.models import DOVERetriever

    export_saved_model(DOVERetriever.from_preset(argv[0]), argv[1], overwrite=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
