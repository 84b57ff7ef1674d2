"""`dove-data`: every subcommand explains every option in --help."""

import argparse

import pytest

from data_tools.cli import COMMANDS
from data_tools.cli import build_parser
from data_tools.cli import main


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_explains_every_option(command, capsys):
    parser = build_parser([command])
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    actions = [a for a in subparsers.choices[command]._actions if a.dest != "help"]
    assert actions
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for action in actions:
        assert action.help and len(action.help) > 10, action.dest
        assert " ".join(action.help.split()).split("(")[0].strip() in text
        assert any(option in text for option in action.option_strings or [action.dest])


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)
