"""Export of a torch-backend retriever by a TensorFlow-backend subprocess.

The torch backend cannot trace TensorFlow graphs, but a preset (config,
weights, preprocessor) is backend-independent: the retriever is saved as a
preset, loaded in a `KERAS_BACKEND=tensorflow` Python process and exported
there (`python -m dove_keras.export PRESET OUT`, see `__main__`).
`export_saved_model` calls this module; it imports no other export module.
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
        run_backend("tensorflow", [sys.executable, "-m", "dove_keras.export", preset, os.path.abspath(path)])
    return path
