"""1 device, 2 virtual devices and 2 processes on one machine: per-step loss and speed (not a test).

For each engine (jax, tensorflow) trains the demo's model on its generated
data (`--num-images` scenes, so that an epoch is short) for `--steps` steps in
three set-ups, each in fresh processes from the same seed:

- `none`: one process, one device;
- `data_parallel`: one process, 2 virtual CPU devices (`XLA_FLAGS` on JAX,
  two logical CPUs on TensorFlow);
- `multi_worker`: two processes on 127.0.0.1 with one device each
  (`KERAS_DISTRIBUTION_*` on JAX, `TF_CONFIG` on TensorFlow).

Prints each set-up's per-step losses against the 1-device run (the first
step that differs by more than 1e-4 relative), the median step time as
steps/s and examples/s, and the validation mR after the steps. `--exact`
freezes the image backbone and turns dropout off (the tests' set-up).

    python benchmarks/multi_worker.py                              # both engines, one epoch of 10 steps
    python benchmarks/multi_worker.py --engines tensorflow --steps 10 --exact
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time

SETUPS = ("none", "data_parallel", "multi_worker")
ENGINES = ("jax", "tensorflow")


def measure(args):
    """In a child: `--steps` steps of `args.setup`; returns losses, step times and val mR."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import keras
    import tensorflow as tf

    if keras.backend.backend() == "tensorflow" and args.setup == "data_parallel":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from dove_keras.evaluation.evaluate import evaluate_model
    from dove_keras.training.config import load_config
    from dove_keras.training.distribution import distribution_scope
    from dove_keras.training.factory import build_retriever
    from dove_keras.training.factory import compile_for_training
    from dove_keras.training.runner import train_stream
    from dove_keras.training.seeding import seed_everything
    from dove_keras.training.split_evaluation import eval_datasets

    # The parent's config: a TensorFlow worker must start its strategy before any TF op.
    config = load_config(config_file(args), {"distribution": args.setup})
    losses, times = [], []

    class Recorder(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.tick = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter() - self.tick)
            losses.append(float(logs["loss"]))  # the running mean over the epoch

    with distribution_scope(config.distribution, config.training.batch_size, progress=False):
        seed_everything(config.seed, config.training.deterministic)
        model = build_retriever(config)
        stream, steps_per_epoch = train_stream(config, 0, 1)
        compile_for_training(model, config, steps_per_epoch)
        model.fit(stream, steps_per_epoch=args.steps, epochs=1, verbose=0, callbacks=[Recorder()], shuffle=False)
        images, captions = eval_datasets(config, config.data.val_split)
        result = evaluate_model(model, images, captions, chunk_size=config.evaluation.chunk_size)
    return {"running_loss": losses, "step_s": times, "val_mR": result.metrics["mR"],
            "batch_size": config.training.batch_size, "steps_per_epoch": steps_per_epoch}


def experiment_config(args):
    """The demo's config on `--num-images` scenes (with `--exact`: frozen backbone, no dropout)."""
    from dove_keras.commands import demo
    from dove_keras.experiments.synthetic_experiment import prepare_synthetic_data

    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    options = parser.parse_args(["--output-dir", args.output_dir, "--num-images", str(args.num_images)])
    data = prepare_synthetic_data(args.output_dir, options.num_images, options.scene_size, options.seed,
                                  options.split_fractions, progress=False)
    config = demo.demo_config(options, data)
    if args.exact:
        config.model.train_image_backbone = False
        config.model.dropout = config.model.word_dropout = 0.0
    return config


