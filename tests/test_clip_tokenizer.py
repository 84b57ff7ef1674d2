"""CLIP token ids equal `transformers.CLIPTokenizer`'s on every benchmark caption.

The vocabulary is a small CLIP-layout BPE learnt here from the captions (no
CLIP vocabulary file ships with any installed package), so most words split
into several pieces and the long captions pass 77 tokens.
"""

import glob
import os

import clip_fixtures
import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from dove_keras.models.clip import CLIPRetrieverPreprocessor

transformers = pytest.importorskip("transformers")


def benchmark_captions(shared_data):
    """Every distinct non-blank caption of the four benchmarks' caption files."""
    paths = glob.glob(os.path.join(shared_data, "benchmarks", "*_precomp", "*_caps*.txt"))
    datasets = {os.path.basename(os.path.dirname(p)).split("_")[0] for p in paths}
    assert datasets == {"rsicd", "rsitmd", "ucm", "sydney"}
    captions = set()
    for path in paths:
        with open(path, encoding="utf-8") as f:
            captions.update(line.strip() for line in f if line.strip())
    return sorted(captions)


@pytest.fixture(scope="module")
def tokenizers(shared_data, tmp_path_factory):
    captions = benchmark_captions(shared_data)
    folder = str(tmp_path_factory.mktemp("bpe"))
    vocab, merges = clip_fixtures.write_bpe_vocabulary(folder, captions[::20], num_merges=400)
    ours = CLIPRetrieverPreprocessor(keras_hub.models.CLIPTokenizer(vocabulary=vocab, merges=merges))
    theirs = transformers.CLIPTokenizer(vocab, merges)
    # Six captions in a row: past 77 tokens, so the end token must replace the cut tail.
    long = [" ".join(captions[i : i + 6]) for i in range(1000, 1600, 6)]
    return captions + long, ours, theirs


def up_to_end(row, end):
    row = list(row)
    return row[: row.index(end) + 1]


def check_same(captions, ids, theirs, end):
    expected = theirs(captions, truncation=True, max_length=77)["input_ids"]
    different = [c for c, a, b in zip(captions, ids, expected) if up_to_end(a, end) != b]
    assert not different, f"{len(different)} of {len(captions)} differ, e.g. {different[:3]}"
    return sum(len(b) == 77 for b in expected)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="tokenisation is TensorFlow (tf.data) on every backend: checked once")
def test_graph_tokenizer_matches_transformers_on_every_benchmark_caption(tokenizers):
    captions, ours, theirs = tokenizers
    dataset = tf.data.Dataset.from_tensor_slices(captions).batch(2048).map(ours.token_ids)
    ids = np.concatenate(list(dataset.as_numpy_iterator()))
    assert ids.shape == (len(captions), 77)
    cut = check_same(captions, ids, theirs, ours.tokenizer.end_token_id)
    assert len(captions) > 39000 and cut >= 90  # every caption, and the long ones were cut


def test_eager_tokenizer_matches_transformers(tokenizers):
    captions, ours, theirs = tokenizers
    # Numbers, contractions after a space, punctuation and the long captions: what GPT-2's split gets wrong.
    chosen = [c for c in captions if any(ch.isdigit() for ch in c) or " '" in c][:200] + captions[-20:]
    ids = ours.token_ids(chosen).numpy()
    check_same(chosen, ids, theirs, ours.tokenizer.end_token_id)
