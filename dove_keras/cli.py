"""The `dove` command line: one subcommand per module, imported only when used."""

import argparse
import importlib
import sys

# name -> (module, one-line help). Each module defines
# `add_arguments(parser)` and `run(args) -> int`.
COMMANDS = {
    "train": ("dove_keras.commands.train", "train DOVE from an experiment config (resumes if interrupted)"),
    "evaluate": ("dove_keras.commands.evaluate", "R@1/5/10 and mR of saved weights on a split"),
    "demo": ("dove_keras.commands.demo", "generate scenes, train a small DOVE on CPU, show test recalls and examples"),
    "export": ("dove_keras.commands.export", "TensorFlow SavedModel with raw image/text endpoints and ROAM score"),
    "search": ("dove_keras.commands.search", "index a folder of images, query it with text (two-stage, ROAM re-ranking)"),
    "compare-backends": ("dove_keras.commands.compare_backends", "same config, weights and batches on tensorflow, jax and torch: times, memory, losses"),
}


def build_parser(argv):
    parser = argparse.ArgumentParser(
        prog="dove",
        description="DOVE remote-sensing image-text retrieval (Keras 3).",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        if name in argv[:1]:  # import only the subcommand being run
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    return importlib.import_module(args._module).run(args) or 0


if __name__ == "__main__":
    sys.exit(main())
