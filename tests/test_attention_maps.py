"""Where ROAM looked: the heat maps sum to 1 as documented and padded regions weigh nothing."""

import math

import numpy as np
import numpy_reference as ref
from keras import ops
from model_fixtures import batch
from model_fixtures import small_model

from dove_keras.models.attention_maps import attention_maps
from dove_keras.models.attention_maps import heat_map


def test_maps_are_distributions_over_the_grids():
    model = small_model()
    x = batch(size=3)
    maps = attention_maps(model.backbone, x["images"], x["token_ids"])
    assert maps["regions"].shape == (3, 4) and maps["region_side"] == 2  # the 2 x 2 P5 cells at 64 px
    assert maps["tokens"].shape == (3, 4) and maps["token_side"] == 2
    np.testing.assert_allclose(maps["regions"].sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(maps["tokens"].sum(1), 1, atol=1e-5)
    picture = heat_map(maps, 1, 50, 70)
    assert picture.shape == (50, 70) and (picture >= 0).all()
    np.testing.assert_allclose(picture.sum(), 1, atol=1e-9)


def test_region_relevance_follows_its_definition():
    model = small_model()
    x = batch(size=2)
    maps = attention_maps(model.backbone, x["images"], x["token_ids"])
    iga, encoder = model.backbone.iga, model.backbone.image_encoder
    _, regions, _ = encoder.tokens_and_regions(ops.convert_to_tensor(x["images"]))
    texts = model.encode_text(x["token_ids"])
    for b in range(2):
        region_states = np.asarray(ops.convert_to_numpy(regions[b]), "float64")
        queries = ref.dense(iga.query, ref.layer_norm(iga.region_norm, region_states))
        normed = ref.layer_norm(iga.gene_norm, np.asarray(ops.convert_to_numpy(texts["genes"][b]), "float64"))
        keys = ref.dense(iga.key, normed)
        real = np.asarray(ops.convert_to_numpy(texts["gene_mask"][b]))
        affinity = queries @ keys.T / math.sqrt(iga.key_dim)
        weights = np.mean([ref.softmax(row, real) for row in affinity], axis=0)
        expected = ref.softmax(affinity @ weights, np.ones(len(affinity), bool))
        np.testing.assert_allclose(maps["regions"][b], expected, atol=1e-4)


def test_padded_regions_get_zero_weight():
    model = small_model(regions=(5, 10))
    rng = np.random.default_rng(0)
    x = batch(size=2)
    regions = rng.standard_normal((2, 5, 10)).astype("float32")
    region_mask = np.array([[1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], bool)
    maps = attention_maps(model.backbone, x["images"], x["token_ids"], regions, region_mask)
    np.testing.assert_array_equal(maps["regions"][~region_mask], 0.0)
    np.testing.assert_allclose(maps["regions"].sum(1), 1, atol=1e-5)
    assert maps["region_side"] == 0  # precomputed regions have no positions: the token map alone
    np.testing.assert_allclose(heat_map(maps, 0, 8, 8).sum(), 1, atol=1e-9)
