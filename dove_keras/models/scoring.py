"""Similarities of DOVE's features: the global cosine and the pairwise ROAM score."""

import numpy as np
from keras import ops


def cosine_matrix(images, texts):
    """`(I, C)` cosine similarities of `(I, d)` and `(C, d)` embeddings."""
    return ops.matmul(ops.normalize(images, axis=-1), ops.transpose(ops.normalize(texts, axis=-1)))


def roam_scores(iga, fused, regions, region_mask, genes, gene_mask, text_global=None):
    """`(I, C)` ROAM scores `cos(V_MR_i, T_RG_ij)` of image and caption features.

    `text_global` (T_G) is read by a gated IGA (DOVE-CLIP) only.
    """
    prepared = iga.prepare_genes(genes, gene_mask, text_global)
    return iga.pair_scores(fused, iga.prepare_regions(regions), region_mask, prepared)


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
