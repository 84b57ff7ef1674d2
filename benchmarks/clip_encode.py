"""Imported CLIP ViT-B/32 per backend against `transformers.CLIPModel` (torch), in one run.

A random ViT-B/32 `transformers.CLIPModel` (OpenAI's config; the text
vocabulary is the small BPE learnt here from the benchmark captions, which
changes the size of the token table only, not the compute) is saved as a
Hugging Face folder and imported with `dove_keras.models.clip.import_clip`.
Then, per backend, each in its own process:
- parity: image and text embeddings against transformers' on the same pixels
  and ids, max |diff| after L2 normalisation;
- throughput: `encode_image` on batches of 224 px images and `encode_text` on
  batches of 77-token captions (the same padded length transformers gets);
- with `--rsicd`: the RSICD-sized zero-shot evaluation, 1,093 random images
  and 5,465 captions (RSICD's test captions when ../shared/data is there)
  encoded, scored (cosine) and ranked (R@K, mR).
transformers is timed in the parent process on the same batches.

Usage:
    python benchmarks/clip_encode.py [--rsicd] [--repeats 3] [--backends jax torch]
"""

import glob
import os
import tempfile
import time

import numpy as np
from encode_throughput import _rate
from model_benchmark import model_parser
from model_benchmark import run_per_backend

from dove_keras.backends import use_default_xla_flags

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "benchmarks")
RSICD_IMAGES, RSICD_CAPTIONS = 1093, 5465


def captions():
    """Caption texts: the benchmarks' when ../shared/data is there, else generated ones."""
    paths = sorted(glob.glob(os.path.join(SHARED, "rsicd_precomp", "test_caps.txt")))
    if paths:
        with open(paths[0], encoding="utf-8") as f:
            return [line.strip() or "empty" for line in f]
    words = "many planes are parked near a terminal with green trees and a road beside".split()
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(words, 12)) for _ in range(RSICD_CAPTIONS)]


def _inputs(args, preset):
    """The benchmark's fixed images and token ids (ids from the preset's tokenizer)."""
    import keras_hub
    import tensorflow as tf

    rng = np.random.default_rng(0)
    images = rng.standard_normal((args.batch_size, 224, 224, 3)).astype("float32")
    tokenizer = keras_hub.models.CLIPTokenizer.from_preset(preset)
    from dove_keras.models.clip import CLIPRetrieverPreprocessor

    ids = CLIPRetrieverPreprocessor(tokenizer).token_ids(tf.constant(captions()[: args.batch_size])).numpy()
    return images, ids


def measure(args):
    """Runs in a child process, on its backend."""
    import keras
    from keras import ops

    from dove_keras.evaluation.ranks import retrieval_recalls
    from dove_keras.models.presets import load_preset

    model = load_preset(args.preset)
    images, ids = _inputs(args, args.preset)
    reference = np.load(os.path.join(args.preset, "..", "reference.npz"))

    def normalized(x):
        x = np.asarray(ops.convert_to_numpy(x), "float64")
        return x / np.linalg.norm(x, axis=-1, keepdims=True)

    image_diff = np.abs(normalized(model.encode_image(images)["global"]) - reference["image"]).max()
    text_diff = np.abs(normalized(model.encode_text(ids)["global"]) - reference["text"]).max()
    out = {
        "backend": keras.backend.backend(), "image_max_diff": float(image_diff), "text_max_diff": float(text_diff),
        "images_per_s": _rate(lambda: ops.convert_to_numpy(model.encode_image(images)["global"]),
                              args.batch_size, args.repeats),
        "captions_per_s": _rate(lambda: ops.convert_to_numpy(model.encode_text(ids)["global"]),
                                args.batch_size, args.repeats),
    }
    if args.rsicd:
        start = time.perf_counter()
        rng = np.random.default_rng(1)
        image_features = np.concatenate([
            ops.convert_to_numpy(model.encode_image(rng.standard_normal(images.shape).astype("float32"))["global"])
            for _ in range(0, RSICD_IMAGES, args.batch_size)
        ])[:RSICD_IMAGES]
        texts = (captions() * 2)[:RSICD_CAPTIONS]
        text_features = np.concatenate([
            ops.convert_to_numpy(model.embed_texts(texts[i : i + args.batch_size])["global"])
            for i in range(0, RSICD_CAPTIONS, args.batch_size)
        ])
        retrieval_recalls(model.score({"global": image_features}, {"global": text_features}), 5)
        out["rsicd_eval_s"] = time.perf_counter() - start
    return out


