"""Inference throughput of DOVE per backend: images/s, captions/s, ROAM pairs/s.

Each backend runs in its own process on random inputs (the cost does not
depend on the weights): `encode_image` on batches of images, `encode_text` on
batches of captions, then `score` (pairwise ROAM) on the encoded features.

Usage:
    python benchmarks/encode_throughput.py                      # tiny backbone, 256 px
    python benchmarks/encode_throughput.py --backbone resnet50 --batch-size 100

Prints each rate and its ratio to the fastest backend.
"""

import time

from model_benchmark import model_parser
from model_benchmark import run_per_backend

from dove_keras.backends import use_default_xla_flags

RATES = ("images_per_s", "captions_per_s", "pairs_per_s")


def _rate(function, count, repeats):
    """Items per second of `function()` handling `count` items, after one warm-up call."""
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return count * repeats / (time.perf_counter() - start)


def measure(args):
    """Runs in the child process."""
    import keras
    import numpy as np
    from keras import ops

    from dove_keras.models import DOVEBackbone
    from dove_keras.models import DOVERetriever

    keras.utils.set_random_seed(0)
    model = DOVERetriever(
        DOVEBackbone(vocabulary_size=2000, image_backbone=args.backbone, embedding_dim=args.embedding_dim)
    )
    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.batch_size, args.image_size, args.image_size, 3)).astype("float32")
    token_ids = rng.integers(2, 2000, (args.batch_size, args.sequence_length)).astype("int32")

    def encode_images():
        return ops.convert_to_numpy(model.encode_image(images)["global"])

    def encode_captions():
        return ops.convert_to_numpy(model.encode_text(token_ids)["global"])

    image_features, text_features = model.encode_image(images), model.encode_text(token_ids)
    return {
        "backend": keras.backend.backend(),
        "images_per_s": _rate(encode_images, args.batch_size, args.repeats),
        "captions_per_s": _rate(encode_captions, args.batch_size, args.repeats),
        "pairs_per_s": _rate(
            lambda: model.score(image_features, text_features, chunk_size=args.batch_size),
            args.batch_size**2, args.repeats,
        ),
    }


def main():
    parser = model_parser(__doc__, batch_size=100)
    parser.add_argument("--repeats", type=int, default=3, help="timed calls after a warm-up")
    args, rows = run_per_backend(parser, measure, __file__)
    best = {rate: max(row[rate] for row in rows) for rate in RATES}
    print(f"backbone={args.backbone} batch={args.batch_size} image={args.image_size} d={args.embedding_dim}")
    print(f"{'backend':<11}{'images/s':>10}{'ratio':>7}{'captions/s':>12}{'ratio':>7}{'pairs/s':>10}{'ratio':>7}")
    for row in rows:
        cells = "".join(f"{row[rate]:>{10 if rate != 'captions_per_s' else 12}.1f}{best[rate] / row[rate]:>7.2f}"
                        for rate in RATES)
        print(f"{row['backend']:<11}{cells}")
    print("ratio: the fastest backend's rate / this backend's (1.00 = fastest)")


if __name__ == "__main__":
    use_default_xla_flags()
    main()
