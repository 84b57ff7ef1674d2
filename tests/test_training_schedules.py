"""Learning rates: the protocol's x0.7 every 20 epochs, driven by steps; cosine and warm-up."""

import math

import keras
import pytest

from dove_keras.training import step_decay_schedule


def test_rate_per_epoch_and_serialization():
    steps = 7
    schedule = step_decay_schedule(2e-4, steps_per_epoch=steps)
    expected = {0: 2e-4, 19: 2e-4, 20: 1.4e-4, 39: 1.4e-4, 40: 9.8e-5, 49: 9.8e-5}
    for epoch, rate in expected.items():
        for step in (epoch * steps, epoch * steps + steps - 1):
            assert float(schedule(step)) == pytest.approx(rate, rel=1e-6), (epoch, step)
    restored = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert float(restored(40 * steps)) == pytest.approx(9.8e-5, rel=1e-6)


def test_optimizer_follows_its_step_counter():
    optimizer = keras.optimizers.Adam(step_decay_schedule(1e-3, steps_per_epoch=5, decay_rate=0.5, decay_epochs=2))
    optimizer.iterations.assign(9)
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)
    optimizer.iterations.assign(10)
    assert float(optimizer.learning_rate) == pytest.approx(5e-4)
    optimizer.iterations.assign(20)
    assert float(optimizer.learning_rate) == pytest.approx(2.5e-4)


def test_bad_arguments():
    with pytest.raises(ValueError, match="steps_per_epoch must be positive"):
        step_decay_schedule(2e-4, steps_per_epoch=0)


def test_cosine_after_a_linear_warm_up_and_the_protocol_unchanged_without_one():
    from dove_keras.training.schedules import learning_rate_schedule

    steps, epochs, warmup = 4, 5, 1.5  # 20 steps, 6 of warm-up, then a cosine over 14
    schedule = learning_rate_schedule(1e-3, steps, epochs, "cosine", warmup_epochs=warmup)
    schedule = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    for step in range(20):
        expected = 1e-3 * (step + 1) / 6 if step < 6 else 1e-3 * 0.5 * (1 + math.cos(math.pi * (step - 6) / 14))
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5, abs=1e-9), step
    warm_step = learning_rate_schedule(1e-3, steps, epochs, "step", decay_rate=0.5, decay_epochs=2, warmup_epochs=1)
    assert [float(warm_step(s)) for s in (0, 3, 4, 11, 12)] == pytest.approx([2.5e-4, 1e-3, 1e-3, 1e-3, 5e-4])
    protocol = learning_rate_schedule(2e-4, steps, epochs)
    assert type(protocol) is keras.optimizers.schedules.ExponentialDecay  # DOVE runs keep the built-in
    with pytest.raises(ValueError, match="schedule must be 'step' or 'cosine'"):
        learning_rate_schedule(1e-3, steps, epochs, "linear")
