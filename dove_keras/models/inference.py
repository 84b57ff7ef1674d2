"""Compiled inference calls of a layer, one per backend."""

import keras


def compile_inference(layer, function=None):
    """Returns `fn(*args)` running `function(*args)` of `layer` compiled.

    JAX jit-compiles the whole function (eager JAX dispatches op by op),
    TensorFlow traces a `tf.function` and torch runs without autograd.
    Variables are read at every call, so the function follows training.

    Args:
        layer: the layer whose variables `function` reads.
        function: a callable using only `layer`'s variables; by default
            `layer(*args, training=False)`.
    """
    if function is None:
        def function(*args):
            return layer(*args, training=False)

    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        @jax.jit
        def run_stateless(trainable, non_trainable, *args):
            variables = layer.trainable_variables + layer.non_trainable_variables
            with keras.StatelessScope(state_mapping=list(zip(variables, trainable + non_trainable))):
                return function(*args)

        def run(*args):
            trainable = [v.value for v in layer.trainable_variables]
            non_trainable = [v.value for v in layer.non_trainable_variables]
            return run_stateless(trainable, non_trainable, *args)

        return run
    if backend == "tensorflow":
        import tensorflow as tf

        # A plain closure without autograph: tf.function on bound methods of
        # layers that were garbage collected ran another method's converted
        # code (prepare_regions called with prepare_genes' arguments).
        def run(*args):
            return function(*args)

        return tf.function(run, autograph=False)

    import torch

    def run(*args):
        with torch.no_grad():
            return function(*args)

    return run


def inference_loss(model, x):
    """The loss of `model` on `x` with `training=False` (no dropout, moving statistics), compiled once for this call."""
    return compile_inference(model, lambda x: model.compute_loss(
        x=x, y_pred=model(x, training=False), training=False))(x)
