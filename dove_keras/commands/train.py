"""`dove train`: train DOVE as an experiment config says."""

import sys

from dove_keras.commands.options import add_config_arguments
from dove_keras.commands.options import load_from_args
from dove_keras.training.config import DISTRIBUTIONS

DESCRIPTION = (
    "Train DOVE from an experiment config (DESIGN section 2 protocol): Adam with the "
    "lr x decay_rate every decay_epochs schedule, validation R@K/mR every "
    "evaluation.every_n_epochs epochs, model selection on validation mR, then the test "
    "split. Writes into the config's output_dir: config.yaml, history.csv, "
    "best.weights.h5, final.weights.h5, model.keras, curves.png, "
    "results_<split>_<mode>.csv/.md and examples_<split>.png. Interrupted (Ctrl-C, "
    "killed), the same command resumes from the last backup in output_dir/backup. "
    "--distribution data_parallel trains on every local device (JAX or TensorFlow)."
)


def add_arguments(parser):
    """Adds the `dove train` options."""
    parser.description = DESCRIPTION
    add_config_arguments(parser)
    parser.add_argument(
        "--no-test", dest="evaluate_test", action="store_false",
        help="do not evaluate the selected model on the test split at the end",
    )
    parser.add_argument(
        "--distribution", choices=DISTRIBUTIONS, default=None,
        help="override the config's distribution: none, data_parallel (every local GPU; "
        "JAX DataParallel or TF MirroredStrategy; training.batch_size is the global batch) "
        "or multi_worker (several hosts, see README)",
    )
    parser.add_argument(
        "--quiet", action="store_true",
        help="no progress bars or summaries (errors are still printed)",
    )


def run(args):
    """Runs `dove train`; returns the exit code (2: unusable config)."""
    if args.distribution:
        args.overrides.append(f"distribution={args.distribution}")
    config = load_from_args(args, "train")
    if config is None:
        return 2
    from dove_keras.training.distribution import DistributionError
    from dove_keras.training.runner import run_training

    try:
        run_training(config, verbose=0 if args.quiet else 1, evaluate_test=args.evaluate_test)
    except DistributionError as error:
        print(f"dove train: error: {error}", file=sys.stderr)
        return 2
    return 0
