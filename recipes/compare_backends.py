"""Compare TensorFlow, JAX and PyTorch on one small DOVE run (same as `dove compare-backends`).

    python recipes/compare_backends.py
    python recipes/compare_backends.py --steps 10 --backends tensorflow jax
"""

import argparse
import sys

from dove_keras.commands import compare_backends


def main(argv=None):
    parser = argparse.ArgumentParser(prog="recipes/compare_backends.py")
    compare_backends.add_arguments(parser)
    return compare_backends.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
