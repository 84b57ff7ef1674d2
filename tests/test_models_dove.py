"""The DOVE model: shapes, masking, scoring, loss, ablations, saving, fitting."""

import json

import keras
import numpy as np
import numpy_reference as ref
import pytest
import tensorflow as tf
from keras import ops
from model_fixtures import SMALL_MODEL
from model_fixtures import batch
from model_fixtures import small_model

from dove_keras.models import DOVEBackbone
from dove_keras.models import DOVERetriever
from dove_keras.models.text_encoder import gru_states


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def predict(model, x):
    """The model's compiled inference forward pass, as numpy."""
    return model.predict_on_batch(x)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return small_model()


def test_feature_shapes(model):
    x = batch(size=3, length=12)
    images = model.encode_image(x["images"])
    texts = model.encode_text(x["token_ids"])
    assert tuple(images["global"].shape) == (3, 16)
    assert tuple(images["fused"].shape) == (3, 16)
    assert tuple(images["regions"].shape) == (3, 4, 16)  # 2x2 P5 cells at 64 px
    assert tuple(texts["genes"].shape) == (3, 12 + 6 + 4, 16)
    assert tuple(texts["gene_mask"].shape) == (3, 22)


def test_extra_padding_does_not_change_a_caption(model):
    x = batch(size=3, length=12)
    longer = np.pad(x["token_ids"], ((0, 0), (0, 9)))
    short, long = model.encode_text(x["token_ids"]), model.encode_text(longer)
    np.testing.assert_allclose(numpy(short["global"]), numpy(long["global"]), atol=1e-5)
    images = model.encode_image(x["images"])
    np.testing.assert_allclose(model.score(images, short), model.score(images, long), atol=1e-5)


def test_chunked_score_equals_full_pairwise_call(model):
    x = batch(size=5, length=12)
    full = predict(model, x)["roam_scores"]
    images, texts = model.encode_image(x["images"]), model.encode_text(x["token_ids"])
    np.testing.assert_allclose(model.score(images, texts, chunk_size=2), full, atol=1e-5)
    np.testing.assert_allclose(model.score(images, texts, chunk_size=64), full, atol=1e-5)
    assert model.score(images, texts).dtype == np.float32


def test_a_model_never_called_scores_like_its_forward_pass():
    keras.utils.set_random_seed(1)
    fresh = DOVERetriever(DOVEBackbone(**SMALL_MODEL))  # never called: scoring compiles IGA alone
    x = batch(size=3, length=12)
    images, texts = fresh.encode_image(x["images"]), fresh.encode_text(x["token_ids"])
    scores = fresh.score(images, texts)
    built = small_model()
    built.set_weights(fresh.get_weights())
    np.testing.assert_allclose(scores, predict(built, x)["roam_scores"], atol=1e-5)


