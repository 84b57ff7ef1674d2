"""DOVE's word tokenizer: normalised words -> ids of the training vocabulary."""

import os

import keras
import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text

from dove_keras.models.dove_backbone import DOVEBackbone
from dove_keras.models.preset_checks import CheckedPreset
from dove_keras.preprocessing.captions import OOV_ID
from dove_keras.preprocessing.captions import PAD_ID
from dove_keras.preprocessing.captions import check_vocabulary
from dove_keras.preprocessing.captions import load_vocabulary
from dove_keras.preprocessing.captions import normalize_captions
from dove_keras.preprocessing.captions import write_vocabulary

VOCABULARY_FILE = "vocabulary.txt"
PAD_TOKEN = "<pad>"
OOV_TOKEN = "<oov>"


@keras.saving.register_keras_serializable(package="dove_keras")
class DOVETokenizer(CheckedPreset, keras_hub.tokenizers.Tokenizer):
    """Splits normalised captions on spaces and maps words to ids (tensorflow-text).

    Normalisation follows `dove_keras.preprocessing.captions` (lower-case, keep
    `[a-z0-9]`). Id 0 is padding, 1 out-of-vocabulary, 2.. the vocabulary
    words in order. The vocabulary is saved as an asset
    (`assets/tokenizer/vocabulary.txt` in a preset, inside `.keras` files),
    not in the config.

    Args:
        vocabulary: a list of words, the path of a vocabulary file (one word
            per line), or None (set later by `set_vocabulary` or loading).

    Example:
    ```python
    tokenizer = DOVETokenizer(["a", "plane"])
    tokenizer(["A plane!", "a red plane"])  # [[2, 3], [2, 1, 3]] (ragged)
    ```
    """

    backbone_cls = DOVEBackbone

    def __init__(self, vocabulary=None, **kwargs):
        super().__init__(**kwargs)
        self.file_assets = [VOCABULARY_FILE]
        self._splitter = tf_text.WhitespaceTokenizer()
        self.set_vocabulary(vocabulary)

    def set_vocabulary(self, vocabulary):
        """Sets the words (a list or a vocabulary file path; None clears it)."""
        if vocabulary is None:
            self.vocabulary, self._table = None, None
            return
        if isinstance(vocabulary, (str, bytes, os.PathLike)):
            vocabulary = load_vocabulary(vocabulary)
        words = [str(word) for word in vocabulary]
        check_vocabulary(words)
        self.vocabulary = words
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(words, tf.string), tf.range(2, 2 + len(words), dtype=tf.int64)
            ),
            default_value=OOV_ID,
        )

    def _require_vocabulary(self):
        if self.vocabulary is None:
            raise ValueError("DOVETokenizer has no vocabulary: pass one or load a preset.")

    def vocabulary_size(self):
        """Number of ids, padding and out-of-vocabulary included."""
        self._require_vocabulary()
        return 2 + len(self.vocabulary)

    def get_vocabulary(self):
        """Every token by id: padding, out-of-vocabulary, then the words."""
        self._require_vocabulary()
        return [PAD_TOKEN, OOV_TOKEN, *self.vocabulary]

    def id_to_token(self, id):
        vocabulary = self.get_vocabulary()
        if not 0 <= int(id) < len(vocabulary):
            raise ValueError(f"id {id} is outside [0, {len(vocabulary)})")
        return vocabulary[int(id)]

    def token_to_id(self, token):
        ids = {word: i for i, word in enumerate(self.get_vocabulary())}
        return ids.get(token, OOV_ID)

    def tokenize(self, inputs):
        """Ids of a string tensor: `(n,)` -> ragged `(n, None)`, a scalar -> `(None,)`."""
        self._require_vocabulary()
        inputs = tf.convert_to_tensor(inputs, tf.string)
        words = self._splitter.tokenize(normalize_captions(inputs))
        if isinstance(words, tf.RaggedTensor):
            return tf.cast(tf.ragged.map_flat_values(self._table.lookup, words), tf.int32)
        return tf.cast(self._table.lookup(words), tf.int32)

    def detokenize(self, inputs):
        """Space-joined words of id sequences (padding dropped, unknown words as `<oov>`)."""
        table = tf.constant(self.get_vocabulary())
        try:
            ids = tf.convert_to_tensor(inputs)
        except ValueError:  # rows of different lengths, e.g. `tokenize`'s output on JAX or torch
            ids = tf.ragged.constant(inputs)
        words = tf.gather(table, tf.cast(ids, tf.int32))
        words = tf.where(tf.equal(ids, PAD_ID), "", words)
        joined = tf.strings.reduce_join(words, axis=-1, separator=" ")
        return tf.strings.strip(tf.strings.regex_replace(joined, " +", " "))

    def save_assets(self, dir_path):
        self._require_vocabulary()
        write_vocabulary(self.vocabulary, os.path.join(dir_path, VOCABULARY_FILE))

    def load_assets(self, dir_path):
        self.set_vocabulary(os.path.join(dir_path, VOCABULARY_FILE))

    def get_config(self):
        config = super().get_config()
        config["vocabulary"] = None  # saved as an asset
        return config
