"""The `dove` command line: one subcommand per module, imported only when used."""

import sys

from dove_keras.backends import use_default_xla_flags
from dove_keras.subcommands import run_command

# name -> (module, one-line help). Each module defines
# `add_arguments(parser)` and `run(args) -> int`.
COMMANDS = {
    "train": ("dove_keras.commands.train", "train DOVE from an experiment config (resumes if interrupted)"),
    "evaluate": ("dove_keras.commands.evaluate", "R@1/5/10 and mR of saved weights on a split"),
    "demo": ("dove_keras.commands.demo", "generate scenes, train a small DOVE on CPU, show test recalls, examples"),
    "export": ("dove_keras.commands.export", "TensorFlow SavedModel with raw image/text endpoints and ROAM score"),
    "search": (
        "dove_keras.commands.search",
        "index images or GeoTIFF scenes, query them with text (two-stage, ROAM re-ranking)",
    ),
    "study": (
        "dove_keras.commands.study",
        "ablation or parameter sweep: variants x seeds as run folders, mean ± std, paired t-tests",
    ),
    "compare-backends": (
        "dove_keras.commands.compare_backends",
        "same config, weights and batches on tensorflow, jax and torch: times, memory, losses",
    ),
}


def main(argv=None):
    """Runs `dove`; returns the exit code."""
    use_default_xla_flags()
    return run_command("dove", "DOVE remote-sensing image-text retrieval (Keras 3).", COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
