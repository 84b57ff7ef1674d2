"""DOVE-CLIP's backbone: DOVE's ROAM and DTGA heads on an imported CLIP's towers."""

import keras
import keras_hub

from dove_keras.models.batch_similarity import BatchSimilarity
from dove_keras.models.clip.dove_clip_towers import CLIPPatchImageEncoder
from dove_keras.models.clip.dove_clip_towers import CLIPTokenTextEncoder
from dove_keras.models.preset_checks import CheckedPreset


@keras.saving.register_keras_serializable(package="dove_keras")
class DOVECLIPBackbone(CheckedPreset, keras_hub.models.Backbone):
    """DOVE's heads on a keras-hub `CLIPBackbone` (DESIGN section 1.7).

    The CLIP backbone is wrapped, not re-implemented: its vision and text
    transformers and projections are the layers `CLIPPatchImageEncoder` and
    `CLIPTokenTextEncoder` run. d is CLIP's projection width. The global
    embeddings are CLIP's own (V_M = proj_v(CLS), T_G = proj_t(EOT)); ROAM
    adds zero-initialised gated residuals, `V_MR = V_M + gamma_v IFA(F_M,
    F_R)` and `T_RG_ij = T_G_j + gamma_t IGA(F_R_i, F_G_j)`, so with
    `gate_init=0` both the stage-1 and the ROAM scores equal the imported
    CLIP's cosine at step 0. Freeze or train the towers with
    `dove_keras.models.clip.trainable_blocks.set_trainable_blocks(backbone.clip, n)`.

    Args:
        clip_backbone: a keras-hub `CLIPBackbone` (e.g. of `dove-data import-clip`).
        feature_blocks: 1-based vision blocks whose patch tokens make F_M
            (default L/3, 2L/3, L).
        iga_key_dim: d_k of IGA.
        use_roam: False gives CLIP's dual encoder score alone.
        use_dtga: False uses the projected token states as genes.
        gate_init: the initial gamma_v and gamma_t.
        dtype: the dtype policy of the new layers (default the CLIP
            backbone's; load the CLIP with the same policy).

    Call args:
        inputs: a dict: `images` `(B, S, S, 3)` normalised, `token_ids` `(B, L)`.

    Returns:
        `{"global_scores": (B, B)}` and, with ROAM, `"roam_scores"` (B, B).
    """

    def __init__(self, clip_backbone, feature_blocks=None, iga_key_dim=64, use_roam=True, use_dtga=True,
                 gate_init=0.0, dtype=None, **kwargs):
        if isinstance(clip_backbone, dict):
            clip_backbone = keras.saving.deserialize_keras_object(clip_backbone)
        if isinstance(iga_key_dim, bool) or not isinstance(iga_key_dim, int) or iga_key_dim < 1:
            raise ValueError(f"iga_key_dim must be a positive integer, got {iga_key_dim!r}.")
        dtype = clip_backbone.dtype_policy if dtype is None else dtype
        d = clip_backbone.projection_dim
        # === Layers ===
        self.clip = clip_backbone
        self.image_encoder = CLIPPatchImageEncoder(
            clip_backbone.vision_encoder, clip_backbone.vision_projection, d, feature_blocks, use_roam, gate_init,
            dtype=dtype, name="image_encoder",
        )
        self.text_encoder = CLIPTokenTextEncoder(
            clip_backbone.text_encoder, clip_backbone.text_projection, d, use_roam, use_dtga, dtype=dtype,
            name="text_encoder",
        )
        self.batch_similarity = BatchSimilarity(
            d, iga_key_dim, use_roam, residual_gate=True, gate_init=gate_init, dtype=dtype, name="batch_similarity"
        )

        # === Functional Model ===
        inputs = {
            "images": keras.Input(clip_backbone.vision_encoder.image_shape, name="images"),
            "token_ids": keras.Input((None,), dtype="int32", name="token_ids"),
        }
        image_features = self.image_encoder(inputs["images"])
        text_features = self.text_encoder(inputs["token_ids"])
        outputs = self.batch_similarity(image_features, text_features)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)
        # Tracked again: on torch the functional init forgets layers outside its graph (here the
        # temperature `clip_head.logit_scale`, which only the loss reads).
        self.clip = clip_backbone

        # === Config ===
        self.embedding_dim = d
        self.feature_blocks = self.image_encoder.feature_blocks
        self.iga_key_dim = iga_key_dim
        self.use_roam = use_roam
        self.use_dtga = use_dtga
        self.gate_init = gate_init
        self.region_source = "grid"

    @property
    def iga(self):
        """ROAM's (gated) inter-modal guidance attention (None without ROAM)."""
        return self.batch_similarity.iga

    @property
    def logit_scale(self):
        """CLIP's learnable log inverse temperature (the CLIP loss')."""
        return self.clip.clip_head.logit_scale

    def get_config(self):
        config = super().get_config()
        config.update(
            clip_backbone=keras.saving.serialize_keras_object(self.clip),
            feature_blocks=list(self.feature_blocks),
            iga_key_dim=self.iga_key_dim,
            use_roam=self.use_roam,
            use_dtga=self.use_dtga,
            gate_init=self.gate_init,
        )
        return config
