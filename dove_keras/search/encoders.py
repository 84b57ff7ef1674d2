"""The model behind a search: an exported SavedModel or a saved `.keras` DOVE.

Both give the same interface: `encode_images` (normalised float images),
`encode_texts` (caption strings), `score` (ROAM, pairwise) and a
`fingerprint` that ties an index to the model that built it (a hash of the
export's files, or of a Keras model's weights, vocabulary and input sizes).
"""

import hashlib
import os

import numpy as np

IMAGE_KEYS = ("global", "fused", "regions", "region_mask")


def load_encoder(model, vocabulary=None, image_size=None, sequence_length=None):
    """Opens the model of a search.

    Args:
        model: a directory written by `dove export` (self-contained: it holds
            the tokenizer and the image size), a `.keras` file saved from a
            `DOVE` model or a `DOVE` model (then `vocabulary` is required).
        vocabulary: the training vocabulary file (Keras models only).
        image_size: image side (Keras models only; default 256).
        sequence_length: tokens per caption (Keras models only; default 32).

    Returns:
        A `SavedModelEncoder` or a `KerasEncoder`.

    Raises:
        ValueError: the path is neither, or a Keras model has no vocabulary.
    """
    if not isinstance(model, (str, os.PathLike)):
        if vocabulary is None:
            raise ValueError("a DOVE model needs its training vocabulary file")
        return KerasEncoder(model, vocabulary, image_size or 256, sequence_length or 32)
    model = os.fspath(model)
    if os.path.isdir(model):
        return SavedModelEncoder(model)
    if model.endswith(".keras") and os.path.isfile(model):
        if vocabulary is None:
            raise ValueError(f"{model}: a .keras model needs --vocabulary (the training vocabulary file)")
        return KerasEncoder(model, vocabulary, image_size or 256, sequence_length or 32)
    raise ValueError(
        f"{model}: expected a directory written by `dove export` or a saved .keras model file"
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
        self.use_roam = metadata["use_roam"]
        self.lambda_global = metadata["lambda_global"]
        self.fingerprint = _hash_folder(self.path)
        self._tf = tf
        self._model = tf.saved_model.load(self.path)

    def spec(self):
        """What `load_encoder` needs to open this model again."""
        return {"model": self.path}

    def encode_images(self, images):
        outputs = self._model.encode_image_tensor(self._tf.constant(images, self._tf.float32))
        return {key: outputs[key].numpy() for key in IMAGE_KEYS if key in outputs}

    def encode_texts(self, captions):
        outputs = self._model.encode_text(self._tf.constant(list(captions), self._tf.string))
        return {key: value.numpy() for key, value in outputs.items()}

    def score(self, image_features, text_features):
        if not self.use_roam:
            return self._model.score(image_features["global"], text_features["global"]).numpy()
        return self._model.score(
            image_features["fused"], image_features["regions"], image_features["region_mask"],
            text_features["genes"], text_features["gene_mask"],
        ).numpy()


class KerasEncoder:
    """A DOVE model with its vocabulary, on the current Keras backend.

    Args:
        model: a `DOVE` model, or the path of one saved as `.keras`.
        vocabulary: the training vocabulary file.
        image_size: image side.
        sequence_length: tokens per caption.
    """

    def __init__(self, model, vocabulary, image_size=256, sequence_length=32):
        import keras

        from dove_keras.data.tokenizer import CaptionTokenizer
        from dove_keras.models import DOVE

        self.path = None
        if not isinstance(model, DOVE):
            self.path = os.path.abspath(model)
            model = keras.saving.load_model(self.path, compile=False)
            if not isinstance(model, DOVE):
                raise ValueError(f"{self.path}: holds a {type(model).__name__}, not a DOVE model")
        self._tokenizer = CaptionTokenizer(vocabulary, sequence_length)
        if self._tokenizer.vocabulary_size != model.vocabulary_size:
            raise ValueError(
                f"{vocabulary}: vocabulary_size {self._tokenizer.vocabulary_size}, the model "
                f"has {model.vocabulary_size}: use the training vocabulary"
            )
        self._model = model
        self._ops = keras.ops
        self.vocabulary = os.path.abspath(vocabulary)
        self.image_size = int(image_size)
        self.sequence_length = int(sequence_length)
        self.use_roam = model.use_roam
        self.lambda_global = model.lambda_global
        digest = hashlib.sha256(f"{image_size}/{sequence_length}/".encode())
        digest.update("\n".join(self._tokenizer.vocabulary).encode())
        for weight in model.weights:
            digest.update(np.ascontiguousarray(self._ops.convert_to_numpy(weight)).tobytes())
        self.fingerprint = digest.hexdigest()[:16]

    def spec(self):
        """What `load_encoder` needs to open this model again (model None: in memory)."""
        return {
            "model": self.path, "vocabulary": self.vocabulary,
            "image_size": self.image_size, "sequence_length": self.sequence_length,
        }

    def encode_images(self, images):
        outputs = self._model.encode_image(np.asarray(images, "float32"))
        return {key: self._ops.convert_to_numpy(outputs[key]) for key in IMAGE_KEYS if key in outputs}

    def encode_texts(self, captions):
        ids = self._tokenizer(list(captions)).numpy()
        outputs = self._model.encode_text(ids)
        return {key: self._ops.convert_to_numpy(value) for key, value in outputs.items()}

    def score(self, image_features, text_features):
        return self._model.score(image_features, text_features)


def _hash_folder(path):
    """sha256 (16 hex digits) of every file of a folder, by relative path."""
    digest = hashlib.sha256()
    files = sorted(os.path.join(root, name) for root, _, names in os.walk(path) for name in names)
    for name in files:
        digest.update(os.path.relpath(name, path).encode())
        with open(name, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]
