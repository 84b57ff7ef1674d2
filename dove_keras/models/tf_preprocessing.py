"""Preprocessing layers run TensorFlow ops on every backend (eagerly or in tf.data)."""

import functools

import keras
import numpy as np
import tensorflow as tf
from keras_hub.src.utils.tensor_utils import convert_preprocessing_outputs


def tf_preprocessing(call):
    """Wraps a layer's `call(self, x, ...)` so that it always sees TensorFlow tensors.

    Inside a `tf.function` or `tf.data` map the inputs already are; eagerly,
    every leaf of `x` (Python strings and numbers, NumPy arrays, JAX or torch
    tensors) becomes a `tf.Tensor`, the outputs become tensors of the Keras
    backend (string outputs become Python lists), as keras-hub's
    preprocessing layers do, and a failed input check raises `ValueError`
    with TensorFlow's message (inside tf.data it stays TensorFlow's error).
    """

    @functools.wraps(call)
    def wrapper(self, x, *args, **kwargs):
        if not tf.executing_eagerly():
            return call(self, x, *args, **kwargs)
        try:
            with tf.device("cpu"):
                outputs = call(self, _inputs_to_tf(x), *args, **kwargs)
        except tf.errors.OpError as error:  # e.g. a failed input check: its message, on every backend
            problem = ValueError(error.message.split("\n\t [[")[0])
            problem._keras_call_info_injected = True  # no dump of the (possibly huge) raw inputs
            raise problem from None
        return convert_preprocessing_outputs(outputs)

    return wrapper


def _inputs_to_tf(x):
    """Converts a dict of inputs leaf by leaf (a list is one array-like leaf)."""
    if isinstance(x, dict):
        return {key: to_tf(value) for key, value in x.items()}
    return to_tf(x)


def to_tf(value):
    """A `tf.Tensor` holding `value` (None stays None)."""
    if value is None or isinstance(value, (tf.Tensor, tf.RaggedTensor)):
        return value
    if keras.ops.is_tensor(value):
        value = keras.ops.convert_to_numpy(value)
    array = np.asarray(value)
    if array.dtype.kind in "USO":
        return tf.constant(array.tolist() if array.ndim else value, tf.string)
    return tf.convert_to_tensor(array)
