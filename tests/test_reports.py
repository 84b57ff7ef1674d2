"""Results tables, training curves and the retrieval example sheet."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from dove_keras.reports.curves import plot_training_curves
from dove_keras.reports.sheets import example_indices
from dove_keras.reports.sheets import example_queries
from dove_keras.reports.sheets import retrieval_example_sheet
from dove_keras.reports.tables import results_frame
from dove_keras.reports.tables import write_results

pytestmark = pytest.mark.backend_independent


def test_results_table_csv_and_markdown(tmp_path):
    row = {"experiment": "a|b", "split": "test", "i2t_r1": 16.8141, "mR": 37.7333, "images": 452}
    frame = results_frame([row])
    csv_path, md_path = write_results(frame, str(tmp_path / "results"))
    assert pd.read_csv(csv_path).to_dict("records") == [{**row, "i2t_r1": 16.81, "mR": 37.73}]
    assert open(md_path).read() == (
        "| experiment | split | i2t_r1 | mR | images |\n"
        "|---|---|---:|---:|---:|\n"
        "| a\\|b | test | 16.81 | 37.73 | 452 |\n"
    )


def test_curves_skip_epochs_without_validation(tmp_path):
    history = pd.DataFrame({"epoch": [0, 1, 2], "loss": [3.0, 2.0, 1.5], "val_mR": [np.nan, 40.0, np.nan]})
    path = tmp_path / "curves.png"
    plot_training_curves(history, path)
    assert Image.open(path).size[0] > 500


def test_example_sheet_shows_the_top_results(tmp_path):
    rng = np.random.default_rng(0)
    similarity = rng.normal(size=(7, 35)).astype("float32")
    shown = example_indices(similarity, num_queries=2, top_k=5)
    captions, images = example_queries(similarity, 2)
    assert list(captions) == [0, 34] and list(images) == [0, 6]
    expected = set(images) | set(np.argsort(-similarity[:, 0])[:5]) | set(np.argsort(-similarity[:, 34])[:5])
    assert shown == sorted(expected)
    pictures = {i: np.full((16, 16, 3), 20 * i, np.uint8) for i in shown}
    path = tmp_path / "examples.png"
    retrieval_example_sheet(similarity, pictures, [f"caption {j}" for j in range(35)], path)
    assert Image.open(path).size[1] > 400


def test_example_sheet_reads_the_shown_images_and_every_caption(tmp_path):
    from training_fixtures import make_prepared

    from dove_keras.data.readers import read_captions
    from dove_keras.training.split_evaluation import read_split_examples

    prepared, _ = make_prepared(tmp_path)
    pictures, captions = read_split_examples(prepared, "val", [2, 0])
    assert sorted(pictures) == [0, 2]
    for index in (0, 2):
        expected = np.asarray(Image.open(tmp_path / "images" / f"val_{index}.png").convert("RGB"))
        np.testing.assert_array_equal(pictures[index], expected)
    records = read_captions(str(tmp_path / "raw"))["val"]
    assert captions == [caption for record in records for caption in record.captions]
