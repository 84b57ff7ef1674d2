"""The learning-rate schedule of the training protocol (DESIGN section 2)."""

import keras


def step_decay_schedule(learning_rate, steps_per_epoch, decay_rate=0.7, decay_epochs=20):
    """`learning_rate * decay_rate ** (epoch // decay_epochs)`, driven by steps.

    The optimizer's step counter drives it, so the rate is right after a
    resumed run restores the optimizer. It is a built-in, serializable
    `ExponentialDecay` with `staircase=True`.

    Args:
        learning_rate: the initial rate (2e-4 in the protocol).
        steps_per_epoch: optimizer steps (batches) per epoch.
        decay_rate: factor applied every `decay_epochs` (0.7).
        decay_epochs: epochs between decays (20).

    Returns:
        A `keras.optimizers.schedules.LearningRateSchedule`.

    Raises:
        ValueError: for a non-positive argument.
    """
    for name, value in (
        ("learning_rate", learning_rate),
        ("steps_per_epoch", steps_per_epoch),
        ("decay_rate", decay_rate),
        ("decay_epochs", decay_epochs),
    ):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}.")
    return keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate=learning_rate,
        decay_steps=int(decay_epochs) * int(steps_per_epoch),
        decay_rate=decay_rate,
        staircase=True,
    )