def config_file(args):
    return os.path.join(args.output_dir, "experiment_exact.yaml" if args.exact else "experiment.yaml")


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def setup_envs(engine, setup):
    """The environment of each process of `setup` on `engine`."""
    base = {**os.environ, "KERAS_BACKEND": engine, "TF_CPP_MIN_LOG_LEVEL": "3"}
    base.pop("XLA_FLAGS", None)
    if setup == "none":
        return [base]
    if setup == "data_parallel":
        return [{**base, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}]
    ports = free_ports(2)
    if engine == "jax":
        return [{**base, "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"127.0.0.1:{ports[0]}",
                 "KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": str(i)} for i in range(2)]
    workers = [f"127.0.0.1:{port}" for port in ports]
    return [{**base, "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})}
            for i in range(2)]


def run_setup(args, engine, setup):
    """Runs `setup`'s processes at once; returns process 0's measurement."""
    command = [sys.executable, os.path.abspath(__file__), "--child", setup, "--steps", str(args.steps),
               "--num-images", str(args.num_images), "--output-dir", args.output_dir] + (["--exact"] * args.exact)
    processes = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for env in setup_envs(engine, setup)]
    try:
        outputs = [p.communicate(timeout=args.timeout) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=30)
    for p, (_, err) in zip(processes, outputs):
        if p.returncode:
            raise RuntimeError(f"{engine} {setup} failed (exit {p.returncode}):\n{err[-3000:]}")
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    if len(results) == 2:  # both processes log the same global loss
        assert results[0]["running_loss"] == results[1]["running_loss"], "the two processes logged different losses"
    return results[0]


def step_losses(running):
    """Per-step losses from Keras' running means over the epoch."""
    return [running[0]] + [(k + 1) * running[k] - k * running[k - 1] for k in range(1, len(running))]


def report(engine, results):
    """Prints the divergence table and the speed of one engine's set-ups."""
    import numpy as np

    one = np.array(step_losses(results["none"]["running_loss"]))
    print(f"\n{engine}: per-step loss (1 device) and relative difference of each set-up")
    for name in SETUPS[1:]:
        other = np.array(step_losses(results[name]["running_loss"]))
        rel = np.abs(other - one) / np.abs(one)
        over = np.flatnonzero(rel > 1e-4)
        first = f"step {over[0] + 1}" if over.size else "none"
        print(f"  {name:<14} max rel diff steps 1-2 {rel[:2].max():.1e}, all steps {rel.max():.1e}, "
              f"first step over 1e-4: {first}; epoch-mean loss {results[name]['running_loss'][-1]:.4f} "
              f"vs {results['none']['running_loss'][-1]:.4f}")
    print("  step  " + "  ".join(f"{name:>14}" for name in SETUPS))
    for k in sorted({0, 1, 2, 4, len(one) // 2, len(one) - 1}):
        print(f"  {k + 1:>4}  " + "  ".join(f"{step_losses(results[n]['running_loss'])[k]:14.4f}" for n in SETUPS))
    for name in SETUPS:
        r = results[name]
        median = float(np.median(r["step_s"][1:]))
        print(f"  {name:<14} {1 / median:6.2f} steps/s  {r['batch_size'] / median:7.1f} examples/s  "
              f"first step {r['step_s'][0]:.1f} s  val mR {r['val_mR']:.2f}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--steps", type=int, default=10, help="training steps per set-up (default 10)")
    parser.add_argument("--num-images", type=int, default=160,
                        help="generated scenes (default 160: one epoch of 10 steps of 64 captions)")
    parser.add_argument("--exact", action="store_true", help="frozen image backbone, no dropout")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per set-up (default 600)")
    parser.add_argument("--output-dir", default=os.path.join("dove_runs", "multi_worker_benchmark"),
                        help="the cached generated data (default dove_runs/multi_worker_benchmark)")
    parser.add_argument("--json", metavar="FILE", help="also write every measurement to FILE")
    parser.add_argument("--child", choices=SETUPS, dest="setup", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.setup:
        print(json.dumps(measure(args)))
        return 0
    from dove_keras.training.config import save_config

    save_config(experiment_config(args), config_file(args))  # the data, once, before processes share it
    everything = {}
    for engine in args.engines:
        everything[engine] = {}
        for setup in SETUPS:
            tick = time.perf_counter()
            everything[engine][setup] = run_setup(args, engine, setup)
            print(f"{engine} {setup}: {time.perf_counter() - tick:.0f} s", flush=True)
            if args.json:  # kept as it goes: a later set-up may time out
                with open(args.json, "w") as f:
                    json.dump(everything, f)
        report(engine, everything[engine])
    return 0


if __name__ == "__main__":
    sys.exit(main())
