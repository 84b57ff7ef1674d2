"""Process set-up happens where a process starts, not at `import dove_keras`."""

import os
import subprocess
import sys

import pytest

from data_tools import cli as data_cli
from dove_keras import cli
from dove_keras.backends import YNN_FUSIONS_FLAG


def test_import_leaves_xla_flags_unset():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    code = "import os, dove_keras; print(os.environ.get('XLA_FLAGS'))"
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "None"


@pytest.mark.parametrize("main", [cli.main, data_cli.main], ids=["dove", "dove-data"])
def test_entry_points_turn_ynn_fusions_off(main, monkeypatch, capsys):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    main([])  # no command: prints the help
    assert os.environ["XLA_FLAGS"] == f"{YNN_FUSIONS_FLAG}="


def test_entry_point_keeps_the_users_setting(monkeypatch, capsys):
    monkeypatch.setenv("XLA_FLAGS", f"--xla_force_host_platform_device_count=2 {YNN_FUSIONS_FLAG}=dot")
    cli.main([])
    assert os.environ["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=2 {YNN_FUSIONS_FLAG}=dot"
