"""`make run`: the main job on the embedded corpus, end to end, in under 20 minutes on 2 cores.

1. Builds what is missing on first use: the synthetic corpus, the pretrained backbone, the good-mix model.
2. Trains PPO briefly on MixEnv-v0 (train split, validation on the val split keeps the best model), and a
   supervised model that predicts the settings from the stems and the reference (:mod:`supervised.train`).
3. Mixes every held-out (test) song with PPO, the supervised model, the classic heuristics (neutral, loudness
   balance, reference matching, CMA-ES on the env's reward) and the ground truth (the ceiling), all measured
   by the same metrics.
4. Prints the table, writes results JSON, a plot, and each method's mix of one test song as WAV (with their
   spectrograms) to ``--out``.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np

from agents.heuristics import CMAESPolicy, LoudnessBalancePolicy, NeutralPolicy, ReferenceMatchPolicy
from agents.policies import AgentPolicy, MixPolicy
from agents.train import train as train_agent
from experiments.compare import format_comparison, plot_comparison, run_policy, song_means, write_example_mixes
from mixenv.data.atomic import write_json
from mixenv.env import MixEnv
from mixenv.plots import plot_spectrograms
from supervised.args import TrainArgs as SupervisedArgs
from supervised.models import MODEL_NAMES
from supervised.policy import SupervisedPolicy
from supervised.train import train as train_supervised


class GroundTruthPolicy:
    """Plays the clip's ground-truth settings: what a perfect method would reach (synthetic songs only)."""

    name = "ground truth"

    def __init__(self) -> None:
        self.action = np.zeros(0, np.float32)

    def reset(self, env: MixEnv) -> None:
        if env.clip.settings is None:
            raise ValueError(f"song {env.clip.name!r} has no ground-truth settings")
        self.action = env.clip.settings.normalized()

    def act(self, observation: dict[str, np.ndarray], env: MixEnv) -> np.ndarray:
        return self.action


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("outputs/run"), help="results, plot and WAVs")
    parser.add_argument("--timesteps", type=int, default=6_000, help="PPO training steps (more: better, slower)")
    parser.add_argument("--cmaes-budget", type=int, default=100, help="renders per song for CMA-ES")
    parser.add_argument("--supervised-model", default="cnn", choices=MODEL_NAMES, help="supervised model to train")
    parser.add_argument("--supervised-epochs", type=int, default=10, help="its training epochs")
    parser.add_argument("--seed", type=int, default=0, help="seeds training and evaluation")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="mixenv: %(message)s")
    start = time.perf_counter()

    test_env = MixEnv(split="test")  # builds corpus, backbone and good-mix model on first use
    run = args.out / "ppo"
    if (run / "model.zip").is_file():
        print(f"reusing the PPO run in {run} (delete {args.out} to train again)")
    else:
        print(f"training PPO for {args.timesteps} steps into {run} ...")
        train_agent("ppo", ["--total-timesteps", str(args.timesteps), "--seed", str(args.seed), "--n-envs", "2",
                             "--out", str(run), "--eval-freq", "2000", "--eval-episodes", "8"])  # fmt: skip
    supervised_run = args.out / "supervised"
    print(f"training the supervised {args.supervised_model} model for {args.supervised_epochs} epochs ...")
    supervised = train_supervised(
        SupervisedArgs(
            model=args.supervised_model,
            epochs=args.supervised_epochs,
            seed=args.seed,
            out=supervised_run,
            clip_seconds=3.0,
            resume=(supervised_run / "last.pt").is_file(),
        )
    )
    ppo = AgentPolicy(run)
    ppo_env = ppo.env("test")  # the test songs as the agent observes them (backbone embeddings)
    methods: dict[str, tuple[MixPolicy, MixEnv]] = {
        "neutral": (NeutralPolicy(), test_env),
        "loudness balance": (LoudnessBalancePolicy(), test_env),
        "reference matching": (ReferenceMatchPolicy(), test_env),
        "cma-es": (CMAESPolicy(budget=args.cmaes_budget, seed=args.seed), test_env),
        "ppo": (ppo, ppo_env),
        f"supervised {args.supervised_model}": (SupervisedPolicy(supervised.out), test_env),
        "ground truth": (GroundTruthPolicy(), test_env),
    }
    evaluation_seed = 1000 + args.seed
    rows = {name: run_policy(policy, env, None, evaluation_seed) for name, (policy, env) in methods.items()}
    results = {name: [song_means(r)] for name, r in rows.items()}
    title = f"{len(test_env.songs)} test songs, 4 s clips, 10-step episodes; PPO trained {args.timesteps} steps"
    print("\n" + format_comparison(results, title))
    write_json(args.out / "results.json", {"title": title, "songs": rows, "means": results})
    plot = plot_comparison(results, args.out / "results.png", title)
    song = test_env.songs[0].name
    mixes = write_example_mixes(methods, song, evaluation_seed, args.out / "mixes")
    spectrograms = plot_spectrograms(
        mixes, test_env.clip.sample_rate, args.out / "spectrograms.png", title=f"{song}: each method's mix"
    )
    minutes = (time.perf_counter() - start) / 60
    print(
        f"\nwrote {args.out / 'results.json'}, {plot}, {spectrograms} and {len(mixes)} WAVs of {song} in "
        f"{args.out / 'mixes'} ({minutes:.1f} min)"
    )
    print(
        "Lower is better in every column but the return. To train longer: python -m agents.ppo --total-timesteps"
        " 100000 --n-envs 2 (or agents.sac / agents.td3), then python -m agents.evaluate --model RUN --split test;"
        " python -m supervised.train --model cnn --epochs 30. The multi-seed comparisons are"
        " python -m experiments.benchmark_rl and python -m experiments.benchmark_supervised."
    )


if __name__ == "__main__":
    main()
