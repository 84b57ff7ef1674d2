"""Small CLIP checkpoints for the import tests: a BPE vocabulary, HF folders, OpenAI state dicts.

Everything is generated here (random weights, a BPE learnt from a few
captions); nothing is downloaded.
"""

import json
import os

import keras
import numpy as np
import pytest

from dove_keras.models.clip import bpe_vocabulary

# Learnt by the library's own learner (the tokenizer tests compare keras-hub's and transformers' ids on it).
write_bpe_vocabulary = bpe_vocabulary.write_bpe_vocabulary

# `export_saved_model` takes one path per backend: in-process on tensorflow, through jax2tf on
# jax, a hand-off to a TensorFlow-backend process from torch. The jax and torch paths are tested
# for DOVE (test_export_saved_model) and for a fine-tuned CLIP preset (test_clip_finetune), so the
# model-specific export tests (zero-shot CLIP endpoints, DOVE-CLIP) run on the tensorflow pass.
export_on_tensorflow = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="the jax2tf and torch export paths are tested elsewhere"
)


def vocabulary_size(folder):
    with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
        return len(json.load(f))


def hf_config(vocab_size, image_size=32, patch_size=8, vision_width=32, text_width=32, layers=2, heads=4,
              projection_dim=16, activation="quick_gelu"):
    """A small `transformers.CLIPConfig` whose end token is the vocabulary's last id."""
    import transformers

    return transformers.CLIPConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=text_width, intermediate_size=4 * text_width,
                         num_hidden_layers=layers, num_attention_heads=heads, max_position_embeddings=77,
                         hidden_act=activation, bos_token_id=vocab_size - 2, eos_token_id=vocab_size - 1,
                         pad_token_id=0),
        vision_config=dict(hidden_size=vision_width, intermediate_size=4 * vision_width, num_hidden_layers=layers,
                           num_attention_heads=heads, image_size=image_size, patch_size=patch_size,
                           hidden_act=activation),
        projection_dim=projection_dim,
    )


def random_hf_model(config, seed=0):
    """A `transformers.CLIPModel` with random weights of a visible scale (not only the init's)."""
    import torch
    import transformers

    torch.manual_seed(seed)
    model = transformers.CLIPModel(config).eval()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name and name.endswith("weight"):
                parameter.copy_(1 + 0.1 * torch.randn_like(parameter))
            elif name != "logit_scale":
                parameter.copy_(0.05 * torch.randn_like(parameter))
    return model


def write_hf_folder(model, folder, tokenizer_folder=None):
    """`save_pretrained` of an HF model, with the tokenizer files copied beside it."""
    import shutil

    model.save_pretrained(folder)
    if tokenizer_folder:
        for name in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(tokenizer_folder, name), os.path.join(folder, name))
    return folder


def openai_state_dict(model):
    """The OpenAI/open_clip names of an HF CLIP's weights (the inverse of the importer's mapping)."""
    sd = {name: value.detach().numpy() for name, value in model.state_dict().items()}
    out = {
        "visual.class_embedding": sd["vision_model.embeddings.class_embedding"],
        "visual.conv1.weight": sd["vision_model.embeddings.patch_embedding.weight"],
        "visual.positional_embedding": sd["vision_model.embeddings.position_embedding.weight"],
        "visual.proj": sd["visual_projection.weight"].T,
        "token_embedding.weight": sd["text_model.embeddings.token_embedding.weight"],
        "positional_embedding": sd["text_model.embeddings.position_embedding.weight"],
        "text_projection": sd["text_projection.weight"].T,
        "logit_scale": sd["logit_scale"],
    }
    for ours, theirs in (("visual.ln_pre", "vision_model.pre_layrnorm"),
                         ("visual.ln_post", "vision_model.post_layernorm"),
                         ("ln_final", "text_model.final_layer_norm")):
        for kind in ("weight", "bias"):
            out[f"{ours}.{kind}"] = sd[f"{theirs}.{kind}"]
    for tower, prefix in (("vision_model", "visual."), ("text_model", "")):
        index = 0
        while f"{tower}.encoder.layers.{index}.layer_norm1.weight" in sd:
            theirs, ours = f"{tower}.encoder.layers.{index}.", f"{prefix}transformer.resblocks.{index}."
            for kind in ("weight", "bias"):
                out[ours + f"attn.in_proj_{kind}"] = np.concatenate(
                    [sd[theirs + f"self_attn.{p}_proj.{kind}"] for p in "qkv"]
                )
                for a, b in (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2"), ("attn.out_proj", "self_attn.out_proj"),
                             ("mlp.c_fc", "mlp.fc1"), ("mlp.c_proj", "mlp.fc2")):
                    out[ours + f"{a}.{kind}"] = sd[theirs + f"{b}.{kind}"]
            index += 1
    return out


