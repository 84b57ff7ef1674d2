"""`dove compare-backends`: one small DOVE run on TensorFlow, JAX and PyTorch, compared.

Output folder (`--output-dir`, default `dove_runs/compare`):
    data/synthetic-{N}x{S}px-seed{seed}/   generated scenes, shards, vocab.txt (cached)
    run/                                   config.yaml, initial.weights.h5, {backend}.json,
                                           comparison.md/.csv, loss_curves.csv, comparison.png
"""

import os
import sys
import time

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


def add_arguments(parser):
    """Adds the `dove compare-backends` options."""
    from dove_keras.backends import BACKENDS
    from dove_keras.training.compare import PARITY_TOLERANCE

    parser.description = DESCRIPTION
    parser.add_argument(
        "--output-dir", default=os.path.join("dove_runs", "compare"), metavar="DIR",
        help="folder of the data cache (data/) and of the comparison (run/) (default: "
        "dove_runs/compare); with --config the comparison goes to DIR itself",
    )
    parser.add_argument(
        "--config", metavar="FILE",
        help="compare this experiment YAML file (its data, model, optimizer, batch size and "
        "seed) instead of the generated synthetic one; the options of the synthetic data and "
        "model below are then ignored",
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
    parser.add_argument(
        "--num-images", type=int, default=400, metavar="N",
        help="generated scenes, 5 captions each, split 0.8/0.1/0.1 (default: 400)",
    )
    parser.add_argument(
        "--scene-size", type=int, default=64, metavar="PX",
        help="side of the generated scenes in pixels (default: 64)",
    )
    parser.add_argument(
        "--image-size", type=int, default=64, metavar="PX",
        help="side of the model input, a multiple of 32 (default: 64)",
    )
    parser.add_argument(
        "--backbone", default="tiny",
        help="image backbone: tiny, resnet18 or resnet50 (default: tiny)",
    )
    parser.add_argument(
        "--embedding-dim", type=int, default=128, metavar="D",
        help="joint embedding size d (default: 128)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=32, metavar="B",
        help="image-caption pairs per training batch (default: 32)",
    )
    parser.add_argument(
        "--learning-rate", type=float, default=1e-3, metavar="LR",
        help="Adam learning rate (default: 0.001)",
    )
    parser.add_argument(
        "--seed", type=int, default=0,
        help="seed of the generated scenes, of the initial weights and of the data order "
        "(default: 0)",
    )


def run(args):
    """Runs `dove compare-backends`; returns 0, 1 (parity failed) or 2 (unusable options)."""
    from dove_keras.training.compare import compare_backends
    from dove_keras.training.compare import parity_report

    start = time.perf_counter()
    problem = _check_arguments(args)
    if problem:
        print(f"dove compare-backends: error: {problem}", file=sys.stderr)
        return 2
    try:
        config = _load_config(args)
    except ValueError as error:  # generator, prepare and config checks
        print(f"dove compare-backends: error: {error}", file=sys.stderr)
        return 2
    try:
        comparison = compare_backends(
            config, args.steps, args.eval_split, args.backends, args.tolerance, args.initial_weights
        )
    except (ValueError, RuntimeError) as error:  # missing weights file, a failed backend
        print(f"dove compare-backends: error: {error}", file=sys.stderr)
        return 2
    with open(comparison.paths["markdown"], encoding="utf-8") as f:
        print(f.read())
    print(parity_report(comparison))
    print(f"wrote {', '.join(comparison.paths.values())} in {time.perf_counter() - start:.0f} s")
    return 0 if comparison.parity_ok else 1


def compare_config(args, data):
    """The `ExperimentConfig` of the comparison on `prepare_demo_data` output."""
    from dove_keras.training.config import config_from_dict

    raw = {
        "name": "compare-backends",
        "seed": args.seed,
        "output_dir": os.path.join(args.output_dir, "run"),
        "data": {
            "prepared_dir": data["prepared"], "vocabulary": data["vocabulary"],
            "image_size": args.image_size, "caption_length": 32, "shuffle_buffer": 2048,
            "eval_batch_size": 100,
        },
        "model": {
            "backbone": args.backbone, "train_backbone": True, "embedding_dim": args.embedding_dim,
            "word_dim": 64, "multiscale_grid": 4, "iga_key_dim": 32,
        },
        "optimizer": {"learning_rate": args.learning_rate},
        "training": {"epochs": 1, "batch_size": args.batch_size},
        "evaluation": {"mode": "roam"},
    }
    return config_from_dict(raw, source="dove compare-backends")


def _load_config(args):
    if args.config:
        from dove_keras.training.config import load_config

        return load_config(args.config, overrides={"output_dir": args.output_dir})
    from dove_keras.commands.demo import prepare_demo_data

    data = prepare_demo_data(args.output_dir, args.num_images, args.scene_size, args.seed, (0.8, 0.1, 0.1))
    return compare_config(args, data)


def _check_arguments(args):
    for name in ("steps", "num_images", "scene_size", "image_size", "embedding_dim", "batch_size"):
        if getattr(args, name) < 1:
            return f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}"
    if not args.learning_rate > 0 or not args.tolerance > 0:
        return "--learning-rate and --tolerance must be positive"
    return None
