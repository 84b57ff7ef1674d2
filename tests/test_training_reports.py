"""Results tables, training curves and the retrieval example sheet."""

import numpy as np
import pandas as pd
from PIL import Image

from dove_keras.training import reports


def test_results_table_csv_and_markdown(tmp_path):
    row = {"experiment": "a|b", "split": "test", "i2t_r1": 16.8141, "mR": 37.7333, "images": 452}
    frame = reports.results_frame([row])
    csv_path, md_path = reports.write_results(frame, str(tmp_path / "results"))
    assert pd.read_csv(csv_path).to_dict("records") == [{**row, "i2t_r1": 16.81, "mR": 37.73}]
    assert open(md_path).read() == (
        "| experiment | split | i2t_r1 | mR | images |\n"
        "|---|---|---:|---:|---:|\n"
        "| a\\|b | test | 16.81 | 37.73 | 452 |\n"
    )


def test_curves_skip_epochs_without_validation(tmp_path):
    history = pd.DataFrame({"epoch": [0, 1, 2], "loss": [3.0, 2.0, 1.5], "val_mR": [np.nan, 40.0, np.nan]})
    path = tmp_path / "curves.png"
    reports.plot_training_curves(history, path)
    assert Image.open(path).size[0] > 500


def test_example_sheet_shows_the_top_results(tmp_path):
    rng = np.random.default_rng(0)
    similarity = rng.normal(size=(7, 35)).astype("float32")
    shown = reports.example_indices(similarity, num_queries=2, top_k=5)
    captions, images = reports.example_queries(similarity, 2)
    assert list(captions) == [0, 34] and list(images) == [0, 6]
    expected = set(images) | set(np.argsort(-similarity[:, 0])[:5]) | set(np.argsort(-similarity[:, 34])[:5])
    assert shown == sorted(expected)
    pictures = {i: np.full((16, 16, 3), 20 * i, np.uint8) for i in shown}
    path = tmp_path / "examples.png"
    reports.retrieval_example_sheet(similarity, pictures, [f"caption {j}" for j in range(35)], path)
    assert Image.open(path).size[1] > 400
