"""`make run`: the main job on the embedded corpus, end to end: about 40 minutes on 2 cores, artefacts built.

1. Builds what is missing on first use: the synthetic corpus, the classics training set, the good-mix model (under
   the shipped backbone), then the out-of-domain evaluation sets.
2. Trains PPO briefly on MixEnv-v0 (train split, validation on the val split keeps the best model). The
   supervised model is the default mixing model that ``mixenv mix`` uses, shipped in the package
   (:mod:`supervised.default`; ``--supervised`` evaluates another run instead).
3. Runs :mod:`experiments.benchmark`, the one benchmark, with the PPO run as an agent: every held-out (test) song of
   the corpus and of each out-of-domain evaluation set (other compositions, instruments, recording, mix prior and
   sample rate; never trained on) mixed by PPO, the supervised model, the heuristics (neutral, loudness balance,
   reference matching, stem matching, CMA-ES on the reference's spectrum and loudness), predict-the-mean and the
   ground truth (the ceiling), each in its forms, all measured by the same metrics, in ``--workers`` processes. The
   model's refined form (100 more renders a song) is left out for time: ``python -m experiments.benchmark`` runs it.
4. Prints the benchmark's table per set, how each method carries over and the generalisation goals, and writes its
   results JSON and plots, then each method's mix of one test song as WAV (with their spectrograms), to ``--out``.

Each (set, method) is kept under ``--out``/rows as it finishes, so an interrupted run continues where it stopped,
and a second run reuses the trained PPO (delete ``--out`` to start again).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from agents.train import train as train_agent
from experiments import benchmark
from experiments.compare import TEST_SPLIT, final_mixes, write_mixes
from mixenv.plots import plot_spectrograms

AGENT_LABEL = "ppo"


def train_ppo(out: Path, timesteps: int, seed: int) -> Path:
    """PPO's run folder, trained into ``out/ppo`` (a finished run is reused)."""
    run = out / AGENT_LABEL
    if (run / "model.zip").is_file():
        print(f"reusing the PPO run in {run} (delete {out} to train again)")
    else:
        print(f"training PPO for {timesteps} steps into {run} ...")
        train_agent("ppo", ["--total-timesteps", str(timesteps), "--seed", str(seed), "--n-envs", "2",
                            "--out", str(run), "--eval-freq", "2000", "--eval-episodes", "8"])  # fmt: skip
    return run


def benchmark_argv(args: argparse.Namespace, ppo: Path) -> list[str]:
    """The benchmark's command line for this run: the PPO run as an agent, one seed, no model refined."""
    argv = ["--agents", f"{AGENT_LABEL}={ppo}", "--seeds", str(args.seed), "--refine"]
    argv += ["--cmaes-budget", str(args.cmaes_budget), "--workers", str(args.workers), "--out", str(args.out)]
    return argv + (["--model", str(args.supervised)] if args.supervised is not None else [])


def write_example_mixes(out: Path, seed: int) -> list[Path]:
    """Each method's mix of the first test song of the corpus, from the benchmark's rows (``out/results.json``), as
    WAVs in ``out/mixes`` beside a plot of their spectrograms."""
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    rows = [row for row in results["rows"] if row["set"] == TEST_SPLIT and row["seed"] == seed]
    env = benchmark.set_env(json.dumps(results["sets"][TEST_SPLIT]))  # the env the rows were mixed in
    song = rows[0]["song"]
    mixes = final_mixes(rows, env, song)
    sample_rate = env.unwrapped.clip.sample_rate
    written = write_mixes(mixes, song, sample_rate, out / "mixes")
    title = f"{song}: each method's mix"
    return [*written, plot_spectrograms(mixes, sample_rate, out / "spectrograms.png", title=title)]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m experiments.run`` (``make run``)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("outputs/run"), help="results, plots and WAVs")
    parser.add_argument("--timesteps", type=int, default=6_000, help="PPO training steps (more: better, slower)")
    parser.add_argument("--cmaes-budget", type=int, default=100, help="renders per song for CMA-ES")
    parser.add_argument(
        "--supervised", type=Path, default=None, help="a supervised run to evaluate (default: the shipped model)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds training and the seeded methods")
    parser.add_argument(
        "--workers",
        type=int,
        default=min(8, os.cpu_count() or 1),
        help="processes the benchmark's episodes run in (default: one per core, at most 8)",
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    ppo = train_ppo(args.out, args.timesteps, args.seed)
    code = benchmark.main(benchmark_argv(args, ppo))
    if code:
        return code
    written = write_example_mixes(args.out, args.seed)
    minutes = (time.perf_counter() - start) / 60
    print(f"wrote {len(written) - 1} WAVs to {args.out / 'mixes'} and {written[-1]} ({minutes:.1f} min in all)")
    print(
        "Lower is better in every column but the return. To train longer: python -m agents.ppo --total-timesteps"
        " 100000 --n-envs 2 (or agents.sac / agents.td3), then python -m agents.evaluate --model RUN --split test;"
        " python -m supervised.train --model cnn --epochs 30 (python -m supervised.default reproduces the default"
        " model). Every method with 3 seeds, the model refined: python -m experiments.benchmark; the agents and"
        " the supervised models compared: python -m experiments.benchmark_rl and experiments.benchmark_supervised."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
