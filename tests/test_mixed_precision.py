"""Mixed precision (`training.precision`): loss and scores near float32's, masks finite."""

import keras
import numpy as np
import pytest
from keras import ops
from model_fixtures import batch
from training_fixtures import make_prepared
from training_fixtures import tiny_config

from dove_keras.models.inference import inference_loss
from dove_keras.training.factory import build_retriever
from dove_keras.training.factory import with_precision

# bfloat16 keeps 8 bits of mantissa: the stated tolerances of a small untrained model.
LOSS_RTOL, SCORE_ATOL = 0.05, 0.05


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    make_prepared(str(root))
    return str(root)


def test_mixed_bfloat16_stays_near_float32(data_root, tmp_path):
    keras.utils.set_random_seed(0)
    reference = build_retriever(tiny_config(data_root, tmp_path / "a", model={"dropout": 0.0, "word_dropout": 0.0}))
    config = tiny_config(data_root, tmp_path / "b", model={"dropout": 0.0, "word_dropout": 0.0},
                         training={"precision": "mixed_bfloat16"})
    mixed = build_retriever(config)
    assert mixed.backbone.dtype_policy.name == "mixed_bfloat16"
    assert all(w.dtype == "float32" for w in mixed.backbone.weights)  # variables stay float32
    mixed.set_weights(reference.get_weights())
    x = batch(size=4, length=8)
    x["token_ids"] = np.minimum(x["token_ids"], reference.backbone.vocabulary_size - 1)
    losses = [float(ops.convert_to_numpy(inference_loss(m, x))) for m in (reference, mixed)]
    assert losses[1] == pytest.approx(losses[0], rel=LOSS_RTOL)
    images = [m.encode_image(x["images"]) for m in (reference, mixed)]
    texts = [m.encode_text(x["token_ids"]) for m in (reference, mixed)]
    scores = [m.score(i, t) for m, i, t in zip((reference, mixed), images, texts)]
    assert scores[1].dtype == np.float32 and np.isfinite(scores[1]).all()
    assert np.abs(scores[1] - scores[0]).max() <= SCORE_ATOL
    gene_mask = ops.convert_to_numpy(texts[1]["gene_mask"])
    np.testing.assert_array_equal(gene_mask, ops.convert_to_numpy(texts[0]["gene_mask"]))
    assert np.isfinite(ops.convert_to_numpy(ops.cast(texts[1]["genes"], "float32"))).all()


def test_with_precision_copies_weights_and_scores_near_float32(data_root, tmp_path):
    keras.utils.set_random_seed(0)
    reference = build_retriever(tiny_config(data_root, tmp_path, model={"dropout": 0.0, "word_dropout": 0.0}))
    assert with_precision(reference, "float32") is reference
    mixed = with_precision(reference, "mixed_bfloat16")
    assert mixed.backbone.dtype_policy.name == "mixed_bfloat16"
    assert mixed.preprocessor is reference.preprocessor
    for got, want in zip(mixed.backbone.weights, reference.backbone.weights):
        np.testing.assert_array_equal(ops.convert_to_numpy(got), ops.convert_to_numpy(want), err_msg=want.path)
    x = batch(size=4, length=8)
    x["token_ids"] = np.minimum(x["token_ids"], reference.backbone.vocabulary_size - 1)
    features = [(m.encode_image(x["images"]), m.encode_text(x["token_ids"])) for m in (reference, mixed)]
    scores = [m.score(*f) for m, f in zip((reference, mixed), features)]
    assert not np.array_equal(scores[0], scores[1])  # it did compute in bfloat16
    assert np.abs(scores[1] - scores[0]).max() <= SCORE_ATOL
    float32_features = mixed.score(*features[0])  # features of the float32 model, scored in bfloat16
    assert np.abs(float32_features - scores[0]).max() <= SCORE_ATOL
