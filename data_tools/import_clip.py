"""`dove-data import-clip`: a CLIP checkpoint -> a dove_keras / keras-hub preset folder."""

from dove_keras.models.clip.architectures import ARCHITECTURES

DESCRIPTION = (
    "Import a CLIP checkpoint (RemoteCLIP, GeoRSCLIP, SkyCLIP, OpenAI or any Hugging Face CLIP) "
    "into a preset folder: keras-hub's CLIPBackbone with the checkpoint's weights, keras-hub's "
    "CLIPTokenizer and an image converter with the checkpoint's image size and mean/std, under a "
    "dove_keras CLIPRetriever task, so that `dove evaluate/export/search --preset` take it on "
    "TensorFlow, JAX and torch. SOURCE is a Hugging Face transformers CLIP folder (config.json, "
    "model.safetensors or pytorch_model.bin, usually vocab.json and merges.txt) or an open_clip / "
    "OpenAI state-dict file (.pt, .pth, .bin, .safetensors; raw, under 'state_dict', or with a "
    "'module.' prefix), which needs --architecture. Nothing is downloaded; nothing is written on "
    "failure."
)


def add_arguments(parser):
    """Adds the `import-clip` options to an argparse parser."""
    parser.description = DESCRIPTION
    parser.add_argument("source", help="a Hugging Face CLIP folder or a state-dict file")
    parser.add_argument("--output", required=True, metavar="PRESET_DIR", help="the preset folder to write")
    parser.add_argument("--architecture", choices=tuple(ARCHITECTURES), metavar="NAME",
                        help="open_clip model name of a state-dict file (checked against a folder's "
                        f"config.json): {', '.join(ARCHITECTURES)}")
    parser.add_argument("--tokenizer", metavar="DIR",
                        help="folder with CLIP's vocab.json and merges.txt (a Hugging Face CLIP folder "
                        "or a keras-hub CLIP preset); required when SOURCE holds none")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing preset at --output")


def run(args):
    """Runs `import-clip` from parsed arguments; returns the exit code."""
    from dove_keras.models.clip.importer import import_clip

    retriever = import_clip(args.source, args.output, architecture=args.architecture,
                            tokenizer=args.tokenizer, overwrite=args.overwrite)
    vision = retriever.backbone.vision_encoder
    print(f"wrote {args.output}: CLIP ViT (width {vision.hidden_dim}, {vision.num_layers} blocks, patch "
          f"{vision.patch_size}, image {retriever.image_size}), projection {retriever.backbone.projection_dim}, "
          f"vocabulary {retriever.preprocessor.tokenizer.vocabulary_size()}")
    return 0
