"""DOVE's tokenizer and preprocessor: ids per the data contract, images as the protocol says."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from dove_keras.data import readers
from dove_keras.data.vocabulary import build_vocabulary
from dove_keras.models import DOVEImageConverter
from dove_keras.models import DOVEPreprocessor
from dove_keras.models import DOVETokenizer
from dove_keras.preprocessing.captions import load_vocabulary
from dove_keras.preprocessing.captions import normalize_caption
from dove_keras.preprocessing.captions import normalize_captions

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def reference_ids(caption, words, length):
    """Token ids the contract asks for, written as plainly as possible."""
    kept = "abcdefghijklmnopqrstuvwxyz0123456789"
    text = "".join(chr(ord(ch) + 32) if "A" <= ch <= "Z" else ch for ch in caption)  # ASCII lower-case
    text = "".join(ch for ch in text if ch not in "'\u2019")  # apostrophes deleted
    text = "".join(ch if ch in kept else " " for ch in text)
    index = {word: i + 2 for i, word in enumerate(words)}
    ids = [index.get(word, 1) for word in text.split()][:length]
    return ids + [0] * (length - len(ids))


def preprocessor(words, length, image_size=64):
    return DOVEPreprocessor(DOVETokenizer(words), DOVEImageConverter(image_size), sequence_length=length)


def test_ids_padding_truncation_oov():
    layer = preprocessor(["a", "plane", "is"], 5)
    assert layer.tokenizer.vocabulary_size() == 5
    out = layer({"captions": ["A plane!", "a red plane is a plane", "zebra"]})
    ids = ops.convert_to_numpy(out["token_ids"])
    assert ids.dtype == np.int32
    np.testing.assert_array_equal(ids, [[2, 3, 0, 0, 0], [2, 1, 3, 4, 2], [1, 0, 0, 0, 0]])
    np.testing.assert_array_equal(ops.convert_to_numpy(out["padding_mask"]), ids != 0)
    np.testing.assert_array_equal(layer.token_ids(tf.constant("is a")).numpy(), [4, 2, 0, 0, 0])
    assert layer.tokenizer.id_to_token(3) == "plane" and layer.tokenizer.token_to_id("zebra") == 1
    detokenized = layer.tokenizer.detokenize(tf.constant([[2, 3, 0, 0]])).numpy()
    assert [t.decode() for t in detokenized] == ["a plane"]


@pytest.mark.backend_independent
def test_normalisation_python_and_tensorflow_agree():
    samples = ["  Two  PLANES,\tparked\nnear the water’s edge. ", "semi-surrounded (by) trees;",
               "l'aéroport 3rd", "A\u00a0B", "...", "İK"]
    expected = ["two planes parked near the waters edge", "semi surrounded by trees",
                "la roport 3rd", "a b", "", "k"]
    assert [normalize_caption(s) for s in samples] == expected
    tf_out = [t.decode() for t in normalize_captions(tf.constant(samples)).numpy()]
    assert tf_out == expected


def test_empty_caption_is_rejected_in_tf_data():
    layer = preprocessor(["a"], 4)
    dataset = tf.data.Dataset.from_tensor_slices([["a", "a"], ["a", " ?! "]]).map(
        lambda captions: layer({"captions": captions}))
    iterator = iter(dataset)
    next(iterator)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"empty caption.*\?!"):
        next(iterator)


@pytest.mark.backend_independent
def test_matches_reference_on_every_real_caption_file(shared_data, tmp_path):
    benchmarks = shared_data / "benchmarks"
    for name in ("rsitmd_precomp", "rsicd_precomp", "ucm_precomp", "sydney_precomp"):
        records = readers.read_captions(benchmarks / name)
        words = build_vocabulary([c for r in records["train"] for c in r.captions], min_count=2)
        path = tmp_path / f"{name}.txt"
        path.write_text("".join(w + "\n" for w in words))
        layer = DOVEPreprocessor(DOVETokenizer(str(path)), sequence_length=12)
        assert layer.tokenizer.vocabulary == words
        captions = [c for split in records.values() for r in split for c in r.captions if normalize_caption(c)]
        expected = np.array([reference_ids(c, words, 12) for c in captions])
        batches = tf.data.Dataset.from_tensor_slices(captions).batch(256)
        batches = batches.map(lambda c, layer=layer: layer({"captions": c}))
        got = np.concatenate([b["token_ids"].numpy() for b in batches])
        np.testing.assert_array_equal(got, expected, err_msg=name)
        assert (expected == 1).any() and (expected[:, -1] != 0).any()  # OOV and truncation occur


def test_images_are_resized_and_normalised_as_the_protocol_says():
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (2, 48, 80, 3), dtype=np.uint8)
    layer = preprocessor(["a"], 4, image_size=32)
    out = ops.convert_to_numpy(layer({"images": pixels})["images"])
    # Reference: bilinear antialiased resize, then (x / 255 - mean) / std.
    resized = tf.image.resize(pixels, (32, 32), method="bilinear", antialias=True).numpy()
    np.testing.assert_allclose(out, (resized / 255.0 - IMAGENET_MEAN) / IMAGENET_STD, atol=1e-5)
    encoded = [tf.io.encode_png(p).numpy() for p in pixels]
    from_bytes = ops.convert_to_numpy(layer({"images": encoded})["images"])
    np.testing.assert_allclose(from_bytes, out, atol=1e-6)
    single = ops.convert_to_numpy(layer({"images": pixels[0]})["images"])
    np.testing.assert_allclose(single, out[0], atol=1e-6)
    with pytest.raises(ValueError, match=r"(?s)indices are not JPEG, PNG, GIF or BMP bytes.*\b1\b"):
        layer({"images": [encoded[0], b"II*\x00 a tiff header"]})
    with pytest.raises(ValueError, match=r"(?s)truncated \(no end-of-image marker\).*\b1\b"):
        layer({"images": [encoded[0], encoded[1][:60]]})
    with pytest.raises(ValueError, match=r"(?s)empty caption.*batch indices.*\b1\b"):
        layer({"captions": ["a", "?!"]})


def test_preprocessor_passes_other_keys_and_round_trips(tmp_path):
    layer = preprocessor(["a", "plane"], 4)
    out = layer({"captions": ["a plane"], "image_ids": np.array([7], "int32")})
    assert set(out) == {"token_ids", "padding_mask", "image_ids"}
    layer.tokenizer.save_assets(str(tmp_path))
    assert (tmp_path / "vocabulary.txt").read_text() == "a\nplane\n"
    config = keras.saving.serialize_keras_object(layer)
    assert config["config"]["tokenizer"]["config"]["vocabulary"] is None  # an asset, not config
    loaded = keras.saving.deserialize_keras_object(config)
    loaded.tokenizer.load_assets(str(tmp_path))
    assert loaded.sequence_length == 4 and loaded.image_converter.side == 64
    np.testing.assert_array_equal(loaded.token_ids(tf.constant(["plane a"])).numpy(), [[3, 2, 0, 0]])


@pytest.mark.parametrize("content,message", [
    ("plane\nPlane\n", r"vocab\.txt:2: 'Plane' is not a normalised word"),
    ("plane\n\nsea\n", r"vocab\.txt:2: '' is not a normalised word"),
    ("plane\nsea\nplane\n", r"vocab\.txt:3: 'plane' repeats line 1"),
    ("", r"empty vocabulary"),
])
@pytest.mark.backend_independent
def test_bad_vocabulary_file(tmp_path, content, message):
    path = tmp_path / "vocab.txt"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_vocabulary(path)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="sequence_length"):
        DOVEPreprocessor(DOVETokenizer(["a"]), sequence_length=0)
    with pytest.raises(ValueError, match="multiple of 32"):
        DOVEImageConverter(100)
