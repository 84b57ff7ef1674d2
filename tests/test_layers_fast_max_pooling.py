"""FastMaxPooling2D: MaxPooling2D's outputs and gradient, ties included."""

import keras
import numpy as np
import pytest
from keras import ops

from dove_keras.layers import FastMaxPooling2D
from dove_keras.models import ImageEncoder


def _input_gradient(function, array):
    """d function(array) / d array, as numpy."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensor = tf.convert_to_tensor(array)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            loss = function(tensor)
        return tape.gradient(loss, tensor).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(function)(jax.numpy.asarray(array)))
    import torch

    tensor = torch.tensor(array, requires_grad=True)
    return torch.autograd.grad(function(tensor), tensor)[0].numpy()


@pytest.mark.parametrize("pool_size, strides", [(3, 2), (2, 2), ((3, 2), (1, 2))])
def test_fast_max_pooling_equals_max_pooling_and_its_gradient(pool_size, strides):
    rng = np.random.default_rng(0)
    # ReLU'd and zero-padded, as in the ResNet stem: many tied maxima.
    images = np.pad(np.maximum(rng.standard_normal((2, 9, 8, 3)), 0), ((0, 0), (1, 1), (1, 1), (0, 0)))
    images = images.astype("float32")
    weights = ops.convert_to_tensor(rng.standard_normal(keras.layers.MaxPooling2D(pool_size, strides)
                                                        .compute_output_shape(images.shape)).astype("float32"))
    fast, plain = FastMaxPooling2D(pool_size, strides), keras.layers.MaxPooling2D(pool_size, strides)
    np.testing.assert_array_equal(ops.convert_to_numpy(fast(images)), ops.convert_to_numpy(plain(images)))
    gradients = [_input_gradient(lambda x, pool=pool: ops.sum(pool(x) * weights), images) for pool in (fast, plain)]
    np.testing.assert_array_equal(*gradients)


def test_fast_max_pooling_refuses_same_padding():
    with pytest.raises(ValueError, match="padding='valid'"):
        FastMaxPooling2D(3, 2, padding="same")


def test_image_pyramid_pools_with_fast_max_pooling_and_keeps_its_weights():
    encoder = ImageEncoder("tiny", embedding_dim=16, multiscale_grid=2)
    pools = [type(layer) for layer in encoder.pyramid.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    assert pools == [FastMaxPooling2D]
    backbone = keras.saving.deserialize_keras_object(encoder.get_config()["image_backbone"])
    assert [w.path for w in encoder.pyramid.weights] == [w.path for w in backbone.weights]
