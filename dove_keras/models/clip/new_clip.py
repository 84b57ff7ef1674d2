"""A randomly initialised CLIP preset, its BPE vocabulary learnt from a training split's captions."""

import dataclasses
import os
import tempfile

import keras
import keras_hub

from dove_keras.errors import UsageError
from dove_keras.models.clip.architectures import build_clip_backbone
from dove_keras.models.clip.bpe_vocabulary import write_bpe_vocabulary
from dove_keras.models.clip.clip_preprocessor import CLIPRetrieverImageConverter
from dove_keras.models.clip.clip_preprocessor import CLIPRetrieverPreprocessor
from dove_keras.models.clip.clip_retriever import CLIPRetriever
from dove_keras.models.presets import save_preset


def new_clip(output, captions, architecture, num_merges=1000, seed=0, overwrite=False):
    """Writes the preset of a random-init `CLIPRetriever`; returns it.

    For CLIPs trained from scratch (small ones that train on a CPU, e.g. on
    `dove demo`'s scenes): the vocabulary is a byte-level BPE learnt from
    `captions`, laid out as CLIP's, so the preset behaves as an imported one.

    Args:
        output: the preset folder to write (whole or not at all).
        captions: the texts the BPE merges are learnt from.
        architecture: a `CLIPArchitecture`; its `vocabulary_size` is replaced
            by the learnt vocabulary's.
        num_merges: at most this many BPE merges.
        seed: seed of the initial weights.
        overwrite: replace an existing preset at `output`.

    Raises:
        UsageError: `output` exists (without `overwrite`) or is not a preset.
    """
    output = os.fspath(output)
    if os.path.exists(output) and not overwrite:
        raise UsageError(f"{output} exists; pass --overwrite to replace it")
    if os.path.exists(output) and not os.path.isfile(os.path.join(output, "task.json")):
        raise UsageError(f"{output} exists and is not a preset folder: not replacing it")
    with tempfile.TemporaryDirectory() as folder:
        vocabulary, merges = write_bpe_vocabulary(folder, captions, num_merges)
        tokenizer = keras_hub.models.CLIPTokenizer(vocabulary=vocabulary, merges=merges)
    architecture = dataclasses.replace(architecture, vocabulary_size=tokenizer.vocabulary_size())
    keras.utils.set_random_seed(seed)
    backbone = build_clip_backbone(architecture)
    converter = CLIPRetrieverImageConverter(architecture.image_size)
    preprocessor = CLIPRetrieverPreprocessor(tokenizer, converter, sequence_length=architecture.context_length)
    retriever = CLIPRetriever(backbone, preprocessor)
    save_preset(retriever, output)
    return retriever

