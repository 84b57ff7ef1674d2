"""The demo's regression guard: a fixed number of its training steps on each backend (not a test).

Runs the `dove demo` pipeline (its generated data, cached under --output-dir,
its default model and its tf.data pipeline) for --steps training steps on
each backend, in its own process, then evaluates the validation split. Prints
the first step, the median ms/step, examples/s and the validation mR reached,
and appends one row per backend (date, commit, backend, numbers) to the
"Demo benchmark" table of benchmarks/RESULTS.md.

    python benchmarks/demo.py                       # 150 steps on tensorflow, jax, torch
    python benchmarks/demo.py --steps 60 --backends tensorflow --no-record
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import time

from dove_keras.backends import use_default_xla_flags

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "RESULTS.md")
TABLE_TITLE = "## Demo benchmark (per commit)"
TABLE_HEADER = (
    "| date | commit | backend | steps | first step s | median ms/step | examples/s | val mR | wall s |\n"
    "|---|---|---|---:|---:|---:|---:|---:|---:|"
)


def measure(args):
    """In the child: `--steps` demo training steps on this backend, then validation mR."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import keras
    import numpy as np

    from dove_keras.commands import demo
    from dove_keras.evaluation.evaluate import evaluate_model
    from dove_keras.experiments.synthetic_experiment import prepare_synthetic_data
    from dove_keras.training.factory import build_retriever
    from dove_keras.training.factory import compile_for_training
    from dove_keras.training.runner import train_stream
    from dove_keras.training.seeding import seed_everything
    from dove_keras.training.split_evaluation import eval_datasets

    start = time.perf_counter()
    options = demo_options(args)
    data = prepare_synthetic_data(args.output_dir, options.num_images, options.scene_size, options.seed,
                                  options.split_fractions, progress=False)
    config = demo.demo_config(options, data)
    seed_everything(config.seed, config.training.deterministic)
    model = build_retriever(config)
    stream, steps_per_epoch = train_stream(config, 0, config.training.epochs)
    compile_for_training(model, config, steps_per_epoch)

    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.tick = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.tick)

    model.fit(stream, steps_per_epoch=args.steps, epochs=1, verbose=0, callbacks=[Timer()], shuffle=False)
    images, captions = eval_datasets(config, config.data.val_split)
    result = evaluate_model(model, images, captions, chunk_size=config.evaluation.chunk_size)
    median = float(np.median(times[1:]))
    return {
        "backend": keras.backend.backend(), "steps": args.steps, "first_step_s": round(times[0], 2),
        "median_ms": round(1000 * median, 1), "examples_per_s": round(config.training.batch_size / median, 1),
        "val_mR": round(result.metrics["mR"], 2), "wall_s": round(time.perf_counter() - start, 1),
    }


def demo_options(args):
    """`dove demo`'s parsed defaults, with this benchmark's output folder."""
    from dove_keras.commands import demo

    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    return parser.parse_args(["--output-dir", args.output_dir])


def commit():
    done = subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", HERE, "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return (done.stdout.strip() or "unknown") + ("+changes" if dirty else "")


def record(rows):
    """Appends the rows to the demo table of RESULTS.md (the table is created when absent)."""
    with open(RESULTS, encoding="utf-8") as f:
        text = f.read()
    if TABLE_TITLE not in text:
        text = text.rstrip() + f"\n\n{TABLE_TITLE}\n\n`python benchmarks/demo.py`: the demo's defaults, " \
            "a fixed number of " \
            "training steps per backend from a fresh model, validation mR after them. Rows are appended, " \
            f"never rewritten: a drift from one commit to the next is the regression signal.\n\n{TABLE_HEADER}\n"
    date, head = datetime.date.today().isoformat(), commit()
    lines = [
        f"| {date} | {head} | {r['backend']} | {r['steps']} | {r['first_step_s']} | {r['median_ms']} | "
        f"{r['examples_per_s']} | {r['val_mR']} | {r['wall_s']} |"
        for r in rows
    ]
    with open(RESULTS, "w", encoding="utf-8") as f:
        f.write(text.rstrip() + "\n" + "\n".join(lines) + "\n")


def main(argv=None):
    from dove_keras.backends import BACKENDS
    from dove_keras.backends import run_backend

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--steps", type=int, default=150, help="training steps per backend (default 150)")
    parser.add_argument("--output-dir", default=os.path.join("dove_runs", "demo_benchmark"),
                        help="the cached demo data (default dove_runs/demo_benchmark)")
    parser.add_argument("--no-record", dest="record", action="store_false", help="do not append to RESULTS.md")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args)))
        return 0
    rows = []
    for backend in args.backends:
        command = [sys.executable, os.path.abspath(__file__), "--child", "--steps", str(args.steps),
                   "--output-dir", args.output_dir]
        rows.append(json.loads(run_backend(backend, command).strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    fastest = min(r["median_ms"] for r in rows)
    for r in rows:
        print(f"{r['backend']:<11} {r['median_ms']:8.1f} ms/step  x{r['median_ms'] / fastest:.2f}  "
              f"{r['examples_per_s']:7.1f} ex/s  val mR {r['val_mR']:6.2f}  first step {r['first_step_s']} s")
    if args.record:
        record(rows)
        print(f"appended {len(rows)} row(s) to {RESULTS}")
    return 0


if __name__ == "__main__":
    use_default_xla_flags()
    sys.exit(main())
