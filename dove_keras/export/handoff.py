"""Export of a torch-backend model by a TensorFlow-backend subprocess.

The torch backend cannot trace TensorFlow graphs, but a DOVE model's config
and `.weights.h5` weights are backend-independent: the model is saved, rebuilt
in a `KERAS_BACKEND=tensorflow` Python process and exported there.

The subprocess runs `main([SPEC.json])` of this module.
"""

import json
import os
import subprocess
import sys
import tempfile

import keras

_WORKER = "import sys; from dove_keras.export.handoff import main; sys.exit(main(sys.argv[1:]))"

def export_from_torch(model, vocabulary, path, image_size, sequence_length):
    """Exports `model` from the torch backend through a TensorFlow subprocess.

    Args:
        model: a built DOVE model.
        vocabulary: the list of vocabulary words.
        path: the output directory.
        image_size: raw image side.
        sequence_length: token ids per caption.

    Returns:
        `path`.

    Raises:
        RuntimeError: the subprocess failed (its error output is included).
    """
    with tempfile.TemporaryDirectory(prefix="dove-export-") as workdir:
        weights = os.path.join(workdir, "model.weights.h5")
        model.save_weights(weights)
        spec = {
            "model": keras.saving.serialize_keras_object(model),
            "weights": weights,
            "vocabulary": list(vocabulary),
            "path": os.path.abspath(path),
            "image_size": int(image_size),
            "sequence_length": int(sequence_length),
        }
        spec_path = os.path.join(workdir, "spec.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
        result = subprocess.run(
            [sys.executable, "-c", _WORKER, spec_path],
            env=env, capture_output=True, text=True,
        )
    if result.returncode != 0:
        raise RuntimeError(
            "The TensorFlow-backend export subprocess failed (exit "
            f"{result.returncode}):\n{result.stderr[-4000:]}"
        )
    return path


def main(argv):
    """Rebuilds the model of a spec file, loads its weights and exports it."""
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("the export subprocess must run with KERAS_BACKEND=tensorflow")
    from dove_keras.export.saved_model import export_saved_model
    from dove_keras.models import DOVE  # noqa: F401  registers the class

    with open(argv[0], encoding="utf-8") as f:
        spec = json.load(f)
    model = keras.saving.deserialize_keras_object(spec["model"])
    size, length = spec["image_size"], spec["sequence_length"]
    if not model.built:
        model.build({"images": (None, size, size, 3), "token_ids": (None, length)})
    model.load_weights(spec["weights"])
    export_saved_model(model, spec["vocabulary"], spec["path"], size, length, overwrite=True)
    return 0

