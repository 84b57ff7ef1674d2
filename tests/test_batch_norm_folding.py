"""BatchNormalization folded into convolutions: same outputs, every foldable pair folded."""

import keras
import keras_hub
import numpy as np
from keras import ops

from dove_keras.models import DOVEBackbone
from dove_keras.models.batch_norm_folding import BatchNormFolding
from dove_keras.models.image_backbones import IMAGE_BACKBONES


def _randomise_statistics(model, seed=0):
    """Moving statistics and affine parameters away from their identity initial values."""
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0.0, 0.5, channels))
            layer.moving_variance.assign(rng.uniform(0.3, 3.0, channels))
            layer.gamma.assign(rng.uniform(0.5, 1.5, channels))
            layer.beta.assign(rng.normal(0.0, 0.5, channels))


def _numpy(tensors):
    return [np.asarray(ops.convert_to_numpy(ops.cast(t, "float32"))) for t in tensors]


def test_resnet_folds_every_normalisation_and_keeps_its_outputs():
    keras.utils.set_random_seed(0)
    resnet = keras_hub.models.ResNetBackbone(**IMAGE_BACKBONES["resnet18"])
    pyramid = keras.Model(resnet.inputs, [resnet.pyramid_outputs[p] for p in ("P3", "P4", "P5")])
    _randomise_statistics(pyramid)
    folding = BatchNormFolding(pyramid)
    norms = [layer for layer in pyramid._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    assert folding.num_folded == len(norms) == 20  # ResNet v1: each normalisation follows a convolution
    images = np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype("float32")
    expected = _numpy(pyramid(images, training=False))
    for got, want in zip(_numpy(folding(images)), expected):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_a_convolution_read_elsewhere_is_not_folded():
    inputs = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, padding="same", use_bias=True)(inputs)
    normed = keras.layers.BatchNormalization()(conv)
    folded_pair = keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 1)(normed))
    model = keras.Model(inputs, [folded_pair, conv])  # the first conv's output is also an output
    _randomise_statistics(model)
    folding = BatchNormFolding(model)
    assert folding.num_folded == 1
    images = np.random.default_rng(2).normal(size=(3, 8, 8, 3)).astype("float32")
    for got, want in zip(_numpy(folding(images)), _numpy(model(images, training=False))):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_folding_follows_new_weights():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 3, use_bias=True)(inputs)))
    folding = BatchNormFolding(model)
    images = np.random.default_rng(3).normal(size=(1, 8, 8, 3)).astype("float32")
    before = _numpy([folding(images)])[0]
    _randomise_statistics(model, seed=4)
    after = _numpy([folding(images)])[0]
    assert np.abs(after - before).max() > 0.1
    np.testing.assert_allclose(after, _numpy([model(images, training=False)])[0], rtol=1e-5, atol=1e-5)


def test_image_backbone_computes_under_the_model_policy():
    backbone = DOVEBackbone(40, image_backbone="tiny", embedding_dim=16, multiscale_grid=2, dtype="mixed_bfloat16")
    encoder = backbone.image_encoder
    convs = [layer for layer in encoder.pyramid._flatten_layers() if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "bfloat16" for layer in convs)
    assert all(w.dtype == "float32" for w in encoder.pyramid.weights)
    p5 = encoder._folded_pyramid(np.zeros((1, 64, 64, 3), "float32"))[-1]
    assert keras.backend.standardize_dtype(p5.dtype) == "bfloat16"
