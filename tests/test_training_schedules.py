"""The protocol's learning rate: x0.7 every 20 epochs, driven by steps."""

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
