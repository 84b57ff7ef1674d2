"""IFA: intra-modal fusion attention between multiscale tokens and regions."""

import math

import keras
from keras import ops

from dove_keras.layers.masking import masked_mean
from dove_keras.layers.masking import masked_softmax


@keras.saving.register_keras_serializable(package="dove_keras")
class IntraModalFusionAttention(keras.layers.Layer):
    """Fuses multiscale tokens F_M and regions F_R into the image embedding V_MR.

    ```
    M = F_M W_m,  R = F_R W_r,  A = M R^T / sqrt(d)
    M' = M + softmax_regions(A) R
    R' = R + softmax_tokens(A)^T M
    V_MR = W_o [mean(M'); masked_mean(R')]
    ```

    Args:
        embedding_dim: d.

    Call args:
        tokens: `(batch, N_m, d)` multiscale tokens.
        regions: `(batch, N_r, d)` regional features.
        region_mask: optional boolean `(batch, N_r)`.

    Returns:
        `(batch, d)` fused image embedding.
    """

    def __init__(self, embedding_dim, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        policy = self.dtype_policy
        self.token_projection = keras.layers.Dense(embedding_dim, dtype=policy, name="token_projection")
        self.region_projection = keras.layers.Dense(embedding_dim, dtype=policy, name="region_projection")
        self.output_projection = keras.layers.Dense(embedding_dim, dtype=policy, name="output_projection")

    def build(self, tokens_shape, regions_shape, region_mask_shape=None):
        self.token_projection.build(tokens_shape)
        self.region_projection.build(regions_shape)
        self.output_projection.build((tokens_shape[0], 2 * self.embedding_dim))

    def call(self, tokens, regions, region_mask=None):
        m = self.token_projection(tokens)
        r = self.region_projection(regions)
        affinity = ops.einsum("bnd,brd->bnr", m, r) / math.sqrt(self.embedding_dim)
        mask = None if region_mask is None else ops.expand_dims(region_mask, 1)
        to_regions = masked_softmax(affinity, mask, axis=-1)
        to_tokens = masked_softmax(affinity, None, axis=1)
        fused_tokens = m + ops.einsum("bnr,brd->bnd", to_regions, r)
        fused_regions = r + ops.einsum("bnr,bnd->brd", to_tokens, m)
        pooled = ops.concatenate(
            [ops.mean(fused_tokens, axis=1), masked_mean(fused_regions, region_mask, axis=1)],
            axis=-1,
        )
        return self.output_projection(pooled)

    def compute_output_shape(self, tokens_shape, regions_shape, region_mask_shape=None):
        return (tokens_shape[0], self.embedding_dim)

    def get_config(self):
        config = super().get_config()
        config.update(embedding_dim=self.embedding_dim)
        return config
