"""A CLIP checkpoint -> a keras-hub preset folder holding a `CLIPRetriever`."""

import json
import os

import keras_hub

from dove_keras.errors import UsageError
from dove_keras.models.clip.architectures import ARCHITECTURES
from dove_keras.models.clip.architectures import architecture_by_name
from dove_keras.models.clip.architectures import build_clip_backbone
from dove_keras.models.clip.checkpoints import architecture_from_hf_config
from dove_keras.models.clip.checkpoints import check_architecture
from dove_keras.models.clip.checkpoints import read_checkpoint
from dove_keras.models.clip.clip_preprocessor import CLIPRetrieverImageConverter
from dove_keras.models.clip.clip_preprocessor import CLIPRetrieverPreprocessor
from dove_keras.models.clip.clip_preprocessor import clip_normalization
from dove_keras.models.clip.clip_retriever import CLIPRetriever
from dove_keras.models.clip.weights import load_clip_weights
from dove_keras.models.presets import save_preset

TOKENIZER_FILES = ("vocab.json", "merges.txt")
KERAS_HUB_TOKENIZER_FILES = (os.path.join("assets", "tokenizer", "vocabulary.json"),
                             os.path.join("assets", "tokenizer", "merges.txt"))


def import_clip(source, output, architecture=None, tokenizer=None, overwrite=False):
    """Writes the preset of a CLIP checkpoint; returns the `CLIPRetriever`.

    Args:
        source: a Hugging Face CLIP folder or an OpenAI/open_clip state-dict file.
        output: the preset folder to write (whole or not at all).
        architecture: an open_clip name (`ARCHITECTURES`); required for a
            state-dict file, checked against the config of a folder.
        tokenizer: a folder with `vocab.json` and `merges.txt` (an HF CLIP
            folder or a keras-hub CLIP preset); default: `source` if it has them.
        overwrite: replace an existing preset at `output`.

    Raises:
        UsageError: every problem, named, before anything is written.
    """
    source, output = os.fspath(source), os.fspath(output)
    if os.path.exists(output) and not overwrite:
        raise UsageError(f"{output} exists; pass --overwrite to replace it")
    if os.path.exists(output) and not os.path.isfile(os.path.join(output, "task.json")):
        raise UsageError(f"{output} exists and is not a preset folder: not replacing it")
    named = architecture_by_name(architecture) if architecture else None
    if not os.path.exists(source):
        raise UsageError(f"checkpoint not found: {source}")
    if named is None and not os.path.isdir(source):
        raise UsageError(f"{source} is a state-dict file: name its architecture with --architecture "
                         f"({', '.join(ARCHITECTURES)})")
    vocabulary, merges = find_tokenizer_files(source, tokenizer)
    tensors, hf_config = read_checkpoint(source)
    arch = named
    if hf_config is not None:
        arch = architecture_from_hf_config(hf_config)
        if named is not None and named != arch:
            raise UsageError(f"{source}: its config.json describes {arch}, not --architecture {architecture}")
    check_architecture(arch, tensors, source)

    clip_tokenizer = keras_hub.models.CLIPTokenizer(vocabulary=vocabulary, merges=merges)
    check_tokenizer(clip_tokenizer, arch.vocabulary_size, vocabulary)
    backbone = build_clip_backbone(arch)
    load_clip_weights(backbone, tensors, source)
    scale, offset = clip_normalization(*_pixel_statistics(source))
    converter = CLIPRetrieverImageConverter(arch.image_size, scale=scale, offset=offset)
    preprocessor = CLIPRetrieverPreprocessor(clip_tokenizer, converter, sequence_length=arch.context_length)
    retriever = CLIPRetriever(backbone, preprocessor)
    save_preset(retriever, output)
    return retriever


def find_tokenizer_files(source, tokenizer=None):
    """`(vocab.json, merges.txt)` paths from `tokenizer`, else from the source folder.

    Raises:
        UsageError: no folder with both files.
    """
    folders = [tokenizer] if tokenizer else ([source] if os.path.isdir(source) else [])
    for folder in folders:
        for names in (TOKENIZER_FILES, KERAS_HUB_TOKENIZER_FILES):
            paths = [os.path.join(folder, name) for name in names]
            if all(os.path.isfile(path) for path in paths):
                return tuple(paths)
    if tokenizer:
        raise UsageError(f"--tokenizer {tokenizer}: no vocab.json and merges.txt (nor a keras-hub preset's "
                         "assets/tokenizer/vocabulary.json and merges.txt)")
    raise UsageError(f"no tokenizer found in {source}: pass --tokenizer DIR, a folder with CLIP's vocab.json and "
                     "merges.txt (e.g. the Hugging Face folder of openai/clip-vit-base-patch32)")


def check_tokenizer(tokenizer, vocabulary_size, vocabulary_path):
    """Raises UsageError unless the tokenizer fits the text tower (size, end token the largest id)."""
    size = tokenizer.vocabulary_size()
    if size != vocabulary_size:
        raise UsageError(f"{vocabulary_path}: {size} tokens, but the checkpoint's token embedding has "
                         f"{vocabulary_size} rows: a tokenizer of another model?")
    if tokenizer.end_token_id != size - 1:
        raise UsageError(f"{vocabulary_path}: <|endoftext|> has id {tokenizer.end_token_id}, not the largest "
                         f"({size - 1}); CLIP pools the text at the largest id")


def _pixel_statistics(source):
    """`(mean, std)` of a Hugging Face folder's `preprocessor_config.json`, else OpenAI CLIP's."""
    path = os.path.join(source, "preprocessor_config.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
        if "image_mean" in config and "image_std" in config:
            return tuple(config["image_mean"]), tuple(config["image_std"])
    return ()
