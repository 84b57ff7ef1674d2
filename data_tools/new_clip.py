"""`dove-data new-clip`: a randomly initialised CLIP preset sized by the options, to train from scratch."""

from data_tools import options
from dove_keras.data import readers
from dove_keras.errors import UsageError

DESCRIPTION = (
    "Write the preset of a randomly initialised CLIP (keras-hub's CLIPBackbone, OpenAI layout: ViT image "
    "tower, causal text transformer) with a byte-level BPE vocabulary learnt from the captions of SOURCE's "
    "split, laid out as CLIP's. `dove train` fine-tunes it as an imported CLIP (foundation.preset), so a "
    "small CLIP can be trained on a CPU, e.g. on `dove demo`'s scenes. Nothing is downloaded."
)

SIZES = (("image_size", 64), ("patch_size", 8), ("width", 64), ("layers", 2), ("heads", 4),
         ("projection_dim", 64), ("context_length", 32), ("merges", 1000))


def add_arguments(parser):
    """Adds the `new-clip` options to an argparse parser."""
    parser.description = DESCRIPTION
    parser.add_argument("source", help="caption source (precomp folder, Karpathy or COCO JSON) or a folder "
                        "written by `dove-data prepare`")
    parser.add_argument("--output", required=True, metavar="PRESET_DIR", help="the preset folder to write")
    parser.add_argument("--split", default="train", choices=readers.SPLITS,
                        help="split whose captions the BPE is learnt from (default: train)")
    options.add_source_arguments(parser, "use")
    helps = {"image_size": "input side S in pixels", "patch_size": "ViT patch side P (S must be a multiple)",
             "width": "width of both transformers", "layers": "blocks of each transformer",
             "heads": "attention heads (must divide the width)", "projection_dim": "shared embedding size",
             "context_length": "caption tokens, start and end included", "merges": "at most N BPE merges"}
    for name, default in SIZES:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=default, metavar="N",
                            help=f"{helps[name]} (default: {default})")
    parser.add_argument("--activation", default="quick_gelu", choices=("quick_gelu", "gelu"),
                        help="MLP activation (default: quick_gelu, as OpenAI's CLIP)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights (default: 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing preset at --output")


def check_sizes(args):
    """Raises UsageError, naming the option, for sizes that build no CLIP."""
    for name, _ in SIZES:
        value = getattr(args, name)
        if value < (0 if name == "merges" else 1):
            raise UsageError(f"--{name.replace('_', '-')} must be {'>= 0' if name == 'merges' else 'positive'}, "
                             f"got {value}")
    if args.image_size % args.patch_size:
        raise UsageError(f"--image-size {args.image_size} is not a multiple of --patch-size {args.patch_size}")
    if args.width % args.heads:
        raise UsageError(f"--heads {args.heads} does not divide --width {args.width}")
    if args.context_length < 3:
        raise UsageError(f"--context-length must be >= 3 (start, a token, end), got {args.context_length}")


def run(args):
    """Runs `new-clip` from parsed arguments; returns the exit code."""
    from dove_keras.data.vocabulary import training_captions
    from dove_keras.models.clip.architectures import CLIPArchitecture
    from dove_keras.models.clip.new_clip import new_clip

    check_sizes(args)
    options.check_input_paths(caption_source=args.source)
    captions = training_captions(args.source, args.split, args.format, args.use_verify)
    if not captions:
        raise UsageError(f"{args.source}: no captions in split {args.split}")
    architecture = CLIPArchitecture(
        args.image_size, args.patch_size, args.width, args.layers, args.heads, args.width, args.layers,
        args.heads, args.projection_dim, activation=args.activation, context_length=args.context_length,
    )
    retriever = new_clip(args.output, captions, architecture, args.merges, args.seed, args.overwrite)
    print(f"wrote {args.output}: random CLIP ViT (width {args.width}, {args.layers} blocks, patch "
          f"{args.patch_size}, image {args.image_size}), projection {args.projection_dim}, vocabulary "
          f"{retriever.preprocessor.tokenizer.vocabulary_size()} ({len(captions)} {args.split} captions), "
          f"{retriever.backbone.count_params():,} weights")
    return 0
