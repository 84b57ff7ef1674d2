"""DOVE-CLIP's towers: ROAM and DTGA inputs read from a keras-hub CLIP's own transformers."""

import keras
from keras import ops

from dove_keras.layers import IntraModalFusionAttention
from dove_keras.layers import PatchTokenFusion
from dove_keras.layers import TextGenomeAttention
from dove_keras.layers.masking import masked_mean


def default_feature_blocks(depth):
    """Blocks L/3, 2L/3 and L (1-based) of a `depth`-block tower, without repeats."""
    return sorted({max(1, round(depth * k / 3)) for k in (1, 2, 3)})


def _layer(value):
    return keras.saving.deserialize_keras_object(value) if isinstance(value, dict) else value


@keras.saving.register_keras_serializable(package="dove_keras")
class CLIPPatchImageEncoder(keras.layers.Layer):
    """The image side of DOVE-CLIP on a `CLIPVisionEncoder` (DESIGN section 1.7).

    The vision tower's layers run here one by one (the same layers, not a
    copy), so the patch tokens of the chosen blocks are collected on the way:

    - `global` V_M = proj_v(LN(CLS)): exactly CLIP's image embedding;
    - `regions` F_R = Dense_d(LN(last block's patch tokens)), after the
      tower's final layer norm, one region per patch (N_r = (S/P)^2);
    - tokens F_M = `PatchTokenFusion` of the chosen blocks' patch tokens;
    - `fused` V_MR = V_M + gamma_v * IFA(F_M, F_R), gamma_v a learnt scalar
      initialised to `gate_init` (0: V_MR = V_M at step 0).

    Args:
        vision_encoder: keras-hub's `CLIPVisionEncoder` (shared, not copied).
        vision_projection: the CLIP backbone's `vision_projection` (shared).
        embedding_dim: d, the CLIP projection width.
        feature_blocks: 1-based blocks whose patch tokens make F_M (default
            L/3, 2L/3, L).
        use_roam: build F_R, F_M and IFA; without, `fused` is `global`.
        gate_init: gamma_v's initial value.

    Call args:
        images: `(batch, S, S, 3)` normalised images at the tower's side.
        regions, region_mask: not used (grid regions only; kept for the
            interface of DOVE's image encoder).

    Returns:
        A dict: `global` `(batch, d)`, `fused` `(batch, d)` and, with ROAM,
        `regions` `(batch, N_r, d)` and `region_mask` (all True).
    """

    region_source = "grid"  # the interface of DOVE's ImageEncoder (attention maps, export)
    num_regions = None

    def __init__(self, vision_encoder, vision_projection, embedding_dim, feature_blocks=None, use_roam=True,
                 gate_init=0.0, **kwargs):
        super().__init__(**kwargs)
        self.vision_encoder = _layer(vision_encoder)
        self.vision_projection = _layer(vision_projection)
        depth = len(self.vision_encoder.encoder_layers)
        blocks = default_feature_blocks(depth) if feature_blocks is None else sorted(set(feature_blocks))
        if not blocks or any(isinstance(b, bool) or not isinstance(b, int) or not 1 <= b <= depth for b in blocks):
            raise ValueError(f"feature_blocks must be block numbers from 1 to {depth}, got {feature_blocks!r}.")
        self.embedding_dim = embedding_dim
        self.feature_blocks = blocks
        self.use_roam = use_roam
        self.gate_init = gate_init
        policy = self.dtype_policy
        if use_roam:
            self.fusion = PatchTokenFusion(embedding_dim, len(blocks), dtype=policy, name="fusion")
            self.region_projection = keras.layers.Dense(embedding_dim, dtype=policy, name="region_projection")
            self.ifa = IntraModalFusionAttention(embedding_dim, dtype=policy, name="ifa")

    @property
    def multiscale_grid(self):
        """The side of the patch grid (the token and region grid)."""
        return self.vision_encoder.image_shape[0] // self.vision_encoder.patch_size

    def build(self, images_shape=None, regions_shape=None, region_mask_shape=None):
        if not self.use_roam:
            return
        tokens = (None, self.multiscale_grid**2, self.vision_encoder.hidden_dim)
        d_tokens = tokens[:2] + (self.embedding_dim,)
        self.fusion.build([tokens] * len(self.feature_blocks))
        self.region_projection.build(tokens)
        self.ifa.build(d_tokens, d_tokens)
        self.gate = self.add_weight((), initializer=keras.initializers.Constant(self.gate_init), name="gate")

    def _tower(self, images, training=None):
        """`(final states (batch, 1 + N, width), [patch tokens of each feature block])`."""
        tower = self.vision_encoder
        x = tower.pre_layer_norm(tower.embedding(images, training=training))
        collected = []
        for number, block in enumerate(tower.encoder_layers, start=1):
            x = block(x, training=training)
            if number in self.feature_blocks:
                collected.append(x[:, 1:])
        return tower.layer_norm(x), collected

    def tokens_and_regions(self, images, regions=None, region_mask=None, training=None):
        """`(F_M tokens, F_R regions, region mask)` on the patch grid, row-major."""
        return self._roam_inputs(*self._tower(images, training))

    def _roam_inputs(self, states, collected):
        tokens = self.fusion(collected)
        regions = self.region_projection(states[:, 1:])
        return tokens, regions, ops.ones(ops.shape(regions)[:2], dtype="bool")

    def call(self, images, regions=None, region_mask=None, training=None):
        states, collected = self._tower(images, training)
        image_global = self.vision_projection(states[:, 0])
        if not self.use_roam:
            return {"global": image_global, "fused": image_global}
        tokens, regions, region_mask = self._roam_inputs(states, collected)
        fused = image_global + ops.cast(self.gate, image_global.dtype) * self.ifa(tokens, regions, region_mask)
        return {"global": image_global, "fused": fused, "regions": regions, "region_mask": region_mask}

    def compute_output_spec(self, images, regions=None, region_mask=None, training=None):
        batch, d = images.shape[0], self.embedding_dim
        outputs = {"global": keras.KerasTensor((batch, d)), "fused": keras.KerasTensor((batch, d))}
        if self.use_roam:
            count = self.multiscale_grid**2
            outputs["regions"] = keras.KerasTensor((batch, count, d))
            outputs["region_mask"] = keras.KerasTensor((batch, count), dtype="bool")
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            vision_encoder=keras.saving.serialize_keras_object(self.vision_encoder),
            vision_projection=keras.saving.serialize_keras_object(self.vision_projection),
            embedding_dim=self.embedding_dim, feature_blocks=list(self.feature_blocks), use_roam=self.use_roam,
            gate_init=self.gate_init,
        )
        return config


