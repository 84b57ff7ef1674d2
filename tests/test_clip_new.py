"""`dove-data new-clip`: a random-init CLIP preset whose BPE is learnt from a split's captions."""

import os

import keras_hub
import pytest
import training_fixtures

from data_tools import cli
from dove_keras.models import RetrievalTask

SIZES = ["--image-size", "32", "--patch-size", "8", "--width", "16", "--layers", "1", "--heads", "2",
         "--projection-dim", "8", "--context-length", "16"]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    return training_fixtures.make_prepared(str(tmp_path_factory.mktemp("new_clip")))[0]


def test_new_clip_writes_a_preset_whose_vocabulary_comes_from_the_captions(prepared, tmp_path):
    output = str(tmp_path / "clip")
    assert cli.main(["new-clip", prepared, "--output", output, *SIZES]) == 0
    retriever = RetrievalTask.from_preset(output)
    assert retriever.image_size == 32 and retriever.preprocessor.sequence_length == 16
    tokenizer = retriever.preprocessor.tokenizer
    ids = tokenizer("a yellow square on grey ground")
    assert len(ids) == 6  # every training word became one token
    backbone = keras_hub.models.CLIPBackbone.from_preset(output)
    assert backbone.vision_encoder.hidden_dim == 16 and backbone.projection_dim == 8
    assert backbone.text_encoder.vocabulary_size == tokenizer.vocabulary_size()
    transformers = pytest.importorskip("transformers")
    reference = transformers.CLIPTokenizer(os.path.join(output, "assets", "tokenizer", "vocabulary.json"),
                                           os.path.join(output, "assets", "tokenizer", "merges.txt"))
    assert reference("a yellow square on grey ground")["input_ids"][1:-1] == [int(i) for i in ids]


@pytest.mark.backend_independent
@pytest.mark.parametrize("options, message", [
    (["--heads", "3"], "--heads 3 does not divide --width 16"),
    (["--image-size", "36"], "--image-size 36 is not a multiple of --patch-size 8"),
    (["--layers", "0"], "--layers must be positive"),
])
def test_sizes_that_build_no_clip_are_refused_before_work(prepared, tmp_path, capsys, options, message):
    output = str(tmp_path / "clip")
    assert cli.main(["new-clip", prepared, "--output", output, *SIZES, *options]) == 2
    assert message in capsys.readouterr().err
    assert not os.path.exists(output)


@pytest.mark.backend_independent
def test_an_existing_preset_is_kept_without_overwrite(prepared, tmp_path, capsys):
    output = tmp_path / "clip"
    output.mkdir()
    (output / "task.json").write_text("{}")
    assert cli.main(["new-clip", prepared, "--output", str(output), *SIZES]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert (output / "task.json").read_text() == "{}"
