"""Caption-format readers: the real benchmark files and both precomp layouts."""

import json

import pytest

from dove_keras.data import readers

pytestmark = pytest.mark.backend_independent

# (source, format, {split: images}) as counted from the files in shared/data.
REAL_COUNTS = [
    ("rsitmd_precomp", "precomp", {"train": 3435, "val": 856, "test": 452}),
    ("rsicd_precomp", "precomp", {"train": 7862, "val": 1966, "test": 1093}),
    ("ucm_precomp", "precomp", {"train": 1680, "test": 210}),
    ("sydney_precomp", "precomp", {"train": 397, "val": 100, "test": 58}),
    ("ucm_coco", "coco", {"train": 1680, "val": 210, "test": 210}),
    ("sydney_karpathy/dataset_sydney.json", "karpathy", {"train": 497, "val": 58, "test": 58}),
]


@pytest.mark.parametrize("name,source_format,counts", REAL_COUNTS, ids=lambda v: str(v))
def test_real_benchmark_counts(shared_data, name, source_format, counts):
    source = shared_data / "benchmarks" / name
    assert readers.detect_format(str(source)) == source_format
    records = readers.read_captions(source)
    assert {split: len(r) for split, r in records.items()} == counts
    for split, split_records in records.items():
        assert [r.index for r in split_records] == list(range(len(split_records)))
        assert all(r.split == split and len(r.captions) == 5 for r in split_records)
        assert len({r.filename for r in split_records}) == len(split_records)


def test_precomp_without_verify_merges_train_and_val(shared_data):
    source = shared_data / "benchmarks" / "rsitmd_precomp"
    merged = readers.read_captions(source, use_verify=False)
    split = readers.read_captions(source)
    assert {s: len(r) for s, r in merged.items()} == {"train": 4291, "test": 452}
    assert {r.filename for r in merged["train"]} == {
        r.filename for s in ("train", "val") for r in split[s]
    }


def test_precomp_records_match_lines(shared_data):
    folder = shared_data / "benchmarks" / "rsitmd_precomp"
    records = readers.read_captions(folder)
    caps = (folder / "val_caps_verify.txt").read_text().splitlines()
    names = (folder / "val_filename_verify.txt").read_text().splitlines()
    for i in (0, 1, 855):
        assert records["val"][i].captions == tuple(c.strip() for c in caps[5 * i : 5 * i + 5])
        assert records["val"][i].filename == names[5 * i]
    # The real RSITMD training split has 4 images whose 5 captions are empty lines.
    empty = [r.filename for r in records["train"] if not any(r.captions)]
    assert empty == ["storagetanks_4367.tif", "viaduct_4635.tif",
                     "mountain_2378.tif", "railwaystation_3254.tif"]


def _write_precomp(folder, split, names, captions, suffix=""):
    folder.mkdir(exist_ok=True)
    (folder / f"{split}_caps{suffix}.txt").write_text("".join(c + "\n" for c in captions))
    (folder / f"{split}_filename{suffix}.txt").write_text("".join(n + "\n" for n in names))


def test_precomp_both_layouts(tmp_path):
    captions = [f"caption {i}" for i in range(10)]
    _write_precomp(tmp_path, "train", ["a.tif", "b.tif"], captions)
    _write_precomp(tmp_path, "test", ["a.tif"] * 5 + ["b.tif"] * 5, captions)
    records = readers.read_precomp(tmp_path)
    for split in ("train", "test"):
        assert [(r.filename, r.captions, r.index) for r in records[split]] == [
            ("a.tif", tuple(captions[:5]), 0), ("b.tif", tuple(captions[5:]), 1)]


def test_precomp_count_mismatch_names_file_and_counts(tmp_path):
    _write_precomp(tmp_path, "train", ["a.tif", "b.tif", "c.tif"], ["x"] * 10)
    with pytest.raises(readers.DataFormatError, match=r"train_filename\.txt: 3 lines, "
                       r"expected 2 \(one per image\) or 10 \(one per caption\)"):
        readers.read_precomp(tmp_path)


def test_precomp_caption_lines_not_multiple_of_five(tmp_path):
    _write_precomp(tmp_path, "test", ["a.tif"], ["x"] * 7)
    with pytest.raises(readers.DataFormatError,
                       match=r"test_caps\.txt: 7 lines, not a multiple of 5"):
        readers.read_precomp(tmp_path)


def test_precomp_broken_caption_group(tmp_path):
    _write_precomp(tmp_path, "test", ["a.tif"] * 4 + ["b.tif"] * 6, ["x"] * 10)
    with pytest.raises(readers.DataFormatError, match=r"test_filename\.txt:5: 'b\.tif' breaks"):
        readers.read_precomp(tmp_path)


def test_verify_files_take_precedence(tmp_path):
    _write_precomp(tmp_path, "train", ["a.tif", "b.tif"], ["x"] * 10)
    _write_precomp(tmp_path, "train", ["a.tif"], ["y"] * 5, suffix="_verify")
    _write_precomp(tmp_path, "val", ["b.tif"] * 5, ["z"] * 5, suffix="_verify")
    records = readers.read_precomp(tmp_path)
    assert [(s, r.filename, r.captions[0]) for s, rs in records.items() for r in rs] == [
        ("train", "a.tif", "y"), ("val", "b.tif", "z")]


def test_karpathy_reader(tmp_path):
    data = {"images": [
        {"filename": "1.tif", "split": "train",
         "sentences": [{"raw": " A b . "}, {"tokens": ["c", "d"]}]},
        {"filename": "2.tif", "filepath": "imgs", "split": "test", "sentences": [{"raw": "e"}]},
        {"filename": "3.tif", "split": "restval", "sentences": [{"raw": "f"}]},
    ]}
    path = tmp_path / "dataset_x.json"
    path.write_text(json.dumps(data))
    assert readers.detect_format(str(path)) == "karpathy"
    records = readers.read_captions(path)
    assert records == {
        "train": [readers.ImageRecord("train", "1.tif", ("A b .", "c d"), 0),
                  readers.ImageRecord("train", "3.tif", ("f",), 1)],
        "test": [readers.ImageRecord("test", "imgs/2.tif", ("e",), 0)],
    }
    data["images"][1]["split"] = "dev"
    path.write_text(json.dumps(data))
    with pytest.raises(readers.DataFormatError,
                       match=r"images\[1\] \(2\.tif\): unknown split 'dev'"):
        readers.read_captions(path)


def test_coco_reader_keeps_image_and_annotation_order(tmp_path):
    data = {"images": [{"id": 7, "file_name": "b.tif"}, {"id": 3, "file_name": "a.tif"}],
            "annotations": [{"image_id": 3, "caption": "one"}, {"image_id": 7, "caption": "two"},
                            {"image_id": 3, "caption": "three"}]}
    (tmp_path / "data_val_x.json").write_text(json.dumps(data))
    records = readers.read_captions(tmp_path)
    assert records == {"val": [readers.ImageRecord("val", "b.tif", ("two",), 0),
                               readers.ImageRecord("val", "a.tif", ("one", "three"), 1)]}
    data["annotations"].append({"image_id": 9, "caption": "x"})
    (tmp_path / "data_val_x.json").write_text(json.dumps(data))
    with pytest.raises(readers.DataFormatError,
                       match=r"annotations\[3\]: image_id 9 is not in images"):
        readers.read_captions(tmp_path)


def test_split_from_name():
    assert [readers.split_from_name(n) for n in
            ("data_train_UCM.json", "x/val.json", "coco-test2014.json", "captions.json")] == [
        "train", "val", "test", None]
