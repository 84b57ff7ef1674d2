"""DOVE-CLIP as a retrieval task: CLIP's preprocessing, the CLIP or triplet loss, ROAM scoring."""

import keras
from keras import ops

from dove_keras.models.clip.clip_preprocessor import CLIPRetrieverPreprocessor
from dove_keras.models.clip.clip_retriever import DEFAULT_LEARNING_RATE
from dove_keras.models.clip.clip_retriever import LOSSES
from dove_keras.models.clip.clip_retriever import CLIPRetriever
from dove_keras.models.clip.dove_clip_backbone import DOVECLIPBackbone
from dove_keras.models.dove_retriever import DOVERetriever
from dove_keras.models.losses import contrastive_loss
from dove_keras.models.losses import triplet_loss
from dove_keras.models.replicas import gather_replicas
from dove_keras.models.replicas import scale_for_replicas


@keras.saving.register_keras_serializable(package="dove_keras")
class DOVECLIPRetriever(DOVERetriever):
    """Image-text retrieval with DOVE-CLIP (DESIGN section 1.7).

    A `DOVERetriever` on a `DOVECLIPBackbone` with CLIP's preprocessor:
    `score` is the chunked ROAM score, `global_score` CLIP's cosine, and
    evaluation, export and search take it as they take DOVE. Training
    minimises `L(ROAM) + lambda_global * L(global)` (DESIGN section 1.4's
    structure) with L CLIP's loss (symmetric InfoNCE with the backbone's
    learnable `logit_scale`) or the triplet loss, and logs `loss`,
    `roam_loss` and `global_loss`. Build one from an imported CLIP with
    `dove_clip_from_clip`.

    Args:
        backbone: a `DOVECLIPBackbone`.
        preprocessor: a `CLIPRetrieverPreprocessor` or None.
        loss: `"contrastive"` (CLIP's) or `"triplet"`.
        margin, hardest_negative: the triplet loss' settings.
        lambda_global: weight of the loss on the global scores (0 disables it).
    """

    backbone_cls = DOVECLIPBackbone
    preprocessor_cls = CLIPRetrieverPreprocessor
    roam_loss_name = "roam_loss"

    def __init__(self, backbone, preprocessor=None, loss="contrastive", margin=0.2, hardest_negative=False,
                 lambda_global=1.0, **kwargs):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
        self.loss_name = loss
        super().__init__(backbone, preprocessor, margin=margin, hardest_negative=hardest_negative,
                         lambda_global=lambda_global, **kwargs)

    def compile(self, optimizer="auto", **kwargs):
        """Compiles with AdamW(1e-5) (CLIP's fine-tuning default) unless another optimizer is given."""
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(DEFAULT_LEARNING_RATE)
        super().compile(optimizer=optimizer, **kwargs)

    def retrieval_loss(self, scores, image_ids):
        """The configured loss (CLIP's InfoNCE or the triplet loss) of a float32 `(B, B)` matrix."""
        if self.loss_name == "contrastive":
            return contrastive_loss(scores, image_ids, self.backbone.logit_scale)
        return triplet_loss(scores, image_ids, margin=self.margin, hardest_negative=self.hardest_negative)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The loss of the ROAM scores plus lambda_global times that of the global ones."""
        image_ids = gather_replicas(x["image_ids"])
        y_pred = {key: ops.cast(value, "float32") for key, value in y_pred.items()}  # mixed precision
        global_loss = self.retrieval_loss(y_pred["global_scores"], image_ids)
        if "roam_scores" not in y_pred:
            roam, total = global_loss, global_loss
        else:
            roam = self.retrieval_loss(y_pred["roam_scores"], image_ids)
            total = roam + self.lambda_global * global_loss
        self.triplet_tracker.update_state(roam)
        self.global_tracker.update_state(global_loss)
        if self.losses:
            total = total + ops.sum(self.losses)
        return scale_for_replicas(total)

    def serving_functions(self):
        """`(layers, image_features, text_features)` the SavedModel export traces."""
        backbone = self.backbone

        def image_features(images):
            return backbone.image_encoder(images, training=False)

        def text_features(token_ids):
            return backbone.text_encoder(token_ids, training=False)

        return (backbone.image_encoder, backbone.text_encoder, backbone.batch_similarity), image_features, \
            text_features

    def get_config(self):
        config = super().get_config()
        config.update(loss=self.loss_name)
        return config


def dove_clip_from_clip(clip, feature_blocks=None, iga_key_dim=64, use_roam=True, use_dtga=True, gate_init=0.0,
                        loss="contrastive", margin=0.2, hardest_negative=False, lambda_global=1.0, dtype=None):
    """A `DOVECLIPRetriever` on an imported CLIP's towers and preprocessor.

    Args:
        clip: a `CLIPRetriever`, or a preset folder holding one (`dove-data
            import-clip`, or a fine-tuned CLIP's preset).
        feature_blocks, iga_key_dim, use_roam, use_dtga, gate_init: the
            `DOVECLIPBackbone`'s.
        loss, margin, hardest_negative, lambda_global: the task's.
        dtype: the dtype policy (e.g. `"mixed_bfloat16"`) of the towers and
            the heads (default: the CLIP's).

    Returns:
        A compiled `DOVECLIPRetriever` sharing the CLIP's weights (a
        retriever given is not copied, so training one trains both, unless
        `dtype` differs from its policy: then the towers are a copy).
    """
    if not isinstance(clip, CLIPRetriever):
        clip = CLIPRetriever.from_preset(clip)
    towers = clip.backbone
    if dtype is not None and keras.dtype_policies.get(dtype).name != towers.vision_encoder.dtype_policy.name:
        towers = clip_backbone_with_policy(towers, dtype)
    backbone = DOVECLIPBackbone(towers, feature_blocks=feature_blocks, iga_key_dim=iga_key_dim,
                                use_roam=use_roam, use_dtga=use_dtga, gate_init=gate_init, dtype=dtype)
    return DOVECLIPRetriever(backbone, clip.preprocessor, loss=loss, margin=margin,
                             hardest_negative=hardest_negative, lambda_global=lambda_global)


def clip_backbone_with_policy(backbone, dtype):
    """A copy of a keras-hub `CLIPBackbone` (weights included) whose towers and layers use `dtype`.

    keras-hub's `from_preset(dtype=...)` sets the backbone's policy only: the
    towers keep the policy saved in their own configs.
    """
    config = keras.saving.serialize_keras_object(backbone)
    config["config"]["dtype"] = dtype
    for tower in ("vision_encoder", "text_encoder"):
        config["config"][tower]["config"]["dtype"] = dtype
    copy = keras.saving.deserialize_keras_object(config)
    copy.set_weights(backbone.get_weights())
    return copy
