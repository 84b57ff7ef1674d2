"""DOVE-CLIP against the CLIP dual encoder: training-step time and ROAM re-ranking cost, per backend.

Random weights (keras-hub's `CLIPBackbone` built from an open_clip
architecture; nothing is downloaded). Per backend, each in its own process:
- training step (`train_on_batch`, AdamW, the CLIP loss) of the CLIP dual
  encoder and of DOVE-CLIP on the same batch, towers frozen and with the last
  N blocks of each tower trainable (the projections, the temperature and
  DOVE-CLIP's heads always train);
- re-ranking one caption against its top-K images in search: DOVE-CLIP's
  ROAM `score` against the global cosine (`global_score`) on the same
  features (image and caption encoding not included, as in `dove search query`).

Usage:
    python benchmarks/clip_train_step.py                       # ViT-B/32, 224 px, batch 32, 3 backends
    python benchmarks/clip_train_step.py --steps 3 --backends jax
    python benchmarks/clip_train_step.py --architecture tiny --steps 2   # a quick check of the script
"""

import argparse
import dataclasses
import time

from model_benchmark import run_per_backend

from dove_keras.backends import BACKENDS
from dove_keras.backends import use_default_xla_flags

# A 2-block, 64 px CLIP for checking the script in seconds (not a real model).
TINY = dict(image_size=64, patch_size=16, vision_width=64, vision_layers=2, vision_heads=2, text_width=64,
            text_layers=2, text_heads=2, projection_dim=32)


def architecture(name):
    """The `CLIPArchitecture` of an open_clip name, or the tiny one."""
    from dove_keras.models.clip import ARCHITECTURES

    if name == "tiny":
        return dataclasses.replace(ARCHITECTURES["ViT-B-32"], **TINY)
    return ARCHITECTURES[name]


def batch(arch, size, caption_tokens, rng):
    """Normalised images and CLIP ids: start, `caption_tokens` BPE ids, end token padding to 77."""
    import numpy as np

    end = arch.vocabulary_size - 1
    token_ids = np.full((size, arch.context_length), end, dtype="int32")
    token_ids[:, 0] = end - 1
    token_ids[:, 1 : 1 + caption_tokens] = rng.integers(1, end - 1, (size, caption_tokens))
    images = rng.standard_normal((size, arch.image_size, arch.image_size, 3)).astype("float32")
    return {"images": images, "token_ids": token_ids, "image_ids": np.arange(size, dtype="int32")}


def _timed(function, repeats):
    """`(first call ms, median ms of `repeats` calls after a second, untimed one)`.

    Keras' JAX trainer compiles the training step again on its second call
    (the optimizer's state is built by the first), so two calls warm up.
    """
    import numpy as np

    start = time.perf_counter()
    function()
    first = 1000 * (time.perf_counter() - start)
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return first, 1000 * float(np.median(times))


def measure(args):
    """Runs in the child process: every (towers, model) training step, then the re-ranking."""
    import keras
    import numpy as np

    from dove_keras.models.clip import CLIPRetriever
    from dove_keras.models.clip import DOVECLIPBackbone
    from dove_keras.models.clip import DOVECLIPRetriever
    from dove_keras.models.clip.architectures import build_clip_backbone
    from dove_keras.models.clip.trainable_blocks import set_trainable_blocks

    keras.utils.set_random_seed(0)
    arch = architecture(args.architecture)
    rng = np.random.default_rng(0)
    inputs = batch(arch, args.batch_size, args.caption_tokens, rng)
    rows = []
    for blocks in (0, args.trainable_blocks):
        for name in ("CLIP", "DOVE-CLIP"):
            clip = build_clip_backbone(arch)
            set_trainable_blocks(clip, blocks)
            model = (CLIPRetriever(clip, compile=False) if name == "CLIP"
                     else DOVECLIPRetriever(DOVECLIPBackbone(clip), compile=False))
            model.compile(optimizer=keras.optimizers.AdamW(1e-5))
            first, median = _timed(lambda m=model: m.train_on_batch(inputs), args.steps)
            rows.append({"towers": "frozen" if blocks == 0 else f"last {blocks} trainable", "model": name,
                         "trainable_parameters": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
                         "first_step_ms": first, "median_step_ms": median})
    # Re-ranking: the last DOVE-CLIP, top-K images against one caption.
    images = np.concatenate([batch(arch, args.batch_size, args.caption_tokens, rng)["images"]
                             for _ in range(-(-args.top_k // args.batch_size))])[: args.top_k]
    image_features = {}
    for start in range(0, args.top_k, args.batch_size):
        for key, value in model.encode_image(images[start : start + args.batch_size]).items():
            image_features.setdefault(key, []).append(np.asarray(keras.ops.convert_to_numpy(value)))
    image_features = {key: np.concatenate(value) for key, value in image_features.items()}
    text_features = model.encode_text(inputs["token_ids"][:1])
    rerank = {}
    for label, function in (("global_score", model.global_score), ("roam_score", model.score)):
        rerank[label] = _timed(lambda f=function: f(image_features, text_features), args.repeats)[1]
    return {"backend": keras.backend.backend(), "steps": rows, "rerank_ms": rerank}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--architecture", default="ViT-B-32", help="an open_clip name (ViT-B-32 ...) or tiny")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--caption-tokens", type=int, default=20, help="BPE tokens per caption (of 77 positions)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps after two warm-up ones")
    parser.add_argument("--trainable-blocks", type=int, default=2, help="the partly trainable setting")
    parser.add_argument("--top-k", type=int, default=100, help="images re-ranked per query")
    parser.add_argument("--repeats", type=int, default=20, help="timed re-rankings after two warm-up ones")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    use_default_xla_flags()
    args, results = run_per_backend(parser, measure, __file__)
    print(f"architecture={args.architecture} batch={args.batch_size} steps={args.steps} top_k={args.top_k}")
    print(f"{'backend':<11}{'towers':<20}{'model':<11}{'trainable':>12}{'first ms':>10}{'median ms':>11}"
          f"{'x CLIP':>8}")
    for result in results:
        clip_ms = {}
        for row in result["steps"]:
            if row["model"] == "CLIP":
                clip_ms[row["towers"]] = row["median_step_ms"]
            print(f"{result['backend']:<11}{row['towers']:<20}{row['model']:<11}{row['trainable_parameters']:>12,}"
                  f"{row['first_step_ms']:>10.0f}{row['median_step_ms']:>11.1f}"
                  f"{row['median_step_ms'] / clip_ms[row['towers']]:>8.2f}")
    print(f"\nre-ranking one caption against {args.top_k} images (ms, median of {args.repeats})")
    print(f"{'backend':<11}{'global cosine':>14}{'ROAM score':>12}{'extra':>9}")
    for result in results:
        rerank = result["rerank_ms"]
        print(f"{result['backend']:<11}{rerank['global_score']:>14.2f}{rerank['roam_score']:>12.2f}"
              f"{rerank['roam_score'] - rerank['global_score']:>9.2f}")


if __name__ == "__main__":
    main()
