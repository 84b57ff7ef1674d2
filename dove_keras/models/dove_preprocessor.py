"""DOVE's preprocessor: raw captions and images -> the backbone's inputs."""

import keras
import tensorflow as tf

from dove_keras.models.dove_backbone import DOVEBackbone
from dove_keras.models.dove_image_converter import DOVEImageConverter
from dove_keras.models.dove_tokenizer import DOVETokenizer
from dove_keras.models.retrieval_preprocessor import RetrievalPreprocessor
from dove_keras.preprocessing.captions import PAD_ID


@keras.saving.register_keras_serializable(package="dove_keras")
class DOVEPreprocessor(RetrievalPreprocessor):
    """Tokenises captions and converts images for `DOVEBackbone` (TensorFlow ops).

    It runs inside `tf.data` (the training and evaluation pipelines map it;
    `DOVERetriever.fit` maps it over raw datasets) and eagerly on every
    backend, and it is what the SavedModel export puts in its graph.

    Call args:
        x: a dict with `"captions"` (strings, scalar or `(B,)`) and/or
            `"images"` (see `DOVEImageConverter`: pixel arrays or encoded
            bytes); other keys (e.g. `"image_ids"`, `"regions"`) pass through.
        y, sample_weight: passed through.

    Returns:
        `x` with `"captions"` replaced by `"token_ids"` (int32 `(B, L)`,
        right-padded with 0, longer captions cut to L) and `"padding_mask"`
        (bool `(B, L)`, `token_ids != 0`; DOVE's backbone derives it from the
        ids itself), and `"images"` by the normalised float32
        `(B, S, S, 3)` images.

    Raises:
        tf.errors.InvalidArgumentError: a caption has no word after
            normalisation (listed in the message).

    Args:
        tokenizer: a `DOVETokenizer`.
        image_converter: a `DOVEImageConverter`.
        sequence_length: L, tokens per caption.

    Example:
    ```python
    preprocessor = DOVEPreprocessor(DOVETokenizer(["plane", "ship"]), DOVEImageConverter(64))
    preprocessor({"captions": ["A plane.", "two ships"], "images": np.zeros((2, 80, 80, 3), "uint8")})
    ```
    """

    backbone_cls = DOVEBackbone
    tokenizer_cls = DOVETokenizer
    image_converter_cls = DOVEImageConverter

    def build(self, input_shape=None):
        self.built = True  # nothing to build: the tokenizer holds a lookup table, no weights

    def pack(self, captions):
        """`(token_ids, padding_mask)` of caption strings: int32 ids `(B, L)` (or `(L,)` for a scalar)."""
        captions = tf.convert_to_tensor(captions, tf.string)
        scalar = captions.shape.rank == 0
        batch = tf.reshape(captions, [-1])
        words = self.tokenizer.tokenize(batch)
        lengths = words.row_lengths()
        check = tf.debugging.Assert(
            tf.reduce_all(lengths > 0),
            [
                "empty caption after normalisation (lower-case, keep [a-z0-9 ]) at these batch indices:",
                tf.reshape(tf.where(tf.equal(lengths, 0)), [-1]),
                "captions:",
                tf.boolean_mask(batch, tf.equal(lengths, 0)),
            ],
            summarize=8,
        )
        with tf.control_dependencies([check]):
            ids = words.to_tensor(PAD_ID, shape=[None, self.sequence_length])
        ids = ids[0] if scalar else ids
        return ids, tf.not_equal(ids, PAD_ID)
