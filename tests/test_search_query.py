"""Two-stage queries against the model's full score matrices, and the CLI."""

import numpy as np
import pytest
from search_fixtures import saved_small_model
from search_fixtures import write_image_folder

from dove_keras import cli
from dove_keras.search import ImageFolder
from dove_keras.search import ImageIndex
from dove_keras.search import Searcher
from dove_keras.search import build_index
from dove_keras.search import load_encoder

SIDE, LENGTH, BATCH = 64, 12, 4
QUERY = "w3 w4 w9 near w12"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search_query")
    model, model_path, preset = saved_small_model(LENGTH)
    images = folder / "pictures"
    write_image_folder(images, count=7)
    encoder = load_encoder(model)
    build_index(encoder, ImageFolder(images), folder / "index", chunk_size=4, batch_size=BATCH, progress=False)
    index = ImageIndex(folder / "index")
    # Reference: the model's score matrices over every indexed image.
    image_features = index.features(np.arange(len(index)))
    text_features = encoder.embed_texts([QUERY])
    return {
        "folder": folder, "images": images, "model_path": model_path, "preset": preset,
        "encoder": encoder, "index": index,
        "global": model.global_score(image_features, text_features)[:, 0],
        "roam": model.score(image_features, text_features)[:, 0],
    }


def test_stage_one_ranks_by_global_cosine(setup):
    results = Searcher(setup["index"], setup["encoder"]).search(QUERY, k=4, rerank=False)
    expected = np.argsort(-setup["global"], kind="stable")[:4]
    assert results["row"].tolist() == expected.tolist()
    assert results["global_rank"].tolist() == [1, 2, 3, 4]
    np.testing.assert_allclose(results["global_score"], setup["global"][expected], atol=1e-5)
    assert results["roam_score"].isna().all()


def test_rerank_orders_the_candidates_by_roam(setup):
    results = Searcher(setup["index"], setup["encoder"]).search(QUERY, k=3, candidates=5)
    candidates = np.argsort(-setup["global"], kind="stable")[:5]
    expected = candidates[np.argsort(-setup["roam"][candidates], kind="stable")][:3]
    assert results["row"].tolist() == expected.tolist()
    assert results["rank"].tolist() == [1, 2, 3]
    np.testing.assert_allclose(results["score"], setup["roam"][expected], atol=1e-5)
    paths = setup["index"].table["path"].to_numpy()
    assert results["path"].tolist() == paths[expected].tolist()


def test_empty_query_is_refused(setup):
    with pytest.raises(ValueError, match="empty after normalisation"):
        Searcher(setup["index"], setup["encoder"]).search(" ?! ")


def test_searcher_refuses_another_model(setup):
    class Other:
        fingerprint = "another"

    with pytest.raises(ValueError, match="built with another model"):
        Searcher(setup["index"], Other())


def test_cli_index_and_query(setup, tmp_path, capsys):
    out = tmp_path / "index"
    common = ["--preset", str(setup["preset"])]
    code = cli.main(["search", "index", *common, "--images", str(setup["images"]), "--out", str(out),
                     "--batch-size", str(BATCH), "--quiet"])
    printed = capsys.readouterr().out
    assert code == 0
    assert "7 pictures indexed (7 new" in printed and "a/broken.png: " in printed
    sheet, table = tmp_path / "sheet.png", tmp_path / "results.csv"
    # Without --model the query uses the index's model.
    code = cli.main(["search", "query", "--index", str(out), QUERY, "-k", "3", "--candidates", "5",
                     "--sheet", str(sheet), "--csv", str(table), "--attention"])
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.splitlines()[0].split()[:3] == ["rank", "path", "score"]
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(table.read_text().splitlines()) == 4


def test_cli_reports_bad_arguments(setup, tmp_path, capsys):
    assert cli.main(["search", "query", "--index", str(tmp_path), QUERY]) == 2
    assert "no index.json" in capsys.readouterr().err
    code = cli.main(["search", "index", "--preset", str(setup["preset"]), "--images",
                     str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")])
    assert code == 2
    assert "nowhere: not a folder" in capsys.readouterr().err
    code = cli.main(["search", "index", "--model", str(tmp_path / "missing"), "--images",
                     str(setup["images"]), "--out", str(tmp_path / "x")])
    assert code == 2
    assert "expected a directory written by `dove export`" in capsys.readouterr().err


HELP_MUST_MENTION = {
    "index": ["--model", "--preset", "--images", "--scenes", "--bands", "--out", "--chunk-size", "resum"],
    "query": ["--index", "--candidates", "--sheet", "--faiss", "--geojson", "--to-wgs84", "lambda_global > 0"],
    "export": ["--preset", "--config", "--model", "--out", "import tensorflow_text", "not dove_keras"],
}


@pytest.mark.backend_independent
@pytest.mark.parametrize("argv", [["search", "index"], ["search", "query"], ["export"]])
def test_help_explains_the_options(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for fragment in HELP_MUST_MENTION[argv[-1]]:
        assert fragment in text, fragment
