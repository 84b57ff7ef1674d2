"""DOVE's backbone: the image and text towers and ROAM's inter-modal guidance."""

import keras
import keras_hub

from dove_keras.models.batch_similarity import BatchSimilarity
from dove_keras.models.image_encoder import ImageEncoder
from dove_keras.models.preset_checks import CheckedPreset
from dove_keras.models.text_encoder import TextEncoder

REGION_SOURCES = ("grid", "precomputed")


def check_backbone_arguments(
    vocabulary_size=None, embedding_dim=512, word_dim=300, multiscale_grid=8, region_source="grid",
    region_dim=None, num_regions=None, iga_key_dim=64, dropout=0.2, word_dropout=0.4, **unused,
):
    """Raises ValueError, naming the argument, for values `DOVEBackbone` cannot use."""
    positive = dict(embedding_dim=embedding_dim, word_dim=word_dim, multiscale_grid=multiscale_grid,
                    iga_key_dim=iga_key_dim)
    if vocabulary_size is not None:
        positive["vocabulary_size"] = vocabulary_size
    if num_regions is not None:
        positive["num_regions"] = num_regions
    if region_dim is not None:
        positive["region_dim"] = region_dim
    for name, value in positive.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if region_source not in REGION_SOURCES:
        raise ValueError(f"region_source must be one of {list(REGION_SOURCES)}, got {region_source!r}.")
    if region_source == "precomputed" and region_dim is None:
        raise ValueError("region_source='precomputed' needs region_dim (the width of the region vectors).")
    for name, value in dict(dropout=dropout, word_dropout=word_dropout).items():
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}.")


