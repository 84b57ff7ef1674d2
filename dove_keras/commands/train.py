"""`dove train`: train DOVE, or fine-tune an imported CLIP, as an experiment config says."""

from dove_keras.commands.options import add_config_arguments
from dove_keras.commands.options import config_from_args
from dove_keras.training.config import DISTRIBUTIONS

DESCRIPTION = (
    "Train DOVE from an experiment config (DESIGN section 2 protocol): Adam with the "
    "lr x decay_rate every decay_epochs schedule, validation R@K/mR every "
    "evaluation.every_n_epochs epochs, model selection on validation mR, then the test "
    "split. Writes into the config's output_dir: config.yaml, history.csv, "
    "best.weights.h5, final.weights.h5, model.keras, preset/ (the selected model as a "
    "keras-hub preset: DOVERetriever.from_preset, dove evaluate/export/search --preset), curves.png, "
    "results_<split>_<mode>.csv/.md and examples_<split>.png. Interrupted (Ctrl-C, "
    "killed), the same command resumes from the last backup in output_dir/backup; a "
    "finished run is not trained again unless --overwrite is given. "
    "--distribution data_parallel trains on every local device (JAX or TensorFlow). With "
    "foundation.preset set (a preset of `dove-data import-clip`), the run fine-tunes that CLIP "
    "instead (foundation.trainable_blocks, tower_learning_rate, loss; see docs/foundation_models.md)."
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
        "or multi_worker (several hosts, see docs/backends.md)",
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="output_dir holds a finished run, or a run of another config: remove that run's "
        "files and train from the start (without it such a folder is refused; an interrupted "
        "run of the same config is resumed)",
    )
    parser.add_argument(
        "--quiet", action="store_true",
        help="no progress bars or summaries (errors are still printed)",
    )


def run(args):
    """Runs `dove train` (errors are reported by the command line)."""
    if args.distribution:
        args.overrides.append(f"distribution={args.distribution}")
    config = config_from_args(args)
    from dove_keras.training.runner import run_training

    run_training(config, verbose=0 if args.quiet else 1, evaluate_test=args.evaluate_test, overwrite=args.overwrite)
    return 0
