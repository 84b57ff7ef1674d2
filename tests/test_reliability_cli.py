"""Issue 23, the hostile-user probe: nothing lost, nothing silent, one clear line (CLI side)."""

import json
import os
import shutil
import stat

import h5py
import keras
import numpy as np
import pytest
from PIL import Image
from search_fixtures import saved_small_model
from training_fixtures import make_prepared
from training_fixtures import tiny_config

from data_tools.cli import main as data_main
from dove_keras import cli
from dove_keras.data.images import ImageError
from dove_keras.data.images import load_image
from dove_keras.errors import UsageError
from dove_keras.models.presets import save_preset
from dove_keras.training import save_config
from dove_keras.training.backup import ResumableBackup
from dove_keras.training.run_folder import check_run_folder
from dove_keras.training.run_folder import is_resumable
from dove_keras.training.run_folder import record_inputs

ONE_BACKEND = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="file routing is the same on every backend; evaluation itself is tested per backend",
)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("probe")
    make_prepared(str(root))
    return str(root)


def _finished_run(data_root, folder):
    """A run folder with its config and result files (what evaluate could overwrite)."""
    folder.mkdir()
    config = folder / "config.yaml"
    save_config(tiny_config(data_root, folder), config)
    (folder / "preset").mkdir()
    files = {"results_test_roam.csv": "run's own", "results_test_roam.md": "run's own",
             "examples_test.png": "run's own"}
    for name, text in files.items():
        (folder / name).write_text(text)
    return config, files


# 1. Data loss: evaluating another model with a run's config.
def test_item01_another_preset_never_overwrites_the_runs_results(data_root, tmp_path, capsys):
    config, files = _finished_run(data_root, tmp_path / "run")
    _, _, other = saved_small_model()
    argv = ["evaluate", "--config", str(config), "--preset", str(other), "--quiet"]
    assert cli.main(argv) == 2
    assert "is not a model of the run" in capsys.readouterr().err
    assert cli.main([*argv, "--output", str(tmp_path / "run")]) == 2
    assert {name: (tmp_path / "run" / name).read_text() for name in files} == files


@ONE_BACKEND
def test_item01_another_presets_results_go_to_output(data_root, tmp_path):
    config, files = _finished_run(data_root, tmp_path / "run")
    _, _, other = saved_small_model()
    argv = ["evaluate", "--config", str(config), "--preset", str(other), "--quiet", "--mode", "global"]
    assert cli.main([*argv, "--output", str(tmp_path / "other")]) == 0
    assert {name: (tmp_path / "run" / name).read_text() for name in files} == files
    table = (tmp_path / "other" / "results_test_global.csv").read_text()
    assert str(other) in table and (tmp_path / "other" / "examples_test.png").is_file()