# === A plain numpy forward of the OpenAI CLIP code (the open_clip state-dict reference) ===


def _layer_norm(x, sd, name, eps=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * sd[name + ".weight"] + sd[name + ".bias"]


def _activation(x, name):
    if name == "quick_gelu":
        return x / (1 + np.exp(-1.702 * x))
    from math import erf

    return 0.5 * x * (1 + np.vectorize(erf)(x / np.sqrt(2)))


def _block(x, sd, prefix, heads, causal, activation):
    """One residual attention block, looping over heads."""
    length, width = x.shape
    head_dim = width // heads
    h = _layer_norm(x, sd, prefix + "ln_1")
    qkv = h @ sd[prefix + "attn.in_proj_weight"].T + sd[prefix + "attn.in_proj_bias"]
    q, k, v = qkv[:, :width], qkv[:, width : 2 * width], qkv[:, 2 * width :]
    heads_out = []
    for head in range(heads):
        cols = slice(head * head_dim, (head + 1) * head_dim)
        logits = q[:, cols] @ k[:, cols].T / np.sqrt(head_dim)
        if causal:
            logits = np.where(np.tril(np.ones((length, length), bool)), logits, -np.inf)
        weights = np.exp(logits - logits.max(-1, keepdims=True))
        heads_out.append((weights / weights.sum(-1, keepdims=True)) @ v[:, cols])
    x = x + np.concatenate(heads_out, -1) @ sd[prefix + "attn.out_proj.weight"].T + sd[prefix + "attn.out_proj.bias"]
    h = _layer_norm(x, sd, prefix + "ln_2")
    h = _activation(h @ sd[prefix + "mlp.c_fc.weight"].T + sd[prefix + "mlp.c_fc.bias"], activation)
    return x + h @ sd[prefix + "mlp.c_proj.weight"].T + sd[prefix + "mlp.c_proj.bias"]


def reference_image_embedding(sd, image, heads, activation="quick_gelu"):
    """OpenAI CLIP's `encode_image` of one normalised `(S, S, 3)` image, in float64."""
    sd = {k: np.asarray(v, np.float64) for k, v in sd.items()}
    conv = sd["visual.conv1.weight"]
    width, _, patch, _ = conv.shape
    grid = image.shape[0] // patch
    patches = image[: grid * patch, : grid * patch].reshape(grid, patch, grid, patch, 3).transpose(0, 2, 4, 1, 3)
    tokens = patches.reshape(grid * grid, -1) @ conv.reshape(width, -1).T  # (c, y, x) order of the conv
    x = np.concatenate([sd["visual.class_embedding"][None], tokens]) + sd["visual.positional_embedding"]
    x = _layer_norm(x, sd, "visual.ln_pre")
    index = 0
    while f"visual.transformer.resblocks.{index}.ln_1.weight" in sd:
        x = _block(x, sd, f"visual.transformer.resblocks.{index}.", heads, False, activation)
        index += 1
    return _layer_norm(x[0], sd, "visual.ln_post") @ sd["visual.proj"]


def reference_text_embedding(sd, token_ids, heads, activation="quick_gelu"):
    """OpenAI CLIP's `encode_text` of one id sequence (pooled at the largest id), in float64."""
    sd = {k: np.asarray(v, np.float64) for k, v in sd.items()}
    token_ids = np.asarray(token_ids)
    x = sd["token_embedding.weight"][token_ids] + sd["positional_embedding"][: len(token_ids)]
    index = 0
    while f"transformer.resblocks.{index}.ln_1.weight" in sd:
        x = _block(x, sd, f"transformer.resblocks.{index}.", heads, True, activation)
        index += 1
    x = _layer_norm(x, sd, "ln_final")
    return x[int(np.argmax(token_ids))] @ sd["text_projection"]


# === Small random keras-hub CLIPs and DOVE-CLIPs (no checkpoint, no transformers) ===

DOVE_CLIP_VOCABULARY = 64


def small_clip_backbone(vocabulary_size=DOVE_CLIP_VOCABULARY, image_size=32, sequence_length=16, seed=0):
    """A random 2-block `CLIPBackbone` (width 16, 8 px patches) with weights of a visible scale."""
    import keras
    import keras_hub

    clip = keras_hub.models.CLIPBackbone(
        keras_hub.models.CLIPVisionEncoder(8, 16, 2, 2, 32, image_shape=(image_size, image_size, 3)),
        keras_hub.models.CLIPTextEncoder(vocabulary_size, 16, 16, 2, 2, 32, max_sequence_length=sequence_length),
        projection_dim=16,
    )
    rng = np.random.default_rng(seed)
    for weight in clip.weights:
        if "gamma" in weight.path:  # layer norm scales
            weight.assign(1 + 0.1 * rng.standard_normal(weight.shape))
        elif weight.trainable and "logit_scale" not in weight.path:
            weight.assign(0.2 * rng.standard_normal(weight.shape))
    keras.utils.set_random_seed(seed)  # the heads DOVE-CLIP adds
    return clip


def small_clip_retriever(folder, captions, sequence_length=16, seed=0):
    """A `CLIPRetriever` with a BPE learnt on `captions` (written to `folder`) and a random small CLIP."""
    import keras_hub

    from dove_keras.models.clip import CLIPRetriever
    from dove_keras.models.clip import CLIPRetrieverImageConverter
    from dove_keras.models.clip import CLIPRetrieverPreprocessor

    vocabulary, merges = write_bpe_vocabulary(folder, captions, num_merges=40)
    tokenizer = keras_hub.models.CLIPTokenizer(vocabulary=vocabulary, merges=merges)
    preprocessor = CLIPRetrieverPreprocessor(tokenizer, CLIPRetrieverImageConverter(32), sequence_length)
    backbone = small_clip_backbone(vocabulary_size(folder), sequence_length=sequence_length, seed=seed)
    return CLIPRetriever(backbone, preprocessor)


def small_dove_clip(gate_init=0.5, **head_args):
    """A `DOVECLIPRetriever` (no preprocessor) on `small_clip_backbone()`, gates open by default."""
    from dove_keras.models.clip import DOVECLIPBackbone
    from dove_keras.models.clip import DOVECLIPRetriever

    return DOVECLIPRetriever(DOVECLIPBackbone(small_clip_backbone(), gate_init=gate_init, iga_key_dim=8,
                                              **head_args))


def dove_clip_batch(size=3, length=10, image_size=32, seed=0):
    """Normalised images and CLIP-style ids: start, words, the end token (the largest id) padding the rest."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(1, DOVE_CLIP_VOCABULARY - 2, (size, length)).astype("int32")
    token_ids[:, 0] = DOVE_CLIP_VOCABULARY - 2
    for row in range(size):
        token_ids[row, 3 + row % (length - 3) :] = DOVE_CLIP_VOCABULARY - 1
    images = rng.standard_normal((size, image_size, image_size, 3)).astype("float32")
    return {"images": images, "token_ids": token_ids, "image_ids": np.arange(size, dtype="int32")}
