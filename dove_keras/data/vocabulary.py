"""The vocabulary of training captions (and an optional GloVe matrix for it).

The vocabulary file has one normalised word per line, most frequent first (ties
in alphabetical order), without the padding and out-of-vocabulary entries: word
on line n gets token id n + 1, and the model's vocabulary_size is 2 + lines.
"""

import collections
import os

import numpy as np
import tensorflow as tf

from dove_keras.data import readers
from dove_keras.data import shards
from dove_keras.preprocessing.captions import normalize_caption


def training_captions(source, split="train", source_format=None, use_verify=True):
    """The captions of one split of a caption source or of a prepared folder.

    Args:
        source: a caption source (see `readers.read_captions`) or a folder
            written by `dove-data prepare` (it holds manifest.json).
        split: the split to read.
        source_format: format of a caption source; detected when None.
        use_verify: precomp only, see `readers.precomp_split_files`.

    Returns:
        A list of caption strings.
    """
    source = os.fspath(source)
    if os.path.isfile(os.path.join(source, shards.MANIFEST)):
        paths, _ = shards.split_shards(source, split)
        captions = []
        for serialized in tf.data.TFRecordDataset(paths).as_numpy_iterator():
            values = tf.train.Example.FromString(serialized).features.feature["captions"]
            captions.extend(v.decode("utf-8") for v in values.bytes_list.value)
        return captions
    records = readers.read_captions(source, source_format, use_verify=use_verify)
    if split not in records:
        raise ValueError(f"{source}: no {split!r} split; it has {list(records)}")
    return [caption for record in records[split] for caption in record.captions]


def build_vocabulary(captions, min_count=1):
    """Counts normalised words and orders them.

    Args:
        captions: iterable of caption strings.
        min_count: keep words seen at least this often.

    Returns:
        The words, most frequent first, ties alphabetical.
    """
    counts = collections.Counter()
    for caption in captions:
        counts.update(normalize_caption(caption).split())
    kept = [(word, n) for word, n in counts.items() if n >= min_count]
    return [word for word, _ in sorted(kept, key=lambda item: (-item[1], item[0]))]


def glove_matrix(words, glove_path, seed=0, oov_std=0.1):
    """Embedding matrix for a vocabulary from a GloVe text file.

    Args:
        words: the vocabulary (ids 2.. in order).
        glove_path: GloVe text file, `word v1 ... vD` per line (an optional
            word2vec header line `count dim` is skipped).
        seed: seed of the random rows.
        oov_std: standard deviation of the random rows.

    Returns:
        (float32 matrix `(2 + len(words), D)`, number of words found): row 0
        (padding) is zero; row 1 (out-of-vocabulary) and words missing from the
        file are drawn from N(0, oov_std).

    Raises:
        readers.DataFormatError: a line does not have the vector width.
    """
    index = {word: i + 2 for i, word in enumerate(words)}
    vectors, dim = {}, None
    with open(glove_path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                parts = raw.decode("utf-8").rstrip().split(" ")
            except UnicodeDecodeError as error:
                raise readers.DataFormatError(
                    f"{glove_path}:{number}: not valid UTF-8"
                ) from error
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue
            if dim is None:
                dim = len(parts) - 1
                if dim < 1:
                    raise readers.DataFormatError(f"{glove_path}:1: no vector values")
            if len(parts) < dim + 1:
                raise readers.DataFormatError(
                    f"{glove_path}:{number}: {len(parts) - 1} values, expected {dim}"
                )
            word = " ".join(parts[:-dim])
            if word in index and word not in vectors:
                try:
                    vectors[word] = np.asarray(parts[-dim:], dtype=np.float32)
                except ValueError as error:
                    raise readers.DataFormatError(f"{glove_path}:{number}: {error}") from error
    if dim is None:
        raise readers.DataFormatError(f"{glove_path}: no vectors")
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, oov_std, (2 + len(words), dim)).astype(np.float32)
    matrix[0] = 0.0
    for word, vector in vectors.items():
        matrix[index[word]] = vector
    return matrix, len(vectors)
