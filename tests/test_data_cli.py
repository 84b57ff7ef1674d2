"""`dove-data` and `dove`: every subcommand explains every option in --help."""

import argparse

import pytest

from data_tools import cli as data_cli
from dove_keras import cli as dove_cli
from dove_keras.subcommands import build_parser

pytestmark = pytest.mark.backend_independent

CLIS = {"dove-data": data_cli, "dove": dove_cli}


@pytest.mark.parametrize(
    "prog,command", [(prog, name) for prog, cli in CLIS.items() for name in sorted(cli.COMMANDS)]
)
def test_help_explains_every_option(prog, command, capsys):
    cli = CLIS[prog]
    parser = build_parser(prog, "", cli.COMMANDS, [command])
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    actions = [a for a in subparsers.choices[command]._actions if a.dest != "help"]
    assert actions
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    text = "".join(capsys.readouterr().out.split())  # argparse re-wraps, also at hyphens
    for action in actions:
        assert action.help and len(action.help) > 10, action.dest
        assert "".join(action.help.split("(")[0].split()) in text
        names = action.option_strings or [action.metavar or action.dest]
        assert any(name in text for name in names)


@pytest.mark.parametrize("prog", sorted(CLIS))
def test_no_command_prints_help(prog, capsys):
    assert CLIS[prog].main([]) == 2
    out = capsys.readouterr().out
    assert all(name in out for name in CLIS[prog].COMMANDS)
