"""What every retrieval task of the package offers: encode, embed and score images and captions.

`DOVERetriever` (DOVE's towers and ROAM) and `CLIPRetriever` (an imported
CLIP dual encoder) derive from `RetrievalTask`, so evaluation, export and
search take either. `RetrievalTask.from_preset(path)` returns the task the
preset holds.
"""

import hashlib
import os

import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras import ops

from dove_keras.errors import UsageError
from dove_keras.models.preset_checks import CheckedPreset
from dove_keras.models.scoring import cosine_matrix


class RetrievalTask(CheckedPreset, keras_hub.models.Task):
    """The shared interface (not a model itself; subclasses set `backbone_cls`).

    Subclasses implement `encode_image(images, regions=None, region_mask=None)`
    and `encode_text(token_ids)` (model inputs -> a feature dict with at
    least `"global"`), `score` (the model's own `(I, C)` scores) and
    `export_features()` (see `dove_keras.export`), and set `use_roam`.
    """

    use_roam = False  # whether `score` re-ranks pairwise (ROAM) or is the global cosine
    lambda_global = 1.0  # > 0: the global embeddings are trained for stage-1 search

    @property
    def image_size(self):
        """The side of the images the preprocessor produces (None without one)."""
        if self.preprocessor is None or self.preprocessor.image_converter is None:
            return None
        return self.preprocessor.image_converter.side

    def compile_from_config(self, config):
        """Re-compiles a loaded model (Keras skips models that override `compile`)."""
        self.compile(**keras.saving.deserialize_keras_object(config))
        self.optimizer.build(self.trainable_variables)

    def global_score(self, image_features, text_features):
        """`(I, C)` float32 numpy cosine of the global embeddings (stage 1 of a search)."""
        return to_numpy(cosine_matrix(image_features["global"], text_features["global"]))

    def embed_images(self, images):
        """Features of raw images: encoded JPEG/PNG/GIF/BMP bytes, or uint8 `(H, W, 3)` arrays of any size.

        Files (TIFF included) are read by `dove_keras.data.images.load_image`:
        `embed_images([load_image(path) for path in paths])`.
        """
        converter = self._require_preprocessor().image_converter
        items = images if isinstance(images, (list, tuple)) else [images]
        if any(isinstance(image, (str, os.PathLike)) for image in items):
            raise UsageError(
                "embed_images takes encoded image bytes or uint8 arrays, not file paths: read the files "
                "with dove_keras.data.images.load_image, e.g. embed_images([load_image(p) for p in paths])"
            )
        if isinstance(images, (list, tuple)) and images and not isinstance(images[0], bytes):
            inputs = np.stack([converter.convert(tf.convert_to_tensor(np.asarray(p))).numpy() for p in images])
        else:
            inputs = converter.convert(raw_batch(images)).numpy()
        return self.encode_image(inputs)

    def embed_texts(self, captions):
        """Features of caption strings (tokenised by the preprocessor)."""
        token_ids = self._require_preprocessor().token_ids(raw_batch(captions))
        return self.encode_text(token_ids.numpy())

    def fingerprint(self):
        """16 hex digits of sha256 over the weights and the preprocessing (vocabulary, sizes, normalisation).

        The same for the model in memory, its preset, its `.keras` file and its
        SavedModel export (recorded in the export's metadata): a search index
        names the model it was built with by it.
        """
        self._require_preprocessor()
        preprocessor = self.preprocessor
        digest = hashlib.sha256(f"{self.image_size}/{preprocessor.sequence_length}/".encode())
        digest.update("\n".join(preprocessor.tokenizer.vocabulary).encode())
        converter = preprocessor.image_converter
        digest.update(np.asarray(list(converter.scale) + list(converter.offset), "float64").tobytes())
        for weight in self.backbone.weights:
            digest.update(np.ascontiguousarray(ops.convert_to_numpy(weight)).tobytes())
        return digest.hexdigest()[:16]

    def _require_preprocessor(self):
        if self.preprocessor is None:
            raise ValueError(f"This {type(self).__name__} has no preprocessor: encode model inputs with "
                             "encode_image / encode_text, or load a preset.")
        return self.preprocessor


def raw_batch(values):
    """A TensorFlow batch of raw inputs (a list of strings/bytes, or an array)."""
    if isinstance(values, (list, tuple)) and values and isinstance(values[0], (str, bytes)):
        return tf.constant(list(values), tf.string)
    return tf.convert_to_tensor(np.asarray(values))


def to_numpy(tensor):
    """A backend tensor as a float32 numpy array."""
    return np.asarray(ops.convert_to_numpy(tensor), dtype="float32")
