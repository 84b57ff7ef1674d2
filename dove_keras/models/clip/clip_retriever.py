"""An imported CLIP model as a retrieval task: keras-hub's `CLIPBackbone` with CLIP's preprocessing."""

import keras
import keras_hub
from keras import ops

from dove_keras.models.clip.clip_preprocessor import CLIPRetrieverPreprocessor
from dove_keras.models.inference import compile_inference
from dove_keras.models.losses import contrastive_loss
from dove_keras.models.losses import triplet_loss
from dove_keras.models.replicas import gather_replicas
from dove_keras.models.replicas import scale_for_replicas
from dove_keras.models.retrieval_task import RetrievalTask
from dove_keras.models.scoring import cosine_matrix

LOSSES = ("contrastive", "triplet")
DEFAULT_LEARNING_RATE = 1e-5


@keras.saving.register_keras_serializable(package="dove_keras")
class CLIPRetriever(RetrievalTask):
    """A CLIP dual encoder: `s_ij = cos(proj_v(CLS_i), proj_t(EOT_j))` (DESIGN section 1.7).

    The backbone is keras-hub's own `CLIPBackbone`, so
    `keras_hub.models.CLIPBackbone.from_preset(path)` loads the towers of a
    preset written by `dove-data import-clip`. Evaluation, export and search
    take it as they take a `DOVERetriever`; its stage 1 and its `score` are
    the same cosine.

    `fit` fine-tunes it on raw `{"captions", "images", "image_ids"}` batches
    with CLIP's loss (symmetric InfoNCE with the backbone's learnable
    temperature `logit_scale`, initialised from the checkpoint) or the
    project's triplet loss; captions of the same image in a batch are not
    negatives in either.

    Args:
        backbone: a keras-hub `CLIPBackbone`.
        preprocessor: a `CLIPRetrieverPreprocessor` or None.
        loss: `"contrastive"` (CLIP's) or `"triplet"` (DESIGN section 1.4).
        margin, hardest_negative: the triplet loss' settings.

    Example:
    ```python
    retriever = RetrievalTask.from_preset("presets/remoteclip_vit_b_32")
    images = retriever.embed_images([load_image("scene_1.tif")])  # dove_keras.data.images
    texts = retriever.embed_texts(["many planes are parked near a terminal"])
    retriever.score(images, texts)  # (1, 1) cosine
    ```
    """

    backbone_cls = keras_hub.models.CLIPBackbone
    preprocessor_cls = CLIPRetrieverPreprocessor

    def __init__(self, backbone, preprocessor=None, loss="contrastive", margin=0.2, hardest_negative=False,
                 **kwargs):
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}.")
        if not margin > 0:
            raise ValueError(f"margin must be positive (the triplet hinge margin), got {margin!r}.")
        compile = kwargs.pop("compile", True)
        super().__init__(compile=False, **kwargs)  # a subclassed task: layers are set after
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.loss_name, self.margin, self.hardest_negative = loss, margin, hardest_negative
        self.dtype_policy = backbone.dtype_policy
        self.built = True  # the functional backbone is built when constructed
        self._encode_image_fn = compile_inference(backbone, lambda images: backbone.get_vision_embeddings(images))
        self._encode_text_fn = compile_inference(backbone, lambda ids: backbone.get_text_embeddings(ids))
        if compile:
            self.compile()

    def call(self, inputs, training=None):
        """`{"image", "text"}`: the projected embeddings of a batch's images and captions."""
        backbone = self.backbone
        return {"image": backbone.get_vision_embeddings(inputs["images"]),
                "text": backbone.get_text_embeddings(inputs["token_ids"])}

    def compile(self, optimizer="auto", **kwargs):
        """Compiles with AdamW(1e-5) unless another optimizer is given."""
        if optimizer == "auto":
            optimizer = keras.optimizers.AdamW(DEFAULT_LEARNING_RATE)
        super().compile(optimizer=optimizer, **kwargs)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The loss over the whole (global) batch: every caption is a negative of every other image."""
        features = gather_replicas({key: ops.cast(value, "float32") for key, value in y_pred.items()})
        image_ids = gather_replicas(x["image_ids"])
        scores = cosine_matrix(features["image"], features["text"])
        if self.loss_name == "contrastive":
            loss = contrastive_loss(scores, image_ids, self.backbone.clip_head.logit_scale)
        else:
            loss = triplet_loss(scores, image_ids, margin=self.margin, hardest_negative=self.hardest_negative)
        if self.losses:
            loss = loss + ops.sum(self.losses)
        return scale_for_replicas(loss)

    def preprocess_samples(self, x, y=None, sample_weight=None):
        """The preprocessor's output without `padding_mask` (CLIP pools at the end token)."""
        data = super().preprocess_samples(x, y, sample_weight)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if isinstance(x, dict):
            x = {key: value for key, value in x.items() if key in ("images", "token_ids", "image_ids")}
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def encode_image(self, images, regions=None, region_mask=None):
        """`{"global": proj_v(CLS)}` of normalised images `(B, S, S, 3)` (regions are not used)."""
        return {"global": self._encode_image_fn(ops.convert_to_tensor(images, "float32"))}

    def encode_text(self, token_ids):
        """`{"global": proj_t(EOT)}` of token ids `(B, L)` (the end token is the largest id)."""
        return {"global": self._encode_text_fn(ops.convert_to_tensor(token_ids, "int32"))}

    def score(self, image_features, text_features, chunk_size=None, progress=False):
        """`(I, C)` float32 numpy cosine (CLIP has no pairwise re-ranking: `global_score`)."""
        return self.global_score(image_features, text_features)

    def serving_functions(self):
        """`(layers, image_features, text_features)` the SavedModel export traces."""
        backbone = self.backbone

        def image_features(images):
            return {"global": backbone.get_vision_embeddings(images)}

        def text_features(token_ids):
            return {"global": backbone.get_text_embeddings(token_ids)}

        return (backbone,), image_features, text_features

    def get_config(self):
        config = super().get_config()
        config.update(loss=self.loss_name, margin=self.margin, hardest_negative=self.hardest_negative)
        return config
