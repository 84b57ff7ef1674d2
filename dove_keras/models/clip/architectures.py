"""CLIP architectures by open_clip name, and the architecture a checkpoint's tensors imply.

An architecture is a plain dict of keras-hub `CLIPBackbone` arguments (the
vision and text encoders' widths, depths, heads, image and patch size,
activation) plus the checkpoint's `projection_dim`. Widths, depths, patch and
image size can be read off the tensors; heads and the activation cannot, so
they come from the name (or, for a Hugging Face folder, its config.json).
"""

import dataclasses

from dove_keras.errors import UsageError

TEXT_CONTEXT = 77  # OpenAI CLIP's caption length (tokens, with start and end)
VOCABULARY_SIZE = 49408


@dataclasses.dataclass(frozen=True)
class CLIPArchitecture:
    """The shape of a CLIP model (OpenAI layout: pre-norm ViT + causal text transformer).

    Attributes:
        image_size: input side S.
        patch_size: patch side P.
        vision_width, vision_layers, vision_heads: the ViT.
        text_width, text_layers, text_heads: the text transformer.
        projection_dim: the shared embedding size.
        activation: "quick_gelu" (OpenAI's weights) or "gelu".
        vocabulary_size: BPE vocabulary size.
        context_length: text positions.
    """

    image_size: int
    patch_size: int
    vision_width: int
    vision_layers: int
    vision_heads: int
    text_width: int
    text_layers: int
    text_heads: int
    projection_dim: int
    activation: str = "gelu"
    vocabulary_size: int = VOCABULARY_SIZE
    context_length: int = TEXT_CONTEXT

    @property
    def grid(self):
        """Patches per side, S // P."""
        return self.image_size // self.patch_size


# open_clip's model configs of the ViT CLIPs that remote-sensing checkpoints use
# (RemoteCLIP: ViT-B-32, ViT-L-14; GeoRSCLIP: ViT-B-32, ViT-L-14, ViT-L-14-336, ViT-H-14;
# SkyCLIP: ViT-B-32, ViT-L-14). The MLP is 4x the width everywhere.
_BASE = {
    "ViT-B-32": CLIPArchitecture(224, 32, 768, 12, 12, 512, 12, 8, 512),
    "ViT-B-16": CLIPArchitecture(224, 16, 768, 12, 12, 512, 12, 8, 512),
    "ViT-L-14": CLIPArchitecture(224, 14, 1024, 24, 16, 768, 12, 12, 768),
    "ViT-L-14-336": CLIPArchitecture(336, 14, 1024, 24, 16, 768, 12, 12, 768),
    "ViT-H-14": CLIPArchitecture(224, 14, 1280, 32, 16, 1024, 24, 16, 1024),
}
ARCHITECTURES = {
    **_BASE,
    **{f"{name}-quickgelu": dataclasses.replace(a, activation="quick_gelu") for name, a in _BASE.items()},
}


def architecture_by_name(name):
    """The `CLIPArchitecture` of an open_clip model name (e.g. "ViT-B-32-quickgelu").

    Raises:
        UsageError: an unknown name (the known ones are listed).
    """
    if name not in ARCHITECTURES:
        raise UsageError(f"unknown CLIP architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name]


def build_clip_backbone(arch, dtype=None):
    """A randomly initialised keras-hub `CLIPBackbone` of `arch`."""
    import keras_hub

    vision = keras_hub.models.CLIPVisionEncoder(
        patch_size=arch.patch_size,
        hidden_dim=arch.vision_width,
        num_layers=arch.vision_layers,
        num_heads=arch.vision_heads,
        intermediate_dim=4 * arch.vision_width,
        intermediate_activation=arch.activation,
        image_shape=(arch.image_size, arch.image_size, 3),
        dtype=dtype,
        name="vision_encoder",
    )
    text = keras_hub.models.CLIPTextEncoder(
        vocabulary_size=arch.vocabulary_size,
        embedding_dim=arch.text_width,
        hidden_dim=arch.text_width,
        num_layers=arch.text_layers,
        num_heads=arch.text_heads,
        intermediate_dim=4 * arch.text_width,
        intermediate_activation=arch.activation,
        max_sequence_length=arch.context_length,
        dtype=dtype,
        name="text_encoder",
    )
    return keras_hub.models.CLIPBackbone(vision, text, projection_dim=arch.projection_dim, dtype=dtype)
