"""`make run`: the main job on the embedded corpus, end to end: about 23 minutes on 2 cores, artefacts built.

1. Builds what is missing on first use: the synthetic corpus, the pretrained backbone, the good-mix model.
2. Trains PPO briefly on MixEnv-v0 (train split, validation on the val split keeps the best model). The
   supervised model is the default mixing model that ``mixenv mix`` uses, shipped in the package
   (:mod:`supervised.default`; ``--supervised`` evaluates another run instead).
3. Mixes every held-out (test) song with PPO, the supervised model, the classic heuristics (neutral, loudness
   balance, reference matching, stem matching, CMA-ES on the env's reward) and the ground truth (the ceiling),
   all measured by the same metrics; then does the same on each out-of-domain evaluation set (other compositions,
   instruments, recording, mix prior and sample rate; built on first use, never trained on).
4. Prints a table per set and a summary of how each method carries over, writes results JSON, two plots, and
   each method's mix of one test song as WAV (with their spectrograms) to ``--out``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path
from typing import Any

from agents.policies import AgentPolicy, MixPolicy
from agents.train import train as train_agent
from experiments import methods
from experiments.compare import (
    TEST_SPLIT,
    evaluation_sets,
    format_comparison,
    format_generalisation,
    plot_comparison,
    plot_generalisation,
    ratios,
    run_policy,
    song_means,
    write_example_mixes,
)
from mixenv.data.atomic import write_json
from mixenv.env import MixEnv
from mixenv.plots import plot_spectrograms
from supervised.default import default_model_path

SUPERVISED_LABEL = "supervised cnn"


def train_ppo(args: argparse.Namespace) -> AgentPolicy:
    """PPO, trained into ``args.out`` (a finished run is reused)."""
    run = args.out / "ppo"
    if (run / "model.zip").is_file():
        print(f"reusing the PPO run in {run} (delete {args.out} to train again)")
    else:
        print(f"training PPO for {args.timesteps} steps into {run} ...")
        train_agent("ppo", ["--total-timesteps", str(args.timesteps), "--seed", str(args.seed), "--n-envs", "2",
                            "--out", str(run), "--eval-freq", "2000", "--eval-episodes", "8"])  # fmt: skip
    return AgentPolicy(run)


def methods_on(
    env: MixEnv, data: dict[str, Any], ppo: AgentPolicy, supervised_run: Path, args: argparse.Namespace
) -> dict[str, tuple[MixPolicy, MixEnv]]:
    """Every method, each with the env it mixes the songs of ``data`` in."""
    return {
        **methods.heuristics(env, args.cmaes_budget, args.seed),
        **methods.agent(ppo, data, "ppo"),
        **methods.supervised(env, supervised_run, SUPERVISED_LABEL),
        "ground truth": (methods.GroundTruthPolicy(), env),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("outputs/run"), help="results, plots and WAVs")
    parser.add_argument("--timesteps", type=int, default=6_000, help="PPO training steps (more: better, slower)")
    parser.add_argument("--cmaes-budget", type=int, default=100, help="renders per song for CMA-ES")
    parser.add_argument(
        "--supervised",
        type=Path,
        default=None,
        help="a supervised run to evaluate (default: the shipped default model)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds training and evaluation")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="mixenv: %(message)s")
    start = time.perf_counter()

    test_env = MixEnv(split="test")  # builds the default artefacts on first use
    ppo = train_ppo(args)
    supervised = args.supervised or default_model_path()
    evaluation_seed = 1000 + args.seed
    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    songs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name, data in evaluation_sets().items():
        env = test_env if name == TEST_SPLIT else MixEnv(split="test", **data)
        lineup = methods_on(env, data, ppo, supervised, args)
        print(f"\nmixing the songs of the {name} with each method ...")
        songs[name] = {method: run_policy(policy, e, None, evaluation_seed) for method, (policy, e) in lineup.items()}
        results[name] = {method: [song_means(rows)] for method, rows in songs[name].items()}

    title = f"{len(test_env.songs)} test songs, 4 s clips, 10-step episodes; PPO trained {args.timesteps} steps"
    for name, table in results.items():
        print("\n" + format_comparison(table, title if name == TEST_SPLIT else f"{name}: out-of-domain evaluation set"))
    summary = "each method on the corpus test split and on the out-of-domain evaluation sets"
    print("\n" + format_generalisation(results, summary))
    write_json(args.out / "results.json", {"title": title, "songs": songs, "means": results, "ratios": ratios(results)})
    plots = [
        plot_comparison(results[TEST_SPLIT], args.out / "results.png", title),
        plot_generalisation(results, args.out / "generalisation.png", summary),
    ]
    song = test_env.songs[0].name
    mixes = write_example_mixes(
        methods_on(test_env, {}, ppo, supervised, args), song, evaluation_seed, args.out / "mixes"
    )
    plots.append(
        plot_spectrograms(
            mixes, test_env.clip.sample_rate, args.out / "spectrograms.png", title=f"{song}: each method's mix"
        )
    )
    minutes = (time.perf_counter() - start) / 60
    written = ", ".join(map(str, [args.out / "results.json", *plots]))
    print(f"\nwrote {written} and {len(mixes)} WAVs of {song} ({minutes:.1f} min)")
    print(
        "Lower is better in every column but the return. To train longer: python -m agents.ppo --total-timesteps"
        " 100000 --n-envs 2 (or agents.sac / agents.td3), then python -m agents.evaluate --model RUN --split test;"
        " python -m supervised.train --model cnn --epochs 30 (python -m supervised.default reproduces the default"
        " model). The multi-seed comparisons are"
        " python -m experiments.benchmark_rl and python -m experiments.benchmark_supervised."
    )


if __name__ == "__main__":
    main()
