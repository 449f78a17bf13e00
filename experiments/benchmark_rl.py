"""PPO, SAC and TD3 against the classic heuristics on held-out songs, several seeds, one documented budget.

Budget (defaults): each agent trains for ``--timesteps`` 10 000 env steps (1 000 ten-step episodes) on the
corpus' train split with 2 envs in subprocesses, frozen backbone (embedding observations), validating every
2 000 steps on 8 val songs and keeping the best model; then the best model mixes the 24 test songs (one
4 s clip each, seeds fixed), and the songs of each out-of-domain evaluation set. Heuristics run once each
(deterministic), CMA-ES with 200 renders per song over 3 seeds. On 2 cores one agent run takes about 8
minutes. Runs already finished (their evaluation file exists) are reused, so an interrupted benchmark continues
where it stopped.

Also measures training throughput, env steps per second with 1 and with 2 envs, as a ratio.

Usage: ``python -m experiments.benchmark_rl [--timesteps 10000] [--seeds 0 1 2] [--out outputs/benchmark_rl]``
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from agents.algorithms import ALGORITHMS
from agents.heuristics import HEURISTICS
from agents.policies import AgentPolicy
from agents.train import train as train_agent
from experiments.compare import (
    TEST_SPLIT,
    cached,
    evaluation_sets,
    format_comparison,
    format_generalisation,
    plot_comparison,
    plot_generalisation,
    ratios,
    run_policy,
    slug,
    song_means,
)
from mixenv.data.atomic import write_json
from mixenv.env import MixEnv


def train_and_evaluate(
    algo: str, seed: int, args: argparse.Namespace, set_name: str, data: dict[str, Any]
) -> list[dict[str, Any]]:
    """Train one agent (unless its run exists) and evaluate its best model on the songs of a set."""
    run = args.out / "runs" / f"{algo}_seed{seed}"

    def evaluate() -> list[dict[str, Any]]:
        if not (run / "model.zip").is_file():
            argv = ["--total-timesteps", str(args.timesteps), "--seed", str(seed), "--n-envs", str(args.n_envs),
                    "--out", str(run), "--eval-freq", "2000", "--eval-episodes", "8"]  # fmt: skip
            train_agent(algo, argv)
        policy = AgentPolicy(run)
        return run_policy(policy, policy.env("test", **data), args.episodes, seed=1000)

    name = "test" if set_name == TEST_SPLIT else slug(set_name)
    return cached(run / f"evaluation_{name}.json", evaluate)


def throughput(args: argparse.Namespace) -> dict[str, float]:
    """Training env steps per second with 1 and with 2 envs (PPO, no validation), and their ratio."""
    rates = {}
    for n_envs in (1, 2):
        run = args.out / "throughput" / f"ppo_{n_envs}env"
        if not (run / "training.json").is_file():
            train_agent("ppo", ["--total-timesteps", str(args.throughput_steps), "--n-envs", str(n_envs),
                                 "--out", str(run), "--eval-freq", "0", "--no-progress"])  # fmt: skip
        rates[f"{n_envs} env(s) steps/s"] = json.loads((run / "training.json").read_text())["steps_per_second"]
    rates["2 envs vs 1"] = rates["2 env(s) steps/s"] / rates["1 env(s) steps/s"]
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--timesteps", type=int, default=10_000, help="training steps per agent run")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds per agent (and CMA-ES)")
    parser.add_argument("--algos", nargs="+", default=["ppo", "sac", "td3"], choices=sorted(ALGORITHMS))
    parser.add_argument("--n-envs", type=int, default=2, help="parallel training envs")
    parser.add_argument("--episodes", type=int, default=None, help="test songs (default: the whole test split)")
    parser.add_argument("--cmaes-budget", type=int, default=200, help="renders per song for CMA-ES")
    parser.add_argument("--throughput-steps", type=int, default=1024, help="steps of each throughput run")
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmark_rl"), help="runs, results and plot")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="mixenv: %(message)s")

    results: dict[str, dict[str, list[dict[str, float]]]] = {}
    for set_name, data in evaluation_sets().items():
        env = MixEnv(split="test", **data)
        folder = args.out / "heuristics" / ("" if set_name == TEST_SPLIT else slug(set_name))
        table: dict[str, list[dict[str, float]]] = {}
        for name, cls in HEURISTICS.items():
            for seed in args.seeds if name == "cmaes" else [0]:
                policy = cls(budget=args.cmaes_budget, seed=seed) if name == "cmaes" else cls()
                rows = cached(
                    folder / f"{name}_seed{seed}.json",
                    lambda policy=policy, env=env: run_policy(policy, env, args.episodes, seed=1000),
                )
                table.setdefault(name, []).append(song_means(rows))
        for algo in args.algos:
            table[algo] = [song_means(train_and_evaluate(algo, seed, args, set_name, data)) for seed in args.seeds]
        results[set_name] = table
    rates = throughput(args)
    title = f"{args.timesteps} training steps per agent, seeds {args.seeds}"
    for set_name, table in results.items():
        print("\n" + format_comparison(table, f"MixEnv-v0, {set_name}: {title}"))
    summary = "each method on the corpus test split and on the out-of-domain evaluation sets"
    print("\n" + format_generalisation(results, summary))
    print("\ntraining throughput: " + ", ".join(f"{k} {v:.2f}" for k, v in rates.items()))
    write_json(
        args.out / "results.json", {"title": title, "results": results, "ratios": ratios(results), "throughput": rates}
    )
    plots = [
        plot_comparison(results[TEST_SPLIT], args.out / "results.png", title),
        plot_generalisation(results, args.out / "generalisation.png", summary),
    ]
    print(f"\nwrote {args.out / 'results.json'}, {plots[0]} and {plots[1]}")


if __name__ == "__main__":
    main()
