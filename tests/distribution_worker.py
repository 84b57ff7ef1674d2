"""Trains an experiment on 1 device, then on 2 virtual CPU devices (a subprocess).

Usage: KERAS_BACKEND=jax|tensorflow python distribution_worker.py EXPERIMENT_YAML OUT_DIR

The two devices are made before the backend starts: `XLA_FLAGS` for JAX, two
logical CPUs for TensorFlow. Writes `OUT_DIR/losses.json` (per-step running
loss of each run, and the error of a batch that does not split over the two
devices), each run's output folder (`none/`, `data_parallel/`) and
`probe.npz`: the distributed model's features on fixed inputs, for a
single-device process to compare after loading the distributed checkpoint.
"""

import json
import os
import sys

os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
from dove_keras.backends import use_default_xla_flags  # noqa: E402

use_default_xla_flags()  # as `dove train` does: the same XLA:CPU fusions as the multi-worker processes

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if keras.backend.backend() == "tensorflow":
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

from training_fixtures import StepLosses  # noqa: E402

from dove_keras.training.config import load_config  # noqa: E402
from dove_keras.training.distribution import DistributionError  # noqa: E402
from dove_keras.training.runner import run_training  # noqa: E402

DISTRIBUTIONS = ("none", "data_parallel")


def probe_inputs(config):
    """Fixed images and token ids to compare models on."""
    rng = np.random.default_rng(0)
    side, length = config.data.image_size, config.data.sequence_length
    images = rng.uniform(0, 255, (2, side, side, 3)).astype("float32")
    return images, rng.integers(2, 12, (3, length)).astype("int32")


def main(experiment, out_dir):
    losses = {}
    for name in DISTRIBUTIONS:
        config = load_config(experiment, {"output_dir": os.path.join(out_dir, name), "distribution": name})
        recorder = StepLosses()
        result = run_training(config, callbacks=[recorder], verbose=0, evaluate_test=False)
        losses[name] = recorder.means  # the running loss after every batch
    images, token_ids = probe_inputs(config)
    image_features = result.model.encode_image(images)
    text_features = result.model.encode_text(token_ids)
    np.savez(
        os.path.join(out_dir, "probe.npz"), images=images, token_ids=token_ids,
        image_global=keras.ops.convert_to_numpy(image_features["global"]),
        text_global=keras.ops.convert_to_numpy(text_features["global"]),
        score=result.model.score(image_features, text_features),
    )
    uneven = load_config(experiment, {
        "output_dir": os.path.join(out_dir, "uneven"), "distribution": "data_parallel", "training.batch_size": "3",
    })
    try:
        run_training(uneven, verbose=0)
    except DistributionError as error:
        losses["uneven_error"] = str(error)
    with open(os.path.join(out_dir, "losses.json"), "w") as f:
        json.dump(losses, f)


if __name__ == "__main__":
    main(*sys.argv[1:3])
