"""`dove-data vocab`: word order, min count, file format, GloVe matrix."""

import collections
import json

import numpy as np
import pytest

from data_tools.cli import main
from dove_keras.data import readers
from dove_keras.data.vocabulary import build_vocabulary
from dove_keras.data.vocabulary import glove_matrix
from dove_keras.models import DOVETokenizer


@pytest.mark.backend_independent
def test_order_and_min_count():
    captions = ["A plane, a PLANE.", "the plane is near a tree", "tree; tree!"]
    assert build_vocabulary(captions) == ["a", "plane", "tree", "is", "near", "the"]
    assert build_vocabulary(captions, min_count=3) == ["a", "plane", "tree"]


def test_real_training_vocabulary_counts(shared_data, tmp_path):
    source = shared_data / "benchmarks" / "sydney_karpathy" / "dataset_sydney.json"
    out = tmp_path / "vocab.txt"
    assert main(["vocab", str(source), "--output", str(out), "--min-count", "2"]) == 0
    lines = out.read_text().split("\n")
    assert lines[-1] == "" and all(lines[:-1])
    words = lines[:-1]
    counts = collections.Counter()
    for record in readers.read_captions(source)["train"]:
        for caption in record.captions:
            no_apostrophes = caption.lower().replace("'", "").replace("\u2019", "")
            counts.update("".join(ch if ch.isascii() and ch.isalnum() else " "
                                  for ch in no_apostrophes).split())
    expected = sorted((w for w, n in counts.items() if n >= 2), key=lambda w: (-counts[w], w))
    assert words == expected
    assert DOVETokenizer(str(out)).vocabulary_size() == len(words) + 2


@pytest.mark.backend_independent
def test_glove_matrix(tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text("3 2\nplane 0.5 -1\nthe 1 2\nsea 3 4\nplane 9 9\n")
    matrix, found = glove_matrix(["plane", "river", "sea"], glove, seed=3, oov_std=0.01)
    assert matrix.shape == (5, 2) and matrix.dtype == np.float32 and found == 2
    np.testing.assert_array_equal(matrix[0], [0, 0])
    np.testing.assert_array_equal(matrix[2], [0.5, -1])  # first occurrence wins
    np.testing.assert_array_equal(matrix[4], [3, 4])
    for row in (1, 3):
        assert 0 < np.abs(matrix[row]).max() < 0.1
    again, _ = glove_matrix(["plane", "river", "sea"], glove, seed=3, oov_std=0.01)
    np.testing.assert_array_equal(matrix, again)


@pytest.mark.backend_independent
def test_glove_bad_line(tmp_path):
    glove = tmp_path / "glove.txt"
    glove.write_text("plane 0.5 -1\nsea 3\n")
    with pytest.raises(readers.DataFormatError, match=r"glove\.txt:2: 1 values, expected 2"):
        glove_matrix(["sea"], glove)


@pytest.mark.backend_independent
def test_cli_vocab_with_glove(tmp_path, capsys):
    source = tmp_path / "dataset_x.json"
    source.write_text(json.dumps({"images": [
        {"filename": "a.png", "split": "train",
         "sentences": [{"raw": "red roof"}, {"raw": "roof"}]},
        {"filename": "b.png", "split": "test", "sentences": [{"raw": "blue sea"}]}]}))
    glove = tmp_path / "glove.txt"
    glove.write_text("roof 1 2 3\n")
    out = tmp_path / "words.txt"
    assert main(["vocab", str(source), "--output", str(out), "--glove", str(glove)]) == 0
    assert out.read_text() == "roof\nred\n"
    matrix = np.load(tmp_path / "words_glove.npy")
    assert matrix.shape == (4, 3)
    np.testing.assert_array_equal(matrix[2], [1, 2, 3])
    assert "GloVe: 1/2 words found" in capsys.readouterr().out
