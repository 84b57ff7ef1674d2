"""The defects of the hostile-user probe: each item's reproduction, now refused or handled clearly."""

import json
import os
import shutil
import stat
import time

import keras
import numpy as np
import pytest
from PIL import Image
from search_fixtures import encode
from search_fixtures import picture
from search_fixtures import saved_small_model
from search_fixtures import write_image_folder
from training_fixtures import make_prepared
from training_fixtures import tiny_config

from data_tools.check import check_prepared
from data_tools.cli import main as data_main
from dove_keras import cli
from dove_keras.data import prepare as prepare_module
from dove_keras.data.images import ImageError
from dove_keras.data.images import list_images
from dove_keras.data.images import load_image
from dove_keras.data.prepare import long_caption_warning
from dove_keras.data.prepare import prepare
from dove_keras.data.readers import read_lines
from dove_keras.search import ImageFolder
from dove_keras.search import ImageIndex
from dove_keras.search import build_index
from dove_keras.search import load_encoder
from dove_keras.training import ConfigError
from dove_keras.training import load_config
from dove_keras.training import save_config
from dove_keras.training.backup import BackupError
from dove_keras.training.backup import ResumableBackup
from dove_keras.training.run_folder import check_run_folder
from dove_keras.training.run_folder import remove_run

BACKEND = keras.backend.backend()
EXPORT_ONLY_ON_TENSORFLOW = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="the export's graph is TensorFlow's on every backend"
)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability")
    make_prepared(str(root))
    return str(root)


@pytest.fixture(scope="module")
def dove_export_dir(tmp_path_factory):
    """The small search model, exported once."""
    from dove_keras.export import export_saved_model

    model, _, _ = saved_small_model()
    path = tmp_path_factory.mktemp("export") / "export"
    export_saved_model(model, path)
    return path


@pytest.fixture(scope="module")
def dove_export(dove_export_dir):
    """The export loaded as TensorFlow sees it."""
    import tensorflow as tf

    return tf.saved_model.load(str(dove_export_dir))


def _images(folder, count):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")


def _karpathy(path, images):
    path.write_text(json.dumps({"images": [
        {"filename": name, "split": split, "sentences": [{"raw": c} for c in captions]}
        for name, split, captions in images]}))
    return path


# 1. Data loss: a finished run.
def test_item01_a_finished_run_is_refused_and_overwrite_replaces_it_whole(data_root, tmp_path, capsys):
    config = tiny_config(data_root, tmp_path / "run")
    run = tmp_path / "run"
    run.mkdir()
    save_config(config, run / "config.yaml")
    for name in ("model.keras", "best.weights.h5", "history.csv", "results_test_roam.csv"):
        (run / name).write_text("old run")
    (run / "notes.txt").write_text("the user's own file")
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    path = tmp_path / "config.yaml"
    save_config(config, path)
    assert cli.main(["train", "--config", str(path)]) == 2
    assert "holds a finished run of this config" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before  # nothing touched
    remove_run(str(run))  # what --overwrite does once the model is built
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


# 2. Data loss: export --overwrite.
def test_item02_export_overwrite_replaces_only_an_export(tmp_path, capsys):
    _, _, preset = saved_small_model()
    folder = tmp_path / "out"
    (folder / "keep").mkdir(parents=True)
    (folder / "notes.txt").write_text("notes")
    (folder / "keep" / "data.txt").write_text("data")
    assert cli.main(["export", "--preset", str(preset), "--out", str(folder), "--overwrite"]) == 2
    assert "is not an export of dove_keras" in capsys.readouterr().err
    assert (folder / "notes.txt").read_text() == "notes" and (folder / "keep" / "data.txt").exists()


# 3. Stale: prepare after an image changed.
@pytest.mark.backend_independent
def test_item03_prepare_rewrites_the_shard_of_a_changed_image_and_check_reports_it(tmp_path):
    images = tmp_path / "images"
    _images(images, 4)
    source = _karpathy(tmp_path / "dataset_x.json", [(f"{i}.png", "train", ["a b"] * 5) for i in range(4)])
    out = tmp_path / "out"
    prepare(source, images, out, shard_size=2, progress=False)
    first, second = sorted(out.glob("train-*.tfrecord"))
    kept = second.read_bytes()
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(images / "1.png")
    os.utime(images / "1.png", ns=(time.time_ns(), time.time_ns() + 10**9))
    problems = check_prepared(out, progress=False)
    assert len(problems) == 1 and "1.png changed since it was prepared" in problems[0]
    old = first.read_bytes()
    prepare(source, images, out, shard_size=2, progress=False)
    assert first.read_bytes() != old and second.read_bytes() == kept  # only the changed shard
    assert check_prepared(out, progress=False) == []


