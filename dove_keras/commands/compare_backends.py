"""`dove compare-backends`: one small DOVE run on TensorFlow, JAX and PyTorch, compared.

Output folder (`--output-dir`, default `dove_runs/compare`):
    data/synthetic-{N}x{S}px-seed{seed}/   generated scenes, shards, vocab.txt (cached)
    run/                                   config.yaml, initial.weights.h5, {backend}.json,
                                           comparison.md/.csv, loss_curves.csv, comparison.png
"""

import os
import time

from dove_keras.commands.options import add_synthetic_arguments
from dove_keras.commands.options import check_synthetic_arguments
from dove_keras.errors import EXIT_OK
from dove_keras.errors import EXIT_PROBLEM
from dove_keras.errors import UsageError

DESCRIPTION = (
    "Runs the same small DOVE experiment on the tensorflow, jax and torch backends, each in "
    "its own process, from the same initial weights (built once, seeded, saved as "
    ".weights.h5) and on the same batches (seeded, deterministic tf.data pipeline). Per "
    "backend it records the first-step (trace/compile) time, the median step time, examples/s, "
    "the peak resident memory of the process, the training loss of every step and the "
    "R@1/5/10 and mR of the evaluation split after the steps. It writes comparison.md, "
    "comparison.csv, loss_curves.csv and comparison.png, and checks that the loss of the first "
    "batch with training=False (no dropout) on the initial weights, before any update, agrees "
    "across backends within --tolerance (exit code 1 when it does not). Training losses "
    "diverge slowly afterwards: each backend draws its own dropout masks. With --config the "
    "experiment file is used instead of the generated synthetic data. The defaults take about "
    "2 minutes on 2 idle CPU cores (longer when they are busy)."
)


DEFAULTS = {
    "output_dir": os.path.join("dove_runs", "compare"), "num_images": 400, "scene_size": 64,
    "image_size": 64, "embedding_dim": 128, "batch_size": 32, "learning_rate": 1e-3, "seed": 0,
}


def add_arguments(parser):
    """Adds the `dove compare-backends` options."""
    from dove_keras.backends import BACKENDS
    from dove_keras.experiments.compare import PARITY_TOLERANCE

    parser.description = DESCRIPTION
    add_synthetic_arguments(parser, DEFAULTS)
    parser.add_argument(
        "--config", metavar="FILE",
        help="compare this experiment YAML file (its data, model, optimizer, batch size and "
        "seed) instead of the generated synthetic one; the options of the synthetic data and "
        "model are then ignored, and the comparison goes to --output-dir itself",
    )
    parser.add_argument(
        "--initial-weights", metavar="FILE",
        help="a .weights.h5 file of the config's model every backend starts from, e.g. "
        "trained weights (default: the seeded model, built on tensorflow and saved as "
        "initial.weights.h5 in the comparison folder)",
    )
    parser.add_argument(
        "--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS, metavar="BACKEND",
        help="backends to run, in order; the first is the parity reference "
        "(default: tensorflow jax torch)",
    )
    parser.add_argument(
        "--steps", type=int, default=30,
        help="training steps per backend; the first includes tracing/compilation and is "
        "reported apart from the median of the others (default: 30)",
    )
    parser.add_argument(
        "--eval-split", default="val", metavar="SPLIT",
        help="split evaluated (R@1/5/10, mR) after the steps (default: val)",
    )
    parser.add_argument(
        "--tolerance", type=float, default=PARITY_TOLERANCE,
        help="relative tolerance of the pre-update first-batch loss of every backend against "
        f"the first one (default: {PARITY_TOLERANCE:g})",
    )


def run(args):
    """Runs `dove compare-backends`; 0, or 1 when the parity check fails."""
    from dove_keras.experiments.compare import compare_backends
    from dove_keras.experiments.compare import parity_report

    start = time.perf_counter()
    check_synthetic_arguments(args, counts=("steps",))
    if not args.tolerance > 0:
        raise UsageError(f"--tolerance must be positive, got {args.tolerance}")
    comparison = compare_backends(
        _config(args), args.steps, args.eval_split, args.backends, args.tolerance, args.initial_weights
    )
    with open(comparison.paths["markdown"], encoding="utf-8") as f:
        print(f.read())
    print(parity_report(comparison))
    print(f"wrote {', '.join(comparison.paths.values())} in {time.perf_counter() - start:.0f} s")
    return EXIT_OK if comparison.parity_ok else EXIT_PROBLEM


def _config(args):
    if args.config:
        from dove_keras.training.config import load_config

        return load_config(args.config, overrides={"output_dir": args.output_dir})
    from dove_keras.experiments.synthetic_experiment import prepare_synthetic_data
    from dove_keras.experiments.synthetic_experiment import synthetic_config

    data = prepare_synthetic_data(args.output_dir, args.num_images, args.scene_size, args.seed, (0.8, 0.1, 0.1))
    return synthetic_config(
        "compare-backends", os.path.join(args.output_dir, "run"), data, args.seed, args.image_size,
        args.image_backbone, args.embedding_dim, args.batch_size, args.learning_rate,
    )
