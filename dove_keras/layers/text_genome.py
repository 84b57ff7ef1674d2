"""DTGA: the digging text genome assistant (word and phrase genes)."""

import math

import keras
from keras import ops

from dove_keras.layers.masking import masked_mean
from dove_keras.layers.masking import masked_softmax


@keras.saving.register_keras_serializable(package="dove_keras")
class TextGenomeAttention(keras.layers.Layer):
    """Extracts n-gram genes and links them with one global attention.

    ```
    C_k = ReLU(LN(Conv1D(d, kernel=k, stride=k)(H)))   for k in kernel_sizes
    E   = concat(C_k)                                  # L' genes
    q   = masked_mean(H) W_q
    a   = softmax_genes(E W_k q / sqrt(d))
    g   = sum(a * E W_v)
    ```
    A gene is real iff all k of its words are real. The per-gene LayerNorm
    ignores padding by construction (DESIGN 1.3.2).

    Args:
        embedding_dim: d.
        kernel_sizes: n-gram sizes (default words, bi- and tri-grams).

    Call args:
        hidden: `(batch, L, d)` word states, zero at padding.
        word_mask: boolean `(batch, L)`, True for real words.

    Returns:
        `(context, genes, gene_mask)`: g `(batch, d)`, E `(batch, L', d)`
        and its boolean mask `(batch, L')`.
    """

    def __init__(self, embedding_dim, kernel_sizes=(1, 2, 3), **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.kernel_sizes = tuple(kernel_sizes)
        policy = self.dtype_policy
        d = embedding_dim
        self.convs = [
            keras.layers.Conv1D(d, k, strides=k, padding="valid", dtype=policy, name=f"conv_{k}")
            for k in self.kernel_sizes
        ]
        self.norms = [
            keras.layers.LayerNormalization(dtype=policy, name=f"norm_{k}")
            for k in self.kernel_sizes
        ]
        self.query = keras.layers.Dense(d, dtype=policy, name="query")
        self.key = keras.layers.Dense(d, dtype=policy, name="key")
        self.value = keras.layers.Dense(d, dtype=policy, name="value")

    def build(self, hidden_shape, word_mask_shape=None):
        gene_shape = tuple(hidden_shape[:-1]) + (self.embedding_dim,)
        for conv, norm in zip(self.convs, self.norms):
            conv.build(hidden_shape)
            norm.build(gene_shape)
        self.query.build((hidden_shape[0], hidden_shape[-1]))
        self.key.build(gene_shape)
        self.value.build(gene_shape)

    def gene_count(self, length):
        """L' for captions of `length` tokens."""
        return sum(length // k for k in self.kernel_sizes)

    def call(self, hidden, word_mask):
        mask = ops.cast(word_mask, "bool")
        length = hidden.shape[1]
        genes, gene_masks = [], []
        for k, conv, norm in zip(self.kernel_sizes, self.convs, self.norms):
            count = length // k
            genes.append(ops.relu(norm(conv(hidden))))
            words = ops.reshape(ops.cast(mask[:, : count * k], "int32"), (-1, count, k))
            gene_masks.append(ops.min(words, axis=-1) > 0)
        genes = ops.concatenate(genes, axis=1)
        gene_mask = ops.concatenate(gene_masks, axis=1)
        query = self.query(masked_mean(hidden, mask, axis=1))
        logits = ops.einsum("bld,bd->bl", self.key(genes), query)
        attention = masked_softmax(logits / math.sqrt(self.embedding_dim), gene_mask)
        context = ops.einsum("bl,bld->bd", attention, self.value(genes))
        return context, genes, gene_mask

    def compute_output_spec(self, hidden, word_mask):
        batch, length = hidden.shape[0], hidden.shape[1]
        genes = self.gene_count(length)
        return (
            keras.KerasTensor((batch, self.embedding_dim), dtype=self.compute_dtype),
            keras.KerasTensor((batch, genes, self.embedding_dim), dtype=self.compute_dtype),
            keras.KerasTensor((batch, genes), dtype="bool"),
        )

    def get_config(self):
        config = super().get_config()
        config.update(embedding_dim=self.embedding_dim, kernel_sizes=list(self.kernel_sizes))
        return config