# 4. Stale: search index after files were replaced or deleted.
def test_item04_index_reembeds_changed_files_and_drops_removed_ones(tmp_path):
    model, _, _ = saved_small_model()
    encoder = load_encoder(model)
    folder = tmp_path / "pictures"
    write_image_folder(folder, count=5)
    out = tmp_path / "index"
    build_index(encoder, ImageFolder(folder), out, batch_size=4, progress=False)
    before = ImageIndex(out).features([0])["global"]
    os.remove(folder / "b" / "img01.jpg")
    first = ImageIndex(out).table["path"].iloc[0]
    shutil.copy(folder / "b" / "img03.png", folder / first)  # a new picture under the old name
    os.utime(folder / first, ns=(time.time_ns(), time.time_ns() + 10**9))
    summary = build_index(encoder, ImageFolder(folder), out, batch_size=4, progress=False)
    assert (summary["changed"], summary["removed"], summary["new"], summary["images"]) == (1, 1, 1, 4)
    index = ImageIndex(out)
    assert "b/img01.jpg" not in index.table["path"].tolist()
    row = index.table["path"].tolist().index("b/img03.png")
    np.testing.assert_allclose(index.features([0])["global"], index.features([row])["global"], atol=1e-5)
    assert not np.allclose(index.features([0])["global"], before)


# 5. Stale: config ranges.
@pytest.mark.parametrize("section, key, value, message", [
    ("loss", "margin", -0.2, "loss.margin must be positive"),
    ("loss", "lambda_global", -1.0, "loss.lambda_global must be >= 0"),
    ("optimizer", "decay_rate", 1.5, r"optimizer.decay_rate must be in \(0, 1\]"),
])
def test_item05_config_refuses_ranges_that_train_to_nothing(data_root, tmp_path, section, key, value, message):
    path = tmp_path / "config.yaml"
    save_config(tiny_config(data_root, tmp_path / "run"), path)
    with pytest.raises(ConfigError, match=message):
        load_config(path, overrides={f"{section}.{key}": str(value)})


# 6. Stale: leaks and short evaluation images.
@pytest.mark.backend_independent
def test_item06_prepare_lists_leaks_and_short_evaluation_images(tmp_path):
    images = tmp_path / "images"
    _images(images, 3)
    source = _karpathy(tmp_path / "dataset_x.json", [
        ("0.png", "train", ["a b"] * 5), ("0.png", "test", ["a b"] * 5),
        ("1.png", "test", ["a b"] * 4), ("2.png", "val", ["a b"] * 5),
    ])
    with pytest.raises(ValueError) as error:
        prepare(source, images, tmp_path / "out", progress=False)
    message = str(error.value)
    assert "0.png is in train and test (a train/test leak" in message
    assert "test image 1 (1.png) has 4 captions, expected 5" in message
    assert not (tmp_path / "out").exists()
    prepare(source, images, tmp_path / "out", allow_split_overlap=True, captions_per_image=0, progress=False)


# 7. Smaller items.
@pytest.mark.backend_independent
def test_item07_symlinked_folders_are_followed_once(tmp_path):
    _images(tmp_path / "real", 2)
    (tmp_path / "top").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "top" / "linked")
    os.symlink(tmp_path / "top", tmp_path / "top" / "loop")  # a link back up: no endless walk
    assert list_images(tmp_path / "top") == ["linked/0.png", "linked/1.png"]


@pytest.mark.backend_independent
def test_item07_search_index_takes_the_image_size_from_the_model(capsys):
    with pytest.raises(SystemExit):
        cli.main(["search", "index", "--help"])
    assert "--image-size" not in capsys.readouterr().out


@EXPORT_ONLY_ON_TENSORFLOW
def test_item07_negative_token_ids_are_refused(dove_export):
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)token ids must be in \[0, 40\).*\[\[0 1\]\]"):
        dove_export.encode_text(tf.constant([[2, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]], tf.int32))


@pytest.mark.backend_independent
def test_item07_prepare_counts_caption_words_for_the_long_caption_warning(tmp_path):
    _images(tmp_path / "images", 2)
    source = _karpathy(tmp_path / "dataset_x.json", [
        ("0.png", "train", ["a b", "A, b c!", "a b c d e", "a", "a b"]),
        ("1.png", "train", ["a b c d e f", "a b", "a", "a", "a"]),
    ])
    manifest = prepare(source, tmp_path / "images", tmp_path / "out", progress=False)
    assert manifest["splits"]["train"]["caption_words"] == {"1": 4, "2": 3, "3": 1, "5": 1, "6": 1}
    assert long_caption_warning(manifest, "train", 3) == (
        "2 of 10 train captions have more than 3 words (the longest 6); "
        "the model reads the first 3 (data.sequence_length)"
    )
    assert long_caption_warning(manifest, "train", 6) is None


