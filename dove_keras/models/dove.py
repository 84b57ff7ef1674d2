"""The DOVE retrieval model: towers, pairwise ROAM scoring and the loss."""

import keras
import numpy as np
from keras import ops
from tqdm.auto import tqdm

from dove_keras.layers import InterModalGuidanceAttention
from dove_keras.models.image_encoder import ImageEncoder
from dove_keras.models.inference import compile_inference
from dove_keras.models.losses import triplet_loss
from dove_keras.models.replicas import gather_replicas
from dove_keras.models.replicas import scale_for_replicas
from dove_keras.models.text_encoder import TextEncoder

DEFAULT_LEARNING_RATE = 2e-4


@keras.saving.register_keras_serializable(package="dove_keras")
class DOVE(keras.Model):
    """Direction-oriented visual-semantic embedding (DESIGN section 1).

    The image tower gives the global embedding V_M and, with ROAM, regions F_R
    and the fused embedding V_MR (IFA). The text tower gives T_G and gene
    tokens F_G (DTGA). IGA turns F_G into an image-guided text embedding, so
    the ROAM score `cos(V_MR_i, T_RG_ij)` is pairwise. Training minimises
    `L_tri(ROAM) + lambda_global * L_tri(cos(V_M, T_G))`.

    Args:
        vocabulary_size: token ids (0 padding, 1 out-of-vocabulary, then words).
        backbone: `"resnet50"`, `"resnet18"`, `"tiny"`, a local keras-hub
            preset directory or a `ResNetBackbone`.
        embedding_dim: d.
        word_dim: word embedding width.
        multiscale_grid: side of the multiscale token grid.
        region_source: `"grid"` or `"precomputed"`.
        num_regions: keep the top-k regions (None keeps all).
        iga_key_dim: d_k of the IGA affinity.
        use_roam: False gives a plain dual encoder on (V_M, T_G).
        use_dtga: False replaces DTGA's genes by the word states.
        margin: triplet margin.
        hardest_negative: VSE++ hardest negative instead of the sum.
        lambda_global: weight of the global constraint (0 disables it).
        train_backbone: fine-tune the backbone.
        dropout: dropout of both towers' global MLP heads.
        word_dropout: dropout after the word embedding.

    Under a `tf.distribute` strategy the replicas' features are gathered
    before scoring, so the loss sees the global batch's negatives on every
    backend (see `dove_keras.models.replicas`).

    Example:
    ```python
    model = dove_keras.models.DOVE(vocabulary_size=1000, backbone="tiny", embedding_dim=64)
    images = model.encode_image(np.random.rand(2, 128, 128, 3))
    texts = model.encode_text(np.array([[5, 6, 7, 0], [8, 9, 0, 0]]))
    scores = model.score(images, texts)  # (2 images, 2 captions)
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        backbone="resnet50",
        embedding_dim=512,
        word_dim=300,
        multiscale_grid=8,
        region_source="grid",
        num_regions=None,
        iga_key_dim=64,
        use_roam=True,
        use_dtga=True,
        margin=0.2,
        hardest_negative=False,
        lambda_global=1.0,
        train_backbone=False,
        dropout=0.2,
        word_dropout=0.4,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.image_encoder = ImageEncoder(
            backbone,
            embedding_dim=embedding_dim,
            multiscale_grid=multiscale_grid,
            region_source=region_source,
            num_regions=num_regions,
            use_roam=use_roam,
            train_backbone=train_backbone,
            dropout=dropout,
            name="image_encoder",
        )
        self.text_encoder = TextEncoder(
            vocabulary_size,
            embedding_dim=embedding_dim,
            word_dim=word_dim,
            use_dtga=use_dtga,
            dropout=dropout,
            word_dropout=word_dropout,
            name="text_encoder",
        )
        self.iga = None
        if use_roam:
            self.iga = InterModalGuidanceAttention(embedding_dim, iga_key_dim, name="iga")
        self.vocabulary_size = vocabulary_size
        self.embedding_dim = embedding_dim
        self.word_dim = word_dim
        self.multiscale_grid = multiscale_grid
        self.region_source = region_source
        self.num_regions = num_regions
        self.iga_key_dim = iga_key_dim
        self.use_roam = use_roam
        self.use_dtga = use_dtga
        self.margin = margin
        self.hardest_negative = hardest_negative
        self.lambda_global = lambda_global
        self.train_backbone = train_backbone
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.triplet_tracker = keras.metrics.Mean(name="triplet_loss")
        self.global_tracker = keras.metrics.Mean(name="global_loss")
        self._encode_image_fn = compile_inference(self.image_encoder)
        self._encode_text_fn = compile_inference(self.text_encoder)
        if self.iga is not None:
            self._prepare_regions_fn = compile_inference(self.iga, self.iga.prepare_regions)
            self._prepare_genes_fn = compile_inference(self.iga, self.iga.prepare_genes)
            self._pair_scores_fn = compile_inference(self.iga, self._pair_scores)

    def build(self, input_shape):
        self.image_encoder.build(
            input_shape["images"], input_shape.get("regions"), input_shape.get("region_mask")
        )
        self.text_encoder.build(input_shape["token_ids"])
        self._build_iga()

    def _build_iga(self):
        if self.iga is not None and not self.iga.built:
            d = self.embedding_dim
            self.iga.build((None, None, d), None, (None, None, d), None)

    def compile(self, optimizer="auto", **kwargs):
        """Compiles with Adam(2e-4) unless another optimizer is given."""
        if optimizer == "auto":
            optimizer = keras.optimizers.Adam(DEFAULT_LEARNING_RATE)
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        """Re-compiles a loaded model (Keras skips models that override `compile`)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def call(self, inputs, training=None):
        images = self.image_encoder(
            inputs["images"], inputs.get("regions"), inputs.get("region_mask"), training=training
        )
        texts = self.text_encoder(inputs["token_ids"], training=training)
        images, texts = gather_replicas(images), gather_replicas(texts)
        outputs = {"global_similarity": _cosine_matrix(images["global"], texts["global"])}
        if self.iga is not None:
            guided = self.iga(images["regions"], images["region_mask"], texts["genes"], texts["gene_mask"])
            outputs["similarity"] = _pairwise_cosine(images["fused"], guided)
        return outputs

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Triplet loss on ROAM scores plus lambda_global times the global one."""
        image_ids = gather_replicas(x["image_ids"])
        loss_kwargs = dict(margin=self.margin, hardest_negative=self.hardest_negative)
        global_loss = triplet_loss(y_pred["global_similarity"], image_ids, **loss_kwargs)
        if self.iga is None:
            triplet, total = global_loss, global_loss
        else:
            triplet = triplet_loss(y_pred["similarity"], image_ids, **loss_kwargs)
            total = triplet + self.lambda_global * global_loss
        self.triplet_tracker.update_state(triplet)
        self.global_tracker.update_state(global_loss)
        if self.losses:
            total = total + ops.sum(self.losses)
        return scale_for_replicas(total)

    def encode_image(self, images, regions=None, region_mask=None):
        """Image features for scoring: `global`, `fused`, `regions`, `region_mask`."""
        self._build_for_inference(images, regions, region_mask)
        return self._encode_image_fn(
            ops.convert_to_tensor(images, "float32"),
            None if regions is None else ops.convert_to_tensor(regions, "float32"),
            None if region_mask is None else ops.convert_to_tensor(region_mask, "bool"),
        )

    def encode_text(self, token_ids):
        """Caption features for scoring: `global`, `genes`, `gene_mask`."""
        if not self.text_encoder.built:
            self.text_encoder.build(tuple(token_ids.shape))
        return self._encode_text_fn(ops.convert_to_tensor(token_ids, "int32"))

    def _build_for_inference(self, images, regions, region_mask):
        if not self.image_encoder.built:
            self.image_encoder.build(
                tuple(images.shape),
                None if regions is None else tuple(regions.shape),
                None if region_mask is None else tuple(region_mask.shape),
            )

    def global_score(self, image_features, text_features):
        """`(I, C)` float32 numpy cosine of V_M and T_G."""
        return _to_numpy(_cosine_matrix(image_features["global"], text_features["global"]))

    def score(self, image_features, text_features, chunk_size=128, progress=False):
        """`(I, C)` float32 numpy ROAM scores, computed in image x caption blocks.

        Caption keys and values are prepared once per caption block, image
        queries once per image block, so memory stays bounded by
        `chunk_size**2 * max(N_r * L', d)` floats. `progress=True` shows a
        progress bar over image blocks.
        """
        if self.iga is None:
            return self.global_score(image_features, text_features)
        fused, regions, region_mask = (
            image_features["fused"], image_features["regions"], image_features["region_mask"]
        )
        genes, gene_mask = text_features["genes"], text_features["gene_mask"]
        num_images, num_captions = fused.shape[0], genes.shape[0]
        self._build_iga()  # before compiling: variables cannot be created inside a jit
        caption_blocks = []
        for start in range(0, num_captions, chunk_size):
            block_gene_mask = ops.convert_to_tensor(gene_mask[start : start + chunk_size])
            prepared = self._prepare_genes_fn(ops.convert_to_tensor(genes[start : start + chunk_size]), block_gene_mask)
            caption_blocks.append((start, prepared, block_gene_mask))
        scores = np.zeros((num_images, num_captions), dtype="float32")
        for i in tqdm(range(0, num_images, chunk_size), desc="ROAM scores", unit="block", disable=not progress):
            block_mask = ops.convert_to_tensor(region_mask[i : i + chunk_size])
            block_fused = ops.convert_to_tensor(fused[i : i + chunk_size])
            queries = self._prepare_regions_fn(ops.convert_to_tensor(regions[i : i + chunk_size]))
            for j, (keys, values, means), block_gene_mask in caption_blocks:
                block = self._pair_scores_fn(block_fused, queries, block_mask, keys, values, means, block_gene_mask)
                scores[i : i + chunk_size, j : j + chunk_size] = _to_numpy(block)
        return scores

    def _pair_scores(self, fused, queries, region_mask, keys, values, mean_values, gene_mask):
        """ROAM scores of an image block against a caption block, both prepared."""
        guided = self.iga.pair(queries, region_mask, keys, values, mean_values, gene_mask)
        return _pairwise_cosine(fused, guided)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            backbone=self.image_encoder.get_config()["backbone"],
            embedding_dim=self.embedding_dim,
            word_dim=self.word_dim,
            multiscale_grid=self.multiscale_grid,
            region_source=self.region_source,
            num_regions=self.num_regions,
            iga_key_dim=self.iga_key_dim,
            use_roam=self.use_roam,
            use_dtga=self.use_dtga,
            margin=self.margin,
            hardest_negative=self.hardest_negative,
            lambda_global=self.lambda_global,
            train_backbone=self.train_backbone,
            dropout=self.dropout,
            word_dropout=self.word_dropout,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("backbone"), dict):
            config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)


def _cosine_matrix(images, texts):
    return ops.matmul(ops.normalize(images, axis=-1), ops.transpose(ops.normalize(texts, axis=-1)))


def _pairwise_cosine(images, guided_texts):
    """cos(images_i, guided_texts_ij) for `(I, d)` and `(I, C, d)`."""
    return ops.einsum("id,icd->ic", ops.normalize(images, axis=-1), ops.normalize(guided_texts, axis=-1))


def _to_numpy(tensor):
    return np.asarray(ops.convert_to_numpy(tensor), dtype="float32")
