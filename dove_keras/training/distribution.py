"""Data-parallel training on the backends' own engines.

`distribution_scope(config.distribution, batch_size)` is the context in which
`run_training` builds, compiles and fits the model:

- `"none"`: one device (whatever the backend picks).
- `"data_parallel"`: every local device. JAX: `keras.distribution.DataParallel`
  (variables replicated, the batch sharded, one SPMD train step).
  TensorFlow: `tf.distribute.MirroredStrategy` over the GPUs, or over the
  logical CPUs when there is no GPU.
- `"multi_worker"`: several hosts. JAX: `keras.distribution.initialize()`
  (from `KERAS_DISTRIBUTION_JOB_ADDRESSES`, `KERAS_DISTRIBUTION_NUM_PROCESSES`,
  `KERAS_DISTRIBUTION_PROCESS_ID`), then `DataParallel` over every process's
  devices; Keras shards the tf.data input between processes.
  TensorFlow: `tf.distribute.MultiWorkerMirroredStrategy` (from `TF_CONFIG`).

`training.batch_size` is the global batch: each of N devices gets
batch_size / N pairs, and the loss still sees the whole global batch as
negatives (JAX: the SPMD program is written for the global batch;
TensorFlow: `dove_keras.models.replicas` gathers the replicas' features).
The torch backend has no data-parallel support here.
"""

import contextlib
import logging

import keras
import tensorflow as tf

from dove_keras.errors import UsageError

logger = logging.getLogger(__name__)

MULTI_WORKER_HELP = (
    "JAX reads KERAS_DISTRIBUTION_JOB_ADDRESSES, KERAS_DISTRIBUTION_NUM_PROCESSES and "
    "KERAS_DISTRIBUTION_PROCESS_ID; TensorFlow reads TF_CONFIG"
)


class DistributionError(UsageError):
    """A distribution that this backend or this batch size cannot run."""


@contextlib.contextmanager
def distribution_scope(name, batch_size, progress=True):
    """Runs the enclosed model building and training on `name`'s devices.

    Args:
        name: "none", "data_parallel" or "multi_worker".
        batch_size: the global batch; it must split evenly over the devices.
        progress: print the devices used.

    Yields:
        The number of devices (replicas) sharing each batch.

    Raises:
        DistributionError: the torch backend, an unknown name, or a batch
            size that does not split over the devices.
    """
    if name == "none":
        yield 1
        return
    if name not in ("data_parallel", "multi_worker"):
        raise DistributionError(
            f"unknown distribution {name!r}: use 'none', 'data_parallel' or 'multi_worker'."
        )
    backend = keras.backend.backend()
    if backend == "jax":
        with _jax_data_parallel(name, batch_size, progress) as count:
            yield count
    elif backend == "tensorflow":
        with _tensorflow_strategy(name, batch_size, progress) as count:
            yield count
    else:
        raise DistributionError(
            f"distribution {name!r} runs on the jax backend (keras.distribution.DataParallel) "
            f"or the tensorflow backend (tf.distribute); KERAS_BACKEND is {backend!r}. "
            "Train on one device (distribution: none) or set KERAS_BACKEND=jax or tensorflow: "
            "the weights load in any backend afterwards."
        )


@contextlib.contextmanager
def _jax_data_parallel(name, batch_size, progress):
    if name == "multi_worker":
        keras.distribution.initialize()
    devices = keras.distribution.list_devices()
    _check_split(batch_size, len(devices), name)
    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    if progress:
        logger.info("Data-parallel training (JAX DataParallel) on %d device(s): %s", len(devices), ", ".join(devices))
    try:
        yield len(devices)
    finally:
        keras.distribution.set_distribution(previous)


@contextlib.contextmanager
def _tensorflow_strategy(name, batch_size, progress):
    if name == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([device.name for device in devices])
    count = strategy.num_replicas_in_sync
    _check_split(batch_size, count, name)
    if progress:
        kind = type(strategy).__name__
        logger.info("Data-parallel training (TensorFlow %s) on %d replica(s); this worker's: %s",
                    kind, count, ", ".join(strategy.extended.worker_devices))
    with strategy.scope():
        yield count


def split_batches_between_workers(dataset):
    """`dataset` with each global batch split between the replicas (tf.distribute's DATA sharding).

    Every worker reads the whole dataset and keeps its replicas' slices of
    each global batch (as Keras does between JAX processes), so the global
    batches are those of a one-device run and the workers' slices are
    disjoint. tf.distribute's default would shard by file, which changes the
    batches and needs at least one file per worker. Without a strategy the
    option is ignored.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def _check_split(batch_size, count, name):
    if batch_size % count:
        hint = f" ({MULTI_WORKER_HELP})" if name == "multi_worker" else ""
        raise DistributionError(
            f"training.batch_size {batch_size} does not split evenly over {count} devices{hint}: "
            f"use a multiple of {count}."
        )
