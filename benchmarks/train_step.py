"""Training-step time of DOVE per backend (each backend in its own process).

Usage:
    python benchmarks/train_step.py --backbone tiny --batch-size 32 --image-size 256
    python benchmarks/train_step.py --backbone resnet50 --steps 5
    python benchmarks/train_step.py --backends tensorflow --jit-compile false
    python benchmarks/train_step.py --train-backbone      # fine-tuned, not frozen

Prints first-step (trace/compile) time, median step time, examples/s and the
ratio of every backend's median to the fastest one.
"""

import time

from model_benchmark import model_parser
from model_benchmark import run_per_backend

from dove_keras.backends import use_default_xla_flags


def measure(args):
    """Runs in the child process: times `train_on_batch` on one fixed batch."""
    import keras
    import numpy as np

    from dove_keras.models import DOVEBackbone
    from dove_keras.models import DOVERetriever

    keras.utils.set_random_seed(0)
    backbone = DOVEBackbone(
        vocabulary_size=2000,
        image_backbone=args.backbone,
        embedding_dim=args.embedding_dim,
        word_dim=300,
        train_image_backbone=args.train_backbone,
    )
    model = DOVERetriever(backbone, compile=False)
    model.compile(jit_compile={"auto": "auto", "true": True, "false": False}[args.jit_compile])
    rng = np.random.default_rng(0)
    batch = {
        "images": rng.standard_normal((args.batch_size, args.image_size, args.image_size, 3)).astype("float32"),
        "token_ids": rng.integers(2, 2000, (args.batch_size, args.sequence_length)).astype("int32"),
        "image_ids": np.arange(args.batch_size, dtype="int32"),
    }
    times = []
    for _ in range(args.steps + 1):
        start = time.perf_counter()
        model.train_on_batch(batch)
        times.append(time.perf_counter() - start)
    return {
        "backend": keras.backend.backend(),
        "jit_compile": bool(model.jit_compile),
        "parameters": model.count_params(),
        "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
        "first_step_ms": 1000 * times[0],
        "median_step_ms": 1000 * float(np.median(times[1:])),
    }


def main():
    parser = model_parser(__doc__, batch_size=32)
    parser.add_argument("--steps", type=int, default=5, help="timed steps after the first")
    parser.add_argument(
        "--jit-compile", choices=("auto", "true", "false"), default="auto",
        help="Model.compile's jit_compile (XLA on TensorFlow, torch.compile on torch; JAX always jits)",
    )
    parser.add_argument("--train-backbone", action="store_true", help="fine-tune the backbone")
    args, rows = run_per_backend(parser, measure, __file__)
    fastest = min(row["median_step_ms"] for row in rows)
    print(
        f"backbone={args.backbone} batch={args.batch_size} image={args.image_size} d={args.embedding_dim} "
        f"train_backbone={args.train_backbone} jit_compile={args.jit_compile}"
    )
    print(
        f"{'backend':<11}{'jit':>5}{'params':>12}{'trainable':>12}{'first ms':>10}{'median ms':>11}"
        f"{'ex/s':>8}{'ratio':>7}"
    )
    for row in rows:
        per_second = 1000 * args.batch_size / row["median_step_ms"]
        print(
            f"{row['backend']:<11}{str(row['jit_compile']):>5}{row['parameters']:>12,}{row['trainable_parameters']:>12,}"
            f"{row['first_step_ms']:>10.0f}{row['median_step_ms']:>11.0f}{per_second:>8.1f}"
            f"{row['median_step_ms'] / fastest:>7.2f}"
        )


if __name__ == "__main__":
    use_default_xla_flags()
    main()
