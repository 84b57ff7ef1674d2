"""Options and the per-backend driver shared by the model benchmarks.

A benchmark script defines `measure(args) -> dict`; `run_per_backend` runs the
script again once per backend (`--child`), each in its own process, and returns
the children's dicts.
"""

import argparse
import json
import sys

from dove_keras.backends import BACKENDS
from dove_keras.backends import run_backend


def model_parser(description, batch_size):
    """An argument parser with the model and backend options of every benchmark."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--backbone", default="tiny", help="tiny, resnet18 or resnet50")
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--sequence-length", type=int, default=32)
    parser.add_argument("--embedding-dim", type=int, default=512)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    return parser


def run_per_backend(parser, measure, script):
    """Parses the options; in a child prints `measure(args)` and exits, else runs the children.

    Returns:
        `(args, [one measurement dict per backend])`.
    """
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args)))
        sys.exit(0)
    return args, _measure_per_backend(script, args, args.backends)


def _measure_per_backend(script, args, backends):
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
