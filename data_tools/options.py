"""Option blocks shared by the `dove-data` subcommands."""

import os

from dove_keras.errors import UsageError
from dove_keras.preprocessing.captions import CAPTIONS_PER_IMAGE

SOURCE_FORMATS = ("precomp", "karpathy", "coco")


def add_source_arguments(parser, verb):
    """Adds `--format` and `--no-verify` (dest `use_verify`) for reading a caption source.

    Args:
        parser: an argparse parser.
        verb: what the command does with the precomp splits ("use", "count",
            "check"), for the `--no-verify` help.
    """
    parser.add_argument("--format", choices=SOURCE_FORMATS,
                        help="caption format (default: detected from the source)")
    parser.add_argument("--no-verify", dest="use_verify", action="store_false",
                        help=f"precomp: {verb} train_* (train + val together) instead of "
                        "train_*_verify / val_*_verify")


def check_input_paths(**paths):
    """Raises `UsageError` (exit code 2) for a given input path that does not exist.

    Args:
        **paths: what each path is in the message (e.g. `source=...`,
            `images=...`) -> the path, or None when not given.
    """
    for what, path in paths.items():
        if path is not None and not os.path.exists(path):
            raise UsageError(f"{path}: not found (the {what.replace('_', ' ')})")


def add_captions_per_image_argument(parser, images):
    """Adds `--captions-per-image` (default `CAPTIONS_PER_IMAGE`).

    Args:
        parser: an argparse parser.
        images: which images must have that many captions, for the help.
    """
    parser.add_argument("--captions-per-image", type=int, default=CAPTIONS_PER_IMAGE, metavar="N",
                        help=f"captions {images} must have; 0 accepts any number "
                        f"(default: {CAPTIONS_PER_IMAGE})")
