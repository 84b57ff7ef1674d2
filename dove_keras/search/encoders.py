"""The model behind a search: an exported SavedModel, a preset, a `.keras` file or a retriever.

Every one carries its preprocessor (vocabulary, caption length, image size),
so nothing else is needed to open it. All give the interface of
`SearchEncoder`; `fingerprint` ties an index to the model that built it
(`DOVERetriever.fingerprint`: a hash of the weights and preprocessing, the
same for a model, its preset and its export).
"""

import os
import typing

import numpy as np

from dove_keras.utils.files import hash_folder

IMAGE_KEYS = ("global", "fused", "regions", "region_mask")


@typing.runtime_checkable
class SearchEncoder(typing.Protocol):
    """What a search needs of its model (`SavedModelEncoder`, `KerasEncoder`).

    `embed_*` take raw inputs, as the tasks' and the export's `embed_*` do.
    """

    image_size: int
    sequence_length: int
    use_roam: bool
    lambda_global: float
    fingerprint: str

    def spec(self):
        """What `load_encoder` needs to open this model again (`{"model": path or None}`)."""

    def embed_pixels(self, pixels):
        """Image features (numpy dict) of float pixels in [0, 255], `(B, image_size, image_size, 3)`."""

    def embed_texts(self, captions):
        """Caption features (numpy dict) of caption strings."""

    def score(self, image_features, text_features):
        """`(I, C)` scores: ROAM when `use_roam`, else the global cosine."""

    def heat_maps(self, pictures, caption):
        """Where ROAM looked in each picture for `caption` (None for a missing picture)."""


def load_encoder(model):
    """Opens the model of a search.

    Args:
        model: a directory written by `dove export`, a preset directory
            (e.g. `<run>/preset` of `dove train`), a saved `.keras`
            `DOVERetriever`, or a `DOVERetriever`.

    Returns:
        A `SearchEncoder`: a `SavedModelEncoder` or a `KerasEncoder`.

    Raises:
        ValueError: the path is none of these.
    """
    if not isinstance(model, (str, os.PathLike)):
        return KerasEncoder(model)
    path = os.path.abspath(os.fspath(model))
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return SavedModelEncoder(path)
    if os.path.exists(path):
        return KerasEncoder(path)
    raise ValueError(
        f"{model}: expected a directory written by `dove export`, a preset directory "
        "(<output_dir>/preset of `dove train`) or a saved .keras model"
    )


class SavedModelEncoder:
    """A model exported by `dove_keras.export.export_saved_model`.

    Args:
        path: the export directory.
    """

    def __init__(self, path):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  registers the tokenizer's ops

        from dove_keras.export import read_metadata

        metadata = read_metadata(path)
        self.path = os.path.abspath(path)
        self.image_size = metadata["image_size"]
        self.sequence_length = metadata["sequence_length"]
        self.use_roam = metadata["use_roam"]
        self._score_text_global = metadata.get("score_takes_text_global", False)  # DOVE-CLIP
        self.lambda_global = metadata["lambda_global"]
        self.fingerprint = metadata.get("fingerprint") or hash_folder(self.path)  # older exports: their files
        self._tf = tf
        self._model = tf.saved_model.load(self.path)

    def spec(self):
        """What `load_encoder` needs to open this model again."""
        return {"model": self.path}

    def embed_pixels(self, pixels):
        outputs = self._model.embed_pixels(self._tf.constant(pixels, self._tf.float32))
        return {key: outputs[key].numpy() for key in IMAGE_KEYS if key in outputs}

    def embed_texts(self, captions):
        outputs = self._model.embed_texts(self._tf.constant(list(captions), self._tf.string))
        return {key: value.numpy() for key, value in outputs.items()}

    def heat_maps(self, pictures, caption):
        raise ValueError(
            f"{self.path} is a SavedModel export: it has no attention endpoint; draw --attention with "
            "the preset or .keras model it was exported from (--preset / --model)"
        )

    def score(self, image_features, text_features):
        if not self.use_roam:
            return self._model.score(image_features["global"], text_features["global"]).numpy()
        text_global = (text_features["global"],) if self._score_text_global else ()
        return self._model.score(
            image_features["fused"], image_features["regions"], image_features["region_mask"],
            text_features["genes"], text_features["gene_mask"], *text_global,
        ).numpy()


class KerasEncoder:
    """A `DOVERetriever` with its preprocessor, on the current Keras backend.

    Args:
        model: a `DOVERetriever`, a preset directory or a `.keras` file of one.

    Raises:
        ValueError: a model without a preprocessor, or not a DOVERetriever.
    """

    def __init__(self, model):
        import keras

        from dove_keras.models.retrieval_task import RetrievalTask
        from dove_keras.training.loading import load_retriever

        self.path = None
        if not isinstance(model, RetrievalTask):
            self.path = os.path.abspath(model)
            model = load_retriever(self.path)
        if model.preprocessor is None:
            raise ValueError("the model has no preprocessor: search needs its tokenizer and image size")
        self._model = model
        self._ops = keras.ops
        self.image_size = model.image_size
        self.sequence_length = model.preprocessor.sequence_length
        self.use_roam = model.use_roam
        self.lambda_global = model.lambda_global
        self.fingerprint = model.fingerprint()

    def spec(self):
        """What `load_encoder` needs to open this model again (None: a model in memory)."""
        return {"model": self.path}

    def embed_pixels(self, pixels):
        images = self._model.preprocessor.image_converter.convert(np.asarray(pixels, "float32"))
        outputs = self._model.encode_image(images.numpy())
        return {key: self._ops.convert_to_numpy(outputs[key]) for key in IMAGE_KEYS if key in outputs}

    def embed_texts(self, captions):
        outputs = self._model.embed_texts(list(captions))
        return {key: self._ops.convert_to_numpy(value) for key, value in outputs.items()}

    def score(self, image_features, text_features):
        return self._model.score(image_features, text_features)

    def heat_maps(self, pictures, caption):
        """Where ROAM looked in each picture (None for a missing one) for `caption`."""
        from dove_keras.models.attention_maps import raw_heat_maps

        if not self.use_roam:
            raise ValueError("the model has no ROAM (use_roam=False): nothing to show")
        present = [p for p in pictures if p is not None]
        maps = iter(raw_heat_maps(self._model, present, [caption] * len(present)) if present else [])
        return [None if p is None else next(maps) for p in pictures]
