"""The Keras backends DOVE runs on, and running a command under each of them.

This module imports nothing heavy, so drivers (`dove compare-backends`, the
benchmarks) can use it on a machine that has only some backends.
"""

import os
import subprocess

BACKENDS = ("tensorflow", "jax", "torch")


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

