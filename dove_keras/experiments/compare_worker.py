"""One backend's side of `dove compare-backends`, run in its own process.

    KERAS_BACKEND=jax python -m dove_keras.experiments.compare_worker \
        --config run/config.yaml --weights run/initial.weights.h5 --steps 10 --out run/jax.json

`--init` builds the config's model (seeded) and saves its weights instead.
Otherwise the worker loads those weights, computes the loss of the first
training batch with `training=False` (no dropout, batch-norm moving
statistics: the strict parity check; compiled), trains `--steps` steps on the first
batches of the seeded (deterministic) training stream, then evaluates the
split `--eval-split`. It writes a JSON file of its measurements.
"""

import argparse
import json
import resource
import sys
import time

from dove_keras.backends import use_default_xla_flags


def initial_weights(config, path):
    """Builds the seeded model of `config` and saves its weights to `path`."""
    from dove_keras.training.factory import build_retriever
    from dove_keras.training.seeding import seed_everything

    seed_everything(config.seed, deterministic=False)
    build_retriever(config).save_weights(path)


def measure(config, weights, steps, eval_split):
    """Parity loss, step times, per-step losses and metrics on this process's backend.

    Args:
        config: the `ExperimentConfig`.
        weights: the initial `.weights.h5` file shared by every backend.
        steps: training steps to run (the first one includes tracing/compilation).
        eval_split: the split evaluated after training.

    Returns:
        A JSON-ready dict.
    """
    import keras
    import numpy as np

    from dove_keras.data.pipelines import make_train_dataset
    from dove_keras.evaluation.evaluate import evaluate_model
    from dove_keras.models.inference import inference_loss
    from dove_keras.training.factory import compile_for_training
    from dove_keras.training.loading import load_retriever
    from dove_keras.training.seeding import epoch_seed
    from dove_keras.training.seeding import seed_everything
    from dove_keras.training.split_evaluation import eval_datasets

    setup_start = time.perf_counter()
    seed_everything(config.seed, deterministic=False)
    model = load_retriever(weights, config)
    d = config.data
    dataset = make_train_dataset(
        d.prepared_dir, split=d.train_split, batch_size=config.training.batch_size,
        image_size=d.image_size, seed=epoch_seed(config.seed, 0), shuffle_buffer=d.shuffle_buffer,
    )
    batches = list(dataset.repeat().take(steps).as_numpy_iterator())
    compile_for_training(model, config, int(dataset.cardinality()))

    first = model.preprocessor(batches[0])
    eval_loss = float(keras.ops.convert_to_numpy(inference_loss(model, first)))
    setup_seconds = time.perf_counter() - setup_start

    losses, times = [], []
    for batch in batches:
        start = time.perf_counter()
        logs = model.train_on_batch(batch, return_dict=True)
        times.append(time.perf_counter() - start)
        losses.append(float(logs["loss"]))
    train_seconds = sum(times)

    images, captions = eval_datasets(config, eval_split)
    start = time.perf_counter()
    result = evaluate_model(
        model, images, captions, mode=config.evaluation.mode, chunk_size=config.evaluation.chunk_size,
        captions_per_image=config.evaluation.captions_per_image,
    )
    median = float(np.median(times[1:])) if len(times) > 1 else times[0]
    return {
        "backend": keras.backend.backend(),
        "first_step_loss_eval": eval_loss,
        "losses": losses,
        "setup_s": setup_seconds,
        "first_step_s": times[0],
        "median_step_s": median,
        "examples_per_s": config.training.batch_size / median,
        "train_s": train_seconds,
        "eval_s": time.perf_counter() - start,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "metrics": {k: float(v) for k, v in result.metrics.items()},
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="dove_keras.experiments.compare_worker", description=__doc__)
    parser.add_argument("--config", required=True, help="the run's config.yaml")
    parser.add_argument("--weights", required=True, help="the shared initial .weights.h5")
    parser.add_argument("--init", action="store_true", help="build and save the initial weights")
    parser.add_argument("--steps", type=int, default=10, help="training steps")
    parser.add_argument("--eval-split", default="val", help="split evaluated after training")
    parser.add_argument("--out", help="JSON file of the measurements")
    args = parser.parse_args(argv)

    from dove_keras.training.config import load_config

    config = load_config(args.config)
    if args.init:
        initial_weights(config, args.weights)
        return 0
    row = measure(config, args.weights, args.steps, args.eval_split)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(row, f, indent=1)
    return 0


if __name__ == "__main__":
    use_default_xla_flags()
    sys.exit(main())
