"""Image encoding rate against the machine's float32 matmul peak (not a test).

Each backend setting runs in its own process (thread pools and oneDNN are
fixed at start-up). A process measures, one after the other:

1. the peak: numpy float32 GEMM `n x n @ n x n` (default n = 2048), best of
   a few, in GFLOP/s (2 n^3 FLOP), and the backend's own matmul of the same
   size;
2. the FLOP count of one image through `DOVEBackbone.image_encoder`, counted
   from the shapes every Conv2D and Dense layer sees in one forward pass:
   FLOP = 2 x multiply-accumulates (BatchNorm, ReLU, pooling, softmax and
   IFA's three small products, ~6 MMAC, not counted); the backbone's share is
   printed apart;
3. `DOVERetriever.encode_image` images/s (frozen ResNet-50 by default, 256 px,
   random images) at each batch size, and the in-process variants of the backend:
   TensorFlow `tf.function(jit_compile=True)` (XLA) around the encoder,
   torch `set_num_threads(1)`, oneDNN (mkldnn) disabled and
   `torch.inference_mode()` instead of `no_grad()`. Each variant's
   outputs are compared with the default path (max abs difference).
   The `mixed_bfloat16` setting builds the model under that dtype policy
   (bfloat16 units: AMX, AVX512-BF16); its fractions are of the float32 peak.

Encode GFLOP/s = images/s x FLOP per image; "of numpy" = that / the best
numpy GEMM rate of every process, "of best" = that / the faster of that and
the backend's own GEMM (numpy's OpenBLAS may not use the widest vector unit
the backend's does). `--rounds 2` runs every setting twice, alternated, and
keeps the best (a shared machine's load varies).

    python benchmarks/encode_vs_peak.py                            # every backend and setting
    python benchmarks/encode_vs_peak.py --backends tensorflow --batch-sizes 32,64
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

from dove_keras.backends import use_default_xla_flags

# Process-level settings per backend: (name, environment, TF threads (intra, inter), dtype policy).
SETTINGS = {
    "tensorflow": [
        ("default", {}, None, None),
        ("intra=1", {}, (1, 0), None),
        ("intra=2 inter=1", {}, (2, 1), None),
        ("oneDNN off", {"TF_ENABLE_ONEDNN_OPTS": "0"}, None, None),
        ("mixed_bfloat16", {}, None, "mixed_bfloat16"),
    ],
    "jax": [
        ("default", {}, None, None),
        ("1 thread", {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}, None, None),
        ("mixed_bfloat16", {}, None, "mixed_bfloat16"),
    ],
    "torch": [("default", {}, None, None), ("mixed_bfloat16", {}, None, "mixed_bfloat16")],
}


def gemm_gflops(matmul, n, repeats=5):
    """Best GFLOP/s of `matmul(a, b)` on float32 `n x n` operands (after a warm-up)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype("float32") for _ in range(2))
    operands = matmul.prepare(a, b) if hasattr(matmul, "prepare") else (a, b)
    matmul(*operands)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(*operands)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def count_flops(encoder, image_side):
    """`(total, backbone)` FLOP of one image: 2 x MACs of every Conv2D and Dense layer."""
    import keras
    import numpy as np

    counts = []

    def hook(layer, inside_backbone):
        call = layer.call

        def counted(inputs, *args, **kwargs):
            outputs = call(inputs, *args, **kwargs)
            kernel = layer.kernel.shape
            out = tuple(outputs.shape)
            if isinstance(layer, keras.layers.Conv2D):
                macs = int(np.prod(out[1:])) * kernel[0] * kernel[1] * kernel[2]
            else:  # Dense: every position of its input's leading axes
                macs = int(np.prod(out[1:-1], dtype=np.int64)) * kernel[0] * kernel[1]
            counts.append((2 * macs, inside_backbone))
            return outputs

        layer.call = counted
        return call

    pyramid_layers = {id(layer) for layer in encoder.pyramid._flatten_layers()}
    patched = [
        (layer, hook(layer, id(layer) in pyramid_layers))
        for layer in encoder._flatten_layers()
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))
    ]
    images = np.zeros((1, image_side, image_side, 3), "float32")
    try:
        encoder(images, training=False)  # the backbone's convolutions run folded: counted below
        counts[:] = [count for count in counts if not count[1]]
        encoder.pyramid(images, training=False)
    finally:
        for layer, call in patched:
            layer.call = call
    return sum(c for c, _ in counts), sum(c for c, inside in counts if inside)


