"""`dove-data vocab`: the command line of `dove_keras.data.vocabulary`."""

import os

import numpy as np

from data_tools import options
from dove_keras.data import readers
from dove_keras.data.vocabulary import build_vocabulary
from dove_keras.data.vocabulary import glove_matrix
from dove_keras.data.vocabulary import training_captions
from dove_keras.preprocessing.captions import write_vocabulary


def add_arguments(parser):
    """Adds the `vocab` options to an argparse parser."""
    parser.add_argument("source", help="caption source (precomp folder, Karpathy or COCO "
                        "JSON) or a folder written by `dove-data prepare`")
    parser.add_argument("--output", required=True, metavar="FILE",
                        help="vocabulary file to write (one word per line, most frequent first)")
    parser.add_argument("--split", default="train", choices=readers.SPLITS,
                        help="split whose captions are counted (default: train)")
    options.add_source_arguments(parser, "count")
    parser.add_argument("--min-count", type=int, default=1, metavar="N",
                        help="keep words seen at least N times (default: 1)")
    parser.add_argument("--glove", metavar="FILE",
                        help="GloVe text file: also write an embedding matrix .npy of shape "
                        "(vocabulary_size, dim)")
    parser.add_argument("--embeddings-output", metavar="FILE",
                        help="where to write the matrix (default: the vocabulary path with "
                        "_glove.npy in place of its extension)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random rows of words missing from GloVe (default: 0)")
    parser.add_argument("--oov-std", type=float, default=0.1,
                        help="standard deviation of those random rows (default: 0.1)")


def run(args):
    """Runs `vocab` from parsed arguments; returns the exit code."""
    if args.min_count < 1:
        raise ValueError(f"--min-count must be >= 1, got {args.min_count}")
    captions = training_captions(args.source, args.split, args.format, args.use_verify)
    words = build_vocabulary(captions, args.min_count)
    if not words:
        raise ValueError(f"{args.source}: no word seen {args.min_count} time(s) in {args.split}")
    write_vocabulary(words, args.output)
    print(f"{len(captions)} captions -> {len(words)} words (vocabulary_size "
          f"{len(words) + 2}) -> {args.output}")
    if args.glove:
        matrix, found = glove_matrix(words, args.glove, args.seed, args.oov_std)
        path = args.embeddings_output or os.path.splitext(args.output)[0] + "_glove.npy"
        np.save(path, matrix)
        print(f"GloVe: {found}/{len(words)} words found, matrix {matrix.shape} -> {path}")
    return 0
