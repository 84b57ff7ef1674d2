"""The command-line error convention of `dove` and `dove-data`.

Exit codes:
    0    success.
    1    a problem found in the data or in the run (e.g. `dove-data check`
         listed problems, a caption source is malformed, a parity check
         failed, a batch could not be read during training).
    2    an unusable invocation (a bad option or config value, a missing or
         wrong file, an incompatible output folder, a model that cannot be
         built here).
    130  interrupted (Ctrl-C); what was finished is kept.

Commands raise; `dove_keras.subcommands.run_command` prints one
`PROG COMMAND: error: ...` line and exits with the code. Set
`DOVE_TRACEBACK=1` to get the Python traceback instead.
"""

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
TRACEBACK_VARIABLE = "DOVE_TRACEBACK"


class DoveError(Exception):
    """The base of the errors dove_keras raises on purpose."""


class UsageError(DoveError, ValueError):
    """The invocation cannot be used as given (exit code 2).

    Also a `ValueError`, like every error of the hierarchy, so callers that
    catch `ValueError` keep working.
    """


class DataProblem(DoveError, ValueError):
    """A problem found in the data or the run (exit code 1)."""


def exit_code(error):
    """The exit code of an exception raised by a command."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, DataProblem) or _is_tensorflow_runtime_error(error):
        return EXIT_PROBLEM
    return EXIT_USAGE


def is_reported(error):
    """Whether `error` is reported as a one-line message (else it is a bug: a traceback)."""
    return isinstance(error, (DoveError, ValueError, OSError, RuntimeError)) or _is_tensorflow_runtime_error(error)


def message(error):
    """The one-line message of an exception (TensorFlow's op errors without their op trace)."""
    if _is_tensorflow_runtime_error(error):
        text = getattr(error, "message", str(error))
        return text.split("\n\t [[")[0].split("\n")[0].strip()
    return str(error).strip()


def _is_tensorflow_runtime_error(error):
    return type(error).__module__.startswith("tensorflow") and hasattr(error, "error_code")