def _rate(function, count, repeats):
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return count / best


def _backend_matmul(backend):
    if backend == "tensorflow":
        import tensorflow as tf

        def matmul(a, b):
            return tf.linalg.matmul(a, b).numpy()

        matmul.prepare = lambda a, b: (tf.constant(a), tf.constant(b))
    elif backend == "jax":
        import jax

        function = jax.jit(jax.numpy.matmul)

        def matmul(a, b):
            return function(a, b).block_until_ready()

        matmul.prepare = lambda a, b: (jax.device_put(a), jax.device_put(b))
    else:
        import torch

        def matmul(a, b):
            return torch.mm(a, b)

        matmul.prepare = lambda a, b: (torch.from_numpy(a), torch.from_numpy(b))
    return matmul


def _variants(backend, model):
    """In-process variants: name -> (enter, exit, encode function)."""
    import keras
    from keras import ops

    def default(images):
        return model.encode_image(images)["fused"]

    variants = {"": (None, None, default)}
    if backend == "tensorflow":
        import tensorflow as tf

        xla = tf.function(lambda x: model.backbone.image_encoder(x, training=False)["fused"], jit_compile=True)
        variants["XLA (jit_compile=True)"] = (None, None, lambda images: xla(tf.constant(images)))
    if backend == "torch":
        import torch

        threads = torch.get_num_threads()
        variants["set_num_threads(1)"] = (
            lambda: torch.set_num_threads(1), lambda: torch.set_num_threads(threads), default
        )
        mkldnn = []  # one flags() context per call: a generator context enters once

        def mkldnn_off():
            mkldnn.append(torch.backends.mkldnn.flags(enabled=False))
            mkldnn[-1].__enter__()

        variants["mkldnn off"] = (mkldnn_off, lambda: mkldnn.pop().__exit__(None, None, None), default)

        def inference_mode(images):
            with torch.inference_mode():
                return model.backbone.image_encoder(ops.convert_to_tensor(images), training=False)["fused"]

        variants["inference_mode"] = (None, None, inference_mode)
    del keras
    return variants


def measure(args, setting):
    """Runs in the child process: returns a dict with the peak, FLOP and rows."""
    import numpy as np

    if setting["threads"] is not None:
        import tensorflow as tf

        intra, inter = setting["threads"]
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    import keras
    from keras import ops

    from dove_keras.models import DOVEBackbone
    from dove_keras.models import DOVERetriever

    backend = keras.backend.backend()
    numpy_peak = gemm_gflops(np.matmul, args.gemm_size)
    backend_peak = gemm_gflops(_backend_matmul(backend), args.gemm_size)
    keras.utils.set_random_seed(0)
    model = DOVERetriever(DOVEBackbone(
        vocabulary_size=2000, image_backbone=args.backbone, embedding_dim=args.embedding_dim, dtype=setting["dtype"]
    ))
    flops, backbone_flops = count_flops(model.backbone.image_encoder, args.image_size)
    rng = np.random.default_rng(0)
    rows = []
    variants = _variants(backend, model) if setting["in_process"] else {"": _variants(backend, model)[""]}

    def run(variant, images):
        enter, leave, encode = variants[variant]
        if enter:
            enter()
        try:
            start = time.perf_counter()
            out = np.asarray(ops.convert_to_numpy(ops.cast(encode(images), "float32")))
            return out, time.perf_counter() - start
        finally:
            if leave:
                leave()

    for batch in args.batch_sizes:
        images = rng.standard_normal((batch, args.image_size, args.image_size, 3)).astype("float32")
        outputs = {name: run(name, images)[0] for name in variants}  # warm-up: traces and compiles
        best = {name: float("inf") for name in variants}
        for _ in range(args.repeats):  # interleaved, so load changes hit every variant alike
            for name in variants:
                best[name] = min(best[name], run(name, images)[1])
        for name in variants:
            rate = batch / best[name]
            rows.append({
                "variant": name, "batch": batch, "images_per_s": rate,
                "max_diff": float(np.abs(outputs[name] - outputs[""]).max()),
            })
    return {
        "backend": backend, "numpy_peak": numpy_peak, "backend_peak": backend_peak,
        "flops": flops, "backbone_flops": backbone_flops, "rows": rows,
        "threads": os.cpu_count(),
    }


