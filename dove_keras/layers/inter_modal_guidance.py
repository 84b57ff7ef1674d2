"""IGA: inter-modal guidance attention, the pairwise text embedding T_RG."""

import math

import keras
from keras import ops

from dove_keras.layers.masking import large_negative
from dove_keras.layers.masking import masked_mean
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
    `pair` / `pair_scores` (per image-caption block) so that evaluation can
    reuse the first two across blocks.

    The head is factorised: `MLP_h = Dense(d, relu) -> Dense(d)` (no dropout)
    and `x_ij` is linear in `G_j`, so its first Dense is applied once per
    caption, `P_j = G_j W1`, `p_j = mean(G_j) W1 + b1`, and per pair only

    ```
    h_ij = relu(p_j + w_ij P_j)                           # L' x d, not d x d
    T_ij = (mean(G_j) + b2) + w_ij G_j + h_ij W2
    ```
    remain; the gene mask rides in the affinity matmul as an extra key
    column (a logit bias), so the softmax needs no mask pass.

    With `residual_gate=True` (DOVE-CLIP, DESIGN section 1.7) the text
    embedding is a gated residual on the caption's global embedding T_G_j,
    `T_G_j + gamma * T_ij`, with a learnt scalar gamma initialised to
    `gate_init` (0: the pair embedding starts as T_G itself); `prepare_genes`
    then takes the captions' T_G.

    Args:
        embedding_dim: d.
        key_dim: d_k, the width of the affinity keys.
        residual_gate: add IGA's output, scaled by gamma, to T_G.
        gate_init: gamma's initial value.

    Call args:
        regions: `(I, N_r, d)`; region_mask: boolean `(I, N_r)` or None.
        genes: `(C, L', d)`; gene_mask: boolean `(C, L')` or None.
        text_global: `(C, d)` T_G, with `residual_gate` only.

    Returns:
        `(I, C, d)` text embeddings T_RG for every image-caption pair.
    """

    def __init__(self, embedding_dim, key_dim=64, residual_gate=False, gate_init=0.0, **kwargs):
        super().__init__(**kwargs)
        self.embedding_dim = embedding_dim
        self.key_dim = key_dim
        self.residual_gate = residual_gate
        self.gate_init = gate_init
        policy = self.dtype_policy
        self.region_norm = keras.layers.LayerNormalization(dtype=policy, name="region_norm")
        self.gene_norm = keras.layers.LayerNormalization(dtype=policy, name="gene_norm")
        self.query = keras.layers.Dense(key_dim, dtype=policy, name="query")
        self.key = keras.layers.Dense(key_dim, dtype=policy, name="key")
        self.value = keras.layers.Dense(embedding_dim, dtype=policy, name="value")
        self.head = MLP(embedding_dim, embedding_dim, dtype=policy, name="head")

    def build(self, regions_shape, region_mask_shape=None, genes_shape=None, gene_mask_shape=None,
              text_global_shape=None):
        self.region_norm.build(regions_shape)
        self.gene_norm.build(genes_shape)
        self.query.build(regions_shape)
        self.key.build(genes_shape)
        self.value.build(genes_shape)
        self.head.build((None, None, self.embedding_dim))
        self.gate = None
        if self.residual_gate:
            self.gate = self.add_weight((), initializer=keras.initializers.Constant(self.gate_init), name="gate")

    def prepare_regions(self, regions):
        """Affinity queries `(I, N_r, d_k)` of a set of images."""
        return self.query(self.region_norm(regions))

    def prepare_genes(self, genes, gene_mask, text_global=None):
        """Everything `pair` needs of a set of captions, once per caption.

        `text_global` (the captions' T_G `(C, d)`) is needed with
        `residual_gate` (and returned as `text_global`), ignored without.

        Returns:
            A dict of tensors:
            `keys` K_j `(C, L', d_k)`, `values` G_j `(C, L', d)`,
            `mean_values` mean_genes(G_j) `(C, d)` (the three values of the
            direct formulation), and for the factorised one:
            `masked_keys` `(C, L', d_k + 1)`: K_j with a last column holding
            the gene mask as a logit bias (0 real, a large negative padded);
            a caption without real genes gets zero keys and bias, so its
            softmax is uniform, as the masked fill makes it;
            `hidden_values` P_j = G_j W1 `(C, L', d)`;
            `hidden_mean` p_j = mean(G_j) W1 + b1 `(C, d)`;
            `output_mean` mean(G_j) + b2 `(C, d)`.
        """
        normed = self.gene_norm(genes)
        keys, values = self.key(normed), self.value(normed)
        mean_values = masked_mean(values, gene_mask, axis=1)
        hidden_kernel = _float_kernel(self.head.hidden, values.dtype)
        hidden_bias, output_bias = (
            ops.cast(variable, values.dtype) for variable in (self.head.hidden.bias, self.head.output_dense.bias)
        )
        bias = ops.zeros_like(keys[..., :1])
        if gene_mask is not None:
            real = ops.cast(gene_mask, "bool")
            has_genes = ops.any(real, axis=1, keepdims=True)
            fill = ops.cast(large_negative(keys.dtype), keys.dtype)
            bias = ops.expand_dims(ops.where(real | ~has_genes, ops.zeros_like(bias[..., 0]), fill), -1)
            keys_or_zero = ops.where(ops.expand_dims(has_genes, -1), keys, ops.zeros_like(keys))
        else:
            keys_or_zero = keys
        prepared = {
            "keys": keys,
            "values": values,
            "mean_values": mean_values,
            "masked_keys": ops.concatenate([keys_or_zero, bias], axis=-1),
            "hidden_values": ops.matmul(values, hidden_kernel),
            "hidden_mean": ops.matmul(mean_values, hidden_kernel) + hidden_bias,
            "output_mean": mean_values + output_bias,
        }
        if self.residual_gate:
            if text_global is None:
                raise ValueError("An IGA with residual_gate needs the captions' global embeddings (text_global).")
            prepared["text_global"] = ops.cast(text_global, values.dtype)
        return prepared

    def _gene_weights(self, queries, region_mask, masked_keys):
        """w_ij `(I, C, L')`: the gene softmax averaged over the real regions.

        The logits are one matmul `(I N_r, d_k + 1) x (d_k + 1, C L')` whose
        result is already laid out `(I, N_r, C, L')`: the softmax runs over
        the last axis, the region mean is a mean (or a batched vector-matrix
        product) over axis 1, and no transpose or mask pass touches the
        `I x C x N_r x L'` tensor. The 1/sqrt(d_k) scale goes on the queries.
        """
        num_images, num_regions = ops.shape(queries)[0], ops.shape(queries)[1]
        num_captions, num_genes = ops.shape(masked_keys)[0], ops.shape(masked_keys)[1]
        scaled = queries * ops.cast(1.0 / math.sqrt(self.key_dim), queries.dtype)
        scaled = ops.concatenate([scaled, ops.ones_like(scaled[..., :1])], axis=-1)
        flat_queries = ops.reshape(scaled, (-1, self.key_dim + 1))
        flat_keys = ops.reshape(masked_keys, (-1, self.key_dim + 1))
        logits = ops.matmul(flat_queries, ops.transpose(flat_keys))
        logits = ops.reshape(logits, (num_images, num_regions, num_captions, num_genes))
        attention = ops.softmax(logits, axis=-1)
        if region_mask is None:
            return ops.mean(attention, axis=1)
        region_weights = ops.cast(region_mask, attention.dtype)
        count = ops.maximum(ops.sum(region_weights, axis=1, keepdims=True), 1.0)
        region_weights = ops.expand_dims(region_weights / count, 1)  # (I, 1, N_r)
        flat = ops.reshape(attention, (num_images, num_regions, -1))
        weights = ops.matmul(region_weights, flat)
        return ops.reshape(weights, (num_images, num_captions, num_genes))

    def _guided_by_caption(self, queries, region_mask, captions):
        """T_RG laid out caption-major, `(C, I, d)`, from the factorised head.

        `x_ij = m_j + w_ij G_j`, `h_ij = relu(p_j + w_ij P_j)` (the head's
        first Dense applied per caption: x is linear in G_j) and
        `T_ij = (m_j + b2) + w_ij G_j + h_ij W2`; with the residual gate,
        `T_G_j + gamma * T_ij`.
        """
        weights = ops.transpose(self._gene_weights(queries, region_mask, captions["masked_keys"]), (1, 0, 2))
        hidden = ops.relu(
            ops.expand_dims(captions["hidden_mean"], 1) + ops.matmul(weights, captions["hidden_values"])
        )
        output_kernel = _float_kernel(self.head.output_dense, hidden.dtype)
        guided = (
            ops.expand_dims(captions["output_mean"], 1)
            + ops.matmul(weights, captions["values"])
            + ops.matmul(hidden, output_kernel)
        )
        if self.residual_gate:
            guided = ops.expand_dims(captions["text_global"], 1) + ops.cast(self.gate, guided.dtype) * guided
        return guided

    def pair(self, queries, region_mask, captions):
        """T_RG `(I, C, d)` from `prepare_regions` queries and `prepare_genes` captions."""
        return ops.transpose(self._guided_by_caption(queries, region_mask, captions), (1, 0, 2))

    def pair_scores(self, images, queries, region_mask, captions):
        """`(I, C)` ROAM scores cos(V_MR_i, T_RG_ij) of prepared images and captions.

        Args:
            images: the fused image embeddings V_MR `(I, d)`.
            queries, region_mask: the images' `prepare_regions` queries and mask.
            captions: the captions' `prepare_genes` dict.

        Equals `cos(images_i, pair(...)_ij)` with `ops.normalize`'s epsilon,
        without writing the normalised `(I, C, d)` tensor.
        """
        guided = self._guided_by_caption(queries, region_mask, captions)  # (C, I, d)
        unit_images = ops.expand_dims(ops.normalize(ops.cast(images, guided.dtype), axis=-1), 0)
        dots = ops.sum(guided * unit_images, axis=-1)
        inverse_norms = ops.minimum(
            ops.rsqrt(ops.sum(ops.square(guided), axis=-1)),
            ops.cast(1.0 / keras.backend.epsilon(), guided.dtype),
        )
        return ops.transpose(dots * inverse_norms)

    def call(self, regions, region_mask, genes, gene_mask=None, text_global=None):
        return self.pair(
            self.prepare_regions(regions), region_mask, self.prepare_genes(genes, gene_mask, text_global)
        )

    def compute_output_shape(self, regions_shape, region_mask_shape=None, genes_shape=None, gene_mask_shape=None,
                             text_global_shape=None):
        return (regions_shape[0], genes_shape[0], self.embedding_dim)

    def get_config(self):
        config = super().get_config()
        config.update(embedding_dim=self.embedding_dim, key_dim=self.key_dim)
        if self.residual_gate:  # a DOVE IGA's config stays as it was
            config.update(residual_gate=True, gate_init=self.gate_init)
        return config


def _float_kernel(dense, dtype):
    """The matrix a `Dense` multiplies by, as `dtype`; an int8-quantized kernel is dequantized.

    The factorised head multiplies by its kernels outside the layers' calls,
    and `Dense.kernel` of a layer quantized to int8 is the raw int8 matrix
    (its per-column `kernel_scale` is applied in the layer's call).
    """
    mode = dense.quantization_mode
    if mode == "int8":
        return ops.cast(ops.divide(ops.cast(dense.kernel, "float32"), dense.kernel_scale), dtype)
    if mode not in (None, "float8"):
        raise ValueError(f"{dense.path}: the factorised IGA head takes float, float8 or int8 kernels, not {mode}")
    return ops.cast(dense.kernel, dtype)

