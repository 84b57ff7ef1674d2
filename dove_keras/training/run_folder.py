"""A run's output folder: what is in it, and whether a new run may write there.

A run is only ever resumed with its own config, and a finished run is only
replaced on request (`overwrite`), in which case every file of the old run is
removed first: a folder never mixes two runs.
"""

import glob
import json
import os
import shutil

import yaml

from dove_keras.errors import UsageError
from dove_keras.models.image_backbones import is_named_backbone
from dove_keras.utils.files import atomic_write_json
from dove_keras.utils.files import hash_folder
from dove_keras.utils.files import sha256_file

CONFIG_FILE = "config.yaml"
INPUTS_FILE = "inputs.json"  # sha256 of the input files whose content the config does not hold
BACKUP_DIR = "backup"
TENSORBOARD_DIR = "tensorboard"
FINISHED_MARKERS = ("model.keras", "preset", "final.weights.h5")
RUN_FILES = (
    CONFIG_FILE, INPUTS_FILE, BACKUP_DIR, TENSORBOARD_DIR, "history.csv", "best.weights.h5", "final.weights.h5",
    "model.keras", "preset", "curves.png", "results_*.csv", "results_*.md", "examples_*.png",
)


def check_run_folder(config):
    """Checks that `config` may train into its `output_dir` (reads only).

    Raises:
        UsageError: the folder holds a finished run, or a run of another config.
    """
    out = config.output_dir
    saved = os.path.join(out, CONFIG_FILE)
    if not os.path.isfile(saved):
        return
    differing = run_differences(config)
    interrupted = os.path.isdir(os.path.join(out, BACKUP_DIR))
    finished = not interrupted and any(os.path.exists(os.path.join(out, m)) for m in FINISHED_MARKERS)
    if differing and (interrupted or finished):
        kind, use = ("an interrupted", "resume it") if interrupted else ("a finished", "evaluate it")
        raise UsageError(
            f"{out} holds {kind} run of another config (different: {', '.join(differing)}); {use} "
            f"with its own config ({saved}) and input files, choose another output_dir, or pass "
            "--overwrite to replace it"
        )
    if finished:
        raise UsageError(
            f"{out} holds a finished run of this config; choose another output_dir, or pass "
            "--overwrite to train it again from the start (the old run's files are removed)"
        )


def is_resumable(config):
    """Whether `output_dir` holds an interrupted run of exactly this config."""
    saved = os.path.join(config.output_dir, CONFIG_FILE)
    return (
        os.path.isdir(os.path.join(config.output_dir, BACKUP_DIR)) and os.path.isfile(saved)
        and not run_differences(config)
    )


def run_differences(config):
    """The config keys, and the input files by content, in which `config` differs from its run's."""
    out = config.output_dir
    saved = load_saved_config(os.path.join(out, CONFIG_FILE))
    saved = with_defaults(saved, type(config)().to_dict()) if saved else saved  # {}: damaged, all differ
    differing = config_differences(saved, config.to_dict())
    try:
        with open(os.path.join(out, INPUTS_FILE), encoding="utf-8") as f:
            recorded = json.load(f)
    except (OSError, ValueError):
        return differing  # a run from before the record: its config is all there is to compare
    current = input_digests(config)
    changed = sorted(k for k in recorded if k not in differing and recorded[k] != current.get(k))
    return differing + [f"{key} (its content)" for key in changed]


def input_digests(config):
    """`{config key: sha256}` of the run's input files and folders read by content.

    The vocabulary, the word vectors, the backbone weights, and the preset
    folders (a CLIP preset, a local image backbone preset): a file changed
    in place under the same path makes a resume refuse. A keras-hub handle
    (not a local path) is not hashed.
    """
    paths = {
        "data.vocabulary": config.data.vocabulary,
        "initialization.word_embeddings": config.initialization.word_embeddings,
        "initialization.image_backbone_weights": config.initialization.image_backbone_weights,
        "model.image_backbone": None if is_named_backbone(config.model.image_backbone) else config.model.image_backbone,
        "foundation.preset": config.foundation.preset,
    }
    return {key: sha256_file(path) if os.path.isfile(path) else hash_folder(path)
            for key, path in paths.items() if path and os.path.exists(str(path))}


def record_inputs(config):
    """Writes `inputs.json`: the digests `run_differences` compares on resume."""
    atomic_write_json(os.path.join(config.output_dir, INPUTS_FILE), input_digests(config))


def remove_run(out):
    """Removes every file a run writes in `out` (nothing else)."""
    for pattern in RUN_FILES:
        for path in glob.glob(os.path.join(out, pattern)):
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)


def load_saved_config(path):
    """The raw mapping of a run's saved `config.yaml` (a damaged one gives {})."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return {}
    return raw if isinstance(raw, dict) else {}


def with_defaults(saved, defaults):
    """`saved` with the keys it lacks (added to the config after it was written) at their defaults."""
    merged = dict(defaults)
    for key, value in saved.items():
        both = isinstance(value, dict) and isinstance(defaults.get(key), dict)
        merged[key] = with_defaults(value, defaults[key]) if both else value
    return merged


def config_differences(old, new, prefix=""):
    """The dotted keys whose values differ between two nested config mappings."""
    keys = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys
