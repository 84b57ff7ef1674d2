"""The text tower: word embedding -> averaged BiGRU -> DTGA -> T_G and F_G."""

import keras
from keras import ops

from dove_keras.layers import MLP
from dove_keras.layers import TextGenomeAttention
from dove_keras.layers.masking import masked_mean


@keras.saving.register_keras_serializable(package="dove_keras")
class TextEncoder(keras.layers.Layer):
    """Encodes padded token ids into a global embedding and gene tokens.

    Args:
        vocabulary_size: number of token ids (0 is padding, 1 out-of-vocabulary).
        embedding_dim: d.
        word_dim: width of the word embedding (300 as GloVe).
        use_dtga: extract n-gram genes with DTGA; without it the genes are the
            word states and the context is their masked mean.
        word_dropout: dropout after the word embedding.
        dropout: dropout of the global MLP head.

    Call args:
        token_ids: integer `(batch, L)`, right-padded with 0.

    Returns:
        A dict: `global` T_G `(batch, d)`, `genes` F_G `(batch, L', d)` and
        `gene_mask` `(batch, L')`.
    """

    def __init__(
        self,
        vocabulary_size,
        embedding_dim=512,
        word_dim=300,
        use_dtga=True,
        word_dropout=0.4,
        dropout=0.2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.word_dim = word_dim
        self.use_dtga = use_dtga
        self.word_dropout = word_dropout
        self.dropout = dropout
        policy = self.dtype_policy
        self.word_embedding = keras.layers.Embedding(
            vocabulary_size, word_dim, dtype=policy, name="word_embedding"
        )
        self.word_dropout_layer = keras.layers.Dropout(word_dropout, dtype=policy, name="word_dropout")
        self.recurrent = keras.layers.Bidirectional(
            keras.layers.GRU(embedding_dim, return_sequences=True, dtype=policy),
            merge_mode="ave",
            dtype=policy,
            name="recurrent",
        )
        self.genome = None
        if use_dtga:
            self.genome = TextGenomeAttention(embedding_dim, dtype=policy, name="genome")
        self.global_head = MLP(2 * embedding_dim, embedding_dim, dropout, dtype=policy, name="global_head")

    def build(self, token_ids_shape=(None, None)):
        batch, length = token_ids_shape
        self.word_embedding.build(token_ids_shape)
        self.recurrent.build((batch, length, self.word_dim))
        hidden_shape = (batch, length, self.embedding_dim)
        if self.genome is not None:
            self.genome.build(hidden_shape, (batch, length))
        self.global_head.build((batch, self.embedding_dim))

    def set_word_embeddings(self, matrix):
        """Initialises the word embedding from a `(vocabulary_size, word_dim)` matrix."""
        expected = (self.vocabulary_size, self.word_dim)
        if tuple(matrix.shape) != expected:
            raise ValueError(f"Word embedding matrix has shape {tuple(matrix.shape)}, expected {expected}.")
        self.word_embedding.embeddings.assign(matrix)

    def call(self, token_ids, training=None):
        mask = ops.not_equal(token_ids, 0)
        words = self.word_embedding(token_ids)
        words = self.word_dropout_layer(words, training=training)
        hidden = self._bidirectional_states(words, mask, training)
        hidden = hidden * ops.expand_dims(ops.cast(mask, hidden.dtype), -1)
        if self.genome is None:
            context, genes, gene_mask = masked_mean(hidden, mask, axis=1), hidden, mask
        else:
            context, genes, gene_mask = self.genome(hidden, mask)
        return {
            "global": context + self.global_head(context, training=training),
            "genes": genes + ops.expand_dims(context, 1),
            "gene_mask": gene_mask,
        }

    def _bidirectional_states(self, words, mask, training):
        """The averaged BiGRU states of right-padded captions, without an RNN mask.

        Equal, at the words, to `self.recurrent(words, mask=mask)`: the forward
        GRU meets the padding only after the last word, and the backward GRU
        runs on the captions shifted right so that it meets the words first.
        Unmasked GRUs take the fast paths (cuDNN on GPU, torch's native GRU
        kernel on its CPU: `gru_states`) that a mask rules out.
        """
        forward = gru_states(self.recurrent.forward_layer, words, training)
        padding = ops.shape(words)[1] - ops.sum(ops.cast(mask, "int32"), axis=1)
        backward = gru_states(self.recurrent.backward_layer, _shift_rows(words, padding), training)
        backward = _shift_rows(ops.flip(backward, axis=1), -padding)
        return (forward + backward) / 2

    def compute_output_spec(self, token_ids, training=None):
        batch, length = token_ids.shape
        genes = length
        if self.genome is not None and length is not None:
            genes = self.genome.gene_count(length)
        return {
            "global": keras.KerasTensor((batch, self.embedding_dim)),
            "genes": keras.KerasTensor((batch, genes, self.embedding_dim)),
            "gene_mask": keras.KerasTensor((batch, genes), dtype="bool"),
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            embedding_dim=self.embedding_dim,
            word_dim=self.word_dim,
            use_dtga=self.use_dtga,
            word_dropout=self.word_dropout,
            dropout=self.dropout,
        )
        return config


def gru_states(gru, sequences, training=None):
    """`gru(sequences)` of a `return_sequences` GRU; on torch, torch's native GRU kernel.

    Keras' torch GRU runs a Python loop over time steps on CPU (its cuDNN
    path needs CUDA); `torch.gru` computes the same recurrence
    (`reset_after=True`) in one call. GRUs it does not cover (dropout, other
    activations) and the other backends call the layer.
    """
    cell = gru.cell
    native = (
        keras.backend.backend() == "torch"
        and gru.return_sequences and not gru.return_state and not gru.unroll
        and cell.reset_after and cell.use_bias and not cell.dropout and not cell.recurrent_dropout
        and cell.activation is keras.activations.tanh and cell.recurrent_activation is keras.activations.sigmoid
    )
    if not native:
        return gru(sequences, training=training)
    return _torch_gru_states(gru, ops.cast(sequences, gru.compute_dtype))


def _torch_gru_states(gru, sequences):
    """`gru(sequences)` through `torch.gru`: its gates are Keras' (z, r, h) reordered to (r, z, h)."""
    import torch

    def torch_gates(weights, axis):
        update, reset, candidate = torch.chunk(weights, 3, dim=axis)
        return torch.cat([reset, update, candidate], dim=axis)

    cell = gru.cell
    kernel, recurrent_kernel, bias = (
        ops.cast(weights, gru.compute_dtype) for weights in (cell.kernel, cell.recurrent_kernel, cell.bias)
    )
    params = [torch_gates(kernel, 1).T, torch_gates(recurrent_kernel, 1).T, torch_gates(bias[0], 0),
              torch_gates(bias[1], 0)]
    if gru.go_backwards:
        sequences = torch.flip(sequences, dims=[1])
    initial_state = sequences.new_zeros((1, sequences.shape[0], cell.units))
    states, _ = torch.gru(sequences, initial_state, params, True, 1, 0.0, torch.is_grad_enabled(), False, True)
    return states


def _shift_rows(sequences, shifts):
    """Rolls each row of `(batch, time, features)` right by its own `shifts[b]` steps."""
    length = ops.shape(sequences)[1]
    source = ops.mod(ops.arange(length)[None, :] - ops.expand_dims(shifts, 1), length)
    source = ops.broadcast_to(ops.expand_dims(source, -1), ops.shape(sequences))
    return ops.take_along_axis(sequences, source, axis=1)
