"""Option blocks shared by several subcommands, and reading them back."""

import os
import sys

from dove_keras.backends import BACKENDS
from dove_keras.errors import UsageError
from dove_keras.preprocessing.images import STRIDE
from dove_keras.preprocessing.images import check_image_size
from dove_keras.training.config import ConfigError
from dove_keras.training.config import load_config

BACKEND_HELP = (
    f"Keras backend: {', '.join(BACKENDS[:-1])} or {BACKENDS[-1]} (default: the KERAS_BACKEND "
    "environment variable, else tensorflow). Data pipelines always run on tf.data."
)


def add_config_arguments(parser, required=True):
    """Adds `--config` and `--set`."""
    parser.add_argument(
        "--config", required=required, metavar="FILE",
        help="experiment YAML file holding every hyper-parameter and the seed "
        "(see recipes/configs/: rsitmd, rsicd, ucm, sydney, synthetic); unknown keys, "
        "wrong types and missing input paths are reported before anything runs",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="override one config value, SECTION.KEY=VALUE with VALUE read as YAML, "
        "e.g. --set training.epochs=5 --set model.use_roam=false (repeatable)",
    )


def config_from_args(args):
    """The checked config of `--config` and `--set` (raises `ConfigError`)."""
    return load_config(args.config, overrides=overrides_from_args(args))


def overrides_from_args(args):
    """`{"section.key": "value"}` of the `--set` options (raises `ConfigError`)."""
    overrides = {}
    for item in args.overrides:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE")
        overrides[key.strip()] = value
    return overrides


def add_preset_argument(parser, required=False, purpose="the model"):
    """Adds `--preset DIR` (a preset folder, e.g. `<output_dir>/preset` of `dove train`)."""
    parser.add_argument(
        "--preset", required=required, metavar="DIR",
        help=f"{purpose}: a DOVE preset folder (`dove train` writes <output_dir>/preset; "
        "DOVERetriever.save_to_preset writes one), holding the weights, the vocabulary, the "
        "caption length and the image size",
    )


def trained_model_path(args, config):
    """The model a config-driven command uses: `--preset`, else `--weights`, else the run's preset.

    Raises:
        UsageError: none of them exists.
    """
    path = getattr(args, "preset", None) or getattr(args, "weights", None)
    if path is None:
        preset = os.path.join(config.output_dir, "preset")
        path = preset if os.path.isdir(preset) else os.path.join(config.output_dir, "best.weights.h5")
    if not os.path.exists(path):
        raise UsageError(f"model not found: {path} (train first, or pass --preset / --weights)")
    return path


def add_synthetic_arguments(parser, defaults):
    """Adds the options of the generated-scenes experiment (`dove demo`, `dove compare-backends`).

    Args:
        parser: the subcommand's parser.
        defaults: the command's defaults for `output_dir`, `num_images`,
            `scene_size`, `image_size`, `embedding_dim`, `batch_size`,
            `learning_rate` and `seed`, and help notes `image_size_note`.
    """
    d = defaults
    parser.add_argument(
        "--output-dir", default=d["output_dir"], metavar="DIR",
        help=f"folder of the data cache (data/) and of the runs (default: {d['output_dir']})",
    )
    parser.add_argument(
        "--num-images", type=int, default=d["num_images"], metavar="N",
        help=f"generated scenes, 5 captions each (default: {d['num_images']})",
    )
    parser.add_argument(
        "--scene-size", type=int, default=d["scene_size"], metavar="PX",
        help=f"side of the generated scenes in pixels (default: {d['scene_size']})",
    )
    parser.add_argument(
        "--seed", type=int, default=d["seed"],
        help="seed of the generated scenes, of the model's initialisation and of the "
        f"training data order and augmentation (default: {d['seed']})",
    )
    parser.add_argument(
        "--image-size", type=int, default=d["image_size"], metavar="PX",
        help="side of the model input, a multiple of 32; scenes are resized to it"
        f"{d.get('image_size_note', '')} (default: {d['image_size']})",
    )
    parser.add_argument(
        "--image-backbone", default="tiny",
        help="image backbone: tiny (a CPU-sized ResNet-10), resnet18, resnet50 (randomly "
        "initialised and trained) or a local keras-hub ResNet preset folder (default: tiny)",
    )
    parser.add_argument(
        "--embedding-dim", type=int, default=d["embedding_dim"], metavar="D",
        help=f"joint embedding size d (default: {d['embedding_dim']}; the paper uses 512)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=d["batch_size"], metavar="B",
        help="image-caption pairs per batch; the other pairs of the batch are the negatives, "
        f"except captions of the same image (default: {d['batch_size']})",
    )
    parser.add_argument(
        "--learning-rate", type=float, default=d["learning_rate"], metavar="LR",
        help=f"Adam learning rate (default: {d['learning_rate']:g})",
    )


def check_synthetic_arguments(args, counts=()):
    """Raises `UsageError` for unusable generated-experiment options."""
    names = ("num_images", "scene_size", "image_size", "embedding_dim", "batch_size", *counts)
    for name in names:
        if getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    try:
        check_image_size(args.image_size)
    except ValueError:
        raise UsageError(
            f"--image-size must be a multiple of {STRIDE} (the backbone's stride), got {args.image_size}"
        ) from None
    if not args.learning_rate > 0:
        raise UsageError(f"--learning-rate must be positive, got {args.learning_rate}")


def select_backend(backend):
    """Sets KERAS_BACKEND before Keras loads (`--backend`; None keeps the environment's).

    Raises:
        UsageError: Keras is already loaded with another backend.
    """
    if backend is None:
        return
    keras = sys.modules.get("keras")
    if keras is not None and keras.backend.backend() != backend:
        raise UsageError(
            f"--backend {backend}: Keras is already loaded with the {keras.backend.backend()} "
            f"backend in this process; run with KERAS_BACKEND={backend} instead"
        )
    os.environ["KERAS_BACKEND"] = backend