def transformers_rates(args, model, images, ids):
    """transformers' images/s and captions/s on the same batches (torch, no autograd)."""
    import torch

    pixels = torch.tensor(images.transpose(0, 3, 1, 2))
    token_ids = torch.tensor(ids, dtype=torch.long)
    with torch.no_grad():
        return {
            "backend": "transformers (torch)",
            "images_per_s": _rate(lambda: model.get_image_features(pixel_values=pixels), args.batch_size,
                                  args.repeats),
            "captions_per_s": _rate(lambda: model.get_text_features(input_ids=token_ids), args.batch_size,
                                    args.repeats),
        }


def prepare(folder):
    """Writes the random ViT-B/32 HF folder, imports it, and saves transformers' reference embeddings."""
    import sys

    import transformers

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    import clip_fixtures

    from dove_keras.models.clip import import_clip

    tokenizer = os.path.join(folder, "hf")
    clip_fixtures.write_bpe_vocabulary(tokenizer, captions()[::5], num_merges=400)
    config = transformers.CLIPConfig()  # OpenAI's ViT-B/32 (quick_gelu, 224 px, patch 32)
    size = clip_fixtures.vocabulary_size(tokenizer)
    text = config.text_config
    text.vocab_size, text.bos_token_id, text.eos_token_id, text.pad_token_id = size, size - 2, size - 1, 0
    model = clip_fixtures.random_hf_model(config)
    clip_fixtures.write_hf_folder(model, os.path.join(folder, "hf"))
    import_clip(os.path.join(folder, "hf"), os.path.join(folder, "preset"))
    return model


def main():
    parser = model_parser(__doc__, batch_size=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rsicd", action="store_true", help="also time the RSICD-sized zero-shot evaluation")
    parser.add_argument("--preset", help=__import__("argparse").SUPPRESS)
    import sys

    if "--child" in sys.argv:
        run_per_backend(parser, measure, __file__)
        return
    import torch

    torch.set_num_threads(os.cpu_count())
    with tempfile.TemporaryDirectory() as folder:
        model = prepare(folder)
        preset = os.path.join(folder, "preset")
        sys.argv += [f"--preset={preset}"]
        args = parser.parse_args()
        images, ids = _inputs(args, preset)
        with torch.no_grad():
            image = model.get_image_features(pixel_values=torch.tensor(images.transpose(0, 3, 1, 2)))
            text = model.get_text_features(input_ids=torch.tensor(ids, dtype=torch.long))
        image, text = (getattr(x, "pooler_output", x).double().numpy() for x in (image, text))
        np.savez(os.path.join(folder, "reference.npz"), image=image / np.linalg.norm(image, axis=-1, keepdims=True),
                 text=text / np.linalg.norm(text, axis=-1, keepdims=True))
        peer = transformers_rates(args, model, images, ids)
        _, rows = run_per_backend(parser, measure, __file__)
    print(f"ViT-B/32, 224 px, batch {args.batch_size}, {args.repeats} timed batches after one warm-up")
    print(f"{'backend':22s} {'images/s':>9s} {'x peer':>7s} {'captions/s':>11s} {'x peer':>7s} "
          f"{'max|diff| img':>14s} {'txt':>9s} {'RSICD eval s':>13s}")
    for row in [peer, *rows]:
        print(f"{row['backend']:22s} {row['images_per_s']:9.1f} {row['images_per_s'] / peer['images_per_s']:7.2f} "
              f"{row['captions_per_s']:11.1f} {row['captions_per_s'] / peer['captions_per_s']:7.2f} "
              f"{row.get('image_max_diff', 0):14.2e} {row.get('text_max_diff', 0):9.2e} "
              f"{row.get('rsicd_eval_s', float('nan')):13.1f}")


if __name__ == "__main__":
    use_default_xla_flags()
    main()
