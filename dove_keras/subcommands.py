"""Lazy argparse subcommands shared by the `dove` and `dove-data` command lines.

Each subcommand lives in a module defining `add_arguments(parser)` and
`run(args) -> int`; only the module of the command being run is imported, so
`--help` and light commands stay fast.
"""

import argparse
import importlib
import sys


def build_parser(prog, description, commands, argv):
    """An `ArgumentParser` with one subparser per entry of `commands`.

    Args:
        prog: program name.
        description: program description.
        commands: dict name -> (module path, one-line help).
        argv: the arguments to be parsed (to import only the chosen module).
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in commands.items():
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(_module=module_name)
        if name in argv[:1]:
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def run_command(prog, description, commands, argv=None, handled_errors=()):
    """Parses `argv` and runs the chosen subcommand; returns its exit code.

    Exceptions of the `handled_errors` types are printed as one
    `prog command: error: ...` line and give exit code 1.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(prog, description, commands, argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return importlib.import_module(args._module).run(args) or 0
    except handled_errors as error:
        print(f"{prog} {args.command}: error: {error}", file=sys.stderr)
        return 1
