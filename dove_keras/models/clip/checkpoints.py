"""Reading CLIP checkpoints into one form: OpenAI's tensor names, float32 numpy arrays.

Two kinds of source are read:
- a Hugging Face `transformers` CLIP folder (`config.json` with
  `model.safetensors`, sharded safetensors or `pytorch_model.bin`);
- an OpenAI / open_clip state dict (`.pt`, `.pth`, `.bin`, `.safetensors`):
  raw, under a `state_dict` key, with a `module.` prefix, or a TorchScript
  archive of OpenAI's.
Both come out as `{OpenAI name: array}` (e.g. `visual.conv1.weight`,
`transformer.resblocks.0.attn.in_proj_weight`), the names of the original
CLIP code, which RemoteCLIP, GeoRSCLIP and SkyCLIP keep.
"""

import json
import os

import numpy as np

from dove_keras.errors import UsageError
from dove_keras.models.clip.architectures import CLIPArchitecture

STATE_DICT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors")
HF_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
# Buffers some state dicts carry that hold no weight.
_IGNORED = ("attn_mask", "input_resolution", "context_length", "vocab_size", "position_ids")


def read_checkpoint(source):
    """`(tensors, hf_config)` of a checkpoint folder or file; `hf_config` is None for a state dict.

    Raises:
        UsageError: a missing or unreadable (e.g. truncated) source, or one
            that is not a CLIP checkpoint.
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        return _read_hf_folder(source)
    if not os.path.isfile(source):
        raise UsageError(f"checkpoint not found: {source}")
    if not source.endswith(STATE_DICT_SUFFIXES):
        raise UsageError(f"{source}: expected a Hugging Face CLIP folder or a state-dict file "
                         f"({', '.join(STATE_DICT_SUFFIXES)})")
    tensors = _unwrap(_load_tensor_file(source), source)
    if any(name.startswith("vision_model.") for name in tensors):  # an HF state dict in one file
        return _from_hf_names(tensors, source), None
    return tensors, None


def _read_hf_folder(folder):
    config_path = os.path.join(folder, "config.json")
    if not os.path.isfile(config_path):
        raise UsageError(f"{folder}: no config.json (expected a Hugging Face CLIP folder)")
    with open(config_path, encoding="utf-8") as f:
        try:
            config = json.load(f)
        except json.JSONDecodeError as error:
            raise UsageError(f"{config_path}: not valid JSON ({error})") from None
    if config.get("model_type") != "clip" or "vision_config" not in config:
        raise UsageError(f"{config_path}: model_type {config.get('model_type')!r} is not a transformers "
                         "CLIP model (model_type 'clip' with text_config and vision_config)")
    weights = next((name for name in HF_WEIGHT_FILES if os.path.isfile(os.path.join(folder, name))), None)
    if weights is None:
        raise UsageError(f"{folder}: no weights ({' or '.join(HF_WEIGHT_FILES)})")
    path = os.path.join(folder, weights)
    if weights.endswith(".index.json"):
        with open(path, encoding="utf-8") as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        tensors = {}
        for shard in shards:
            tensors.update(_load_tensor_file(os.path.join(folder, shard)))
    else:
        tensors = _load_tensor_file(path)
    return _from_hf_names(_unwrap(tensors, path), path), config


def _load_tensor_file(path):
    """The mapping a safetensors, torch pickle or TorchScript file holds (tensors, maybe nested)."""
    try:
        if path.endswith(".safetensors"):
            from safetensors.torch import load_file

            tensors = load_file(path)
        else:
            tensors = _torch_load(path)
    except UsageError:
        raise
    except Exception as error:  # truncated zips, bad headers: the readers' own messages
        reason = str(error).strip().splitlines()[0].split(". ")[0] if str(error).strip() else type(error).__name__
        raise UsageError(f"{path}: cannot read the checkpoint ({reason}); is the file complete?") from None
    return tensors


def _torch_load(path):
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except RuntimeError as error:
        if "TorchScript" not in str(error) and "constants.pkl" not in str(error):
            raise
    return torch.jit.load(path, map_location="cpu").state_dict()  # OpenAI's original .pt archives


def _to_numpy(value):
    if hasattr(value, "detach"):
        return value.detach().float().numpy() if value.is_floating_point() else value.detach().numpy()
    return np.asarray(value, dtype="float32")


def _unwrap(tensors, path):
    """`{name: float32 array}` inside a checkpoint: under `state_dict`/`model`, without `module.` prefixes."""
    for key in ("state_dict", "model"):
        if isinstance(tensors.get(key), dict):
            tensors = tensors[key]
    tensors = {
        name.removeprefix("module."): _to_numpy(value) for name, value in tensors.items()
        if hasattr(value, "shape") and name.rsplit(".", 1)[-1] not in _IGNORED
    }
    if not tensors:
        raise UsageError(f"{path}: holds no tensors")
    return tensors


_HF_LAYER = {
    "layer_norm1": "ln_1", "layer_norm2": "ln_2", "self_attn.out_proj": "attn.out_proj",
    "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj",
}
_HF_TOP = {
    "vision_model.embeddings.class_embedding": "visual.class_embedding",
    "vision_model.embeddings.patch_embedding.weight": "visual.conv1.weight",
    "vision_model.embeddings.position_embedding.weight": "visual.positional_embedding",
    "vision_model.pre_layrnorm": "visual.ln_pre",
    "vision_model.post_layernorm": "visual.ln_post",
    "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.final_layer_norm": "ln_final",
    "logit_scale": "logit_scale",
}


def _from_hf_names(tensors, path):
    """Hugging Face CLIP names -> OpenAI names (q, k, v joined into `in_proj`)."""
    out, qkv = {}, {}
    for name, value in tensors.items():
        if name in ("visual_projection.weight", "text_projection.weight"):
            out["visual.proj" if name.startswith("visual") else "text_projection"] = value.T
            continue
        if ".encoder.layers." in name:
            tower, rest = name.split(".encoder.layers.")
            index, part = rest.split(".", 1)
            prefix = ("visual." if tower == "vision_model" else "") + f"transformer.resblocks.{index}."
            if part.startswith("self_attn.") and part.split(".")[1] in ("q_proj", "k_proj", "v_proj"):
                _, projection, kind = part.split(".")
                qkv.setdefault((prefix, kind), {})[projection[0]] = value
                continue
            module, kind = part.rsplit(".", 1)
            if module not in _HF_LAYER:
                raise UsageError(f"{path}: unexpected tensor {name}")
            out[prefix + _HF_LAYER[module] + "." + kind] = value
            continue
        top = next((key for key in _HF_TOP if name == key or name.startswith(key + ".")), None)
        if top is None:
            raise UsageError(f"{path}: unexpected tensor {name} for a CLIP model")
        out[_HF_TOP[top] + name[len(top):]] = value
    for (prefix, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise UsageError(f"{path}: layer {prefix} lacks some of q_proj/k_proj/v_proj.{kind}")
        out[f"{prefix}attn.in_proj_{kind}"] = np.concatenate([parts["q"], parts["k"], parts["v"]], axis=0)
    return out


def count_blocks(tensors, prefix):
    """Number of transformer blocks named `{prefix}transformer.resblocks.N.*`."""
    marker = prefix + "transformer.resblocks."
    indices = {int(name[len(marker):].split(".")[0]) for name in tensors if name.startswith(marker)}
    return max(indices) + 1 if indices else 0


def architecture_from_hf_config(config):
    """The `CLIPArchitecture` of a transformers `CLIPConfig` dict."""
    vision, text = config["vision_config"], config["text_config"]
    activations = {vision.get("hidden_act", "quick_gelu"), text.get("hidden_act", "quick_gelu")}
    if len(activations) != 1 or not activations <= {"quick_gelu", "gelu"}:
        raise UsageError(f"unsupported CLIP activations {sorted(activations)} (quick_gelu or gelu, the same in "
                         "both towers)")
    return CLIPArchitecture(
        image_size=vision.get("image_size", 224), patch_size=vision.get("patch_size", 32),
        vision_width=vision.get("hidden_size", 768), vision_layers=vision.get("num_hidden_layers", 12),
        vision_heads=vision.get("num_attention_heads", 12),
        text_width=text.get("hidden_size", 512), text_layers=text.get("num_hidden_layers", 12),
        text_heads=text.get("num_attention_heads", 8), projection_dim=config.get("projection_dim", 512),
        activation=activations.pop(), vocabulary_size=text.get("vocab_size", 49408),
        context_length=text.get("max_position_embeddings", 77),
    )


def check_architecture(arch, tensors, source):
    """Checks that the tensors have the shapes `arch` implies.

    Raises:
        UsageError: naming the first tensor whose shape does not match, a
            missing tensor, or a block count of another architecture.
    """
    w, t, e = arch.vision_width, arch.text_width, arch.projection_dim
    expected = {
        "visual.class_embedding": (w,),
        "visual.conv1.weight": (w, 3, arch.patch_size, arch.patch_size),
        "visual.positional_embedding": (arch.grid**2 + 1, w),
        "visual.proj": (w, e),
        "token_embedding.weight": (arch.vocabulary_size, t),
        "positional_embedding": (arch.context_length, t),
        "text_projection": (t, e),
    }
    for name, shape in expected.items():
        if name not in tensors:
            raise UsageError(f"{source}: no tensor {name}: not a CLIP ViT checkpoint of the OpenAI layout")
        if tuple(tensors[name].shape) != shape:
            raise UsageError(f"{source}: tensor {name} has shape {tuple(tensors[name].shape)}, the architecture "
                             f"implies {shape} (image {arch.image_size}, patch {arch.patch_size}, widths "
                             f"{w}/{t}, embedding {e}); the checkpoint has {describe_tensors(tensors)}: a "
                             "checkpoint of another architecture?")
    for prefix, layers, width in (("visual.", arch.vision_layers, w), ("", arch.text_layers, t)):
        found = count_blocks(tensors, prefix)
        if found != layers:
            tower = "vision" if prefix else "text"
            raise UsageError(f"{source}: the {tower} tower has {found} blocks, the architecture {layers}: "
                             "a checkpoint of another architecture?")
        for index in range(layers):
            block = f"{prefix}transformer.resblocks.{index}."
            for name, shape in (("attn.in_proj_weight", (3 * width, width)), ("mlp.c_fc.weight", (4 * width, width))):
                value = tensors.get(block + name)
                if value is None or tuple(value.shape) != shape:
                    got = "missing" if value is None else f"shape {tuple(value.shape)}"
                    raise UsageError(f"{source}: tensor {block + name} is {got}, expected {shape}")


def describe_tensors(tensors):
    """A short description of what a checkpoint's tensors imply (for error messages)."""
    conv = tensors.get("visual.conv1.weight")
    position = tensors.get("visual.positional_embedding")
    if conv is None or position is None:
        return "no visual.conv1.weight / visual.positional_embedding"
    grid = int(round((position.shape[0] - 1) ** 0.5))
    return (f"vision width {conv.shape[0]}, patch {conv.shape[-1]}, image {grid * conv.shape[-1]}, "
            f"{count_blocks(tensors, 'visual.')} vision and {count_blocks(tensors, '')} text blocks")
