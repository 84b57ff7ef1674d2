"""`dove evaluate`: R@1/5/10 both ways and mR of a trained model on a split."""

import os

from dove_keras.commands.options import add_config_arguments
from dove_keras.commands.options import add_preset_argument
from dove_keras.commands.options import config_from_args
from dove_keras.commands.options import trained_model_path
from dove_keras.errors import UsageError
from dove_keras.training.config import PRECISIONS

DESCRIPTION = (
    "Evaluate a trained DOVE model on a split as the literature does (DESIGN section 3): "
    "image->text R@1/5/10 (best of an image's 5 captions), text->image R@1/5/10 and "
    "their mean mR; ties count for the query. The data (prepared folder, split) comes "
    "from the config; the model from --preset, --weights or, by default, the run's "
    "<output_dir>/preset. Writes results_<split>_<mode>.csv/.md and examples_<split>.png "
    "(query -> top 5) into the config's output_dir (--output for a model that is not the "
    "run's own) and prints the table."
)


def add_arguments(parser):
    """Adds the `dove evaluate` options."""
    parser.description = DESCRIPTION
    add_config_arguments(parser)
    model = parser.add_mutually_exclusive_group()
    add_preset_argument(model, purpose="the model to evaluate")
    model.add_argument(
        "--weights", metavar="FILE",
        help="a .weights.h5 file of the config's model or a saved .keras model "
        "(default: <output_dir>/preset, else <output_dir>/best.weights.h5)",
    )
    parser.add_argument(
        "--split", metavar="NAME",
        help="split of the prepared data to evaluate (default: the config's data.test_split)",
    )
    parser.add_argument(
        "--mode", choices=("roam", "global"),
        help="roam: pairwise ROAM scores, computed in evaluation.chunk_size blocks (the "
        "reported protocol); global: the fast cosine of the independent embeddings "
        "V_M and T_G (default: the config's evaluation.mode)",
    )
    parser.add_argument(
        "--precision", choices=PRECISIONS,
        help="dtype policy to evaluate under (default: the model's own, float32 unless trained "
        "otherwise). mixed_bfloat16 on a 2-core CPU with AMX-BF16: the RSICD-sized ROAM "
        "evaluation with ResNet-50 took 81.6 s instead of 121.1 s; the demo model's test "
        "recalls moved by at most 1.5 points (benchmarks/RESULTS.md)",
    )
    parser.add_argument(
        "--output", metavar="DIR",
        help="folder for the result files (default: the config's output_dir). Required when "
        "--preset / --weights is not a model of that run, whose results are never replaced "
        "by another model's",
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")


def run(args):
    """Runs `dove evaluate` (errors are reported by the command line)."""
    config = config_from_args(args)
    model = trained_model_path(args, config)
    output, name = _results_folder(args, config, model)
    from dove_keras.training.runner import run_evaluation

    run_evaluation(config, model, split=args.split, mode=args.mode, verbose=0 if args.quiet else 1,
                   precision=args.precision, output_dir=output, name=name)
    return 0


def _results_folder(args, config, model):
    """`(folder, label)` of the results: the run's own, or `--output` for another model.

    Raises:
        UsageError: another model's results would go into the run's folder.
    """
    run = os.path.realpath(config.output_dir)
    own = os.path.realpath(model).startswith(run + os.sep)
    if own:
        return args.output, None
    where = f"--preset {args.preset}" if args.preset else f"--weights {args.weights}"
    if args.output is None or os.path.realpath(args.output) == run:
        raise UsageError(
            f"{where} is not a model of the run in {config.output_dir}, whose results it would "
            "replace; pass --output DIR for its results"
        )
    return args.output, f"{config.name} ({model})"
