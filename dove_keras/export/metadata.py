"""The description file written beside an exported SavedModel.

`<export>/assets.extra/dove_export.json` records what a user of the export
needs without importing dove_keras: input sizes, feature shapes, the endpoint
list and the model config. TensorFlow ignores `assets.extra`.
"""

import json
import os

from dove_keras.errors import UsageError
from dove_keras.utils.files import atomic_write_json
from dove_keras.utils.versions import check_format_version

METADATA_FILE = os.path.join("assets.extra", "dove_export.json")
# 3: endpoints named as the task's methods (embed_* raw inputs, encode_* model inputs);
# 2 named them encode_image/encode_text (raw), encode_image_tensor/encode_text_ids.
FORMAT_VERSION = 3


def write_metadata(export_dir, metadata):
    """Writes `metadata` (a JSON-serialisable dict) into `export_dir`."""
    path = os.path.join(export_dir, METADATA_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_write_json(path, {"format_version": FORMAT_VERSION, **metadata})


def is_export(path):
    """Whether `path` is a SavedModel folder written by `export_saved_model`."""
    return os.path.isfile(os.path.join(path, "saved_model.pb")) and os.path.isfile(os.path.join(path, METADATA_FILE))


def read_metadata(export_dir):
    """Reads the description of an export made by `export_saved_model`.

    Args:
        export_dir: the SavedModel directory.

    Returns:
        The metadata dict.

    Raises:
        ValueError: `export_dir` is not a dove_keras export.
        UsageError: an export of an older version (other endpoint names).
    """
    path = os.path.join(os.fspath(export_dir), METADATA_FILE)
    if not os.path.isfile(os.path.join(os.fspath(export_dir), "saved_model.pb")):
        raise ValueError(f"{export_dir}: not a SavedModel directory (no saved_model.pb)")
    if not os.path.isfile(path):
        raise ValueError(
            f"{export_dir}: no {METADATA_FILE}; export the model with "
            "`dove export` / dove_keras.export.export_saved_model"
        )
    with open(path, encoding="utf-8") as f:
        metadata = json.load(f)
    found = metadata.get("format_version")
    if isinstance(found, int) and found < FORMAT_VERSION:
        raise UsageError(f"{export_dir}: an export of an older dove_keras (format {found}, other endpoint "
                         f"names); re-export with dove export")
    check_format_version(found, FORMAT_VERSION, path, "SavedModel export")
    return metadata