@keras.saving.register_keras_serializable(package="dove_keras")
class DOVEBackbone(CheckedPreset, keras_hub.models.Backbone):
    """Direction-oriented visual-semantic embedding towers (DESIGN section 1).

    The image tower gives the global embedding V_M and, with ROAM, the
    regions F_R and the fused embedding V_MR (IFA); the text tower gives T_G
    and the gene tokens F_G (DTGA). IGA turns F_G into a text embedding
    guided by an image's regions, so the ROAM score `cos(V_MR_i, T_RG_ij)`
    is pairwise. Called on a batch, the backbone returns both score
    matrices of the batch (images x captions); `DOVERetriever` adds the loss,
    the preprocessor and the chunked scoring of whole splits.

    A functional model (as keras-hub backbones are), built when constructed:
    any image side that is a multiple of 32, any caption length.

    Args:
        vocabulary_size: token ids (0 padding, 1 out-of-vocabulary, then words).
        image_backbone: `"resnet50"`, `"resnet18"`, `"tiny"` (random init),
            a local keras-hub preset directory or hub handle such as
            `"resnet_50_imagenet"`, or a `ResNetBackbone`.
        embedding_dim: d.
        word_dim: word embedding width.
        multiscale_grid: side of the multiscale token grid.
        region_source: `"grid"` (P5 cells) or `"precomputed"` (vectors given
            with each example as `regions` and `region_mask`).
        region_dim: D_r, width of precomputed region vectors.
        num_regions: keep the top-k regions (None keeps all).
        iga_key_dim: d_k of the IGA affinity.
        use_roam: False gives a plain dual encoder on (V_M, T_G).
        use_dtga: False replaces DTGA's genes by the word states.
        train_image_backbone: fine-tune the ResNet (frozen in the protocol).
        dropout: dropout of both towers' global MLP heads.
        word_dropout: dropout after the word embedding.
        dtype: the dtype policy of the layers (e.g. `"mixed_bfloat16"`).

    Call args:
        inputs: a dict: `images` `(B, S, S, 3)` normalised, `token_ids`
            `(B, L)` right-padded with 0, and `regions`
            `(B, N_r, D_r)` + `region_mask` `(B, N_r)` for precomputed
            regions.

    Returns:
        `{"global_scores": (B, B)}` and, with ROAM, `"roam_scores"` (B, B):
        rows images, columns captions. Under a `tf.distribute` strategy the
        replicas' features are gathered first, so B is the global batch.
    """

    def __init__(
        self,
        vocabulary_size,
        image_backbone="resnet50",
        embedding_dim=512,
        word_dim=300,
        multiscale_grid=8,
        region_source="grid",
        region_dim=None,
        num_regions=None,
        iga_key_dim=64,
        use_roam=True,
        use_dtga=True,
        train_image_backbone=False,
        dropout=0.2,
        word_dropout=0.4,
        dtype=None,
        **kwargs,
    ):
        check_backbone_arguments(
            vocabulary_size, embedding_dim, word_dim, multiscale_grid, region_source, region_dim,
            num_regions, iga_key_dim, dropout, word_dropout,
        )
        # === Layers ===
        self.image_encoder = ImageEncoder(
            image_backbone, embedding_dim=embedding_dim, multiscale_grid=multiscale_grid,
            region_source=region_source, region_dim=region_dim, num_regions=num_regions,
            use_roam=use_roam, train_image_backbone=train_image_backbone, dropout=dropout,
            dtype=dtype, name="image_encoder",
        )
        self.text_encoder = TextEncoder(
            vocabulary_size, embedding_dim=embedding_dim, word_dim=word_dim, use_dtga=use_dtga,
            dropout=dropout, word_dropout=word_dropout, dtype=dtype, name="text_encoder",
        )
        self.batch_similarity = BatchSimilarity(
            embedding_dim, iga_key_dim, use_roam, dtype=dtype, name="batch_similarity"
        )

        # === Functional Model ===
        inputs = {
            "images": keras.Input((None, None, 3), name="images"),
            "token_ids": keras.Input((None,), dtype="int32", name="token_ids"),
        }
        regions = region_mask = None
        if region_source == "precomputed":
            regions = inputs["regions"] = keras.Input((None, region_dim), name="regions")
            region_mask = inputs["region_mask"] = keras.Input((None,), dtype="bool", name="region_mask")
        image_features = self.image_encoder(inputs["images"], regions, region_mask)
        text_features = self.text_encoder(inputs["token_ids"])
        outputs = self.batch_similarity(image_features, text_features)
        super().__init__(inputs=inputs, outputs=outputs, dtype=dtype, **kwargs)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.word_dim = word_dim
        self.multiscale_grid = multiscale_grid
        self.region_source = region_source
        self.region_dim = region_dim
        self.num_regions = num_regions
        self.iga_key_dim = iga_key_dim
        self.use_roam = use_roam
        self.use_dtga = use_dtga
        self.train_image_backbone = train_image_backbone
        self.dropout = dropout
        self.word_dropout = word_dropout

    @property
    def iga(self):
        """ROAM's inter-modal guidance attention (None without ROAM)."""
        return self.batch_similarity.iga

    def encode_image(self, images, regions=None, region_mask=None, training=None):
        """Image features: `global` V_M, `fused` V_MR, and `regions` F_R + `region_mask`."""
        return self.image_encoder(images, regions, region_mask, training=training)

    def encode_text(self, token_ids, training=None):
        """Caption features: `global` T_G, `genes` F_G and `gene_mask` (padding: id 0)."""
        return self.text_encoder(token_ids, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            image_backbone=self.image_encoder.get_config()["image_backbone"],
            embedding_dim=self.embedding_dim,
            word_dim=self.word_dim,
            multiscale_grid=self.multiscale_grid,
            region_source=self.region_source,
            region_dim=self.region_dim,
            num_regions=self.num_regions,
            iga_key_dim=self.iga_key_dim,
            use_roam=self.use_roam,
            use_dtga=self.use_dtga,
            train_image_backbone=self.train_image_backbone,
            dropout=self.dropout,
            word_dropout=self.word_dropout,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("image_backbone"), dict):
            config["image_backbone"] = keras.saving.deserialize_keras_object(config["image_backbone"])
        return super().from_config(config)

