"""`dove evaluate`: R@1/5/10 both ways and mR of saved weights on a split."""

import os
import sys

from dove_keras.commands.options import add_config_arguments
from dove_keras.commands.options import load_from_args

DESCRIPTION = (
    "Evaluate saved DOVE weights on a split as the literature does (DESIGN section 3): "
    "image->text R@1/5/10 (best of an image's 5 captions), text->image R@1/5/10 and "
    "their mean mR; ties count for the query. Writes results_<split>_<mode>.csv/.md and "
    "examples_<split>.png (query -> top 5) into the config's output_dir and prints the "
    "table."
)


def add_arguments(parser):
    """Adds the `dove evaluate` options."""
    parser.description = DESCRIPTION
    add_config_arguments(parser)
    parser.add_argument(
        "--weights", metavar="FILE",
        help="a .weights.h5 file of the config's model or a saved .keras model "
        "(default: <output_dir>/best.weights.h5, the run's selected weights)",
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
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")


def run(args):
    """Runs `dove evaluate`; returns the exit code (2: unusable config or weights)."""
    config = load_from_args(args, "evaluate")
    if config is None:
        return 2
    weights = args.weights or os.path.join(config.output_dir, "best.weights.h5")
    if not os.path.isfile(weights):
        print(f"dove evaluate: error: weights file not found: {weights}", file=sys.stderr)
        return 2
    from dove_keras.training.runner import run_evaluation

    run_evaluation(config, weights, split=args.split, mode=args.mode, verbose=0 if args.quiet else 1)
    return 0
