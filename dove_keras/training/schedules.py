"""Learning-rate schedules: the training protocol's step decay (DESIGN section 2), cosine, warm-up."""

import keras

from dove_keras.models.optimizers import LinearWarmup


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


def learning_rate_schedule(learning_rate, steps_per_epoch, epochs, schedule="step", decay_rate=0.7, decay_epochs=20,
                           warmup_epochs=0.0):
    """The rate of a run: a linear warm-up, then step decay (the protocol) or a cosine to 0.

    Args:
        learning_rate: the peak rate.
        steps_per_epoch: optimizer steps (batches) per epoch.
        epochs: the run's epochs (the cosine ends at the last step).
        schedule: `"step"` (`step_decay_schedule`) or `"cosine"`.
        decay_rate, decay_epochs: the step decay's settings.
        warmup_epochs: epochs (a float) of linear warm-up; the decay starts after it.

    Returns:
        A serializable `keras.optimizers.schedules.LearningRateSchedule`:
        without warm-up, the step decay is the protocol's `ExponentialDecay`.
    """
    warmup_steps = round(warmup_epochs * steps_per_epoch)
    if schedule == "step":
        after = step_decay_schedule(learning_rate, steps_per_epoch, decay_rate, decay_epochs)
    elif schedule == "cosine":
        decay_steps = max(int(epochs) * int(steps_per_epoch) - warmup_steps, 1)
        after = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps)
    else:
        raise ValueError(f"schedule must be 'step' or 'cosine', got {schedule!r}.")
    return LinearWarmup(after, warmup_steps) if warmup_steps else after
