"""Does each training recipe carry over to music it has never heard? Trains the supervised ``cnn`` of each recipe
in ``--recipes`` (one model per seed, the supervised benchmark's budget: 15 epochs of 12 steps, 3 s clips), then
runs :mod:`experiments.benchmark` with those models (``--models "supervised LABEL=RUN__seed{seed}"``): every method
on the corpus test split and each out-of-domain evaluation set, each model as it predicts, loudness matched, balance
and loudness matched, reference-free, and for the recipes in ``--refine`` refined by CMA-ES at CMA-ES's budget.

It prints what the benchmark prints (a table per set, MRSTFT as a ratio to the neutral mix's on each set, LUFS
error) and the generalisation issue's goals for the methods of ``--learned``: beat every heuristic out of domain,
LUFS error at most 0.5 LU, an out-of-domain ratio within 10% of the in-domain one. Finished training runs and the
benchmark's rows are reused, so an interrupted run continues. Trained agents go beside them with
``python -m experiments.benchmark --agents``.

Usage: ``python -m experiments.benchmark_generalisation [--seeds 0 1 2] [--out outputs/benchmark_generalisation]``
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from experiments import benchmark
from supervised.args import TrainArgs
from supervised.train import train

_VARIED = {"remix_rates": (22_050, 44_100, 48_000), "min_clip_seconds": 2.0, "excerpt_seconds": 3.0}
RECIPES: dict[str, dict[str, Any]] = {
    "cnn": {},
    "cnn, remixed stems": {"mixes_per_song": 8, "wide_share": 0.0, "steps_per_epoch": 24, **_VARIED},
    "cnn, randomised": {
        "mixes_per_song": 8,
        "wide_share": 0.5,
        "steps_per_epoch": 40,
        "reference_dropout": 0.0,
        **_VARIED,
    },
}
"""Supervised training recipes: the corpus's own mixes; its stems re-coloured, thinned out, resampled and cut at
other lengths, but mixed with their own settings; and half of those remixes under the wide prior instead
(:mod:`mixenv.remix`), which only the reference can tell. Each trains for as many steps as its data bears before
overfitting in the pilot runs (the corpus's 192 mixes after about 4 epochs of 12 steps; remixes later)."""
ABLATIONS: dict[str, dict[str, Any]] = {
    "cnn, randomised, no recolour": RECIPES["cnn, randomised"] | {"recolour": False},
    "cnn, randomised, all roles": RECIPES["cnn, randomised"] | {"drop_role": 0.0},
    "cnn, randomised, one rate": RECIPES["cnn, randomised"] | {"remix_rates": ()},
    "cnn, randomised, 3 s clips": RECIPES["cnn, randomised"] | {"min_clip_seconds": None},
}
"""The randomised recipe with one randomisation left out each (``--recipes`` picks them): what each one buys.
Leaving out the wide prior is ``cnn, remixed stems``."""
BUDGET = {"epochs": 15, "steps_per_epoch": 12, "batch_size": 16, "clip_seconds": 3.0}


def run_folder(label: str, seed: int | str, runs: Path) -> Path:
    """Where the supervised run of a recipe and seed goes."""
    return runs / f"{label.replace(', ', '__').replace(' ', '-')}__seed{seed}"


def train_recipe(label: str, seed: int, runs: Path) -> Path:
    """The supervised run of a recipe and seed (trained here unless it is finished already)."""
    out = run_folder(label, seed, runs)
    if not (out / "training.json").is_file():
        resume = (out / "last.pt").is_file()
        recipe = BUDGET | (RECIPES | ABLATIONS)[label]
        train(TrainArgs(model="cnn", seed=seed, out=out, progress=False, resume=resume, **recipe))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m experiments.benchmark_generalisation``."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training and CMA-ES seeds")
    parser.add_argument(
        "--recipes",
        nargs="+",
        default=list(RECIPES),
        choices=[*RECIPES, *ABLATIONS],
        help="supervised recipes (the ablations of the randomised one too)",
    )
    parser.add_argument(
        "--cmaes-budget", type=int, default=100, help="renders per song for CMA-ES and for refining a prediction"
    )
    parser.add_argument(
        "--refine",
        nargs="*",
        default=["cnn"],
        choices=[*RECIPES, *ABLATIONS],
        help="recipes whose balance- and loudness-matched prediction is also refined by CMA-ES, at the same budget",
    )
    parser.add_argument(
        "--learned",
        nargs="+",
        default=["supervised cnn, loudness matched", "supervised cnn, refined"],
        help="the methods the goals are checked for",
    )
    parser.add_argument("--workers", type=int, default=1, help="benchmark episodes in this many local processes")
    parser.add_argument("--runs", type=Path, default=Path("runs/benchmark_generalisation"), help="training runs")
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmark_generalisation"), help="results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    models = []
    for label in args.recipes:
        for seed in args.seeds:
            train_recipe(label, seed, args.runs / "supervised")
        models.append(f"supervised {label}={run_folder(label, '{seed}', args.runs / 'supervised')}")
    refined = [f"supervised {label}" for label in args.refine]
    seeds = [str(seed) for seed in args.seeds]
    return benchmark.main(
        ["--models", *models, "--refine", *refined, "--learned", *args.learned, "--seeds", *seeds,
         "--cmaes-budget", str(args.cmaes_budget), "--workers", str(args.workers), "--out", str(args.out)]
    )  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
