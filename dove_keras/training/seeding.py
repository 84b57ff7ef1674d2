"""Seeds: every random generator of a run, and the data seed of each epoch."""

import keras
import numpy as np
import tensorflow as tf


def seed_everything(seed, deterministic):
    """Seeds Python, NumPy and the backend; optionally deterministic ops."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
        if keras.backend.backend() == "torch":
            import torch

            torch.use_deterministic_algorithms(True)
            # Deterministic mode also fills every new tensor with NaN (to expose reads of
            # uninitialised memory): a tenth of a CPU training step, and no part of determinism.
            torch.utils.deterministic.fill_uninitialized_memory = False


def epoch_seed(seed, epoch):
    """The data seed of one epoch: a function of `(seed, epoch)` only."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0] >> 1)
