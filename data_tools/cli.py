"""The `dove-data` command line: one subcommand per module, imported only when used."""

import argparse
import importlib
import sys

# name -> (module, one-line help). Each module defines
# `add_arguments(parser)` and `run(args) -> int`.
COMMANDS = {
    "prepare": ("data_tools.prepare", "caption source + images -> TFRecord shards + manifest"),
    "vocab": (
        "data_tools.vocab",
        "build the vocabulary file (and a GloVe matrix) from training captions",
    ),
    "check": ("data_tools.check", "list every problem of a raw dataset or of prepared shards"),
    "dedup": ("data_tools.dedup", "find images shared by two folders (perceptual hash) -> CSV"),
}


def build_parser(argv):
    parser = argparse.ArgumentParser(
        prog="dove-data",
        description="Data tools for dove_keras: convert, check and de-duplicate "
        "remote-sensing image-caption datasets. Run `dove-data COMMAND --help`.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        if name in argv[:1]:
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def main(argv=None):
    """Runs `dove-data`; returns the exit code (errors in the data: 1)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return importlib.import_module(args._module).run(args) or 0
    except (ValueError, OSError) as error:
        print(f"dove-data {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