def test_item07_long_queries_warn(tmp_path, caplog):
    from dove_keras.search import Searcher

    model, _, _ = saved_small_model(length=12)
    encoder = load_encoder(model)
    write_image_folder(tmp_path / "pictures", count=2)
    build_index(encoder, ImageFolder(tmp_path / "pictures"), tmp_path / "index", batch_size=4, progress=False)
    Searcher(ImageIndex(tmp_path / "index"), encoder).search(" ".join(["w3"] * 20), k=1)
    assert "the query has 20 words; the model reads the first 12" in caplog.text


# 8. Tracebacks: damaged backups.
class _Tiny(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(2)

    def call(self, x):
        return self.dense(x)


def _backed_up_model(tmp_path):
    model = _Tiny()
    model(np.zeros((1, 3), "float32"))
    model.compile(optimizer="adam", loss="mse")
    backup = ResumableBackup(str(tmp_path / "backup"))
    backup.set_model(model)
    backup._save(1, 0)
    backup._save(1, 3)
    return model


def test_item08_a_damaged_newest_backup_falls_back_to_the_one_before(tmp_path, caplog):
    model = _backed_up_model(tmp_path)
    newest = tmp_path / "backup" / "epoch00001-batch0000003"
    weights = newest / "model.weights.h5"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    assert ResumableBackup.latest(tmp_path / "backup").position == (1, 0)
    assert "skipping a damaged backup" in caplog.text
    assert ResumableBackup.restore(model, ResumableBackup.latest(tmp_path / "backup")) == (1, 0)
    (tmp_path / "backup" / "epoch00001-batch0000000" / "state.json").write_text('{"epoch": 1')
    with pytest.raises(BackupError, match=r"no backup can be resumed from \(.*JSONDecodeError.*delete"):
        ResumableBackup.latest(tmp_path / "backup")


# 9. Tracebacks: resuming with another config.
def test_item09_resuming_with_another_config_lists_the_keys_and_writes_nothing(data_root, tmp_path):
    config = tiny_config(data_root, tmp_path / "run")
    (tmp_path / "run" / "backup").mkdir(parents=True)
    save_config(config, tmp_path / "run" / "config.yaml")
    saved = (tmp_path / "run" / "config.yaml").read_text()
    changed = tiny_config(data_root, tmp_path / "run", model={"embedding_dim": 32}, training={"epochs": 3})
    with pytest.raises(ValueError, match=r"another config \(different: model.embedding_dim, training.epochs\)"):
        check_run_folder(changed)
    assert (tmp_path / "run" / "config.yaml").read_text() == saved
    check_run_folder(config)  # the same config resumes


# 10. Tracebacks: one-line errors with the documented exit codes.
def test_item10_run_time_errors_are_one_line(data_root, tmp_path, capsys):
    path = tmp_path / "config.yaml"
    save_config(tiny_config(data_root, tmp_path / "run"), path)
    assert cli.main(["train", "--config", str(path), "--set", "training.epochs=[1"]) == 2
    err = capsys.readouterr().err
    assert "training.epochs=[1: the value is not valid YAML" in err and "Traceback" not in err
    empty = tmp_path / "empty_vocab.txt"
    empty.write_text("")
    assert cli.main(["train", "--config", str(path), "--set", f"data.vocabulary={empty}"]) == 2
    assert "empty vocabulary" in capsys.readouterr().err
    assert cli.main(["train", "--config", str(path), "--set", f"data.prepared_dir={tmp_path}"]) == 2
    assert "manifest.json: not found" in capsys.readouterr().err
    assert cli.main(["train", "--config", str(path), "--set", "training.batch_size=1000"]) == 2
    assert "fewer than one batch of 1000" in capsys.readouterr().err


@pytest.mark.backend_independent
def test_item10_ctrl_c_during_prepare_is_one_line(tmp_path, capsys, monkeypatch):
    images = tmp_path / "images"
    _images(images, 2)
    source = _karpathy(tmp_path / "dataset_x.json", [(f"{i}.png", "train", ["a b"] * 5) for i in range(2)])

    def interrupted(path):
        raise KeyboardInterrupt

    monkeypatch.setattr(prepare_module, "load_image", interrupted)
    code = data_main(["prepare", str(source), "--images", str(images), "--output", str(tmp_path / "out")])
    assert code == 130
    err = capsys.readouterr().err
    assert "interrupted; finished work is kept, run the same command to resume" in err and "Traceback" not in err


# 11. Unclear messages of `dove-data check`.
@pytest.mark.backend_independent
def test_item11_check_names_an_unfinished_prepare(tmp_path, capsys):
    images = tmp_path / "images"
    _images(images, 2)
    source = _karpathy(tmp_path / "dataset_x.json", [(f"{i}.png", "train", ["a b"] * 5) for i in range(2)])
    prepare(source, images, tmp_path / "out", progress=False)
    os.remove(tmp_path / "out" / "manifest.json")
    assert data_main(["check", str(tmp_path / "out")]) == 1
    assert "an unfinished `dove-data prepare`" in capsys.readouterr().out


@pytest.mark.backend_independent
def test_item11_byte_order_marks_and_empty_images(tmp_path):
    listing = tmp_path / "test_filename.txt"
    listing.write_bytes(b"\xef\xbb\xbfa.png\nb.png\n")
    assert read_lines(listing) == ["a.png", "b.png"]
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.png: empty file \(0 bytes\)"):
        load_image(tmp_path / "empty.png")


@pytest.mark.backend_independent
def test_item11_a_damaged_shard_is_reported_once(tmp_path):
    images = tmp_path / "images"
    _images(images, 6)
    source = _karpathy(tmp_path / "dataset_x.json", [(f"{i}.png", "train", ["a b"] * 5) for i in range(6)])
    prepare(source, images, tmp_path / "out", shard_size=2, progress=False)
    shard = sorted((tmp_path / "out").glob("train-*.tfrecord"))[0]
    shard.write_bytes(shard.read_bytes()[:-30])  # truncated
    problems = check_prepared(tmp_path / "out", progress=False)
    assert len([p for p in problems if "damaged shard" in p]) == 1
    assert not [p for p in problems if "image_id" in p]  # no knock-on lines


# 12. Exported endpoints name the batch item.
@EXPORT_ONLY_ON_TENSORFLOW
def test_item12_endpoints_name_the_bad_batch_item(dove_export):
    import tensorflow as tf

    png = tf.io.encode_png(np.zeros((8, 8, 3), np.uint8)).numpy()
    jpeg = tf.io.encode_jpeg(np.zeros((8, 8, 3), np.uint8)).numpy()
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)truncated.*\b1\b"):
        dove_export.embed_images(tf.constant([png, jpeg[:-40]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)empty caption.*batch indices.*\b2\b"):
        dove_export.embed_texts(tf.constant(["w2", "w3", "?!"]))


# 13. TIFF and 16-bit images, at the export and in the library.
@EXPORT_ONLY_ON_TENSORFLOW
def test_item13_tiff_pixels_give_the_embeddings_of_the_same_png(dove_export, tmp_path):
    import tensorflow as tf

    array = picture(4, 40, 50)
    Image.fromarray(array).save(tmp_path / "scene.tif")
    pixels = load_image(tmp_path / "scene.tif")
    np.testing.assert_array_equal(pixels, array)
    from_tiff = dove_export.embed_pixels(tf.constant(pixels[None], tf.float32))
    from_png = dove_export.embed_images(tf.constant([encode(array, "PNG")]))
    for key, value in from_png.items():
        np.testing.assert_allclose(from_tiff[key].numpy(), value.numpy(), atol=1e-4, err_msg=key)
    tiff = (tmp_path / "scene.tif").read_bytes()
    with pytest.raises(tf.errors.InvalidArgumentError, match="TIFF is not decoded in the graph.*embed_pixels"):
        dove_export.embed_images(tf.constant([tiff]))


@EXPORT_ONLY_ON_TENSORFLOW
def test_item13_sixteen_bit_data_is_refused_at_the_export_with_the_stretch_named(dove_export):
    import tensorflow as tf

    grey16 = encode((np.arange(64 * 64).reshape(64, 64) * 15).astype(np.uint16), "PNG")
    colour16 = tf.io.encode_png(np.full((8, 8, 3), 4000, np.uint16)).numpy()
    png8 = encode(picture(5, 16, 16), "PNG")
    for png16 in (grey16, colour16):
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"(?s)16-bit PNGs.*dove_keras.preprocessing.stretch.*embed_pixels.*\[1\]"):
            dove_export.embed_images(tf.constant([png8, png16]))
    pixels = np.full((3, 20, 20, 3), 128.0, np.float32)
    pixels[1, 0, 0, 0], pixels[2, 5, 5, 1] = 4000.0, np.nan
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"(?s)pixel values must be finite and in \[0, 255\]"
                             r".*dove_keras.preprocessing.stretch.*\[1 2\]"):
        dove_export.embed_pixels(tf.constant(pixels))
    rounded = np.full((1, 20, 20, 3), 255.3, np.float32)  # a resize's rounding is accepted
    assert dove_export.embed_pixels(tf.constant(rounded))["fused"].shape == (1, 16)


