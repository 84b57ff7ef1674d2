"""Multiscale tokens of a ViT: the patch tokens of a few blocks fused on the patch grid."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="dove_keras")
class PatchTokenFusion(keras.layers.Layer):
    """DESIGN section 1.1 step 2 on a ViT's patch grid (DOVE-CLIP, section 1.7).

    ```
    F_M = ReLU(LN(Dense_d(concat_k(LN_k(X_k)))))
    ```
    Each block's tokens `X_k` get their own LayerNorm (the residual streams
    of a ViT grow with depth), then the concatenation is projected to d
    (a 1x1 convolution on the grid), normalised and rectified. The grid is
    the patch grid itself: no resampling, every input has the same tokens.

    Args:
        embedding_dim: d.
        num_scales: how many blocks' tokens are fused.

    Call args:
        tokens: a list of `(batch, N, width)` patch tokens, one per block.

    Returns:
        `(batch, N, d)` multiscale tokens F_M.
    """

    def __init__(self, embedding_dim, num_scales, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.num_scales = num_scales
        policy = self.dtype_policy
        self.scale_norms = [
            keras.layers.LayerNormalization(dtype=policy, name=f"scale_norm_{k}") for k in range(num_scales)
        ]
        self.projection = keras.layers.Dense(embedding_dim, dtype=policy, name="projection")
        self.norm = keras.layers.LayerNormalization(dtype=policy, name="norm")

    def build(self, tokens_shape):
        for norm, shape in zip(self.scale_norms, tokens_shape):
            norm.build(shape)
        width = sum(shape[-1] for shape in tokens_shape)
        self.projection.build(tuple(tokens_shape[0][:-1]) + (width,))
        self.norm.build(tuple(tokens_shape[0][:-1]) + (self.embedding_dim,))

    def call(self, tokens):
        normed = [norm(x) for norm, x in zip(self.scale_norms, tokens)]
        return ops.relu(self.norm(self.projection(ops.concatenate(normed, axis=-1))))

    def compute_output_shape(self, tokens_shape):
        return tuple(tokens_shape[0][:-1]) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(embedding_dim=self.embedding_dim, num_scales=self.num_scales)
        return config
