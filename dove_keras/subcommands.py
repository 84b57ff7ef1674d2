"""Lazy argparse subcommands shared by the `dove` and `dove-data` command lines.

Each subcommand lives in a module defining `add_arguments(parser)` and
`run(args) -> int`; only the module of the command being run is imported, so
`--help` and light commands stay fast.
"""

import argparse
import contextlib
import importlib
import logging
import os
import sys

from dove_keras import errors
from dove_keras.backends import BACKENDS
from dove_keras.quiet import import_tensorflow_quietly


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
            _preselect_backend(argv)
            import_tensorflow_quietly()  # before the command's imports can load TensorFlow
            importlib.import_module(module_name).add_arguments(sub)
    return parser


def run_command(prog, description, commands, argv=None):
    """Parses `argv` and runs the chosen subcommand; returns its exit code.

    The library's log lines show while the command runs: information on
    stdout, warnings on stderr as `warning: ...`. A command's exception is
    printed as one `prog command: error: ...` line and gives the exit code of
    `dove_keras.errors` (1 a problem in the data or the run, 2 an unusable
    invocation, 130 interrupted). Argparse's own errors exit with 2.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(prog, description, commands, argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return errors.EXIT_USAGE
    try:
        with _library_messages_shown():
            return importlib.import_module(args._module).run(args) or errors.EXIT_OK
    except KeyboardInterrupt:
        print(f"{prog} {args.command}: interrupted; finished work is kept, run the same command "
              "to resume", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    except Exception as error:
        if os.environ.get(errors.TRACEBACK_VARIABLE) or not errors.is_reported(error):
            raise
        print(f"{prog} {args.command}: error: {errors.message(error)}", file=sys.stderr)
        return errors.exit_code(error)


class _CommandOutput(logging.Handler):
    """Prints the library's information on stdout and its warnings on stderr."""

    def emit(self, record):
        if record.levelno >= logging.WARNING:
            print(f"warning: {record.getMessage()}", file=sys.stderr)
        else:
            print(record.getMessage())


@contextlib.contextmanager
def _library_messages_shown():
    logger = logging.getLogger("dove_keras")
    handler, level = _CommandOutput(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _preselect_backend(argv):
    """Sets KERAS_BACKEND from a `--backend NAME` option before Keras loads (TensorFlow loads it).

    A process that already loaded Keras is left as it is: the command's own
    check reports the clash.
    """
    if "keras" in sys.modules:
        return
    for i, arg in enumerate(argv):
        name = argv[i + 1] if arg == "--backend" and i + 1 < len(argv) else arg.partition("=")[2]
        if (arg == "--backend" or arg.startswith("--backend=")) and name in BACKENDS:
            os.environ["KERAS_BACKEND"] = name
