"""Options shared by the config-driven subcommands."""

import sys

from dove_keras.training.config import ConfigError
from dove_keras.training.config import load_config


def add_config_arguments(parser):
    """Adds `--config` and `--set`."""
    parser.add_argument(
        "--config", required=True, metavar="FILE",
        help="experiment YAML file holding every hyper-parameter and the seed "
        "(see recipes/configs/: rsitmd, rsicd, ucm, sydney, synthetic); unknown keys, "
        "wrong types and missing input paths are reported before anything runs",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
        help="override one config value, SECTION.KEY=VALUE with VALUE read as YAML, "
        "e.g. --set training.epochs=5 --set model.use_roam=false (repeatable)",
    )


def load_from_args(args, command):
    """The checked config of `args`, or None after printing why it is unusable."""
    try:
        overrides = {}
        for item in args.overrides:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigError(f"--set {item!r}: expected SECTION.KEY=VALUE")
            overrides[key.strip()] = value
        return load_config(args.config, overrides=overrides)
    except ConfigError as error:
        print(f"dove {command}: error: {error}", file=sys.stderr)
        return None
