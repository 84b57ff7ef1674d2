"""Plain numpy (loop) references of the DESIGN equations, for the tests."""

import numpy as np
from keras import ops


def weights(layer):
    return [np.asarray(ops.convert_to_numpy(w), dtype="float64") for w in layer.weights]


def dense(layer, x):
    kernel, bias = weights(layer)
    return x @ kernel + bias


def layer_norm(layer, x, epsilon=1e-3):
    gamma, beta = weights(layer)
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + epsilon) * gamma + beta


def mlp(layer, x):
    return dense(layer.output_dense, np.maximum(dense(layer.hidden, x), 0))


def softmax(logits, mask):
    """Softmax over the real entries of a 1-D vector."""
    out = np.zeros_like(logits)
    real = np.exp(logits[mask] - logits[mask].max())
    out[mask] = real / real.sum()
    return out


def intra_modal_fusion(layer, tokens, regions, region_mask):
    d = layer.embedding_dim
    outputs = []
    for b in range(tokens.shape[0]):
        m = dense(layer.token_projection, tokens[b])
        r = dense(layer.region_projection, regions[b])
        real = region_mask[b]
        affinity = m @ r.T / np.sqrt(d)
        fused_tokens = np.stack([m[n] + softmax(affinity[n], real) @ r for n in range(len(m))])
        all_tokens = np.ones(len(m), bool)
        fused_regions = [r[k] + softmax(affinity[:, k], all_tokens) @ m for k in range(len(r)) if real[k]]
        pooled = np.concatenate([fused_tokens.mean(0), np.mean(fused_regions, 0)])
        outputs.append(dense(layer.output_projection, pooled))
    return np.stack(outputs)


def inter_modal_guidance(layer, regions, region_mask, genes, gene_mask):
    """T_RG by the literal equation mean_regions(S_ij G_j), pair by pair."""
    out = np.zeros((len(regions), len(genes), layer.embedding_dim))
    for i in range(len(regions)):
        queries = dense(layer.query, layer_norm(layer.region_norm, regions[i]))
        for j in range(len(genes)):
            normed = layer_norm(layer.gene_norm, genes[j])
            keys, values = dense(layer.key, normed), dense(layer.value, normed)
            real_genes = gene_mask[j]
            per_region = [
                softmax(queries[r] @ keys.T / np.sqrt(layer.key_dim), real_genes) @ values
                for r in range(len(queries))
                if region_mask[i, r]
            ]
            x = values[real_genes].mean(0) + np.mean(per_region, 0)
            out[i, j] = x + mlp(layer.head, x)
    return out


def text_genome(layer, hidden, word_mask):
    contexts, all_genes, all_masks = [], [], []
    d = layer.embedding_dim
    for b in range(len(hidden)):
        genes, masks = [], []
        for k, conv, norm in zip(layer.kernel_sizes, layer.convs, layer.norms):
            kernel, bias = weights(conv)  # (k, d_in, d)
            for p in range(hidden.shape[1] // k):
                window = hidden[b, p * k : (p + 1) * k]
                gene = np.einsum("ki,kio->o", window, kernel) + bias
                genes.append(np.maximum(layer_norm(norm, gene), 0))
                masks.append(bool(word_mask[b, p * k : (p + 1) * k].all()))
        genes, masks = np.stack(genes), np.array(masks)
        query = dense(layer.query, hidden[b][word_mask[b]].mean(0))
        attention = softmax(dense(layer.key, genes) @ query / np.sqrt(d), masks)
        contexts.append(attention @ dense(layer.value, genes))
        all_genes.append(genes)
        all_masks.append(masks)
    return np.stack(contexts), np.stack(all_genes), np.stack(all_masks)


def triplet_loss(similarity, image_ids, margin, hardest_negative):
    """The DESIGN 1.4 sums (or maxima) written as loops."""
    n = len(similarity)
    total = 0.0
    for i in range(n):
        caption_costs, image_costs = [0.0], [0.0]
        for j in range(n):
            if image_ids[i] == image_ids[j]:
                continue
            caption_costs.append(max(0.0, margin - similarity[i, i] + similarity[i, j]))
            image_costs.append(max(0.0, margin - similarity[i, i] + similarity[j, i]))
        reduce = max if hardest_negative else sum
        total += reduce(caption_costs) + reduce(image_costs)
    return total