@keras.saving.register_keras_serializable(package="dove_keras")
class CLIPTokenTextEncoder(keras.layers.Layer):
    """The text side of DOVE-CLIP on a `CLIPTextEncoder` (DESIGN section 1.7).

    - `global` T_G = proj_t(EOT state): exactly CLIP's text embedding (the
      end token is the largest id; keras-hub pads with it, so the first one
      is the caption's end);
    - H = Dense_d(the tower's token states, after its final layer norm),
      zero after the end token (the mask: positions up to and including it);
    - `genes` F_G and `gene_mask` from DTGA on H (`use_dtga=False`: H
      itself), plus DTGA's context g, as in DOVE's text tower.

    Args:
        text_encoder: keras-hub's `CLIPTextEncoder` (shared, not copied).
        text_projection: the CLIP backbone's `text_projection` (shared).
        embedding_dim: d.
        use_roam: build H and the genes; without, only `global`.
        use_dtga: DTGA's n-gram genes (else the token states).

    Call args:
        token_ids: int `(batch, L)`: start token, BPE ids, end token, end-token padding.

    Returns:
        A dict: `global` `(batch, d)` and, with ROAM, `genes` `(batch, L', d)`
        and `gene_mask` `(batch, L')`.
    """

    def __init__(self, text_encoder, text_projection, embedding_dim, use_roam=True, use_dtga=True, **kwargs):
        super().__init__(**kwargs)
        self.text_encoder = _layer(text_encoder)
        self.text_projection = _layer(text_projection)
        self.embedding_dim = embedding_dim
        self.use_roam = use_roam
        self.use_dtga = use_dtga
        policy = self.dtype_policy
        self.genome = None
        if use_roam:
            self.token_projection = keras.layers.Dense(embedding_dim, dtype=policy, name="token_projection")
            if use_dtga:
                self.genome = TextGenomeAttention(embedding_dim, dtype=policy, name="genome")

    def build(self, token_ids_shape=(None, None)):
        if not self.use_roam:
            return
        batch, length = token_ids_shape
        self.token_projection.build((batch, length, self.text_encoder.hidden_dim))
        if self.genome is not None:
            self.genome.build((batch, length, self.embedding_dim), (batch, length))

    def call(self, token_ids, training=None):
        states = self.text_encoder({"token_ids": token_ids}, training=training)
        end = ops.argmax(token_ids, axis=-1)
        pooled = ops.squeeze(ops.take_along_axis(states, end[:, None, None], axis=1), axis=1)
        outputs = {"global": self.text_projection(pooled)}
        if not self.use_roam:
            return outputs
        mask = ops.arange(ops.shape(token_ids)[1])[None, :] <= ops.expand_dims(end, 1)
        hidden = self.token_projection(states)
        hidden = hidden * ops.expand_dims(ops.cast(mask, hidden.dtype), -1)
        if self.genome is None:
            context, genes, gene_mask = masked_mean(hidden, mask, axis=1), hidden, mask
        else:
            context, genes, gene_mask = self.genome(hidden, mask)
        outputs.update(genes=genes + ops.expand_dims(context, 1), gene_mask=gene_mask)
        return outputs

    def compute_output_spec(self, token_ids, training=None):
        batch, length = token_ids.shape
        outputs = {"global": keras.KerasTensor((batch, self.embedding_dim))}
        if self.use_roam:
            genes = length if self.genome is None or length is None else self.genome.gene_count(length)
            outputs["genes"] = keras.KerasTensor((batch, genes, self.embedding_dim))
            outputs["gene_mask"] = keras.KerasTensor((batch, genes), dtype="bool")
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            text_encoder=keras.saving.serialize_keras_object(self.text_encoder),
            text_projection=keras.saving.serialize_keras_object(self.text_projection),
            embedding_dim=self.embedding_dim, use_roam=self.use_roam, use_dtga=self.use_dtga,
        )
        return config
