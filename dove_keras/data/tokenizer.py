"""Caption normalisation and tokenisation (tensorflow-text, usable inside tf.data).

Normalisation (the data contract): lower-case, delete apostrophes ("there's" ->
"theres"), turn every other character that is not `[a-z0-9]` into a space (so
"line,like" stays two words), collapse runs of spaces, trim.
Token ids: 0 padding, 1 out-of-vocabulary, 2.. the vocabulary words in file order.
"""

import re

import tensorflow as tf
import tensorflow_text as tf_text

PAD_ID = 0
OOV_ID = 1
_APOSTROPHES = "['\u2019]"
_NOT_KEPT = r"[^a-z0-9]"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalize_caption(text):
    """Normalises one caption in Python (same result as `normalize_captions`).

    Args:
        text: a string.

    Returns:
        The normalised string (possibly empty).
    """
    text = re.sub(_APOSTROPHES, "", text.translate(_ASCII_LOWER))
    text = re.sub(_NOT_KEPT, " ", text)
    return re.sub(" +", " ", text).strip()


def normalize_captions(captions):
    """Normalises a string tensor of captions with TensorFlow ops.

    Args:
        captions: a string tensor of any shape.

    Returns:
        A string tensor of the same shape.
    """
    text = tf.strings.lower(captions)
    text = tf.strings.regex_replace(text, _APOSTROPHES, "")
    text = tf.strings.regex_replace(text, _NOT_KEPT, " ")
    text = tf.strings.regex_replace(text, " +", " ")
    return tf.strings.strip(text)


def load_vocabulary(path):
    """Reads a vocabulary file: one word per line, without pad/oov entries.

    Args:
        path: the file.

    Returns:
        The list of words.

    Raises:
        ValueError: a line is empty, not normalised, or repeats a word.
    """
    with open(path, encoding="utf-8") as f:
        words = f.read().split("\n")
    if words and words[-1] == "":
        words.pop()
    seen = {}
    for number, word in enumerate(words, start=1):
        if not re.fullmatch(r"[a-z0-9]+", word):
            raise ValueError(
                f"{path}:{number}: {word!r} is not a normalised word ([a-z0-9]+)"
            )
        if word in seen:
            raise ValueError(f"{path}:{number}: {word!r} repeats line {seen[word]}")
        seen[word] = number
    if not words:
        raise ValueError(f"{path}: empty vocabulary")
    return words


class CaptionTokenizer:
    """Maps captions to fixed-length token id sequences inside tf.data.

    Args:
        vocabulary: a list of words (id 2 onwards, in order) or the path of a
            vocabulary file.
        sequence_length: ids per caption; longer captions are truncated,
            shorter ones right-padded with 0.

    Example:
        >>> tokenizer = CaptionTokenizer(["a", "plane"], sequence_length=4)
        >>> tokenizer(["A plane!", "a red plane"]).numpy()
        array([[2, 3, 0, 0], [2, 1, 3, 0]], dtype=int32)
    """

    def __init__(self, vocabulary, sequence_length=32):
        if isinstance(vocabulary, (str, bytes)) or hasattr(vocabulary, "__fspath__"):
            vocabulary = load_vocabulary(vocabulary)
        self.vocabulary = list(vocabulary)
        if int(sequence_length) < 1:
            raise ValueError(f"sequence_length must be >= 1, got {sequence_length}")
        self.sequence_length = int(sequence_length)
        self._splitter = tf_text.WhitespaceTokenizer()
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(self.vocabulary, tf.string),
                tf.range(2, 2 + len(self.vocabulary), dtype=tf.int64),
            ),
            default_value=OOV_ID,
        )

    @property
    def vocabulary_size(self):
        """Number of ids, padding and out-of-vocabulary included."""
        return 2 + len(self.vocabulary)

    def __call__(self, captions, source=None):
        """Tokenises captions.

        Args:
            captions: a string scalar or 1-D string tensor (or Python strings).
            source: optional string naming where the captions come from (e.g.
                the image file); it is added to the error message.

        Returns:
            int32 ids, shape `(sequence_length,)` for a scalar input, else
            `(n, sequence_length)`.

        Raises:
            tf.errors.InvalidArgumentError: a caption is empty after
                normalisation (raised when the tensor is computed, i.e. at
                reading time inside tf.data).
        """
        captions = tf.convert_to_tensor(captions, tf.string)
        scalar = captions.shape.rank == 0
        batch = tf.reshape(captions, [-1])
        words = self._splitter.tokenize(normalize_captions(batch))
        lengths = words.row_lengths()
        message = ["empty caption after normalisation (lower-case, keep [a-z0-9 ]):"]
        if source is not None:
            message = [tf.strings.join(["image ", tf.convert_to_tensor(source), ":"])] + message
        check = tf.debugging.Assert(
            tf.reduce_all(lengths > 0),
            message + [tf.boolean_mask(batch, tf.equal(lengths, 0))],
            summarize=8,
        )
        with tf.control_dependencies([check]):
            ids = tf.ragged.map_flat_values(self._table.lookup, words)
            ids = ids.to_tensor(PAD_ID, shape=[None, self.sequence_length])
            ids = tf.cast(ids, tf.int32)
        return ids[0] if scalar else ids
