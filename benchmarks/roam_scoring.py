"""Pairwise ROAM scoring: pairs/s of the direct and the factorised IGA, one process per backend.

In each backend's process, on random features of the real sizes (d=512,
N_r=64 regions, L=32 tokens -> L'=58 genes, captions of 12-21 words as in
`evaluation_time.py`), it times side by side:

- `direct`: the formulation before 2026-12-02 (per pair: masked softmax on an
  `(I, C, N_r, L')` einsum, region mean, value product, the whole MLP head,
  normalise, cosine), in the same block loop `DOVE.score` (the model before
  `DOVERetriever`) had;
- `factorised`: `InterModalGuidanceAttention.pair_scores` (head's first
  Dense per caption, mask in the affinity matmul), full gene layout;
- `score`: `DOVERetriever.score` as it is (factorised, captions blocked by
  gene count with their padded genes trimmed).

All three give the same scores (the maximal difference is printed).

    python benchmarks/roam_scoring.py                          # chunk 128, all backends
    python benchmarks/roam_scoring.py --chunk-sizes 64,128,256 --backends tensorflow
"""

import math
import re
import time

from model_benchmark import model_parser
from model_benchmark import run_per_backend

from dove_keras.backends import use_default_xla_flags

VARIANTS = ("direct", "factorised", "score")


def _direct_functions(iga):
    """prepare_genes / pair_scores of the direct formulation (as before 2026-12-02)."""
    from keras import ops

    from dove_keras.layers.masking import masked_mean
    from dove_keras.layers.masking import masked_softmax

    def prepare_genes(genes, gene_mask):
        normed = iga.gene_norm(genes)
        values = iga.value(normed)
        return iga.key(normed), values, masked_mean(values, gene_mask, axis=1)

    def pair_scores(fused, queries, region_mask, prepared, gene_mask):
        keys, values, mean_values = prepared
        logits = ops.einsum("ird,cld->icrl", queries, keys) / math.sqrt(iga.key_dim)
        attention = masked_softmax(logits, ops.expand_dims(ops.expand_dims(gene_mask, 0), 2), axis=-1)
        region_weights = ops.cast(region_mask, attention.dtype)
        count = ops.maximum(ops.sum(region_weights, axis=1), 1.0)
        region_weights = region_weights / ops.expand_dims(count, -1)
        weights = ops.einsum("icrl,ir->icl", attention, region_weights)
        x = ops.expand_dims(mean_values, 0) + ops.einsum("icl,cld->icd", weights, values)
        guided = x + iga.head(x)
        return ops.einsum("id,icd->ic", ops.normalize(fused, axis=-1), ops.normalize(guided, axis=-1))

    return prepare_genes, pair_scores


def _blocked_scores(prepare_regions, prepare_genes, pair_scores, features, chunk_size, with_mask):
    """The block loop of `DOVE.score` (before gene blocking) over given functions."""
    import numpy as np
    from keras import ops

    fused, regions, region_mask, genes, gene_mask = features
    blocks = []
    for j in range(0, len(genes), chunk_size):
        mask = ops.convert_to_tensor(gene_mask[j : j + chunk_size])
        blocks.append((j, prepare_genes(ops.convert_to_tensor(genes[j : j + chunk_size]), mask), mask))
    scores = np.zeros((len(fused), len(genes)), "float32")
    for i in range(0, len(fused), chunk_size):
        block_fused = ops.convert_to_tensor(fused[i : i + chunk_size])
        block_mask = ops.convert_to_tensor(region_mask[i : i + chunk_size])
        queries = prepare_regions(ops.convert_to_tensor(regions[i : i + chunk_size]))
        for j, prepared, mask in blocks:
            extra = (mask,) if with_mask else ()
            block = pair_scores(block_fused, queries, block_mask, prepared, *extra)
            scores[i : i + chunk_size, j : j + chunk_size] = ops.convert_to_numpy(block)
    return scores


