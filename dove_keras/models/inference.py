"""Compiled inference calls of a layer, one per backend."""

import keras


def compile_inference(layer):
    """Returns `fn(*args)` running `layer(*args, training=False)` compiled.

    JAX jit-compiles the whole layer (eager JAX compiles op by op), TensorFlow
    traces a `tf.function` and torch runs without autograd. Variables are
    read at every call, so the function follows training.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        @jax.jit
        def run_stateless(trainable, non_trainable, *args):
            outputs, _ = layer.stateless_call(trainable, non_trainable, *args, training=False)
            return outputs

        def run(*args):
            trainable = [v.value for v in layer.trainable_variables]
            non_trainable = [v.value for v in layer.non_trainable_variables]
            return run_stateless(trainable, non_trainable, *args)

        return run
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda *args: layer(*args, training=False))

    import torch

    def run(*args):
        with torch.no_grad():
            return layer(*args, training=False)

    return run
