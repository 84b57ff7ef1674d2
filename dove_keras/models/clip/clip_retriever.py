"""An imported CLIP model as a retrieval task: keras-hub's `CLIPBackbone` with CLIP's preprocessing."""

import keras
import keras_hub
from keras import ops

from dove_keras.models.clip.clip_preprocessor import CLIPRetrieverPreprocessor
from dove_keras.models.inference import compile_inference
from dove_keras.models.retrieval_task import RetrievalTask


@keras.saving.register_keras_serializable(package="dove_keras")
class CLIPRetriever(RetrievalTask):
    """A CLIP dual encoder: `s_ij = cos(proj_v(CLS_i), proj_t(EOT_j))` (DESIGN section 1.7).

    The backbone is keras-hub's own `CLIPBackbone`, so
    `keras_hub.models.CLIPBackbone.from_preset(path)` loads the towers of a
    preset written by `dove-data import-clip`. Evaluation, export and search
    take it as they take a `DOVERetriever`; its stage 1 and its `score` are
    the same cosine.

    Args:
        backbone: a keras-hub `CLIPBackbone`.
        preprocessor: a `CLIPRetrieverPreprocessor` or None.

    Example:
    ```python
    retriever = RetrievalTask.from_preset("presets/remoteclip_vit_b_32")
    images = retriever.embed_images(["scene_1.tif"])
    texts = retriever.embed_texts(["many planes are parked near a terminal"])
    retriever.score(images, texts)  # (1, 1) cosine
    ```
    """

    backbone_cls = keras_hub.models.CLIPBackbone
    preprocessor_cls = CLIPRetrieverPreprocessor

    def __init__(self, backbone, preprocessor=None, **kwargs):
        kwargs.pop("compile", None)  # nothing to train yet: compiled by the caller that fits it
        super().__init__(compile=False, **kwargs)  # a subclassed task: layers are set after
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.dtype_policy = backbone.dtype_policy
        self.built = True  # the functional backbone is built when constructed
        self._encode_image_fn = compile_inference(backbone, lambda images: backbone.get_vision_embeddings(images))
        self._encode_text_fn = compile_inference(backbone, lambda ids: backbone.get_text_embeddings(ids))

    def call(self, inputs, training=None):
        return self.backbone({"images": inputs["images"], "token_ids": inputs["token_ids"]}, training=training)

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
