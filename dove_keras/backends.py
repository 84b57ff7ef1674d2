"""The Keras backends DOVE runs on, and running a command under each of them.

This module imports nothing heavy, so benchmark drivers can use it on a
machine that has only some backends (or no TensorFlow).
"""

import json
import os
import subprocess
import sys

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


def measure_per_backend(script, args, backends):
    """Runs `script --child` once per backend with the options of `args`.

    Args:
        script: a Python file whose `--child` mode prints one JSON object last.
        args: the parsed `argparse.Namespace` to pass on (`backends` and `child`
            are left out; True flags are passed bare, False ones dropped).
        backends: the backends to run, in order.

    Returns:
        The list of the children's JSON objects, one per backend.
    """
    options = []
    for name, value in vars(args).items():
        flag = "--" + name.replace("_", "-")
        if name in ("backends", "child") or value is False:
            continue
        options.append(flag if value is True else f"{flag}={value}")
    return [
        json.loads(run_backend(backend, [sys.executable, script, "--child", *options]).strip().splitlines()[-1])
        for backend in backends
    ]
