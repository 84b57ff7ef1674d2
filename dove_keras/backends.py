"""The Keras backends DOVE runs on, and running a command under each of them.

This module imports nothing heavy, so drivers (`dove compare-backends`, the
benchmarks) can use it on a machine that has only some backends.
"""

import os
import subprocess

BACKENDS = ("tensorflow", "jax", "torch")

# XLA:CPU hands convolutions to YNNPACK fusions by default; on the CPUs measured
# (benchmarks/RESULTS.md) its own path trains the frozen ResNet-50 tower 1.6x faster on JAX.
YNN_FUSIONS_FLAG = "--xla_cpu_experimental_ynn_fusion_type"


def use_default_xla_flags():
    """Turns XLA:CPU's YNNPACK fusions off in `XLA_FLAGS` unless the user set that flag.

    Called where a process starts (`dove`, `dove-data`, the benchmarks), before
    JAX starts its CPU backend (which reads the flag); importing `dove_keras`
    leaves the environment alone.
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if YNN_FUSIONS_FLAG not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {YNN_FUSIONS_FLAG}=".strip()


def run_backend(backend, command, timeout=None):
    """Runs `command` (an argv list) in a child process under `KERAS_BACKEND=backend`.

    Returns:
        The child's standard output.

    Raises:
        RuntimeError: the child failed; the message holds the end of its stderr.
    """
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{backend} process failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout

