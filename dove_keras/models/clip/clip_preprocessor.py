"""Raw captions and images -> the inputs of keras-hub's `CLIPBackbone` (TensorFlow ops).

The tokenizer is keras-hub's `CLIPTokenizer` (byte-level BPE from a
checkpoint's `vocab.json` and `merges.txt`); the image converter is DOVE's
(it also decodes JPEG/PNG/GIF/BMP bytes) with the checkpoint's image size and
mean/std and open_clip's bicubic resize.
"""

import keras
import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text

from dove_keras.models.dove_image_converter import DOVEImageConverter
from dove_keras.models.retrieval_preprocessor import RetrievalPreprocessor

# OpenAI CLIP's pixel statistics (on [0, 1] pixels), which RemoteCLIP, GeoRSCLIP and SkyCLIP keep.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CONTEXT_LENGTH = 77


def clip_normalization(mean=CLIP_MEAN, std=CLIP_STD):
    """`(scale, offset)` mapping [0, 255] pixels to `(x / 255 - mean) / std`."""
    return [1 / (255 * s) for s in std], [-m / s for m, s in zip(mean, std)]


# CLIP's pre-tokenizer: contractions, letter runs, single digits, other symbol runs; whitespace separates.
CLIP_WORDS = r"'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+"


def clip_words(captions):
    """Lower-cased captions `(B,)` split into CLIP's words: a ragged `(B, W)` string tensor.

    keras-hub's BPE splits text with GPT-2's pattern on its TensorFlow path
    (tf.data, SavedModel graphs), which keeps digit runs together and lets
    a space take the apostrophe of a contraction ("with 'dison'"); CLIP
    splits digits one by one and reads "'d" first. Tokenising CLIP's words
    one by one gives the ids of `transformers.CLIPTokenizer` on both paths.
    """
    lowered = tf.strings.lower(captions, encoding="utf-8")
    words = tf_text.regex_split(lowered, CLIP_WORDS, CLIP_WORDS)
    words = tf.strings.strip(words)
    return tf.ragged.boolean_mask(words, tf.strings.length(words) > 0)


@keras.saving.register_keras_serializable(package="dove_keras")
class CLIPRetrieverImageConverter(DOVEImageConverter):
    """`DOVEImageConverter` for a CLIP tower: any side, CLIP's mean/std, bicubic resize.

    Args:
        image_size: output side S (the checkpoint's, e.g. 224 or 336).
        scale, offset: per-channel normalisation (default OpenAI CLIP's).
    """

    backbone_cls = keras_hub.models.CLIPBackbone

    def __init__(self, image_size=224, scale=None, offset=None, **kwargs):
        default_scale, default_offset = clip_normalization()
        kwargs.setdefault("interpolation", "bicubic")
        super().__init__(image_size, default_scale if scale is None else scale,
                         default_offset if offset is None else offset, **kwargs)

    @staticmethod
    def check_side(side):
        """Raises ValueError unless `side` is a positive int (the backbone checks its patches)."""
        if isinstance(side, bool) or not isinstance(side, int) or side < 1:
            raise ValueError(f"image_size must be a positive int, got {side!r}.")


@keras.saving.register_keras_serializable(package="dove_keras")
class CLIPRetrieverPreprocessor(RetrievalPreprocessor):
    """Tokenises captions with CLIP's BPE and converts images for a `CLIPBackbone`.

    Call args:
        x: a dict with `"captions"` (strings) and/or `"images"` (pixel arrays
            or encoded bytes); other keys (e.g. `"image_ids"`) pass through.
        y, sample_weight: passed through.

    Returns:
        `x` with `"captions"` replaced by `"token_ids"` (int32 `(B, L)`:
        start token, BPE ids, end token, then the tokenizer's pad id; longer
        captions are cut to L with the end token kept) and `"padding_mask"`,
        and `"images"` by the normalised float32 `(B, S, S, 3)` images.

    Args:
        tokenizer: a keras-hub `CLIPTokenizer`.
        image_converter: a `CLIPRetrieverImageConverter`.
        sequence_length: L (CLIP's 77).
    """

    backbone_cls = keras_hub.models.CLIPBackbone
    tokenizer_cls = keras_hub.models.CLIPTokenizer
    image_converter_cls = CLIPRetrieverImageConverter

    minimum_length = 3  # start, a token, end

    def __init__(self, tokenizer, image_converter=None, sequence_length=CONTEXT_LENGTH, **kwargs):
        super().__init__(tokenizer, image_converter, sequence_length, **kwargs)

    def build(self, input_shape=None):
        # After the tokenizer's vocabulary is loaded (a preset sets it after construction).
        tokenizer = self.tokenizer
        self.packer = keras_hub.layers.StartEndPacker(
            start_value=tokenizer.start_token_id, end_value=tokenizer.end_token_id,
            pad_value=tokenizer.pad_token_id, sequence_length=self.sequence_length, return_padding_mask=True,
        )
        self.built = True

    def pack(self, captions):
        """`(token_ids, padding_mask)` of caption strings; empty captions fail, naming their batch indices."""
        if not self.built:
            self.build()
        captions = tf.convert_to_tensor(captions, tf.string)
        scalar = captions.shape.rank == 0
        batch = tf.reshape(captions, [-1])
        empty = tf.equal(tf.strings.length(tf.strings.strip(batch)), 0)
        check = tf.debugging.Assert(
            tf.logical_not(tf.reduce_any(empty)),
            ["empty captions at these batch indices:", tf.reshape(tf.where(empty), [-1])],
            summarize=8,
        )
        with tf.control_dependencies([check]):
            words = clip_words(batch)
        word_tokens = self.tokenizer(words.flat_values)  # (words, tokens per word)
        if not isinstance(word_tokens, tf.RaggedTensor):  # keras-hub's eager path gives lists
            word_tokens = tf.ragged.constant(word_tokens, dtype=tf.int32, ragged_rank=1)
        tokens = tf.RaggedTensor.from_row_splits(word_tokens, words.row_splits).merge_dims(1, 2)
        token_ids, padding_mask = self.packer(tokens)
        token_ids = tf.cast(token_ids, tf.int32)
        return (token_ids[0], padding_mask[0]) if scalar else (token_ids, padding_mask)
