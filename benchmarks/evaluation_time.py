"""Time and peak memory of evaluating an RSICD-sized test split (not a test).

Random images and captions of the real sizes (1,093 images, 5 captions each,
256 px, 32 tokens) go through `evaluate_model` with an untrained
`DOVERetriever` of the default size (the cost does not depend on the weights).
Each mode and precision runs in its own process, so its peak resident memory
is its own. Every precision after the first is compared with the first in
the same run: time ratio and the largest score difference.

    python benchmarks/evaluation_time.py                  # RSICD size, both modes, float32
    python benchmarks/evaluation_time.py --mode roam --precisions float32,mixed_bfloat16
    python benchmarks/evaluation_time.py --images 100 --backbone tiny
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from dove_keras.backends import use_default_xla_flags


def measure(args):
    """Runs one mode in this process; returns the measurements as a dict."""
    import keras
    import numpy as np
    import tensorflow as tf

    from dove_keras.evaluation import evaluate_model
    from dove_keras.models import DOVEBackbone
    from dove_keras.models import DOVERetriever

    keras.utils.set_random_seed(0)
    model = DOVERetriever(DOVEBackbone(
        args.vocabulary_size, image_backbone=args.backbone, embedding_dim=args.embedding_dim, dtype=args.precision
    ))
    side, length = args.image_size, args.sequence_length

    def image(index):
        return {"images": tf.random.stateless_normal((side, side, 3), tf.stack([index, 0]))}

    def caption(index):
        words = tf.random.stateless_uniform((length,), tf.stack([index, 1]), 2, args.vocabulary_size, tf.int32)
        return {"token_ids": tf.where(tf.range(length, dtype=tf.int64) < 12 + index % 10, words, 0)}

    indices = tf.data.Dataset.range(args.images)
    image_ds = indices.map(image).batch(args.batch_size).prefetch(2)
    caption_ds = tf.data.Dataset.range(5 * args.images).map(caption).batch(args.batch_size).prefetch(2)
    start = time.perf_counter()
    result = evaluate_model(model, image_ds, caption_ds, mode=args.mode, chunk_size=args.chunk_size)
    total = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kib = usage.ru_maxrss
    assert np.isfinite(result.scores).all()
    if args.scores:
        np.save(args.scores, result.scores)
    return {
        "mode": args.mode, "precision": args.precision, "images": args.images, "captions": 5 * args.images,
        "backend": keras.backend.backend(), "backbone": args.backbone,
        **{f"{k}_s": round(v, 2) for k, v in result.timings.items()},
        "wall_s": round(total, 2), "process_cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_gib": round(peak_kib / 2**20, 2),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=1093, help="images (5 captions each); RSICD test: 1093")
    parser.add_argument("--mode", choices=("roam", "global", "both"), default="both",
                        help="pairwise ROAM scores, the fast global cosine, or both (one process each)")
    parser.add_argument("--backbone", default="resnet50", help="resnet50 (default), resnet18 or tiny")
    parser.add_argument("--embedding-dim", type=int, default=512, help="d (default 512)")
    parser.add_argument("--image-size", type=int, default=256, help="image side (default 256)")
    parser.add_argument("--sequence-length", type=int, default=32, help="tokens per caption (default 32)")
    parser.add_argument("--vocabulary-size", type=int, default=3000, help="token ids (default 3000)")
    parser.add_argument("--batch-size", type=int, default=64, help="encoding batch size (default 64)")
    parser.add_argument("--chunk-size", type=int, default=128, help="pairwise block side (default 128)")
    parser.add_argument("--precisions", default="float32",
                        help="comma-separated dtype policies, the first is the baseline (default float32)")
    parser.add_argument("--precision", help=argparse.SUPPRESS)  # one child's
    parser.add_argument("--scores", help=argparse.SUPPRESS)  # where a child saves its similarity matrix
    args = parser.parse_args(argv)
    if args.precision:
        print(json.dumps(measure(args)))
        return 0
    modes = ("global", "roam") if args.mode == "both" else (args.mode,)
    with tempfile.TemporaryDirectory() as scratch:
        for mode in modes:
            baseline = None
            for precision in args.precisions.split(","):
                scores = os.path.join(scratch, f"{mode}_{precision}.npy")
                command = [sys.executable, os.path.abspath(__file__), *(argv if argv is not None else sys.argv[1:]),
                           "--mode", mode, "--precision", precision, "--scores", scores]
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode:
                    print(done.stderr[-3000:], file=sys.stderr)
                    return done.returncode
                row = json.loads(done.stdout.strip().splitlines()[-1])
                if baseline is None:
                    baseline = row, scores
                else:
                    row.update(_against(baseline, row, scores))
                print(json.dumps(row), flush=True)
    return 0


def _against(baseline, row, scores):
    """Time ratio and largest score difference of `row` against the baseline precision."""
    import numpy as np

    base_row, base_scores = baseline
    difference = np.abs(np.load(scores) - np.load(base_scores)).max()
    return {
        f"speedup_vs_{base_row['precision']}": round(base_row["wall_s"] / row["wall_s"], 2),
        f"max_score_diff_vs_{base_row['precision']}": float(f"{difference:.3g}"),
    }


if __name__ == "__main__":
    use_default_xla_flags()
    sys.exit(main())
