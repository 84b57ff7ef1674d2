"""Train DOVE from an experiment config (same as `dove train`).

    python recipes/train.py --config recipes/configs/rsitmd.yaml
    python recipes/train.py --config recipes/configs/synthetic.yaml --set training.epochs=2
"""

import argparse
import sys

from dove_keras.commands import train


def main(argv=None):
    parser = argparse.ArgumentParser(prog="recipes/train.py")
    train.add_arguments(parser)
    return train.run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
