"""IGA: inter-modal guidance attention, the pairwise text embedding T_RG."""

import math

import keras
from keras import ops

from dove_keras.layers.masking import masked_mean, masked_softmax
from dove_keras.layers.mlp import MLP


@keras.saving.register_keras_serializable(package="dove_keras")
class InterModalGuidanceAttention(keras.layers.Layer):
    """Text embedding of caption j guided by the regions of image i.

    ```
    Q_i = LN(F_R,i) W_q,  K_j = LN(F_G,j) W_k,  G_j = LN(F_G,j) W_g
    S_ij = softmax_genes(Q_i K_j^T / sqrt(d_k))          # N_r x L'
    w_ij = masked_mean_regions(S_ij)                      # L'
    x_ij = masked_mean_genes(G_j) + w_ij G_j
    T_ij = x_ij + MLP_h(x_ij)
    ```
    The attention is averaged over regions before the value product, so the
    `images x captions x regions x d` tensor is never built. Scoring is split
    into `prepare_regions` (per image), `prepare_genes` (per caption) and
    `pair` (per image-caption block) so that evaluation can reuse the first
    two across blocks.

    Args:
        embedding_dim: d.
        key_dim: d_k, the width of the affinity keys.

    Call args:
        regions: `(I, N_r, d)`; region_mask: boolean `(I, N_r)` or None.
        genes: `(C, L', d)`; gene_mask: boolean `(C, L')` or None.

    Returns:
        `(I, C, d)` text embeddings T_RG for every image-caption pair.
    """

    def __init__(self, embedding_dim, key_dim=64, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.key_dim = key_dim
        policy = self.dtype_policy
        self.region_norm = keras.layers.LayerNormalization(dtype=policy, name="region_norm")
        self.gene_norm = keras.layers.LayerNormalization(dtype=policy, name="gene_norm")
        self.query = keras.layers.Dense(key_dim, dtype=policy, name="query")
        self.key = keras.layers.Dense(key_dim, dtype=policy, name="key")
        self.value = keras.layers.Dense(embedding_dim, dtype=policy, name="value")
        self.head = MLP(embedding_dim, embedding_dim, dtype=policy, name="head")

    def build(self, regions_shape, region_mask_shape=None, genes_shape=None, gene_mask_shape=None):
        self.region_norm.build(regions_shape)
        self.gene_norm.build(genes_shape)
        self.query.build(regions_shape)
        self.key.build(genes_shape)
        self.value.build(genes_shape)
        self.head.build((None, None, self.embedding_dim))

    def prepare_regions(self, regions):
        """Affinity queries `(I, N_r, d_k)` of a set of images."""
        return self.query(self.region_norm(regions))

    def prepare_genes(self, genes, gene_mask):
        """Keys `(C, L', d_k)`, values `(C, L', d)` and mean value `(C, d)`."""
        normed = self.gene_norm(genes)
        values = self.value(normed)
        return self.key(normed), values, masked_mean(values, gene_mask, axis=1)

    def pair(self, queries, region_mask, keys, values, mean_values, gene_mask):
        """T_RG `(I, C, d)` from prepared image and caption features."""
        logits = ops.einsum("ird,cld->icrl", queries, keys) / math.sqrt(self.key_dim)
        mask = None
        if gene_mask is not None:
            mask = ops.expand_dims(ops.expand_dims(gene_mask, 0), 2)
        attention = masked_softmax(logits, mask, axis=-1)
        if region_mask is None:
            weights = ops.mean(attention, axis=2)
        else:
            region_weights = ops.cast(region_mask, attention.dtype)
            count = ops.maximum(ops.sum(region_weights, axis=1), 1.0)
            region_weights = region_weights / ops.expand_dims(count, -1)
            weights = ops.einsum("icrl,ir->icl", attention, region_weights)
        x = ops.expand_dims(mean_values, 0) + ops.einsum("icl,cld->icd", weights, values)
        return x + self.head(x)

    def call(self, regions, region_mask, genes, gene_mask=None):
        queries = self.prepare_regions(regions)
        keys, values, mean_values = self.prepare_genes(genes, gene_mask)
        return self.pair(queries, region_mask, keys, values, mean_values, gene_mask)

    def compute_output_shape(self, regions_shape, region_mask_shape=None, genes_shape=None, gene_mask_shape=None):
        return (regions_shape[0], genes_shape[0], self.embedding_dim)

    def get_config(self):
        config = super().get_config()
        config.update(embedding_dim=self.embedding_dim, key_dim=self.key_dim)
        return config