# 2. Data loss: `dove-data vocab --output` over an existing file or the source's own files.
@pytest.mark.backend_independent
def test_item02_vocab_refuses_existing_outputs_and_the_sources_own_files(data_root, tmp_path, capsys):
    prepared = f"{data_root}/prepared"
    manifest = f"{prepared}/manifest.json"
    before = open(manifest).read()
    for extra in ([], ["--overwrite"]):
        assert data_main(["vocab", prepared, "--output", manifest, *extra]) == 2
        assert "is a file of the source" in capsys.readouterr().err
    assert open(manifest).read() == before
    existing = tmp_path / "vocab.txt"
    existing.write_text("mine\n")
    assert data_main(["vocab", prepared, "--output", str(existing)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert existing.read_text() == "mine\n"
    assert data_main(["vocab", prepared, "--output", str(existing), "--overwrite"]) == 0
    assert "square" in existing.read_text().split()


@pytest.mark.backend_independent
def test_item02_check_names_a_damaged_manifest(data_root, tmp_path, capsys):
    copy = tmp_path / "prepared"
    shutil.copytree(f"{data_root}/prepared", copy)
    (copy / "manifest.json").write_text("red\nsquare\n")
    assert data_main(["check", str(copy)]) == 1
    out = capsys.readouterr().out
    assert f"{copy / 'manifest.json'}: damaged" in out


# 3. Tracebacks: weights files damaged inside, their HDF5 header intact.
def _damage_inside(weights):
    """Overwrites the object header of the file's first array; the file still opens."""
    with h5py.File(weights, "r") as f:
        names = []
        f.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
        address = h5py.h5o.get_info(f[names[0]].id).addr
    data = bytearray(weights.read_bytes())
    data[address:address + 32] = bytes(b ^ 0xFF for b in data[address:address + 32])
    weights.write_bytes(bytes(data))
    h5py.File(weights, "r").close()


class _Tiny(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


def test_item03_a_backup_damaged_inside_is_skipped_with_one_warning(tmp_path, caplog):
    model = _Tiny()
    model(np.zeros((1, 3), "float32"))
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    backup = ResumableBackup(str(tmp_path / "backup"))
    backup.set_model(model)
    backup._save(1, 0)
    backup._save(1, 3)
    _damage_inside(tmp_path / "backup" / "epoch00001-batch0000003" / "model.weights.h5")
    assert ResumableBackup.latest(tmp_path / "backup").position == (1, 0)
    assert ResumableBackup.restore(model, ResumableBackup.latest(tmp_path / "backup")) == (1, 0)
    warnings = [r for r in caplog.records if "skipping a damaged backup" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelname == "WARNING"  # the commands print it on stderr


def test_item03_a_preset_damaged_inside_is_one_line_naming_the_file(tmp_path, capsys):
    _, _, preset = saved_small_model()
    copy = tmp_path / "preset"
    shutil.copytree(preset, copy)
    _damage_inside(copy / "model.weights.h5")
    assert cli.main(["export", "--preset", str(copy), "--out", str(tmp_path / "export")]) == 2
    err = capsys.readouterr().err
    assert f"{copy / 'model.weights.h5'}: damaged" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "export").exists()


# 4. Silent: dedup of missing folders, a file given as a folder, a negative distance.
@pytest.mark.backend_independent
def test_item04_dedup_refuses_what_it_cannot_compare(data_root, tmp_path, capsys):
    images = f"{data_root}/images"
    out = tmp_path / "d.csv"
    (tmp_path / "empty").mkdir()
    cases = [
        ([str(tmp_path / "missing"), images], 2, "missing: not found"),
        ([f"{images}/train_0.png", images], 2, "train_0.png: not a folder"),
        ([images, str(tmp_path / "empty")], 1, "empty: no images found"),
        ([images, images, "--max-distance", "-3"], 2, "--max-distance must be in [0, 64]"),
    ]
    for folders, code, message in cases:
        assert data_main(["dedup", *folders, "--output", str(out)]) == code
        assert message in capsys.readouterr().err
    assert not out.exists()


# 5. Stale: resuming after the vocabulary's content changed (same path, same size).
@pytest.mark.backend_independent
def test_item05_a_changed_vocabulary_content_is_refused_on_resume(data_root, tmp_path, capsys):
    vocabulary = tmp_path / "vocab.txt"
    words = open(f"{data_root}/vocab.txt").read().splitlines()
    vocabulary.write_text("\n".join(words) + "\n")
    config = tiny_config(data_root, tmp_path / "run", data={"vocabulary": str(vocabulary)})
    (tmp_path / "run" / "backup").mkdir(parents=True)
    save_config(config, tmp_path / "run" / "config.yaml")
    record_inputs(config)
    check_run_folder(config)  # unchanged: resumes
    vocabulary.write_text("\n".join(reversed(words)) + "\n")
    with pytest.raises(UsageError, match=r"interrupted run of another config \(different: "
                       r"data.vocabulary \(its content\)\); resume it"):
        check_run_folder(config)
    assert not is_resumable(config)
    shutil.rmtree(tmp_path / "run" / "backup")
    (tmp_path / "run" / "model.keras").write_text("finished")
    with pytest.raises(UsageError, match=r"a finished run .*; evaluate it with its own config"):
        check_run_folder(config)



# 10. Misleading: a missing preset folder, an hf:// preset offline.
def test_item10_a_missing_or_offline_preset_is_one_line(tmp_path, capsys, monkeypatch):
    from dove_keras.models import DOVERetriever

    missing = tmp_path / "presets" / "missing"
    assert cli.main(["export", "--preset", str(missing), "--out", str(tmp_path / "export")]) == 2
    assert capsys.readouterr().err.strip().endswith(f"preset folder not found: {missing}")
    with pytest.raises(ValueError, match="^preset folder not found: presets/missing$"):
        DOVERetriever.from_preset("presets/missing")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    with pytest.raises(ValueError, match="offline .*HF_HUB_OFFLINE.* nothing is downloaded"):
        DOVERetriever.from_preset("hf://nobody/dove-preset")


# 12. Misleading: a prepare that failed before its first shard does not block the fixed source.
@pytest.mark.backend_independent
def test_item12_a_failed_prepare_does_not_block_the_next_one(tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        Image.fromarray(np.full((8, 8, 3), 40 * i, np.uint8)).save(images / f"{i}.png")
    (images / "0.png").write_bytes(b"not a png")

    def source(names):
        path = tmp_path / "dataset_x.json"
        path.write_text(json.dumps({"images": [
            {"filename": name, "split": "train", "sentences": [{"raw": "a b"}] * 5} for name in names]}))
        return str(path)

    argv = ["--images", str(images), "--output", str(tmp_path / "out")]
    assert data_main(["prepare", source(["0.png", "1.png", "2.png"]), *argv]) != 0
    capsys.readouterr()
    assert data_main(["prepare", source(["1.png", "2.png"]), *argv]) == 0
    assert "different prepare run" not in capsys.readouterr().err
    assert (tmp_path / "out" / "manifest.json").is_file()


# 14. Folders the project creates follow the umask (a preset is readable by others under 022).
class _PresetWriter:
    def save_to_preset(self, folder):
        with open(os.path.join(folder, "task.json"), "w") as f:
            f.write("{}")


@pytest.mark.backend_independent
def test_item14_a_saved_preset_folder_follows_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        path = save_preset(_PresetWriter(), tmp_path / "run" / "preset")
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(tmp_path / "run").st_mode) == 0o755


# 13. Smaller messages.
def test_item13_weights_of_another_model_are_one_line(data_root, tmp_path, capsys):
    config, _ = _finished_run(data_root, tmp_path / "run")
    other = _Tiny()
    other(np.zeros((1, 3), "float32"))
    other.save_weights(tmp_path / "other.weights.h5")
    assert cli.main(["evaluate", "--config", str(config), "--weights", str(tmp_path / "other.weights.h5"),
                     "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "other.weights.h5: not weights of this config's model" in err and len(err.splitlines()) == 1


@pytest.mark.backend_independent
def test_item13_missing_data_sources_are_usage_errors(tmp_path, capsys):
    missing = str(tmp_path / "missing")
    for argv in (["check", missing], ["vocab", missing, "--output", str(tmp_path / "v.txt")],
                 ["prepare", missing, "--images", str(tmp_path), "--output", str(tmp_path / "out")]):
        assert data_main(argv) == 2
        assert f"{missing}: not found" in capsys.readouterr().err


@pytest.mark.backend_independent
def test_item13_an_undecodable_tiff_says_what_to_do(tmp_path):
    rasterio = pytest.importorskip("rasterio")
    values = np.arange(6 * 7 * 3, dtype=np.float32).reshape(3, 6, 7)
    with rasterio.open(tmp_path / "float.tif", "w", driver="GTiff", width=7, height=6, count=3,
                       dtype="float32") as tiff:
        tiff.write(values)
    with pytest.raises(ImageError, match=r"a TIFF Pillow cannot decode.*floating-point colour.*gdal_translate"):
        load_image(tmp_path / "float.tif")