def _sizes(text):
    return [int(v) for v in re.findall(r"\d+", text)]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--embedding-dim", type=int, default=512)
    parser.add_argument("--batch-sizes", type=_sizes, default=[16, 32, 64, 100], help="comma-separated")
    parser.add_argument("--repeats", type=int, default=2, help="timed calls per batch after a warm-up; best kept")
    parser.add_argument("--rounds", type=int, default=1, help="runs of every setting, alternated; best kept")
    parser.add_argument("--gemm-size", type=int, default=2048)
    parser.add_argument("--settings", default=None, help="only settings whose name contains this")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args, json.loads(args.child))))
        return 0
    results = {}
    for _ in range(args.rounds):  # rounds alternate the settings; the best of each is kept
        for backend in args.backends:
            for index, (name, env, threads, dtype) in enumerate(SETTINGS[backend]):
                if args.settings and args.settings not in name:
                    continue
                setting = {"name": name, "threads": threads, "in_process": index == 0, "dtype": dtype}
                command = [
                    sys.executable, os.path.abspath(__file__), "--child", json.dumps(setting),
                    "--backbone", args.backbone, "--image-size", str(args.image_size),
                    "--embedding-dim", str(args.embedding_dim), "--repeats", str(args.repeats),
                    "--gemm-size", str(args.gemm_size), "--batch-sizes", ",".join(map(str, args.batch_sizes)),
                ]
                done = subprocess.run(
                    command, capture_output=True, text=True, env={**os.environ, **env, "KERAS_BACKEND": backend}
                )
                if done.returncode:
                    print(done.stderr[-3000:], file=sys.stderr)
                    return done.returncode
                result = json.loads(done.stdout.strip().splitlines()[-1])
                results[backend, name] = _best(results.get((backend, name)), result)
    peak = max(r["numpy_peak"] for r in results.values())
    print(f"best numpy float32 GEMM {args.gemm_size}^3 over every process: {peak:.1f} GFLOP/s")
    for (_backend, name), result in results.items():
        _report(result, name, peak)
    return 0


def _best(old, new):
    """Merges two runs of one setting: the higher peaks and rates."""
    if old is None:
        return new
    merged = dict(new, numpy_peak=max(old["numpy_peak"], new["numpy_peak"]),
                  backend_peak=max(old["backend_peak"], new["backend_peak"]))
    merged["rows"] = [a if a["images_per_s"] >= b["images_per_s"] else b for a, b in zip(old["rows"], new["rows"])]
    return merged


def _report(result, setting, peak):
    """Prints one setting; fractions of `peak` (the best numpy GEMM) and of the best GEMM of any kind."""
    best_gemm = max(peak, result["backend_peak"])
    print(
        f"\n{result['backend']} [{setting}]: numpy GEMM {result['numpy_peak']:.1f} GFLOP/s, "
        f"backend matmul {result['backend_peak']:.1f} GFLOP/s (this process); encoder "
        f"{result['flops'] / 1e9:.2f} GFLOP/image (backbone {result['backbone_flops'] / 1e9:.2f})", flush=True,
    )
    print(f"  {'variant':<24}{'batch':>6}{'images/s':>10}{'GFLOP/s':>9}{'of numpy':>9}{'of best':>9}{'max diff':>10}")
    for row in result["rows"]:
        gflops = row["images_per_s"] * result["flops"] / 1e9
        print(
            f"  {row['variant'] or setting:<24}{row['batch']:>6}{row['images_per_s']:>10.2f}"
            f"{gflops:>9.1f}{gflops / peak:>9.1%}{gflops / best_gemm:>9.1%}{row['max_diff']:>10.1e}",
            flush=True,
        )


if __name__ == "__main__":
    use_default_xla_flags()
    sys.exit(main())