def test_item13_sixteen_bit_grey_png_and_tiff_load_as_the_same_stretched_array(tmp_path):
    values = np.linspace(1000, 3000, 30 * 40).reshape(30, 40).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "grey.png")
    Image.fromarray(values).save(tmp_path / "grey.tif")
    Image.fromarray(values).save(tmp_path / "grey_lzw.tif", compression="tiff_lzw")
    png, tiff, lzw = (load_image(tmp_path / name) for name in ("grey.png", "grey.tif", "grey_lzw.tif"))
    np.testing.assert_array_equal(png, tiff)
    np.testing.assert_array_equal(png, lzw)
    low, high = np.percentile(values, (2, 98))
    expected = np.rint(np.clip((values - low) * 255 / (high - low), 0, 255)).astype(np.uint8)
    np.testing.assert_array_equal(png, np.repeat(expected[..., None], 3, axis=-1))
    model, _, _ = saved_small_model()
    with pytest.raises(ValueError, match="got uint16 pixels; stretch 16-bit data to 8 bits first"):
        model.preprocessor.image_converter(values[..., None].repeat(3, -1))


@pytest.mark.backend_independent
def test_item13_sixteen_bit_colour_png_and_tiff_are_refused_alike(tmp_path):
    import tensorflow as tf

    rasterio = pytest.importorskip("rasterio")
    values = (np.arange(6 * 7 * 3).reshape(6, 7, 3) * 900).astype(np.uint16)
    (tmp_path / "colour.png").write_bytes(tf.io.encode_png(values).numpy())
    with rasterio.open(tmp_path / "colour.tif", "w", driver="GTiff", width=7, height=6, count=3, dtype="uint16",
                       photometric="RGB", transform=rasterio.Affine(1, 0, 0, 0, -1, 6)) as tiff:
        tiff.write(values.transpose(2, 0, 1))
    for name in ("colour.png", "colour.tif"):
        with pytest.raises(ImageError, match=rf"{name}: 16-bit colour image .*dove_keras.preprocessing.stretch"):
            load_image(tmp_path / name)


