"""What a CLIP preset fixes for training, read from its JSON files without building it."""

import json
import os

TASK = "dove_keras>CLIPRetriever"


def clip_preset_settings(path):
    """`{"image_size", "sequence_length", "depth"}` of a preset written by `dove-data import-clip`.

    `depth` is the smaller tower's block count (what `set_trainable_blocks`
    may train at most).

    Raises:
        ValueError: one line for a folder that holds no CLIP preset, or
            damaged files.
    """
    task, preprocessor = (_read_json(path, name) for name in ("task.json", "preprocessor.json"))
    if task.get("registered_name") != TASK:
        raise ValueError(f"{path}: not a CLIP preset (its task.json holds "
                         f"{task.get('registered_name') or 'no registered_name'}, not {TASK}); write one with "
                         "`dove-data import-clip`")
    try:
        backbone, preprocessor = task["config"]["backbone"]["config"], preprocessor["config"]
        return {
            "image_size": int(preprocessor["image_converter"]["config"]["image_size"][0]),
            "sequence_length": int(preprocessor["sequence_length"]),
            "depth": min(int(backbone[tower]["config"]["num_layers"]) for tower in ("vision_encoder", "text_encoder")),
        }
    except (KeyError, TypeError, IndexError, ValueError) as error:
        raise ValueError(f"{path}: damaged CLIP preset files ({type(error).__name__}: {error})") from None


def _read_json(path, name):
    try:
        with open(os.path.join(path, name), encoding="utf-8") as f:
            value = json.load(f)
    except OSError as error:
        raise ValueError(f"{path}: not a CLIP preset (cannot read {name}: {error.strerror})") from None
    except ValueError as error:
        raise ValueError(f"{path}: damaged CLIP preset ({name}: {error})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path}: damaged CLIP preset ({name} is not a JSON object)")
    return value
