"""`dove-data prepare`: the command line of `dove_keras.data.prepare`."""

import os

from data_tools import options
from dove_keras.data import readers
from dove_keras.data import shards
from dove_keras.data.prepare import prepare


def add_arguments(parser):
    """Adds the `prepare` options to an argparse parser."""
    parser.add_argument("source", help="caption source: a precomp folder, a Karpathy "
                        "dataset_<name>.json, a COCO captions JSON, or a folder of COCO "
                        "JSONs named *train*/*val*/*test*")
    parser.add_argument("--images", required=True, metavar="DIR",
                        help="folder the image filenames of the source are relative to")
    parser.add_argument("--output", required=True, metavar="DIR",
                        help="output folder for the shards and manifest.json")
    options.add_source_arguments(parser, "use")
    parser.add_argument("--split", action="append", choices=readers.SPLITS, dest="splits",
                        help="split to write; repeat for several (default: every split)")
    parser.add_argument("--shard-size", type=int, default=256, metavar="N",
                        help="images per shard (default: 256)")
    parser.add_argument("--empty-captions", choices=("error", "drop"), default="error",
                        help="captions empty after normalisation: stop with the list "
                        "(error, default) or drop them and images left without caption")
    parser.add_argument("--png-compression", type=int, default=6, choices=range(10),
                        metavar="0-9", help="PNG zlib level; lossless at every level "
                        "(default: 6)")
    parser.add_argument("--regions", metavar="FILE.npz",
                        help="precomputed region vectors (e.g. detector RoI features): an .npz "
                        "holding one (N_r, D_r) array per image filename, stored with each record "
                        "for model.region_source: precomputed (set model.region_dim to D_r)")
    parser.add_argument("--allow-split-overlap", action="store_true",
                        help="accept an image in two splits (refused by default: a train/test leak)")
    options.add_captions_per_image_argument(
        parser, "every validation and test image (as the evaluation needs)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace shards of a different earlier run in --output")


def run(args):
    """Runs `prepare` from parsed arguments; returns the exit code."""
    options.check_input_paths(caption_source=args.source, image_folder=args.images, regions_file=args.regions)
    manifest = prepare(
        args.source, args.images, args.output, source_format=args.format,
        splits=args.splits, shard_size=args.shard_size, empty_captions=args.empty_captions,
        use_verify=args.use_verify, compress_level=args.png_compression, regions=args.regions,
        allow_split_overlap=args.allow_split_overlap, captions_per_image=args.captions_per_image,
        overwrite=args.overwrite,
    )
    for split, entry in manifest["splits"].items():
        print(f"{split}: {entry['images']} images, {entry['captions']} captions, "
              f"{len(entry['shards'])} shard(s), dropped {entry['dropped_empty_captions']} "
              "empty caption(s)")
    print(f"wrote {os.path.join(args.output, shards.MANIFEST)}")
    return 0
