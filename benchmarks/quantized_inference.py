"""int8 against float32 inference of the trained demo model, one process per backend (not a test).

Uses the `dove demo` run in --demo-dir (the demo's --output-dir; its run is
`<demo-dir>/dove`, with config.yaml and preset/). When that run has no preset
yet, the demo's own command trains it first on TensorFlow (`dove demo
--output-dir <demo-dir>`, its defaults unless --num-images / --epochs).

In each backend's process the same saved weights are loaded twice: as saved
(float32), and quantized with `backbone.quantize("int8")` (the project's path:
Keras quantizes the Dense, EinsumDense and Embedding layers; convolutions and
recurrent cells keep float32 weights). Both are evaluated on the run's test
split in the run's evaluation mode (ROAM for the demo): one warm-up evaluation
each (compilation), then --repeats rounds of float32 then int8. Printed: the
median image encoding images/s, caption encoding captions/s, scoring seconds
of the full test matrix and total evaluation seconds, the six recalls and mR,
the int8 share of the weights, the largest score difference, and int8/float32
ratios (of speeds and times; mR as a difference).

    python benchmarks/quantized_inference.py                        # dove_runs/demo, all backends
    python benchmarks/quantized_inference.py --backends jax --repeats 5
    python benchmarks/quantized_inference.py --demo-dir /tmp/demo --num-images 500 --epochs 2
"""

import argparse
import json
import os
import statistics
import subprocess
import sys

from dove_keras.backends import BACKENDS
from dove_keras.backends import run_backend
from dove_keras.backends import use_default_xla_flags

PRECISIONS = ("float32", "int8")
RECALLS = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10", "mR")
TIMES = ("encode_images", "encode_captions", "score", "total")


def compare_precisions(models, images, captions, mode, chunk_size, repeats):
    """Times `evaluate_model` of each model on the same split; rounds alternate the models.

    Args:
        models: `{name: DOVERetriever}` with preprocessors (raw eval batches).
        images, captions: the split's raw evaluation datasets.
        mode, chunk_size: as `evaluate_model` takes them.
        repeats: timed rounds after one warm-up evaluation per model.

    Returns:
        `{name: {median seconds of TIMES, images_per_s, captions_per_s, recalls,
        int8_weight_share}}`, plus `max_score_diff` of each model after the
        first against the first under `{name}["max_score_diff"]`.
    """
    import numpy as np

    from dove_keras.metrics.evaluation import evaluate_model

    images, captions = images.cache(), captions.cache()  # read and decoded once, in the warm-up

    def evaluate(model):
        return evaluate_model(model, images, captions, mode=mode, chunk_size=chunk_size)

    results = {name: [evaluate(model)] for name, model in models.items()}  # warm-up
    for _ in range(repeats):
        for name, model in models.items():
            results[name].append(evaluate(model))
    first = results[next(iter(models))][-1]
    rows = {}
    for name, runs in results.items():
        timed, last = runs[1:], runs[-1]
        row = {f"{key}_s": statistics.median(run.timings[key] for run in timed) for key in TIMES}
        num_images, num_captions = last.similarity.shape
        row.update(
            images=num_images, captions=num_captions,
            images_per_s=num_images / row["encode_images_s"], captions_per_s=num_captions / row["encode_captions_s"],
            **{key: last.metrics[key] for key in RECALLS},
            int8_weight_share=_int8_share(models[name]),
            max_score_diff=float(np.abs(last.similarity - first.similarity).max()),
        )
        rows[name] = row
    return rows


def _int8_share(model):
    """The fraction of the backbone's weight values stored as int8."""
    import numpy as np

    sizes = [(int(np.prod(w.shape)), str(w.dtype)) for w in model.backbone.weights]
    return sum(size for size, dtype in sizes if "int8" in dtype) / sum(size for size, _ in sizes)


