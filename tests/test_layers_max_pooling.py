"""SlicedMaxPooling2D: MaxPooling2D's outputs and gradient, ties included."""

import keras
import numpy as np
import pytest
from keras import ops

from dove_keras.layers import SlicedMaxPooling2D
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
def test_sliced_max_pooling_equals_max_pooling_and_its_gradient(pool_size, strides):
    rng = np.random.default_rng(0)
    # ReLU'd and zero-padded, as in the ResNet stem: many tied maxima.
    images = np.pad(np.maximum(rng.standard_normal((2, 9, 8, 3)), 0), ((0, 0), (1, 1), (1, 1), (0, 0)))
    images = images.astype("float32")
    weights = ops.convert_to_tensor(rng.standard_normal(keras.layers.MaxPooling2D(pool_size, strides)
                                                        .compute_output_shape(images.shape)).astype("float32"))
    sliced, plain = SlicedMaxPooling2D(pool_size, strides), keras.layers.MaxPooling2D(pool_size, strides)
    np.testing.assert_array_equal(ops.convert_to_numpy(sliced(images)), ops.convert_to_numpy(plain(images)))
    gradients = [_input_gradient(lambda x, pool=pool: ops.sum(pool(x) * weights), images) for pool in (sliced, plain)]
    np.testing.assert_array_equal(*gradients)


def test_sliced_max_pooling_refuses_same_padding():
    with pytest.raises(ValueError, match="padding='valid'"):
        SlicedMaxPooling2D(3, 2, padding="same")


def test_image_pyramid_uses_sliced_max_pooling_on_jax_only():
    pyramid = ImageEncoder("tiny", embedding_dim=16, multiscale_grid=2).pyramid
    pools = [type(layer) for layer in pyramid.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    expected = SlicedMaxPooling2D if keras.backend.backend() == "jax" else keras.layers.MaxPooling2D
    assert pools == [expected]
