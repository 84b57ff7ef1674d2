"""Multiscale fusion of the backbone pyramid into the token set F_M."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dove_keras")
class MultiscaleFusion(keras.layers.Layer):
    """Fuses pyramid levels P3, P4, P5 into `multiscale_grid**2` tokens (DESIGN 1.1.2).

    P3 -> d (2x average-pooled), P4 -> d, P5 -> 2d (2x nearest-upsampled), all
    on the P4 grid; concatenated (4d), then 1x1 conv -> d, BatchNorm, ReLU and
    adaptive average pooling to `multiscale_grid` x `multiscale_grid`. Under
    `tf.distribute` the batch norm uses the global batch's statistics.

    Args:
        embedding_dim: d, the token width.
        multiscale_grid: side of the output token grid.

    Call args:
        inputs: list `[p3, p4, p5]` of channels-last feature maps whose sides
            are 4x, 2x and 1x the P5 side.

    Returns:
        Tokens `(batch, multiscale_grid**2, embedding_dim)`.
    """

    def __init__(self, embedding_dim, multiscale_grid=8, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.multiscale_grid = multiscale_grid
        d = embedding_dim
        policy = self.dtype_policy
        self.p3_projection = keras.layers.Conv2D(d, 1, dtype=policy, name="p3_projection")
        self.p4_projection = keras.layers.Conv2D(d, 1, dtype=policy, name="p4_projection")
        self.p5_projection = keras.layers.Conv2D(2 * d, 1, dtype=policy, name="p5_projection")
        self.p3_pool = keras.layers.AveragePooling2D(2, dtype=policy, name="p3_pool")
        self.p5_upsample = keras.layers.UpSampling2D(
            2, interpolation="nearest", dtype=policy, name="p5_upsample"
        )
        self.fuse = keras.layers.Conv2D(d, 1, use_bias=False, dtype=policy, name="fuse")
        # Batch statistics of the global batch under tf.distribute (JAX's SPMD
        # step sees it anyway; only TensorFlow accepts the flag).
        self.norm = keras.layers.BatchNormalization(
            synchronized=keras.backend.backend() == "tensorflow", dtype=policy, name="norm"
        )
        self.grid_pool = keras.layers.AdaptiveAveragePooling2D(
            multiscale_grid, dtype=policy, name="grid_pool"
        )

    def build(self, input_shape):
        p3_shape, p4_shape, p5_shape = input_shape
        self.p3_projection.build(p3_shape)
        self.p4_projection.build(p4_shape)
        self.p5_projection.build(p5_shape)
        fused_shape = tuple(p4_shape[:-1]) + (4 * self.embedding_dim,)
        self.fuse.build(fused_shape)
        self.norm.build(tuple(p4_shape[:-1]) + (self.embedding_dim,))
        self.p3_pool.build(tuple(p3_shape[:-1]) + (self.embedding_dim,))
        self.p5_upsample.build(tuple(p5_shape[:-1]) + (2 * self.embedding_dim,))
        self.grid_pool.build(tuple(p4_shape[:-1]) + (self.embedding_dim,))

    def call(self, inputs, training=None):
        p3, p4, p5 = inputs
        x = ops.concatenate(
            [
                self.p3_pool(self.p3_projection(p3)),
                self.p4_projection(p4),
                self.p5_upsample(self.p5_projection(p5)),
            ],
            axis=-1,
        )
        x = ops.relu(self.norm(self.fuse(x), training=training))
        x = self.grid_pool(x)
        return ops.reshape(x, (-1, self.multiscale_grid * self.multiscale_grid, self.embedding_dim))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.multiscale_grid**2, self.embedding_dim)

    def get_config(self):
        config = super().get_config()
        config.update(embedding_dim=self.embedding_dim, multiscale_grid=self.multiscale_grid)
        return config
