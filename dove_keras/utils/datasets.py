"""Options of tf.data datasets shared by the input pipelines and the evaluation loop."""

import tensorflow as tf


def without_autotuning(dataset):
    """`dataset` without tf.data's autotuning thread.

    Destroying an iterator waits for that thread's next wake-up, and it
    sleeps twice as long each time: a loop over a dataset ended at the next
    10 ms x 2^k after its work was done (an 8.2 s encoding loop took 10.24 s;
    the end of a multi-epoch `fit` waited ~50 s). `AUTOTUNE` parallelism then
    means all cores.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)
