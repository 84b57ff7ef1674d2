"""Evaluate saved DOVE weights on a split (same as `dove evaluate`).

    python recipes/evaluate.py --config recipes/configs/rsitmd.yaml --weights dove_runs/rsitmd/best.weights.h5
"""

import argparse
import sys

from dove_keras.commands import evaluate


def main(argv=None):
    parser = argparse.ArgumentParser(prog="recipes/evaluate.py")
    evaluate.add_arguments(parser)
    return evaluate.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
