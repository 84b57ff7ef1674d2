"""The weight mapping: OpenAI-named CLIP tensors -> keras-hub's `CLIPBackbone` variables.

This is the only CLIP code of the project: the model itself is keras-hub's
(`CLIPVisionEncoder`, `CLIPTextEncoder`, `CLIPBackbone`).
"""

import numpy as np

from dove_keras.errors import UsageError


def load_clip_weights(backbone, tensors, source="checkpoint"):
    """Assigns OpenAI-named tensors (see `checkpoints.read_checkpoint`) to a keras-hub `CLIPBackbone`.

    Raises:
        UsageError: a missing tensor, or one whose shape does not fit its
            variable (named).
    """
    assign = _Assigner(tensors, source)
    vision = backbone.vision_encoder
    embedding = vision.embedding
    assign(embedding.class_embedding, "visual.class_embedding")
    assign(embedding.patch_embedding.kernel, "visual.conv1.weight", lambda w: w.transpose(2, 3, 1, 0))
    assign(embedding.position_embedding.embeddings, "visual.positional_embedding")
    embedding.position_ids.assign(np.arange(embedding.num_positions, dtype="int32")[None])
    _assign_norm(assign, vision.pre_layer_norm, "visual.ln_pre")
    for index, block in enumerate(vision.encoder_layers):
        _assign_block(assign, block, f"visual.transformer.resblocks.{index}.")
    _assign_norm(assign, vision.layer_norm, "visual.ln_post")
    assign(backbone.vision_projection.kernel, "visual.proj")

    text = backbone.text_encoder
    assign(text.embedding.token_embedding.embeddings, "token_embedding.weight")
    assign(text.embedding.position_embedding.position_embeddings, "positional_embedding")
    for index, block in enumerate(text.encoder_layers):
        _assign_block(assign, block, f"transformer.resblocks.{index}.")
    _assign_norm(assign, text.layer_norm, "ln_final")
    assign(backbone.text_projection.kernel, "text_projection")
    if "logit_scale" in tensors:
        assign(backbone.clip_head.logit_scale, "logit_scale", lambda w: np.reshape(w, ()))
    unused = sorted(set(tensors) - assign.used)
    if unused:
        raise UsageError(f"{source}: {len(unused)} tensor(s) have no place in the CLIP model, e.g. {unused[0]}")


class _Assigner:
    def __init__(self, tensors, source):
        self.tensors, self.source, self.used = tensors, source, set()

    def __call__(self, variable, name, transform=None):
        if name not in self.tensors:
            raise UsageError(f"{self.source}: no tensor {name}")
        value = np.asarray(self.tensors[name], dtype="float32")
        value = transform(value) if transform else value
        if tuple(value.shape) != tuple(variable.shape):
            raise UsageError(f"{self.source}: tensor {name} of shape {tuple(self.tensors[name].shape)} does not fit "
                             f"{variable.path} {tuple(variable.shape)}")
        variable.assign(value)
        self.used.add(name)


def _assign_norm(assign, layer, name):
    assign(layer.gamma, name + ".weight")
    assign(layer.beta, name + ".bias")


def _assign_block(assign, block, prefix):
    """One residual attention block: LN, multi-head attention (q, k, v from `in_proj`), LN, MLP."""
    width, heads = block.hidden_dim, block.num_heads
    head_dim = width // heads
    _assign_norm(assign, block.layer_norm_1, prefix + "ln_1")
    _assign_norm(assign, block.layer_norm_2, prefix + "ln_2")
    attention = block.attention
    denses = (attention.query_dense, attention.key_dense, attention.value_dense)
    for part, dense in enumerate(denses):
        rows = slice(part * width, (part + 1) * width)
        assign(dense.kernel, prefix + "attn.in_proj_weight", lambda w, r=rows: _split_rows(w, r, heads, head_dim))
        assign(dense.bias, prefix + "attn.in_proj_bias", lambda b, r=rows: b[r].reshape(heads, head_dim))
    assign(attention.output_dense.kernel, prefix + "attn.out_proj.weight",
           lambda w: w.T.reshape(heads, head_dim, width))
    assign(attention.output_dense.bias, prefix + "attn.out_proj.bias")
    assign(block.dense_1.kernel, prefix + "mlp.c_fc.weight", np.transpose)
    assign(block.dense_1.bias, prefix + "mlp.c_fc.bias")
    assign(block.dense_2.kernel, prefix + "mlp.c_proj.weight", np.transpose)
    assign(block.dense_2.bias, prefix + "mlp.c_proj.bias")


def _split_rows(in_proj, rows, heads, head_dim):
    """`(width, heads, head_dim)` kernel of the q, k or v rows of a `(3 width, width)` projection."""
    return in_proj[rows].T.reshape(-1, heads, head_dim)
