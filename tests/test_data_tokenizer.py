"""Caption tokenizer: ids per the data contract, against a plain-Python reference."""

import numpy as np
import pytest
import tensorflow as tf

from data_tools.vocab import build_vocabulary
from dove_keras.data import readers
from dove_keras.data.tokenizer import CaptionTokenizer
from dove_keras.data.tokenizer import load_vocabulary
from dove_keras.data.tokenizer import normalize_caption
from dove_keras.data.tokenizer import normalize_captions


def reference_ids(caption, words, length):
    """Token ids the contract asks for, written as plainly as possible."""
    text = caption.lower()
    text = "".join(" " if ch in " \t\n\r\f\v" else ch for ch in text)
    text = "".join(ch for ch in text if ch in "abcdefghijklmnopqrstuvwxyz0123456789 ")
    index = {word: i + 2 for i, word in enumerate(words)}
    ids = [index.get(word, 1) for word in text.split()][:length]
    return ids + [0] * (length - len(ids))


def test_ids_padding_truncation_oov():
    tokenizer = CaptionTokenizer(["a", "plane", "is"], sequence_length=5)
    assert tokenizer.vocabulary_size == 5
    ids = tokenizer(["A plane!", "a red plane is a plane", "zebra"]).numpy()
    assert ids.dtype == np.int32
    np.testing.assert_array_equal(
        ids, [[2, 3, 0, 0, 0], [2, 1, 3, 4, 2], [1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(tokenizer("is a").numpy(), [4, 2, 0, 0, 0])


def test_normalisation_python_and_tensorflow_agree():
    samples = ["  Two  PLANES,\tparked\nnear the water’s edge. ", "semi-surrounded (by) trees;",
               "l'aéroport 3rd", "A\u00a0B", "...", "İK"]
    expected = ["two planes parked near the waters edge", "semi surrounded by trees",
                "la roport 3rd", "a b", "", "k"]
    assert [normalize_caption(s) for s in samples] == expected
    tf_out = [t.decode() for t in normalize_captions(tf.constant(samples)).numpy()]
    assert tf_out == expected


def test_empty_caption_is_rejected_at_reading_time():
    tokenizer = CaptionTokenizer(["a"])
    dataset = tf.data.Dataset.from_tensor_slices([["a", "a"], ["a", " ?! "]]).map(
        lambda captions: tokenizer(captions, source="img_7.tif"))
    iterator = iter(dataset)
    next(iterator)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"img_7\.tif.*empty caption.*\?!"):
        next(iterator)


def test_matches_reference_on_real_captions(shared_data, tmp_path):
    records = readers.read_captions(shared_data / "benchmarks" / "sydney_precomp")
    words = build_vocabulary([c for r in records["train"] for c in r.captions], min_count=2)
    path = tmp_path / "vocab.txt"
    path.write_text("".join(w + "\n" for w in words))
    tokenizer = CaptionTokenizer(str(path), sequence_length=12)
    assert tokenizer.vocabulary == words
    captions = [c for r in records["test"] for c in r.captions]
    expected = np.array([reference_ids(c, words, 12) for c in captions])
    got = tf.data.Dataset.from_tensor_slices(captions).batch(64).map(tokenizer)
    got = np.concatenate([b.numpy() for b in got])
    np.testing.assert_array_equal(got, expected)
    assert (expected == 1).any() and (expected[:, -1] != 0).any()  # OOV and truncation occur


@pytest.mark.parametrize("content,message", [
    ("plane\nPlane\n", r"vocab\.txt:2: 'Plane' is not a normalised word"),
    ("plane\n\nsea\n", r"vocab\.txt:2: '' is not a normalised word"),
    ("plane\nsea\nplane\n", r"vocab\.txt:3: 'plane' repeats line 1"),
    ("", r"empty vocabulary"),
])
def test_bad_vocabulary_file(tmp_path, content, message):
    path = tmp_path / "vocab.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_vocabulary(path)


def test_sequence_length_must_be_positive():
    with pytest.raises(ValueError, match="sequence_length"):
        CaptionTokenizer(["a"], sequence_length=0)