def measure(args):
    """In the child: float32 and int8 of the demo's preset on this backend's test split."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import keras

    from dove_keras.training.config import load_config
    from dove_keras.training.factory import load_trained
    from dove_keras.training.split_evaluation import eval_datasets

    run = os.path.join(args.demo_dir, "dove")
    config = load_config(os.path.join(run, "config.yaml"))
    models = {}
    for precision in PRECISIONS:
        model = load_trained(config, os.path.join(run, "preset"))
        if precision == "int8":
            model.backbone.quantize("int8")
        models[precision] = model
    images, captions = eval_datasets(config, config.data.test_split)
    rows = compare_precisions(models, images, captions, config.evaluation.mode, config.evaluation.chunk_size,
                              args.repeats)
    return {"backend": keras.backend.backend(), "mode": config.evaluation.mode, **rows}


def train_demo(args):
    """Trains the demo into --demo-dir with `dove demo` when its run has no preset; returns an exit code."""
    if os.path.isdir(os.path.join(args.demo_dir, "dove", "preset")):
        return 0
    command = [sys.executable, "-m", "dove_keras.cli", "demo", "--output-dir", args.demo_dir, "--backend", "tensorflow"]
    for option in ("num_images", "epochs"):
        if getattr(args, option) is not None:
            command += ["--" + option.replace("_", "-"), str(getattr(args, option))]
    print("no trained demo in", args.demo_dir, "-> training it:", " ".join(command[1:]), flush=True)
    return subprocess.run(command).returncode


def table(rows):
    """The results as a Markdown table, int8/float32 ratios under each backend."""
    lines = [
        "| backend | precision | images/s | captions/s | score s | total s | i2t R@1/5/10 | t2i R@1/5/10 | mR |"
        " int8 weights | max score diff |",
        "|---|---|---:|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for row in rows:
        for precision in PRECISIONS:
            r = row[precision]
            lines.append(
                f"| {row['backend']} | {precision} | {r['images_per_s']:.1f} | {r['captions_per_s']:.1f} | "
                f"{r['score_s']:.3f} | {r['total_s']:.3f} | {_recalls(r, 'i2t')} | {_recalls(r, 't2i')} | "
                f"{r['mR']:.2f} | {100 * r['int8_weight_share']:.0f} % | {r['max_score_diff']:.3g} |"
            )
        base, int8 = row["float32"], row["int8"]
        lines.append(
            f"| {row['backend']} | int8/float32 | x{int8['images_per_s'] / base['images_per_s']:.2f} | "
            f"x{int8['captions_per_s'] / base['captions_per_s']:.2f} | x{int8['score_s'] / base['score_s']:.2f} | "
            f"x{int8['total_s'] / base['total_s']:.2f} | | | {int8['mR'] - base['mR']:+.2f} | | |"
        )
    return "\n".join(lines)


def _recalls(row, direction):
    return " / ".join(f"{row[f'{direction}_r{k}']:.1f}" for k in (1, 5, 10))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 1)[1])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--demo-dir", default=os.path.join("dove_runs", "demo"),
                        help="the `dove demo --output-dir` folder; trained there when it has no run "
                        "(default dove_runs/demo, the demo's own)")
    parser.add_argument("--num-images", type=int, help="when training: the demo's --num-images (default its own)")
    parser.add_argument("--epochs", type=int, help="when training: the demo's --epochs (default its own)")
    parser.add_argument("--repeats", type=int, default=3, help="timed evaluations per precision (default 3)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.child:
        print(json.dumps(measure(args)))
        return 0
    code = train_demo(args)
    if code:
        return code
    rows = []
    for backend in args.backends:
        command = [sys.executable, os.path.abspath(__file__), "--child", "--demo-dir", args.demo_dir,
                   "--repeats", str(args.repeats)]
        rows.append(json.loads(run_backend(backend, command).strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{rows[0]['mode']} evaluation of {args.demo_dir}/dove on its test split, median of {args.repeats}:")
    print(table(rows))
    return 0


if __name__ == "__main__":
    use_default_xla_flags()
    sys.exit(main())
