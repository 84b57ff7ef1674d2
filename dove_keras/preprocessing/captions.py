"""Captions: the normalisation contract and vocabulary files.

Normalisation: lower-case, delete apostrophes ("there's" -> "theres"), turn
every other character that is not `[a-z0-9]` into a space (so "line,like"
stays two words), collapse runs of spaces, trim.
Token ids: 0 padding, 1 out-of-vocabulary, 2.. the vocabulary words in file
order (a vocabulary file holds one normalised word per line, without the
padding and out-of-vocabulary entries).
"""

import re

import tensorflow as tf

CAPTIONS_PER_IMAGE = 5
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
        ValueError: the file is empty, or a line is empty, not normalised or
            repeats a word.
    """
    with open(path, encoding="utf-8") as f:
        words = f.read().split("\n")
    if words and words[-1] == "":
        words.pop()
    check_vocabulary(words, str(path))
    return words


def check_vocabulary(words, source="vocabulary"):
    """Raises ValueError unless `words` are distinct normalised words."""
    if not words:
        raise ValueError(f"{source}: empty vocabulary")
    seen = {}
    for number, word in enumerate(words, start=1):
        if not isinstance(word, str) or not re.fullmatch(r"[a-z0-9]+", word):
            raise ValueError(f"{source}:{number}: {word!r} is not a normalised word ([a-z0-9]+)")
        if word in seen:
            raise ValueError(f"{source}:{number}: {word!r} repeats line {seen[word]}")
        seen[word] = number


def write_vocabulary(words, path):
    """Writes one word per line (UTF-8, final newline)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(f"{word}\n" for word in words))
