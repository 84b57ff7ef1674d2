"""Where ROAM looked: heat maps of an image for a caption, from IGA and IFA.

For image i and caption j (DESIGN section 1.2):

1. Region relevance (IGA). With the affinities `A_rl = Q_r . K_l / sqrt(d_k)`
   and the gene weights `w_l = mean_regions(softmax_genes(A))` that IGA puts
   on caption j, region r scores `a_r = sum_l w_l A_rl` (its affinity to the
   genes the caption leans on) and `h = softmax_regions(a)` over the real
   regions: `h` sums to 1 and padded regions get exactly 0.
2. Token relevance (IFA). Each region attends over the multiscale tokens
   (`softmax_tokens(M R^T / sqrt(d))`, IFA's own weights); `t = sum_r h_r
   softmax_tokens(.)_r` is a distribution over the token grid (sums to 1).
3. The heat map over the picture: each map is upsampled bilinearly to the
   picture and renormalised to sum 1; the map is the mean of the region map
   (grid regions without top-k: the P5 cells have positions) and the token
   map, else the token map alone. It sums to 1 over the pixels.
"""

import functools
import math

import numpy as np
from keras import ops

from dove_keras.layers.masking import masked_mean
from dove_keras.layers.masking import masked_softmax
from dove_keras.models.inference import compile_inference


def attention_maps(backbone, images, token_ids, regions=None, region_mask=None):
    """Region and token relevance of each (image b, caption b) pair.

    Args:
        backbone: a `DOVEBackbone` or `DOVECLIPBackbone` with ROAM (DOVE-CLIP:
            regions and tokens on the ViT's patch grid).
        images: normalised `(B, S, S, 3)` model inputs.
        token_ids: `(B, L)` token ids of one caption per image.
        regions, region_mask: precomputed regions (`region_source="precomputed"`).

    Returns:
        A dict of numpy arrays: `regions` `(B, N_r)` and `tokens` `(B, N_m)`,
        each row summing to 1, and the grid sides `region_side` (0 when the
        regions have no positions) and `token_side`.
    """
    if backbone.iga is None:
        raise ValueError("attention maps need a model with ROAM (use_roam=True)")
    relevance = getattr(backbone, "_compiled_relevance", None)
    if relevance is None:  # compiled once per backbone (eager JAX compiles every op once per shape)
        relevance = backbone._compiled_relevance = compile_inference(backbone, functools.partial(_relevance, backbone))
    region_heat, token_heat = relevance(
        ops.convert_to_tensor(images, "float32"),
        ops.convert_to_tensor(token_ids, "int32"),
        None if regions is None else ops.convert_to_tensor(regions, "float32"),
        None if region_mask is None else ops.convert_to_tensor(region_mask, "bool"),
    )
    encoder = backbone.image_encoder
    positioned = encoder.region_source == "grid" and encoder.num_regions is None
    count = int(ops.shape(region_heat)[1])
    return {
        "regions": np.asarray(ops.convert_to_numpy(region_heat), "float64"),
        "tokens": np.asarray(ops.convert_to_numpy(token_heat), "float64"),
        "region_side": math.isqrt(count) if positioned else 0,
        "token_side": encoder.multiscale_grid,
    }


def _relevance(backbone, images, token_ids, regions, region_mask):
    """`(region heat (B, N_r), token heat (B, N_m))` of model inputs (steps 1 and 2 above)."""
    encoder, iga = backbone.image_encoder, backbone.iga
    tokens, regions, region_mask = encoder.tokens_and_regions(images, regions, region_mask)
    texts = backbone.text_encoder(token_ids, training=False)
    queries = iga.prepare_regions(regions)
    keys = iga.prepare_genes(texts["genes"], texts["gene_mask"], texts["global"])["keys"]
    affinity = ops.einsum("brk,blk->brl", queries, keys) / math.sqrt(iga.key_dim)
    gene_mask = ops.expand_dims(texts["gene_mask"], 1)
    gene_weights = masked_mean(masked_softmax(affinity, gene_mask, axis=-1), region_mask, axis=1)
    region_scores = ops.einsum("brl,bl->br", affinity, gene_weights)
    region_heat = masked_softmax(region_scores, region_mask, axis=-1)
    ifa = encoder.ifa
    token_affinity = ops.einsum(
        "bnd,brd->bnr", ifa.token_projection(tokens), ifa.region_projection(regions)
    ) / math.sqrt(ifa.embedding_dim)
    return region_heat, ops.einsum("bnr,br->bn", ops.softmax(token_affinity, axis=1), region_heat)


def heat_map(maps, index, height, width):
    """The `(height, width)` heat map of pair `index` of `attention_maps` (sums to 1)."""
    parts = [_upsampled(maps["tokens"][index], maps["token_side"], height, width)]
    if maps["region_side"]:
        parts.append(_upsampled(maps["regions"][index], maps["region_side"], height, width))
    return np.mean(parts, axis=0)


def _upsampled(values, side, height, width):
    """A `side x side` grid (row-major) bilinearly resized to the picture, renormalised."""
    grid = np.asarray(values, "float64").reshape(side, side)
    rows = np.clip((np.arange(height) + 0.5) * side / height - 0.5, 0, side - 1)
    cols = np.clip((np.arange(width) + 0.5) * side / width - 0.5, 0, side - 1)
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    r1, c1 = np.minimum(r0 + 1, side - 1), np.minimum(c0 + 1, side - 1)
    fr, fc = (rows - r0)[:, None], (cols - c0)[None, :]
    top = grid[r0][:, c0] * (1 - fc) + grid[r0][:, c1] * fc
    bottom = grid[r1][:, c0] * (1 - fc) + grid[r1][:, c1] * fc
    upsampled = top * (1 - fr) + bottom * fr
    return upsampled / upsampled.sum()


def raw_heat_maps(retriever, pictures, captions):
    """Heat maps of raw pairs: `pictures[k]` (uint8 `(H, W, 3)`) for `captions[k]`.

    Args:
        retriever: a `DOVERetriever` (or `DOVECLIPRetriever`) with a preprocessor and ROAM.
        pictures: uint8 RGB pictures of any sizes.
        captions: one caption string per picture.

    Returns:
        A list of `(H, W)` maps, each summing to 1, at each picture's size.
    """
    preprocessor = retriever.preprocessor
    if preprocessor is None:
        raise ValueError("heat maps of raw pictures need the model's preprocessor (load a preset or a .keras file)")
    images = np.stack([np.asarray(preprocessor.image_converter.convert(p)) for p in pictures])
    token_ids = np.asarray(preprocessor.token_ids(list(captions)))
    maps = attention_maps(retriever.backbone, images, token_ids)
    return [heat_map(maps, k, p.shape[0], p.shape[1]) for k, p in enumerate(pictures)]
