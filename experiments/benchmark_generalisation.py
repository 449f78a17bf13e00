"""Does each method carry over to music it has never heard? Every method on the corpus test split and on each
out-of-domain evaluation set, several seeds.

Methods, each mixing every song of every set in MixEnv (a 4 s clip, 10-step episodes, evaluation seed 1000, the
metrics of :mod:`rewards.metrics`):

* the heuristics: neutral, loudness balance, reference matching (deterministic), CMA-ES with ``--cmaes-budget``
  renders per song (one run per seed);
* the supervised ``cnn`` of each training recipe in ``--recipes`` (one model per seed, the supervised benchmark's
  budget: 15 epochs of 12 steps, 3 s clips), as it predicts, with its prediction mastered to the reference's
  loudness (:class:`agents.policies.LoudnessMatchedPolicy`), reference-free, and for the recipes in ``--refine``
  that loudness-matched prediction refined by CMA-ES at CMA-ES's budget (:class:`agents.heuristics.RefinedPolicy`);
* trained agents, if ``--agent-runs DIR`` holds ``<algo>_seed<N>`` run folders (the RL benchmark's).

Prints a table per set and the summary the generalisation issue asks for: MRSTFT as a ratio to the neutral mix's
on each set, and LUFS error, mean ± std over seeds; then the goals for the learned methods named by
``--learned``: beat every heuristic out of domain, LUFS error at most 0.5 LU, and an out-of-domain ratio within
10% of the in-domain one (for each method in ``--learned``). Finished runs and evaluations are reused, so an
interrupted benchmark continues.

Usage: ``python -m experiments.benchmark_generalisation [--seeds 0 1 2] [--out outputs/benchmark_generalisation]``
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.policies import MixPolicy, load_agent
from experiments import methods
from experiments.compare import (
    BASELINE,
    TEST_SPLIT,
    cached,
    evaluation_sets,
    format_comparison,
    format_generalisation,
    over_runs,
    plot_generalisation,
    ratios,
    run_policy,
    slug,
    song_means,
)
from mixenv.data.atomic import write_json
from mixenv.env import MixEnv
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
HEURISTICS = ("loudness balance", "reference matching", "cma-es")
RATIO_TOLERANCE = 0.10
LUFS_GOAL = 0.5


def train_recipe(label: str, seed: int, runs: Path) -> Path:
    """The supervised run of a recipe and seed (trained here unless it is finished already)."""
    out = runs / f"{label.replace(', ', '__').replace(' ', '-')}__seed{seed}"
    if not (out / "training.json").is_file():
        resume = (out / "last.pt").is_file()
        recipe = BUDGET | (RECIPES | ABLATIONS)[label]
        train(TrainArgs(model="cnn", seed=seed, out=out, progress=False, resume=resume, **recipe))
    return out


def lineup(
    env: MixEnv, data: dict[str, Any], seed: int, args: argparse.Namespace
) -> dict[str, tuple[MixPolicy, MixEnv]]:
    """Every method of one seed, each with its env on the songs of ``data``."""
    chosen = methods.heuristics(env, args.cmaes_budget, seed)
    if seed != args.seeds[0]:  # the deterministic heuristics run once
        chosen = {"cma-es": chosen["cma-es"]}
    for label in args.recipes:
        run = train_recipe(label, seed, args.runs / "supervised")
        budget = args.cmaes_budget if label in args.refine else None
        chosen |= methods.supervised(env, run, f"supervised {label}", refine_budget=budget, seed=seed)
    for folder in sorted(args.agent_runs.glob(f"*_seed{seed}")) if args.agent_runs else []:
        chosen |= methods.agent(load_agent(folder), data, folder.name.rsplit("_seed", 1)[0])
    return chosen


def goals(results: Mapping[str, Mapping[str, Sequence[Mapping[str, float]]]], learned: str) -> dict[str, Any]:
    """The generalisation issue's goals for the method ``learned``, each with its numbers."""
    table = ratios(results)
    out: dict[str, Any] = {"method": learned, "sets": {}}
    base = table[TEST_SPLIT][learned]
    for name in results:
        if name == TEST_SPLIT:
            continue
        lufs = over_runs(results[name][learned])["lufs_error"][0]
        heuristic = {h: table[name][h] for h in HEURISTICS if h in table[name]}
        out["sets"][name] = {
            "ratio": table[name][learned],
            "in_domain_ratio": base,
            "relative_gap": table[name][learned] / base - 1,
            "best_heuristic": min(heuristic.values()),
            "beats_every_heuristic": table[name][learned] < min(heuristic.values()),
            "lufs_error": lufs,
        }
    return out


def format_goals(g: Mapping[str, Any]) -> str:
    """One line per evaluation set: each goal's number, and met or not."""

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    lines = [f"goals for {g['method']}:"]
    for name, s in g["sets"].items():
        lines.append(
            f"  {name}: MRSTFT ratio {s['ratio']:.3f} vs the best heuristic's {s['best_heuristic']:.3f} "
            f"(beat every heuristic: {verdict(s['beats_every_heuristic'])}); LUFS error {s['lufs_error']:.2f} LU "
            f"(goal <= {LUFS_GOAL}: {verdict(s['lufs_error'] <= LUFS_GOAL)}); {100 * s['relative_gap']:+.0f}% "
            f"against its in-domain ratio {s['in_domain_ratio']:.3f} (goal within {100 * RATIO_TOLERANCE:.0f}%: "
            f"{verdict(abs(s['relative_gap']) <= RATIO_TOLERANCE)})"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
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
        help="recipes whose loudness-matched prediction is also refined by CMA-ES from there, at the same budget",
    )
    parser.add_argument("--agent-runs", type=Path, default=None, help="trained agents' run folders (<algo>_seed<N>)")
    parser.add_argument(
        "--learned",
        nargs="+",
        default=["supervised cnn, loudness matched", "supervised cnn, refined"],
        help="the methods the goals are checked for",
    )
    parser.add_argument("--runs", type=Path, default=Path("runs/benchmark_generalisation"), help="training runs")
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmark_generalisation"), help="results")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    start = time.perf_counter()
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for name, data in evaluation_sets().items():
        env = MixEnv(split="test", **data)
        results[name] = {}
        for seed in args.seeds:
            for method, (policy, method_env) in lineup(env, data, seed, args).items():
                rows = cached(
                    args.out / "evaluations" / slug(name) / f"{slug(method)}__seed{seed}.json",
                    lambda p=policy, e=method_env: run_policy(p, e, None, seed=1000),
                )
                results[name].setdefault(method, []).append(song_means(rows))
        results[name] = {BASELINE: results[name].pop(BASELINE), **results[name]}
    title = f"seeds {args.seeds}; CMA-ES {args.cmaes_budget} renders per song; supervised budget {BUDGET}"
    for name, table in results.items():
        print("\n" + format_comparison(table, f"{name}: {title}"))
    summary = "MRSTFT / neutral's and LUFS error, mean over seeds"
    print("\n" + format_generalisation(results, summary))
    achieved = [goals(results, learned) for learned in args.learned if learned in results[TEST_SPLIT]]
    print("\n" + "\n".join(format_goals(g) for g in achieved))
    minutes = (time.perf_counter() - start) / 60
    write_json(
        args.out / "results.json",
        {"title": title, "means": results, "ratios": ratios(results), "goals": achieved, "minutes": minutes},
    )
    plot = plot_generalisation(results, args.out / "generalisation.png", summary)
    print(f"\nwrote {args.out / 'results.json'} and {plot} ({minutes:.1f} min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
