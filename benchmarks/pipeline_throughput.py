"""Training-pipeline throughput vs the DOVE model's training consumption.

Builds shards (from the 40 real pairs of ../shared/data/real_pairs when present,
else from generated random images), then measures:

1. the training pipeline (`make_train_dataset` mapped through the
   `DOVEPreprocessor`, as `DOVERetriever.fit` maps it): examples/s at the given
   batch size and image size (default 32 and 256);
2. the model (a `DOVERetriever` on a `DOVEBackbone`, default small config:
   image backbone "tiny", the other arguments at their defaults): examples/s
   of `model.train_on_batch` on one pipeline batch, repeated;

and prints the ratio pipeline/model (above 1: the pipeline keeps up).

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/pipeline_throughput.py [--help]
"""

import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

import numpy as np
from PIL import Image

from dove_keras.backends import use_default_xla_flags

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_PAIRS = pathlib.Path(os.environ.get("DOVE_SHARED_DATA", SHARED_DATA)) / "real_pairs"


def write_source(workdir, num_images, use_real):
    """Writes a Karpathy-style JSON (+ images when generated); returns (json, image root)."""
    if use_real:
        pairs = json.loads((REAL_PAIRS / "captions.json").read_text())["images"]
        images = [{"filename": p["path"], "split": "train",
                   "sentences": [{"raw": s} for s in p["sentences"]]} for p in pairs]
        root = REAL_PAIRS
    else:
        rng = np.random.default_rng(0)
        root = workdir / "images"
        root.mkdir(exist_ok=True)
        words = ["plane", "red", "sea", "tree", "field", "road", "many", "green", "near", "a"]
        images = []
        for i in range(num_images):
            name = f"{i}.tif"
            smooth = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
            Image.fromarray(smooth).resize((256, 256), Image.Resampling.BILINEAR).save(root / name)
            sentences = [{"raw": " ".join(rng.choice(words, 12))} for _ in range(5)]
            images.append({"filename": name, "split": "train", "sentences": sentences})
    path = workdir / "dataset_bench.json"
    path.write_text(json.dumps({"images": images}))
    return path, root


def time_batches(iterator, steps, warmup):
    """Seconds per batch over `steps` batches after `warmup` batches."""
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(steps):
        next(iterator)
    return (time.perf_counter() - start) / steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-size", type=int, default=32,
                        help="examples per batch (default: 32)")
    parser.add_argument("--image-size", type=int, default=256, help="image side (default: 256)")
    parser.add_argument("--steps", type=int, default=30,
                        help="timed pipeline batches (default: 30)")
    parser.add_argument("--model-steps", type=int, default=5,
                        help="timed train_on_batch calls (default: 5)")
    parser.add_argument("--random", action="store_true",
                        help="use generated random images even when the real pairs exist")
    parser.add_argument("--num-images", type=int, default=64,
                        help="generated images (default: 64)")
    parser.add_argument("--backbone", default="tiny", help="DOVE backbone (default: tiny)")
    parser.add_argument("--embedding-dim", type=int, default=512, help="DOVE d (default: 512)")
    parser.add_argument("--skip-model", action="store_true", help="time the pipeline only")
    args = parser.parse_args(argv)

    import tensorflow as tf

    from data_tools.prepare import prepare
    from data_tools.vocab import build_vocabulary
    from dove_keras.data.pipelines import make_train_dataset
    from dove_keras.models import DOVEBackbone
    from dove_keras.models import DOVEImageConverter
    from dove_keras.models import DOVEPreprocessor
    from dove_keras.models import DOVERetriever
    from dove_keras.models import DOVETokenizer

    with tempfile.TemporaryDirectory() as tmp:
        workdir = pathlib.Path(tmp)
        use_real = REAL_PAIRS.is_dir() and not args.random
        source, root = write_source(workdir, args.num_images, use_real)
        manifest = prepare(source, root, workdir / "shards", shard_size=16, progress=False)
        entry = manifest["splits"]["train"]
        captions = [s["raw"] for image in json.loads(source.read_text())["images"]
                    for s in image["sentences"]]
        preprocessor = DOVEPreprocessor(
            DOVETokenizer(build_vocabulary(captions)), DOVEImageConverter(args.image_size)
        )
        kind = "40 real pairs" if use_real else f"{args.num_images} random 256 px tif"
        print(f"data: {kind}, {entry['images']} images, {entry['captions']} captions, "
              f"sizes {entry['image_sizes']}")

        dataset = make_train_dataset(workdir / "shards", batch_size=args.batch_size,
                                     image_size=args.image_size, seed=0)
        dataset = dataset.map(preprocessor, num_parallel_calls=tf.data.AUTOTUNE).repeat()
        iterator = iter(dataset)
        seconds = time_batches(iterator, args.steps, warmup=3)
        pipeline_rate = args.batch_size / seconds
        print(f"pipeline: {pipeline_rate:.1f} examples/s (batch {args.batch_size}, "
              f"{args.image_size} px, {os.cpu_count()} CPUs)")
        if args.skip_model:
            return 0

        import keras

        batch = {k: v.numpy() for k, v in next(iterator).items()}
        del iterator  # stop the pipeline's background work while timing the model
        backbone = DOVEBackbone(preprocessor.tokenizer.vocabulary_size(), image_backbone=args.backbone,
                                embedding_dim=args.embedding_dim)
        model = DOVERetriever(backbone)  # no preprocessor: the batch is preprocessed; Adam(2e-4)
        for _ in range(2):  # build and compile the train function
            model.train_on_batch(batch)
        start = time.perf_counter()
        for _ in range(args.model_steps):
            model.train_on_batch(batch)
        model_rate = args.batch_size * args.model_steps / (time.perf_counter() - start)
        print(f"model: {model_rate:.1f} examples/s (DOVE backbone={args.backbone}, "
              f"d={args.embedding_dim}, backend {keras.backend.backend()})")
        print(f"ratio pipeline/model: {pipeline_rate / model_rate:.2f}")
    return 0


if __name__ == "__main__":
    use_default_xla_flags()
    sys.exit(main())
