"""The factorised IGA scoring against the direct formulation it replaced.

`direct_guided` is IGA as it was computed before the factorisation (keras.ops,
per pair: masked softmax, region mean, value product, the whole MLP head);
the layer's `pair`, `pair_scores`, `call` and `DOVERetriever.score` must give the same
numbers (1e-5) and the same gradients, with region masks, gene masks and
captions or images without any real gene or region.
"""

import math

import keras
import numpy as np
import numpy_reference as ref
import pytest
from keras import ops
from model_fixtures import batch
from model_fixtures import small_model

from dove_keras.layers import InterModalGuidanceAttention
from dove_keras.layers.masking import masked_mean
from dove_keras.layers.masking import masked_softmax

RNG = np.random.default_rng(0)
NUM_IMAGES, NUM_CAPTIONS, NUM_REGIONS, NUM_GENES, DIM, KEY_DIM = 5, 7, 6, 9, 16, 8


def numpy(x):
    return np.asarray(ops.convert_to_numpy(ops.stop_gradient(x)), dtype="float64")


def direct_guided(layer, regions, region_mask, genes, gene_mask):
    """T_RG `(I, C, d)` by the direct (pre-factorisation) formulation."""
    queries = layer.prepare_regions(regions)
    normed = layer.gene_norm(genes)
    keys, values = layer.key(normed), layer.value(normed)
    mean_values = masked_mean(values, gene_mask, axis=1)
    logits = ops.einsum("ird,cld->icrl", queries, keys) / math.sqrt(layer.key_dim)
    mask = None
    if gene_mask is not None:
        mask = ops.expand_dims(ops.expand_dims(gene_mask, 0), 2)
    attention = masked_softmax(logits, mask, axis=-1)
    if region_mask is None:
        weights = ops.mean(attention, axis=2)
    else:
        region_weights = ops.cast(region_mask, attention.dtype)
        count = ops.maximum(ops.sum(region_weights, axis=1), 1.0)
        region_weights = region_weights / ops.expand_dims(count, -1)
        weights = ops.einsum("icrl,ir->icl", attention, region_weights)
    x = ops.expand_dims(mean_values, 0) + ops.einsum("icl,cld->icd", weights, values)
    return x + layer.head(x)


def direct_scores(layer, fused, regions, region_mask, genes, gene_mask):
    """cos(V_MR_i, T_RG_ij) as DOVE computed it before."""
    guided = direct_guided(layer, regions, region_mask, genes, gene_mask)
    return ops.einsum("id,icd->ic", ops.normalize(fused, axis=-1), ops.normalize(guided, axis=-1))


def random(*shape, scale=1.0):
    return (scale * RNG.standard_normal(shape)).astype("float32")


@pytest.fixture(scope="module")
def layer():
    keras.utils.set_random_seed(3)
    layer = InterModalGuidanceAttention(DIM, key_dim=KEY_DIM)
    layer.build((None, None, DIM), None, (None, None, DIM), None)
    # Sharper affinities than the default initialisation: larger logits, so
    # the softmax is far from uniform and a masking slip would show.
    layer.query.kernel.assign(layer.query.kernel * 4.0)
    layer.head.hidden.bias.assign(random(DIM, scale=0.5))
    layer.head.output_dense.bias.assign(random(DIM, scale=0.5))
    return layer


@pytest.fixture(scope="module")
def inputs():
    region_mask = RNG.random((NUM_IMAGES, NUM_REGIONS)) < 0.7
    region_mask[0] = True
    region_mask[1] = False  # an image without real regions
    region_mask[2, :] = False
    region_mask[2, 3] = True  # one real region
    gene_mask = RNG.random((NUM_CAPTIONS, NUM_GENES)) < 0.6
    gene_mask[0] = True
    gene_mask[1] = False  # a fully padded caption
    gene_mask[2, :] = False
    gene_mask[2, -1] = True  # only its last gene is real
    return {
        "fused": random(NUM_IMAGES, DIM),
        "regions": random(NUM_IMAGES, NUM_REGIONS, DIM),
        "region_mask": region_mask,
        "genes": random(NUM_CAPTIONS, NUM_GENES, DIM),
        "gene_mask": gene_mask,
    }


