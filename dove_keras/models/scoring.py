"""Similarities of DOVE's features: the global cosine and the pairwise ROAM score.

ROAM scores go through IGA in one place: `prepare_images` and
`prepare_captions` take the towers' feature dicts, `pair_scores` scores a
block of prepared images against a block of prepared captions. `roam_scores`
(a training batch, the export's `score` endpoint) and `chunked_roam_scores`
(the task's `score`: evaluation and search re-ranking) are built from them.
"""

import collections

import numpy as np
from keras import ops
from tqdm.auto import tqdm

GENE_KEYS = ("genes", "gene_mask")  # caption features laid out per gene (trimmed in caption blocks)

RoamFunctions = collections.namedtuple("RoamFunctions", ("prepare_images", "prepare_captions", "pair_scores"))


def cosine_matrix(images, texts):
    """`(I, C)` cosine similarities of `(I, d)` and `(C, d)` embeddings."""
    return ops.matmul(ops.normalize(images, axis=-1), ops.transpose(ops.normalize(texts, axis=-1)))


def prepare_images(iga, image_features):
    """IGA's image side of an image feature dict: `fused` V_MR, the region queries and `region_mask`."""
    return {
        "fused": image_features["fused"],
        "queries": iga.prepare_regions(image_features["regions"]),
        "region_mask": image_features["region_mask"],
    }


def prepare_captions(iga, text_features):
    """IGA's caption side (keys and values of the genes) of a caption feature dict.

    A gated IGA (DOVE-CLIP's) also takes the captions' global embeddings T_G.
    """
    text_global = text_features["global"] if iga.residual_gate else None
    return iga.prepare_genes(text_features["genes"], text_features["gene_mask"], text_global)


def pair_scores(iga, images, captions):
    """`(I, C)` ROAM scores of prepared images against prepared captions."""
    return iga.pair_scores(images["fused"], images["queries"], images["region_mask"], captions)


def roam_scores(iga, image_features, text_features):
    """`(I, C)` ROAM scores `cos(V_MR_i, T_RG_ij)` of image and caption feature dicts."""
    return pair_scores(iga, prepare_images(iga, image_features), prepare_captions(iga, text_features))


def chunked_roam_scores(functions, image_features, text_features, chunk_size=128, progress=False):
    """`(I, C)` float32 numpy ROAM scores, computed in image x caption blocks.

    Caption features are prepared once per caption block, image queries
    once per image block, so memory stays bounded by
    `chunk_size**2 * max(N_r * L', d)` floats. Captions are blocked in
    order of their real gene count and each block keeps only its real
    genes (`caption_blocks`).

    Args:
        functions: `RoamFunctions`: `prepare_images`, `prepare_captions` and
            `pair_scores` of this module bound to the model's IGA (compiled:
            `DOVERetriever`).
        image_features: the image tower's dict (`fused`, `regions`, `region_mask`, ...).
        text_features: the text tower's dict (`genes`, `gene_mask`, ...).
        chunk_size: block side.
        progress: show a progress bar over image blocks.
    """
    text_features = {key: np.asarray(ops.convert_to_numpy(value)) for key, value in text_features.items()}
    gene_mask = text_features["gene_mask"].astype(bool)
    prepared_captions = []
    for rows, genes_kept in caption_blocks(gene_mask, chunk_size):
        block = {
            key: ops.convert_to_tensor(value[rows[:, None], genes_kept] if key in GENE_KEYS else value[rows])
            for key, value in {**text_features, "gene_mask": gene_mask}.items()
        }
        prepared_captions.append((rows, functions.prepare_captions(block)))
    num_images = image_features["fused"].shape[0]
    scores = np.zeros((num_images, gene_mask.shape[0]), dtype="float32")
    blocks = range(0, num_images, chunk_size)
    for i in tqdm(blocks, desc="ROAM scores", unit="block", disable=not progress):
        images = functions.prepare_images(
            {key: ops.convert_to_tensor(value[i : i + chunk_size]) for key, value in image_features.items()}
        )
        for rows, captions in prepared_captions:
            block = functions.pair_scores(images, captions)
            scores[i : i + chunk_size, rows] = np.asarray(ops.convert_to_numpy(block), dtype="float32")
    return scores


def caption_blocks(gene_mask, chunk_size, multiple=8):
    """`(rows, genes_kept)` per caption block: caption indices `(R,)` and gene indices `(R, L_b)`.

    Captions go in order of their real gene count; each row lists its real
    genes first (in order), then padded ones, trimmed to the block's largest
    count rounded up to `multiple` (at most L'). Padded genes get exactly zero
    weight, so a trimmed block scores as the full layout does. A block holding
    a caption without real genes keeps every gene in place: its uniform
    softmax runs over all L' positions.
    """
    counts = gene_mask.sum(axis=1)
    order = np.argsort(counts, kind="stable")
    full = gene_mask.shape[1]
    blocks = []
    for start in range(0, len(order), chunk_size):
        rows = order[start : start + chunk_size]
        if counts[rows].min() == 0:
            genes_kept = np.broadcast_to(np.arange(full), (len(rows), full))
        else:
            kept = min(full, -(-int(counts[rows].max()) // multiple) * multiple)
            genes_kept = np.argsort(~gene_mask[rows], axis=1, kind="stable")[:, :kept]
        blocks.append((rows, genes_kept))
    return blocks
