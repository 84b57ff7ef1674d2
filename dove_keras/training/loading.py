"""The one model loader: a preset folder, a saved `.keras` task or a weights file of a config's model."""

import os

import keras

from dove_keras.errors import UsageError
from dove_keras.models.presets import first_line
from dove_keras.models.presets import load_preset
from dove_keras.models.retrieval_task import RetrievalTask
from dove_keras.training.factory import build_retriever
from dove_keras.training.factory import with_precision

MODEL_FILE_ENDINGS = (".keras", ".h5")


def load_retriever(path, config=None, precision=None):
    """The retrieval task saved at `path`.

    Args:
        path: a preset folder (`<output_dir>/preset` of `dove train`, or one
            of `dove-data import-clip`), a saved `.keras` retrieval task, or
            with `config` a `.weights.h5` file of the config's model.
        config: the `ExperimentConfig` the weights were trained with (needed
            for a weights file only).
        precision: a dtype policy to run it under (see `with_precision`);
            None keeps the one it was saved with.

    Raises:
        ValueError: one line for a missing file or preset folder, a `.keras`
            file that holds no retrieval task, a weights file without its
            config or of another config's model, or a damaged preset.
    """
    path = os.fspath(path)
    if path.endswith(MODEL_FILE_ENDINGS) and not os.path.isfile(path):
        raise UsageError(f"model file not found: {path}")
    if path.endswith(".keras"):
        model = keras.saving.load_model(path, compile=False)
        if not isinstance(model, RetrievalTask):
            raise UsageError(f"{path}: holds a {type(model).__name__}, not a dove_keras retrieval task")
    elif os.path.isfile(path):
        model = _with_weights(path, config)
    else:
        model = load_preset(path)
    return model if precision is None else with_precision(model, precision)


def _with_weights(path, config):
    """The config's model with the weights file `path` loaded."""
    if config is None:
        raise UsageError(f"{path}: a weights file needs the config of its model (--config); or give a "
                         "preset folder or a .keras model")
    model = build_retriever(config)
    try:
        model.load_weights(path)
    except (ValueError, KeyError) as error:  # Keras lists every mismatching layer on many lines
        raise UsageError(f"{path}: not weights of this config's model ({first_line(error)}); pass "
                         "the config it was trained with") from None
    return model