# Issue 23 item 7: an all-padding id row and invalid UTF-8 are refused, naming the batch item.
@EXPORT_ONLY_ON_TENSORFLOW
def test_issue23_item07_endpoints_refuse_empty_id_rows_and_invalid_utf8(dove_export):
    import tensorflow as tf

    ids = np.array([[2, 3] + [0] * 10, [0] * 12], "int32")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)every id is padding.*batch indices.*\b1\b"):
        dove_export.encode_text(tf.constant(ids))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)UTF-8.*batch indices.*\b1\b"):
        dove_export.embed_texts(tf.constant([b"w2 w3", b"w2 \xff\xfe w3"]))
    assert dove_export.embed_texts(tf.constant(["w2 w3 \u00e9t\u00e9"]))["global"].shape[0] == 1


# Issue 23 item 11: an export and its source preset are one model for a search index.
@EXPORT_ONLY_ON_TENSORFLOW
def test_issue23_item11_an_index_of_a_preset_is_queried_with_its_export(dove_export_dir, tmp_path, capsys):
    _, _, preset = saved_small_model()
    write_image_folder(tmp_path / "images", count=3)
    assert cli.main(["search", "index", "--preset", str(preset), "--images", str(tmp_path / "images"),
                     "--out", str(tmp_path / "index"), "--quiet"]) == 0
    assert load_encoder(dove_export_dir).fingerprint == load_encoder(preset).fingerprint
    assert cli.main(["search", "query", "w3 w4", "--index", str(tmp_path / "index"),
                     "--model", str(dove_export_dir), "-k", "2"]) == 0
    assert "built with another model" not in capsys.readouterr().err


# Issue 23 item 14: an export folder follows the umask like any mkdir.
@EXPORT_ONLY_ON_TENSORFLOW
def test_issue23_item14_an_export_folder_follows_the_umask(dove_export_dir):
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(dove_export_dir).st_mode) == 0o777 & ~mask
