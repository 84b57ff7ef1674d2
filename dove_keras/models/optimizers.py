"""Fine-tuning optimizers: Adam(W) with a learning rate per group of variables, and a linear warm-up.

Keras 3 has no parameter groups. `GroupedAdamW` multiplies the rate of the
variables whose path starts with a prefix by that prefix's factor (e.g. a
CLIP's towers at 1e-5 beside new heads at 1e-4). It runs Keras' own Adam
update on every backend: the torch backend swaps in its fused
`_parallel_update_step` only for the exact built-in classes, and TensorFlow's
distributed update calls `update_step` per variable.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dove_keras")
class GroupedAdamW(keras.optimizers.Adam):
    """Adam with per-group learning rates and decoupled weight decay.

    The rate of a variable is the optimizer's (a float or schedule) times
    the factor of the longest prefix of `rate_factors` its `path` starts
    with (1 for none). Weight decay is decoupled as in AdamW and scaled by
    the same rate, `w -= rate * weight_decay * w` before each Adam step;
    like open_clip, it leaves out variables with fewer than 2 dimensions
    (biases, norm scales, the temperature).

    Args:
        learning_rate: a float or a `LearningRateSchedule` (the rate of
            variables no prefix matches).
        rate_factors: `{path prefix: factor}`, e.g. `{"vision_encoder": 0.1}`.
        weight_decay: the decoupled weight decay (0: plain Adam).
        **kwargs: the arguments of `keras.optimizers.Adam` (`beta_1`,
            `clipnorm`, ...).
    """

    def __init__(self, learning_rate=0.001, rate_factors=None, weight_decay=0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=None, **kwargs)
        self.rate_factors = {str(prefix): float(factor) for prefix, factor in (rate_factors or {}).items()}
        for prefix, factor in self.rate_factors.items():
            if not factor > 0:
                raise ValueError(f"rate factor of {prefix!r} must be positive, got {factor!r}.")
        if not weight_decay >= 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}.")
        self.decoupled_weight_decay = float(weight_decay)
        self._variable_factors = []

    def rate_factor(self, path):
        """The factor of the variable `path` (longest matching prefix; 1 for none)."""
        matches = [prefix for prefix in self.rate_factors if path.startswith(prefix)]
        return self.rate_factors[max(matches, key=len)] if matches else 1.0

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self._variable_factors = [self.rate_factor(variable.path) for variable in variables]

    def update_step(self, gradient, variable, learning_rate):
        """Keras' Adam step at this variable's rate, after its weight decay."""
        factor = self._variable_factors[self._get_variable_index(variable)]
        rate = ops.cast(learning_rate, variable.dtype) * factor
        if self.decoupled_weight_decay and len(variable.shape) >= 2:
            self.assign_sub(variable, variable * ops.cast(rate * self.decoupled_weight_decay, variable.dtype))
        super().update_step(gradient, variable, rate)

    def get_config(self):
        config = super().get_config()
        config.update(rate_factors=dict(self.rate_factors), weight_decay=self.decoupled_weight_decay)
        return config


@keras.saving.register_keras_serializable(package="dove_keras")
class LinearWarmup(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warm-up to a schedule's first rate, then that schedule from its step 0.

    Step t < W gives `after(0) * (t + 1) / W`; step t >= W gives
    `after(t - W)` (open_clip's warm-up, whose cosine starts after it).

    Args:
        after: the `LearningRateSchedule` that follows.
        warmup_steps: W, a positive step count.
    """

    def __init__(self, after, warmup_steps):
        super().__init__()
        if isinstance(after, dict):
            after = keras.optimizers.schedules.deserialize(after)
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 1:
            raise ValueError(f"warmup_steps must be a positive int, got {warmup_steps!r}.")
        self.after, self.warmup_steps = after, warmup_steps

    def __call__(self, step):
        step = ops.cast(step, "float32")
        warmup = ops.cast(self.warmup_steps, "float32")
        ramp = ops.cast(self.after(0), "float32") * (step + 1) / warmup
        return ops.where(step < warmup, ramp, ops.cast(self.after(ops.maximum(step - warmup, 0)), "float32"))

    def get_config(self):
        return {"after": keras.optimizers.schedules.serialize(self.after), "warmup_steps": self.warmup_steps}
