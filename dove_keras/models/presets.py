"""Preset folders of the package's retrieval tasks: written whole, read as the task they hold."""

import json
import os

from keras_hub.src.utils.preset_utils import MODEL_WEIGHTS_FILE

from dove_keras.models.clip.clip_retriever import CLIPRetriever  # noqa: F401  registers the task
from dove_keras.models.clip.dove_clip_retriever import DOVECLIPRetriever  # noqa: F401  registers the task
from dove_keras.models.dove_retriever import DOVERetriever  # noqa: F401  registers the task
from dove_keras.models.preset_checks import check_preset
from dove_keras.models.retrieval_task import RetrievalTask
from dove_keras.utils.files import folder_written_whole
from dove_keras.utils.weights_files import check_weights_file


def save_preset(model, path):
    """`model.save_to_preset(path)`, switched in whole: an interrupted save leaves the old preset."""
    path = os.path.abspath(path)
    with folder_written_whole(path, ".preset-") as staging:
        model.save_to_preset(staging)
    return path


def load_preset(path):
    """The retrieval task of a preset folder (a `DOVERetriever`, a `CLIPRetriever`, ...).

    Raises:
        ValueError: one line for a missing folder, one that holds no
            retrieval task, or damaged weights.
    """
    path = os.fspath(path)
    check_preset(path)
    task_file = os.path.join(path, "task.json")
    if os.path.isdir(path) and not os.path.isfile(task_file):
        raise ValueError(f"{path}: not a dove_keras preset (no task.json); `dove train` writes one in "
                         "<output_dir>/preset, `dove-data import-clip` one for a CLIP checkpoint")
    if os.path.isfile(task_file):
        with open(task_file, encoding="utf-8") as f:
            registered = json.load(f).get("registered_name", "")
        if not registered.startswith("dove_keras>"):
            raise ValueError(f"{path}: task.json holds {registered or 'no registered_name'}, not a dove_keras task")
    if os.path.isdir(path):
        check_weights_file(os.path.join(path, MODEL_WEIGHTS_FILE))
    try:
        return RetrievalTask.from_preset(path)
    except (OSError, KeyError, RuntimeError) as error:
        raise ValueError(f"{path}: cannot load the preset ({first_line(error)})") from None


def first_line(error):
    """The first line of an exception's message (Keras and h5py errors run over many lines)."""
    return str(error).strip().strip("'\"").splitlines()[0]
