"""An export of an older format is refused with one line: re-export it."""

import json

import pytest

from dove_keras import cli
from dove_keras.errors import UsageError
from dove_keras.export import read_metadata
from dove_keras.export.metadata import FORMAT_VERSION
from dove_keras.export.metadata import METADATA_FILE


def _fake_export(folder, version):
    """The files `read_metadata` looks at, for an export of format `version`."""
    folder.mkdir()
    (folder / "saved_model.pb").write_bytes(b"")
    (folder / METADATA_FILE).parent.mkdir(parents=True)
    (folder / METADATA_FILE).write_text(json.dumps({"format_version": version}))
    return folder


def test_an_export_of_format_2_asks_for_a_re_export(tmp_path, capsys):
    assert FORMAT_VERSION == 3
    old = _fake_export(tmp_path / "old", 2)
    with pytest.raises(UsageError, match=r"old: an export of an older dove_keras \(format 2.*re-export"):
        read_metadata(old)
    images = tmp_path / "images"
    images.mkdir()
    code = cli.main(["search", "index", "--model", str(old), "--images", str(images), "--out", str(tmp_path / "x")])
    error = capsys.readouterr().err.strip()
    assert code == 2 and len(error.splitlines()) == 1 and error.endswith("re-export with dove export")
    assert not (tmp_path / "x").exists()


def test_a_newer_export_is_refused_too(tmp_path):
    with pytest.raises(ValueError, match="format_version 4"):
        read_metadata(_fake_export(tmp_path / "new", 4))
