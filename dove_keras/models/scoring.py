"""Similarities of DOVE's features: the global cosine and the pairwise ROAM score."""

from keras import ops


def cosine_matrix(images, texts):
    """`(I, C)` cosine similarities of `(I, d)` and `(C, d)` embeddings."""
    return ops.matmul(ops.normalize(images, axis=-1), ops.transpose(ops.normalize(texts, axis=-1)))


def pairwise_cosine(images, guided_texts):
    """`cos(images_i, guided_texts_ij)` for `(I, d)` and `(I, C, d)`."""
    return ops.einsum("id,icd->ic", ops.normalize(images, axis=-1), ops.normalize(guided_texts, axis=-1))


def roam_scores(iga, fused, regions, region_mask, genes, gene_mask):
    """`(I, C)` ROAM scores `cos(V_MR_i, T_RG_ij)` of image and caption features."""
    keys, values, means = iga.prepare_genes(genes, gene_mask)
    return roam_block_scores(iga, fused, iga.prepare_regions(regions), region_mask, keys, values, means, gene_mask)


def roam_block_scores(iga, fused, queries, region_mask, keys, values, means, gene_mask):
    """ROAM scores of an image block against a caption block, both already prepared by IGA."""
    return pairwise_cosine(fused, iga.pair(queries, region_mask, keys, values, means, gene_mask))