def test_unmasked_bigru_equals_keras_masked_bidirectional(model):
    token_ids = batch(size=4, length=12)["token_ids"]
    mask = ops.convert_to_tensor(token_ids != 0)
    encoder = model.backbone.text_encoder
    words = encoder.word_embedding(ops.convert_to_tensor(token_ids))
    masked = numpy(encoder.recurrent(words, mask=mask))
    unmasked = numpy(encoder._bidirectional_states(words, mask, training=False))
    valid = token_ids != 0
    assert valid.sum() < valid.size  # some padding to get wrong
    np.testing.assert_allclose(unmasked[valid], masked[valid], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("go_backwards", [False, True])
def test_gru_states_equal_the_keras_gru_and_its_gradients(go_backwards):
    """On torch `gru_states` runs torch's GRU kernel: same states and gradients as Keras' loop."""
    keras.utils.set_random_seed(0)
    gru = keras.layers.GRU(8, return_sequences=True, go_backwards=go_backwards)
    sequences = ops.convert_to_tensor(np.random.default_rng(0).standard_normal((3, 7, 5)).astype("float32"))
    gru.build(sequences.shape)
    np.testing.assert_allclose(numpy(gru_states(gru, sequences)), numpy(gru(sequences)), rtol=1e-5, atol=1e-6)
    if keras.backend.backend() != "torch":
        return
    import torch

    weights = [variable.value for variable in gru.trainable_variables]
    native = torch.autograd.grad(gru_states(gru, sequences).square().sum(), weights)
    loop = torch.autograd.grad(gru(sequences).square().sum(), weights)
    for a, b in zip(native, loop):
        np.testing.assert_allclose(numpy(a), numpy(b), rtol=1e-4, atol=1e-5)


def test_score_accepts_numpy_features_concatenated_across_batches(model):
    x = batch(size=4)
    images = model.encode_image(x["images"])
    texts = [model.encode_text(x["token_ids"][i : i + 2]) for i in (0, 2)]
    joined = {k: np.concatenate([numpy(t[k]) for t in texts]) for k in texts[0]}
    expected = model.score(images, model.encode_text(x["token_ids"]))
    np.testing.assert_allclose(model.score(images, joined), expected, atol=1e-5)


def test_compute_loss_combines_triplet_and_global_terms(model):
    x = batch(size=4)
    x["image_ids"] = np.array([0, 0, 1, 2], "int32")
    y_pred = predict(model, x)
    total = numpy(model.compute_loss(x, None, y_pred))
    triplet = ref.triplet_loss(numpy(y_pred["roam_scores"]), x["image_ids"], 0.2, False)
    global_ = ref.triplet_loss(numpy(y_pred["global_scores"]), x["image_ids"], 0.2, False)
    np.testing.assert_allclose(total, triplet + 1.0 * global_, rtol=1e-5)


def test_lambda_global_weights_the_constraint():
    keras.utils.set_random_seed(1)
    model = small_model(lambda_global=0.0, hardest_negative=True)
    x = batch()
    y_pred = predict(model, x)
    triplet = ref.triplet_loss(numpy(y_pred["roam_scores"]), x["image_ids"], 0.2, True)
    np.testing.assert_allclose(numpy(model.compute_loss(x, None, y_pred)), triplet, rtol=1e-5)


def test_use_roam_false_is_a_plain_dual_encoder():
    model = small_model(use_roam=False)
    x = batch()
    out = predict(model, x)
    assert set(out) == {"global_scores"}
    assert model.backbone.iga is None and not hasattr(model.backbone.image_encoder, "ifa")
    images, texts = model.encode_image(x["images"]), model.encode_text(x["token_ids"])
    np.testing.assert_allclose(model.score(images, texts), numpy(out["global_scores"]), atol=1e-6)
    global_ = ref.triplet_loss(numpy(out["global_scores"]), x["image_ids"], 0.2, False)
    np.testing.assert_allclose(numpy(model.compute_loss(x, None, out)), global_, rtol=1e-5)


def test_use_dtga_false_uses_word_states_as_genes():
    model = small_model(use_dtga=False)
    texts = model.encode_text(batch(length=12)["token_ids"])
    assert model.backbone.text_encoder.genome is None
    assert tuple(texts["genes"].shape) == (4, 12, 16)
    np.testing.assert_array_equal(numpy(texts["gene_mask"]), batch(length=12)["token_ids"] != 0)


def test_precomputed_regions_ignore_padding():
    model = small_model(regions=(3, 10))
    rng = np.random.default_rng(3)
    images = batch(size=2)["images"]
    regions = rng.standard_normal((2, 3, 10)).astype("float32")
    padded = np.concatenate([regions, rng.standard_normal((2, 2, 10)).astype("float32")], 1)
    base = model.encode_image(images, regions, np.ones((2, 3), bool))
    mask = np.array([[1, 1, 1, 0, 0]] * 2, bool)
    with_padding = model.encode_image(images, padded, mask)
    np.testing.assert_allclose(numpy(base["fused"]), numpy(with_padding["fused"]), atol=1e-5)


def test_frozen_backbone_is_not_trained(model):
    pyramid = model.backbone.image_encoder.pyramid
    assert pyramid.trainable_weights == []
    assert len(model.trainable_weights) > 0
    trainable = small_model(train_image_backbone=True)
    assert len(trainable.backbone.image_encoder.pyramid.trainable_weights) > 0


def test_keras_file_round_trip(model, tmp_path):
    path = str(tmp_path / "dove.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, type(model))
    assert json.dumps(restored.get_config()) == json.dumps(model.get_config())
    x = batch(size=3)
    for name in ("encode_image", "encode_text"):
        arg = x["images"] if name == "encode_image" else x["token_ids"]
        a, b = getattr(model, name)(arg), getattr(restored, name)(arg)
        for key in a:
            np.testing.assert_allclose(numpy(a[key]), numpy(b[key]), atol=1e-6)
    images, texts = model.encode_image(x["images"]), model.encode_text(x["token_ids"])
    np.testing.assert_allclose(model.score(images, texts), restored.score(images, texts), atol=1e-6)


def test_word_embeddings_can_be_initialised(model):
    encoder = model.backbone.text_encoder
    matrix = np.random.rand(encoder.vocabulary_size, encoder.word_dim).astype("float32")
    fresh = small_model()
    fresh.backbone.text_encoder.set_word_embeddings(matrix)
    np.testing.assert_allclose(numpy(fresh.backbone.text_encoder.word_embedding.embeddings), matrix)
    with pytest.raises(ValueError, match="expected"):
        fresh.backbone.text_encoder.set_word_embeddings(matrix[:5])


def test_fit_drives_the_loss_down():
    keras.utils.set_random_seed(2)
    model = small_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    fixed_batch = tf.data.Dataset.from_tensors(batch(size=6, seed=4))
    history = model.fit(fixed_batch, epochs=20, verbose=0).history  # one step per epoch
    assert np.mean(history["loss"][-3:]) < 0.6 * history["loss"][0]
    for step in (0, -1):
        total = history["triplet_loss"][step] + history["global_loss"][step]
        np.testing.assert_allclose(history["loss"][step], total, rtol=1e-4)
