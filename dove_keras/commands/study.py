"""`dove study ablation` / `dove study sweep`: one config as variants x seeds, mean ± std, paired tests."""

import argparse
import os

from dove_keras.backends import BACKENDS
from dove_keras.commands.options import BACKEND_HELP
from dove_keras.commands.options import add_config_arguments
from dove_keras.commands.options import overrides_from_args
from dove_keras.commands.options import select_backend
from dove_keras.training.config import DISTRIBUTIONS

DEFAULT_SEEDS = 3
# Without --config: `dove demo`'s recipe and generator at a reduced size (these demo options).
DEFAULT_DEMO_OPTIONS = ["--num-images", "1000", "--epochs", "2"]
DESCRIPTION = (
    "Train one experiment config as several variants, each with --seeds seeds (seed, seed+1, ...), "
    "each an ordinary run folder under --output/runs/; then write study.csv (one row per run: the "
    "six test recalls, mR, wall seconds), summary.csv and summary.md (per variant the mean ± std of "
    "every recall and of mR, and the mR difference to the reference with a paired two-sided t-test "
    "over seeds) and study.png (mR per variant, each seed and the spread). Interrupted, the same "
    "command resumes: finished runs are kept, the interrupted one resumes from its backup. "
    "Without --config: `dove demo`'s recipe on its generated scenes at a reduced size "
    f"(`dove demo {' '.join(DEFAULT_DEMO_OPTIONS)}`; the data is generated under dove_runs/demo/data "
    "if absent). See docs/studies.md."
)
ABLATION_HELP = (
    "the paper's ablation: dove (ROAM and DTGA), no_roam, no_dtga, no_global (loss.lambda_global=0), "
    "hardest_negative (VSE++ hardest negative), dual_encoder (no ROAM, no DTGA); compared with dove"
)
SWEEP_HELP = "the paper's parameter evaluation: one config key set to each value of a grid; compared with the first"


def add_arguments(parser):
    """Adds the `dove study` kinds and their options."""
    parser.description = DESCRIPTION
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True,
                                  help="ablation: the paper's variants; sweep: one config key over values")
    ablation = kinds.add_parser("ablation", help=ABLATION_HELP, description=f"{DESCRIPTION} Ablation: {ABLATION_HELP}.")
    ablation.add_argument(
        "--variants", nargs="+", metavar="NAME",
        help="the variants to train, in this order (default: all six: dove no_roam no_dtga no_global "
        "hardest_negative dual_encoder)",
    )
    sweep = kinds.add_parser("sweep", help=SWEEP_HELP, description=f"{DESCRIPTION} Sweep: {SWEEP_HELP}.")
    sweep.add_argument(
        "--set-grid", required=True, metavar="KEY=V1,V2,...",
        help="the config key and its values (read as YAML), e.g. loss.lambda_global=0,0.5,1 or "
        "model.num_regions=4,8,16; also writes sweep.png (mR against the value)",
    )
    for sub in (ablation, sweep):
        _add_common_arguments(sub)


def _add_common_arguments(parser):
    add_config_arguments(parser, required=False)
    parser.add_argument(
        "--seeds", type=int, default=DEFAULT_SEEDS, metavar="N",
        help=f"runs per variant, with seeds seed .. seed+N-1 of the config (default: {DEFAULT_SEEDS})",
    )
    parser.add_argument(
        "--output", metavar="DIR",
        help="the study folder (default: dove_runs/studies/ablation, or dove_runs/studies/sweep-KEY)",
    )
    parser.add_argument("--backend", choices=BACKENDS, help=BACKEND_HELP)
    parser.add_argument(
        "--distribution", choices=DISTRIBUTIONS, default=None,
        help="override the config's distribution for every run, as for `dove train`",
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="the folder holds a study of another config (or an earlier one to redo): remove its runs "
        "and outputs and start again (without it such a folder is refused)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars (a line per run is still printed)")


def run(args):
    """Runs `dove study` (errors are reported by the command line)."""
    from dove_keras.experiments import study as studies

    studies.check_seeds(args.seeds)
    overrides = overrides_from_args(args)
    if args.distribution:
        overrides["distribution"] = args.distribution
    if args.kind == "ablation":
        variants = studies.parse_variants(args.variants)
        output = args.output or os.path.join("dove_runs", "studies", "ablation")
    else:
        key, grid = studies.parse_grid(args.set_grid)
        output = args.output or os.path.join("dove_runs", "studies", f"sweep-{key}")
    if not args.config:  # the demo's data is generated first: check on the default config before
        for value in (grid.values() if args.kind == "sweep" else ()):
            studies.check_overrides({**overrides, key: value}, f"--set-grid {key}={value}")
        studies.check_overrides(overrides, "--set")
    # With --config, loading it checks --set and planning checks every run's config, before any run.
    select_backend(args.backend)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see `dove demo`
    base = _base_config(args, overrides)
    if args.kind == "ablation":
        study = studies.plan_ablation(base, variants, args.seeds, output)
    else:
        study = studies.plan_sweep(base, key, grid, args.seeds, output)
    import keras

    backend = keras.backend.backend()
    studies.check_study_folder(study, backend, args.overwrite)
    print(
        f"{args.kind} study: {len(study.labels)} x {args.seeds} seed(s) = {len(study.runs)} runs of "
        f"{base.name} on the {backend} backend -> {output}",
        flush=True,
    )
    studies.run_study(study, backend, overwrite=args.overwrite, verbose=0 if args.quiet else 1)
    with open(os.path.join(output, "summary.md"), encoding="utf-8") as f:
        print(f.read())
    print(f"Files in {output}: study.csv, summary.csv, summary.md, study.png, runs/")
    return 0


def _base_config(args, overrides):
    """The `--config` file with `--set`, else the demo's recipe at the reduced size."""
    from dove_keras.training.config import load_config

    if args.config:
        return load_config(args.config, overrides=overrides)
    from dove_keras.commands import demo
    from dove_keras.experiments.synthetic_experiment import prepare_synthetic_data
    from dove_keras.training.config import apply_overrides
    from dove_keras.training.config import config_from_dict

    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    options = parser.parse_args(DEFAULT_DEMO_OPTIONS)
    data = prepare_synthetic_data(
        options.output_dir, options.num_images, options.scene_size, options.seed, options.split_fractions,
        progress=not args.quiet,
    )
    raw = demo.demo_config(options, data).to_dict()
    raw["name"] = "demo-study"
    apply_overrides(raw, overrides, "--set")
    return config_from_dict(raw, source="--set")