def _features(rng, num_images, num_captions, d, length=32, regions=64):
    """Random image/caption features; gene masks of DTGA's layout for 12-21 words."""
    import numpy as np

    words = 12 + np.arange(num_captions) % 10
    rng.shuffle(words)
    position = np.arange(length)
    unigrams = position[None] < words[:, None]
    bigrams = position[None, : length // 2] < (words // 2)[:, None]
    trigrams = position[None, : length // 3] < (words // 3)[:, None]
    gene_mask = np.concatenate([unigrams, bigrams, trigrams], axis=1)
    return (
        rng.standard_normal((num_images, d)).astype("float32"),
        rng.standard_normal((num_images, regions, d)).astype("float32"),
        np.ones((num_images, regions), bool),
        rng.standard_normal((num_captions, gene_mask.shape[1], d)).astype("float32"),
        gene_mask,
    )


def measure(args):
    """Runs in the child process."""
    import keras
    import numpy as np

    from dove_keras.models import DOVEBackbone
    from dove_keras.models import DOVERetriever
    from dove_keras.models.inference import compile_inference

    keras.utils.set_random_seed(0)
    model = DOVERetriever(DOVEBackbone(vocabulary_size=2000, image_backbone="tiny", embedding_dim=args.embedding_dim))
    iga = model.backbone.iga
    features = _features(np.random.default_rng(0), args.images, args.captions, args.embedding_dim)
    fused, regions, region_mask, genes, gene_mask = features
    direct_prepare, direct_pair = (compile_inference(iga, f) for f in _direct_functions(iga))
    prepare_regions, prepare_genes, pair_scores = (
        compile_inference(iga, f) for f in (iga.prepare_regions, iga.prepare_genes, iga.pair_scores)
    )
    image_features = {"fused": fused, "regions": regions, "region_mask": region_mask}
    text_features = {"genes": genes, "gene_mask": gene_mask}
    row = {"backend": keras.backend.backend(), "pairs": args.images * args.captions}
    for chunk in args.chunk_sizes:
        runs = {
            "direct": lambda chunk=chunk: _blocked_scores(
                prepare_regions, direct_prepare, direct_pair, features, chunk, True
            ),
            "factorised": lambda chunk=chunk: _blocked_scores(
                prepare_regions, prepare_genes, pair_scores, features, chunk, False
            ),
            "score": lambda chunk=chunk: model.score(image_features, text_features, chunk_size=chunk),
        }
        outputs = {name: run() for name, run in runs.items()}  # warm-up: traces and compiles
        best = {name: float("inf") for name in runs}
        best_cpu = dict(best)
        for _ in range(args.repeats):  # interleaved, so load changes hit every variant alike
            for name, run in runs.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                run()
                best[name] = min(best[name], time.perf_counter() - start)
                best_cpu[name] = min(best_cpu[name], time.process_time() - start_cpu)
        for name in runs:
            row[f"{name}_{chunk}"] = row["pairs"] / best[name]
            row[f"{name}_cpu_{chunk}"] = row["pairs"] / best_cpu[name]
        row[f"max_diff_{chunk}"] = float(
            max(np.abs(outputs[name] - outputs["direct"]).max() for name in ("factorised", "score"))
        )
    return row


def _sizes(text):
    """`"64,128"` (or the list's repr the per-backend driver passes on) -> `[64, 128]`."""
    return [int(v) for v in re.findall(r"\d+", text)]


def main():
    parser = model_parser(__doc__, batch_size=100)
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--captions", type=int, default=512)
    parser.add_argument("--chunk-sizes", type=_sizes, default=[128], help="comma-separated block sides")
    parser.add_argument("--repeats", type=int, default=2, help="timed rounds after a warm-up; best kept")
    args, rows = run_per_backend(parser, measure, __file__)
    print(f"{args.images} images x {args.captions} captions, d={args.embedding_dim}; best of {args.repeats}: "
          "pairs per wall second, [pairs per process CPU second]")
    print(f"{'backend':<11}{'chunk':>6}" + "".join(f"{v:>12}" for v in VARIANTS) + f"{'score/direct':>14}"
          + "".join(f"{'[' + v + ']':>13}" for v in VARIANTS) + f"{'[ratio]':>9}{'max diff':>10}")
    for row in rows:
        for chunk in args.chunk_sizes:
            rates = [row[f"{v}_{chunk}"] for v in VARIANTS]
            cpu = [row[f"{v}_cpu_{chunk}"] for v in VARIANTS]
            print(f"{row['backend']:<11}{chunk:>6}" + "".join(f"{r:>12,.0f}" for r in rates)
                  + f"{rates[2] / rates[0]:>13.2f}x" + "".join(f"{r:>13,.0f}" for r in cpu)
                  + f"{cpu[2] / cpu[0]:>8.2f}x{row[f'max_diff_{chunk}']:>10.1e}")


if __name__ == "__main__":
    use_default_xla_flags()
    main()
