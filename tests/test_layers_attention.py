"""Every ROAM/DTGA layer against a loop reference of the DESIGN equations."""

import numpy as np
import numpy_reference as ref
import pytest
from keras import ops

from dove_keras.layers import InterModalGuidanceAttention
from dove_keras.layers import IntraModalFusionAttention
from dove_keras.layers import MultiscaleFusion
from dove_keras.layers import RegionFeatures
from dove_keras.layers import TextGenomeAttention

RNG = np.random.default_rng(0)


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x), dtype="float64")


def random(*shape):
    return RNG.standard_normal(shape).astype("float32")


def test_intra_modal_fusion_matches_reference():
    layer = IntraModalFusionAttention(8)
    tokens, regions = random(2, 5, 8), random(2, 4, 8)
    region_mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0]], bool)
    out = numpy(layer(tokens, regions, region_mask))
    assert out.shape == (2, 8)
    expected = ref.intra_modal_fusion(layer, tokens, regions, region_mask)
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_intra_modal_fusion_ignores_padded_regions():
    layer = IntraModalFusionAttention(8)
    tokens, regions = random(1, 5, 8), random(1, 3, 8)
    padded = np.concatenate([regions, random(1, 2, 8)], axis=1)
    base = numpy(layer(tokens, regions, np.ones((1, 3), bool)))
    with_padding = numpy(layer(tokens, padded, np.array([[1, 1, 1, 0, 0]], bool)))
    np.testing.assert_allclose(base, with_padding, atol=1e-5)


def test_inter_modal_guidance_matches_literal_reference():
    layer = InterModalGuidanceAttention(8, key_dim=4)
    regions, genes = random(3, 4, 8), random(2, 6, 8)
    region_mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], bool)
    gene_mask = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], bool)
    out = numpy(layer(regions, region_mask, genes, gene_mask))
    assert out.shape == (3, 2, 8)
    expected = ref.inter_modal_guidance(layer, regions, region_mask, genes, gene_mask)
    np.testing.assert_allclose(out, expected, atol=1e-4)


def test_text_genome_matches_reference_and_counts_genes():
    layer = TextGenomeAttention(6)
    hidden = random(2, 8, 6)
    word_mask = np.array([[1] * 5 + [0] * 3, [1] * 8], bool)
    hidden[~word_mask] = 0.0
    context, genes, gene_mask = (numpy(t) for t in layer(hidden, word_mask))
    assert genes.shape == (2, 8 + 4 + 2, 6) and layer.gene_count(32) == 58
    ref_context, ref_genes, ref_mask = ref.text_genome(layer, hidden, word_mask)
    np.testing.assert_array_equal(gene_mask, ref_mask)
    # 5 words -> 5 unigrams, 2 bigrams (the 3rd needs word 6), 1 trigram.
    assert gene_mask[0].sum() == 5 + 2 + 1
    np.testing.assert_allclose(genes, ref_genes, atol=1e-4)
    np.testing.assert_allclose(context, ref_context, atol=1e-4)


def test_region_features_top_k_keeps_best_real_regions_with_gate():
    layer = RegionFeatures(4, num_regions=2)
    regions = random(2, 5, 3)
    region_mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], bool)
    kept, kept_mask = layer(regions, region_mask)
    kept, kept_mask = numpy(kept), numpy(kept_mask).astype(bool)
    assert kept.shape == (2, 2, 4) and kept_mask.all()
    projected = ref.dense(layer.projection, regions.astype("float64"))
    scores = ref.dense(layer.scorer, projected)[..., 0]
    for b in range(2):
        real = np.flatnonzero(region_mask[b])
        best = real[np.argsort(-scores[b, real])[:2]]
        gated = projected[b, best] / (1 + np.exp(-scores[b, best]))[:, None]
        np.testing.assert_allclose(kept[b], gated, atol=1e-5)


def test_region_features_rejects_k_above_region_count():
    with pytest.raises(ValueError, match="num_regions=9"):
        RegionFeatures(4, num_regions=9)(random(1, 5, 3))


@pytest.mark.parametrize("side", [64, 128])
def test_multiscale_fusion_token_grid(side):
    layer = MultiscaleFusion(16, multiscale_grid=2)
    p5 = side // 32
    out = layer([random(2, 4 * p5, 4 * p5, 8), random(2, 2 * p5, 2 * p5, 12), random(2, p5, p5, 20)])
    assert tuple(out.shape) == (2, 4, 16)
    assert (numpy(out) >= 0).all()  # after ReLU
