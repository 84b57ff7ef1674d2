"""evaluate_model: batches encoded, concatenated in order, scored, ranked."""

import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from dove_keras.evaluation import evaluate_model
from dove_keras.evaluation import retrieval_recalls


class LinearScorer:
    """A stand-in with DOVE's evaluation API: features are the inputs."""

    def __init__(self):
        self.score_calls = []

    def encode_image(self, images, regions=None, region_mask=None):
        flat = ops.reshape(ops.convert_to_tensor(images), (images.shape[0], -1))
        features = {"global": flat, "fused": flat * 2.0}
        if regions is not None:
            features["regions"] = ops.convert_to_tensor(regions)
        return features

    def encode_text(self, token_ids):
        values = ops.cast(ops.convert_to_tensor(token_ids), "float32")
        return {"global": values, "genes": ops.expand_dims(values, 1)}

    def score(self, image_features, text_features, chunk_size=128, progress=False):
        self.score_calls.append((sorted(image_features), sorted(text_features), chunk_size))
        return image_features["fused"] @ text_features["global"].T

    def global_score(self, image_features, text_features):
        self.score_calls.append((sorted(image_features), sorted(text_features), None))
        return image_features["global"] @ text_features["global"].T


def _split(num_images=11, dim=3, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(num_images, 1, 1, dim)).astype("float32")
    tokens = rng.integers(0, 4, size=(5 * num_images, dim)).astype("int32")
    return images, tokens


def test_roam_and_global_modes_match_direct_recalls():
    images, tokens = _split()
    image_ds = tf.data.Dataset.from_tensor_slices({"images": images}).batch(4)
    caption_ds = tf.data.Dataset.from_tensor_slices({"token_ids": tokens}).batch(7)
    model = LinearScorer()
    flat = images.reshape(len(images), -1)
    tokens_f = tokens.astype("float32")

    roam = evaluate_model(model, image_ds, caption_ds, mode="roam", chunk_size=3)
    np.testing.assert_allclose(roam.scores, 2 * flat @ tokens_f.T, rtol=1e-6)
    assert roam.metrics == pytest.approx(retrieval_recalls(2 * flat @ tokens_f.T))
    assert model.score_calls[-1] == (["fused", "global"], ["genes", "global"], 3)

    fast = evaluate_model(model, image_ds, caption_ds, mode="global")
    assert fast.metrics == pytest.approx(retrieval_recalls(flat @ tokens_f.T))
    assert model.score_calls[-1] == (["global"], ["global"], None)  # only V_M / T_G kept
    assert set(fast.timings) == {"encode_images", "encode_captions", "score", "recalls", "total"}
    assert fast.timings["total"] >= fast.timings["score"] >= 0
    assert "11 images x 55 captions" in fast.summary()


def test_accepts_plain_iterables_and_precomputed_regions():
    images, tokens = _split(num_images=3)
    regions = np.ones((3, 2, 4), "float32")
    image_batches = [{"images": images[:2], "regions": regions[:2]}, {"images": images[2:], "regions": regions[2:]}]
    caption_batches = [{"token_ids": tokens}]
    model = LinearScorer()
    result = evaluate_model(model, image_batches, caption_batches)
    assert model.score_calls[-1][0] == ["fused", "global", "regions"]
    assert result.scores.shape == (3, 15) and result.scores.dtype == np.float32


def test_count_mismatch_and_bad_inputs_are_clear_errors():
    images, tokens = _split(num_images=4)
    model = LinearScorer()
    image_ds = tf.data.Dataset.from_tensor_slices({"images": images}).batch(2)
    short = tf.data.Dataset.from_tensor_slices({"token_ids": tokens[:19]}).batch(5)
    with pytest.raises(ValueError, match="4 images and 19 captions"):
        evaluate_model(model, image_ds, short)
    with pytest.raises(ValueError, match="mode must be one of"):
        evaluate_model(model, image_ds, short, mode="fast")
    with pytest.raises(ValueError, match="'token_ids'"):
        evaluate_model(model, image_ds, [{"tokens": tokens}])
    with pytest.raises(ValueError, match="images dataset is empty"):
        evaluate_model(model, image_ds.take(0), short)


def test_a_short_last_batch_is_encoded_at_the_full_batch_size():
    """One input shape per split (no retrace or recompile), and the padding rows are dropped."""
    images, tokens = _split(num_images=11)
    model = LinearScorer()
    shapes = []
    encode_image, encode_text = model.encode_image, model.encode_text
    model.encode_image = lambda x, *rest: shapes.append(("images", x.shape[0])) or encode_image(x, *rest)
    model.encode_text = lambda x: shapes.append(("captions", x.shape[0])) or encode_text(x)
    image_ds = tf.data.Dataset.from_tensor_slices({"images": images}).batch(4)  # 4, 4, 3
    caption_ds = tf.data.Dataset.from_tensor_slices({"token_ids": tokens}).batch(20)  # 20, 20, 15
    result = evaluate_model(model, image_ds, caption_ds, mode="global")
    assert shapes == [("images", 4)] * 3 + [("captions", 20)] * 3
    expected = images.reshape(11, -1) @ tokens.astype("float32").T
    np.testing.assert_allclose(result.scores, expected, rtol=1e-6)
