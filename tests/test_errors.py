"""One error hierarchy: usage errors exit 2, data problems exit 1; the library never prints."""

import ast
import pathlib
import sys
import types

import pytest

from dove_keras import errors
from dove_keras.data.images import ImageError
from dove_keras.data.readers import DataFormatError
from dove_keras.geo.scenes import SceneError
from dove_keras.models.image_backbones import ImageBackboneError
from dove_keras.search.index_layout import SearchIndexError
from dove_keras.subcommands import run_command
from dove_keras.training.backup import BackupError
from dove_keras.training.config import ConfigError
from dove_keras.training.distribution import DistributionError

pytestmark = pytest.mark.backend_independent

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Where printing is the job: the command layer.
PRINTING = ("dove_keras/commands/", "dove_keras/cli.py", "dove_keras/subcommands.py")


@pytest.mark.parametrize("error_class, code", [
    (errors.UsageError, 2), (ConfigError, 2), (BackupError, 2), (DistributionError, 2), (SearchIndexError, 2),
    (SceneError, 2), (ImageBackboneError, 2), (errors.DataProblem, 1), (DataFormatError, 1), (ImageError, 1),
])
def test_each_error_class_has_one_branch_and_exit_code(error_class, code):
    error = error_class("x")
    assert isinstance(error, errors.DoveError) and isinstance(error, ValueError)
    assert isinstance(error, errors.UsageError) != isinstance(error, errors.DataProblem)
    assert errors.exit_code(error) == code and errors.is_reported(error)


def test_other_errors_keep_their_exit_codes():
    assert errors.exit_code(KeyboardInterrupt()) == 130
    assert errors.exit_code(ValueError("plain")) == 2
    assert errors.exit_code(FileNotFoundError("x")) == 2


def test_commands_show_the_library_log_lines(monkeypatch, capsys):
    import logging

    def run(args):
        logging.getLogger("dove_keras.training.runner").info("step %d", 3)
        logging.getLogger("dove_keras.search.query").warning("long query")
        raise ImageError("a.png: unreadable image")

    command = types.ModuleType("fake_command")
    command.add_arguments, command.run = (lambda parser: None), run
    monkeypatch.setitem(sys.modules, "fake_command", command)
    assert run_command("dove", "test", {"fake": ("fake_command", "help")}, ["fake"]) == 1
    out, err = capsys.readouterr()
    assert out == "step 3\n"
    assert err == "warning: long query\ndove fake: error: a.png: unreadable image\n"
    assert not logging.getLogger("dove_keras").handlers  # removed when the command ends


def _print_calls(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print"]


def test_library_modules_do_not_print():
    found = []
    for path in sorted((ROOT / "dove_keras").rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if not name.startswith(PRINTING):
            found += [f"{name}:{line}" for line in _print_calls(path)]
    assert found == [], "library code logs (logging) instead of printing"