MASK_CASES = {
    "both masks": (True, True),
    "gene mask only": (False, True),
    "region mask only": (True, False),
    "no masks": (False, False),
}


def _masks(inputs, case):
    use_regions, use_genes = MASK_CASES[case]
    return (inputs["region_mask"] if use_regions else None, inputs["gene_mask"] if use_genes else None)


@pytest.mark.parametrize("case", list(MASK_CASES))
def test_pair_and_call_equal_the_direct_formulation(layer, inputs, case):
    region_mask, gene_mask = _masks(inputs, case)
    regions, genes = inputs["regions"], inputs["genes"]
    expected = numpy(direct_guided(layer, regions, region_mask, genes, gene_mask))
    prepared = layer.prepare_genes(genes, gene_mask)
    paired = numpy(layer.pair(layer.prepare_regions(regions), region_mask, prepared))
    called = numpy(layer(regions, region_mask, genes, gene_mask))
    assert paired.shape == (NUM_IMAGES, NUM_CAPTIONS, DIM)
    np.testing.assert_allclose(paired, expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(called, expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize("case", list(MASK_CASES))
def test_pair_scores_equal_the_direct_cosine(layer, inputs, case):
    region_mask, gene_mask = _masks(inputs, case)
    expected = numpy(direct_scores(layer, inputs["fused"], inputs["regions"], region_mask, inputs["genes"], gene_mask))
    prepared = layer.prepare_genes(inputs["genes"], gene_mask)
    scores = numpy(layer.pair_scores(inputs["fused"], layer.prepare_regions(inputs["regions"]), region_mask, prepared))
    assert scores.shape == (NUM_IMAGES, NUM_CAPTIONS)
    np.testing.assert_allclose(scores, expected, atol=1e-5, rtol=0)


def test_int8_quantized_head_is_dequantized(layer, inputs):
    # `Dense.kernel` of an int8 layer is the raw int8 matrix; the factorised
    # head multiplied by it unscaled (demo model: ROAM test mR 38.3 -> 30.5).
    quantized = InterModalGuidanceAttention.from_config(layer.get_config())
    quantized.build((None, None, DIM), None, (None, None, DIM), None)
    quantized.set_weights(layer.get_weights())
    for dense in (quantized.head.hidden, quantized.head.output_dense):
        dense.quantize("int8")
    region_mask, gene_mask = inputs["region_mask"], inputs["gene_mask"]
    regions, genes = inputs["regions"], inputs["genes"]
    expected = numpy(direct_guided(quantized, regions, region_mask, genes, gene_mask))  # the layers' own int8 calls
    prepared = quantized.prepare_genes(genes, gene_mask)
    paired = numpy(quantized.pair(quantized.prepare_regions(regions), region_mask, prepared))
    # int8 activations in the calls, float ones in the factorised products: ~1 % apart.
    np.testing.assert_allclose(paired, expected, atol=0.02 * np.abs(expected).max(), rtol=0)
    assert np.abs(paired - numpy(layer(regions, region_mask, genes, gene_mask))).max() < 0.02 * np.abs(expected).max()


def test_prepare_genes_keeps_the_direct_entries(layer, inputs):
    genes, gene_mask = inputs["genes"], inputs["gene_mask"]
    prepared = layer.prepare_genes(genes, gene_mask)
    normed = layer.gene_norm(genes)
    values = layer.value(normed)
    np.testing.assert_allclose(numpy(prepared["keys"]), numpy(layer.key(normed)), atol=1e-6)
    np.testing.assert_allclose(numpy(prepared["values"]), numpy(values), atol=1e-6)
    expected_means = numpy(masked_mean(values, gene_mask, axis=1))
    np.testing.assert_allclose(numpy(prepared["mean_values"]), expected_means, atol=1e-6)


def test_the_numpy_loop_reference_still_holds(layer, inputs):
    # The loop reference needs a real gene and a real region in every row.
    region_mask = inputs["region_mask"][[0, 2, 3, 4]]
    gene_mask = inputs["gene_mask"][[0, 2, 3, 4, 5, 6]]
    gene_mask[:, 0] = True
    region_mask[:, 0] = True
    regions, genes = inputs["regions"][[0, 2, 3, 4]], inputs["genes"][[0, 2, 3, 4, 5, 6]]
    out = numpy(layer(regions, region_mask, genes, gene_mask))
    np.testing.assert_allclose(out, ref.inter_modal_guidance(layer, regions, region_mask, genes, gene_mask), atol=1e-4)


def _gradients(function, layer, arrays):
    """d function(*arrays) / d (layer's trainable variables, arrays), as numpy."""
    backend = keras.backend.backend()
    variables = layer.trainable_variables
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(a) for a in arrays]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            loss = function(*tensors)
        grads = tape.gradient(loss, list(variables) + tensors)
    elif backend == "jax":
        import jax

        def loss(values, tensors):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return function(*tensors)

        by_variable, by_input = jax.grad(loss, argnums=(0, 1))(
            [v.value for v in variables], [jax.numpy.asarray(a) for a in arrays]
        )
        grads = list(by_variable) + list(by_input)
    else:
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        loss = function(*tensors)
        grads = torch.autograd.grad(loss, [v.value for v in variables] + tensors)
    return [numpy(g) for g in grads]


def test_training_gradients_equal_the_direct_formulation(layer, inputs):
    region_mask, gene_mask = inputs["region_mask"], inputs["gene_mask"]
    guided_weights = ops.convert_to_tensor(random(NUM_IMAGES, NUM_CAPTIONS, DIM))
    score_weights = ops.convert_to_tensor(random(NUM_IMAGES, NUM_CAPTIONS))
    arrays = [inputs["fused"], inputs["regions"], inputs["genes"]]

    def new_loss(fused, regions, genes):
        guided = layer(regions, region_mask, genes, gene_mask)
        genes_prepared = layer.prepare_genes(genes, gene_mask)
        scores = layer.pair_scores(fused, layer.prepare_regions(regions), region_mask, genes_prepared)
        return ops.sum(guided * guided_weights) + ops.sum(scores * score_weights)

    def old_loss(fused, regions, genes):
        guided = direct_guided(layer, regions, region_mask, genes, gene_mask)
        scores = direct_scores(layer, fused, regions, region_mask, genes, gene_mask)
        return ops.sum(guided * guided_weights) + ops.sum(scores * score_weights)

    new, old = _gradients(new_loss, layer, arrays), _gradients(old_loss, layer, arrays)
    assert len(new) == len(layer.trainable_variables) + 3
    for got, want in zip(new, old):
        assert np.abs(want).max() > 0
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def test_model_score_equals_the_direct_formulation():
    keras.utils.set_random_seed(0)
    model = small_model()
    x = batch(size=6, length=12)
    x["token_ids"][4] = 0  # a caption without words: no real gene
    images, texts = model.encode_image(x["images"]), model.encode_text(x["token_ids"])
    expected = numpy(direct_scores(
        model.backbone.iga, images["fused"], images["regions"], images["region_mask"],
        texts["genes"], texts["gene_mask"],
    ))
    for chunk_size in (2, 4, 128):
        np.testing.assert_allclose(model.score(images, texts, chunk_size=chunk_size), expected, atol=1e-5, rtol=0)


def test_caption_blocks_sort_by_gene_count_and_trim_padding():
    from dove_keras.models.scoring import caption_blocks as _caption_blocks

    gene_mask = np.zeros((5, 20), bool)
    for row, count in enumerate([3, 12, 1, 9, 5]):
        gene_mask[row, 20 - count :] = True  # real genes last: they must move first
    blocks = _caption_blocks(gene_mask, chunk_size=2)
    assert [list(rows) for rows, _ in blocks] == [[2, 0], [4, 3], [1]]
    assert [kept.shape[1] for _, kept in blocks] == [8, 16, 16]
    for rows, kept in blocks:
        taken = np.take_along_axis(gene_mask[rows], kept, axis=1)
        np.testing.assert_array_equal(taken.sum(1), gene_mask[rows].sum(1))  # every real gene kept
        assert (np.diff(taken.astype(int), axis=1) <= 0).all()  # real genes first
    empty = gene_mask.copy()
    empty[2] = False
    rows, kept = _caption_blocks(empty, chunk_size=2)[0]
    assert list(rows) == [2, 0] and kept.shape == (2, 20)
    np.testing.assert_array_equal(kept[0], np.arange(20))  # a block with an empty caption stays in place
